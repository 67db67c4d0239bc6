import Foundation
import Testing
import TestSupport
import VigilCore
import VigilIO

/// The built `vigil` binary with incident outputs: a real mosquitto, a real Alertmanager, a loopback HTTP
/// receiver for the webhook.
@Suite(.timeLimit(.minutes(2)))
struct IncidentOutputRunTests {
    /// Publishes samples `range` of a device's scripted episode: quiet 20 ± 0.5 at one sample a second, with
    /// a spike to 80 at index 200 (it fires there and resolves three quiet samples later).
    static func publish(_ range: Range<Int>, port: Int, device: String, start: Double) throws {
        let publisher = try MQTTClient(options: MQTTClientOptions(host: "127.0.0.1", port: port, clientID: "it-pub-\(device)-\(range.lowerBound)"))
        try publisher.start(handler: nil)
        defer { publisher.stop() }
        // Publishes made before the connection would not be waited for below.
        let connectDeadline = Date().addingTimeInterval(10)
        while !publisher.isConnected, Date() < connectDeadline { usleep(5_000) }
        for index in range {
            let value = index == 200 ? 80 : 20 + 0.5 * sin(Double(index) * 1.7) * cos(Double(index) * 0.31)
            let payload = "{\"ts\": \(Int64((start + Double(index)) * 1000)), \"temperature\": \(value), \"meta\": {\"rssi\": -60}}"
            try publisher.publish(topic: "devices/\(device)/telemetry", payload: payload, qos: 1)
        }
        _ = publisher.waitForPublishes(timeout: 5)
    }

    /// A `vigil run` config with the outbox in ./state, `outbox` settings (the inside of a flow mapping), a signed
    /// webhook to `receiver`, and `extra` top-level lines.
    static func webhookConfig(broker: Broker, receiver: HTTPReceiver, outbox: String, extra: String = "") throws -> String {
        try VigilRunTests.writeConfig(broker: broker, extra: """
            state:
              dir: "state"
            outbox: {\(outbox)}
            outputs:
              webhook:
                url: "\(receiver.url)/hook"
                secret_file: "\(try secretFile(broker))"
            \(extra)
            """)
    }

    static func secretFile(_ broker: Broker) throws -> String {
        let path = broker.directory.appendingPathComponent("webhook-secret").path
        try ("whsec_" + Data("integration secret".utf8).base64EncodedString() + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func alertmanagerSeesTheAlertFiringThenEnding() throws {
        let broker = try Broker()
        defer { broker.stop() }
        let alertmanager = try Alertmanager()
        defer { alertmanager.stop() }
        let receiver = try HTTPReceiver()
        defer { receiver.stop() }
        let metricsPort = try FreePort.find()
        let config = try VigilRunTests.writeConfig(broker: broker, extra: """
            state:
              dir: "state"
            outputs:
              alertmanager:
                url: "\(alertmanager.url)"
                generator_url: "http://vigil.example/anomalies"
              webhook:
                url: "\(receiver.url)/hook"
                secret_file: "\(try Self.secretFile(broker))"
            """, metrics: "{listen: \"127.0.0.1:\(metricsPort)\"}")
        let vigil = try ChildProcess(product: "vigil", arguments: ["run", "--config", config])
        #expect(vigil.waitForOutput(containing: "subscribed"), "\(vigil.output.current)")
        let start = Date().timeIntervalSince1970 - 1000
        try Self.publish(0..<201, port: broker.port, device: "am-1", start: start)
        // Firing: Alertmanager holds the alert, with Vigil's labels and annotations.
        var alert: [String: Any]?
        let deadline = Date().addingTimeInterval(20)
        while alert == nil, Date() < deadline {
            alert = (try? alertmanager.alerts())?.first { ($0["labels"] as? [String: String])?["device"] == "am-1" }
            if alert == nil { usleep(100_000) }
        }
        let firing = try #require(alert, "no alert in Alertmanager; vigil said:\n\(vigil.output.current)")
        let labels = try #require(firing["labels"] as? [String: String])
        #expect(labels["alertname"] == "VigilAnomaly")
        #expect(labels["metric"] == "temperature")
        #expect(labels["detector"] == "ewma")
        #expect(labels["profile"] == "it")
        #expect(["warning", "error", "critical"].contains(labels["severity"] ?? ""))
        let annotations = try #require(firing["annotations"] as? [String: String])
        #expect(annotations["summary"]?.contains("temperature 80 on am-1") == true, "\(annotations)")
        #expect(annotations["value"] == "80")
        #expect(annotations["time_to_detect"] == "0 ms")
        #expect(annotations["expected"] != nil && annotations["band"] != nil)
        #expect(firing["generatorURL"] as? String == "http://vigil.example/anomalies")
        #expect((firing["status"] as? [String: Any])?["state"] as? String == "active")
        let startsAt = try #require(firing["startsAt"] as? String)
        #expect(startsAt.hasPrefix(TimeFormat.iso8601(start + 200).prefix(19)), "startsAt \(startsAt) is the onset")

        // Resolved: three quiet samples end the episode; Alertmanager then no longer lists it as active.
        try Self.publish(201..<205, port: broker.port, device: "am-1", start: start)
        var ended = false
        let endDeadline = Date().addingTimeInterval(20)
        while !ended, Date() < endDeadline {
            ended = (try? alertmanager.alerts())?.contains { ($0["labels"] as? [String: String])?["device"] == "am-1" } == false
            if !ended { usleep(100_000) }
        }
        #expect(ended, "the alert did not end; vigil said:\n\(vigil.output.current)")
        let (requests, both) = receiver.requests.wait(timeout: 10) { $0.count >= 2 }
        #expect(both)
        #expect(requests.compactMap { ($0.json as? [String: Any])?["state"] as? String } == ["firing", "resolved"])
        // The counts on /metrics.
        let metrics = try HTTPProbe.get(port: metricsPort, path: "/metrics").body
        for line in [
            "vigil_output_delivered_total{output=\"alertmanager\"} 2", "vigil_output_delivered_total{output=\"webhook\"} 2",
            "vigil_outbox_entries{output=\"webhook\"} 0", "vigil_output_dropped_total{output=\"alertmanager\"} 0",
        ] {
            #expect(metrics.contains(line), "no \(line) in:\n\(metrics)")
        }
        vigil.signal(SIGTERM)
        #expect(vigil.waitForExit() == 0)
        let log = vigil.output.current
        #expect(log.contains("alertmanager_delivered=2"), "\(log)")
        #expect(log.contains("webhook_delivered=2"), "\(log)")
    }
}

extension IncidentOutputRunTests {
    @Test func anOutageAndARestartLoseNothingAndNeverBlockDetection() throws {
        let broker = try Broker()
        defer { broker.stop() }
        let failing = Awaitable(true)
        let receiver = try HTTPReceiver { _ in failing.current ? .init(status: 503) : .init(status: 200) }
        defer { receiver.stop() }
        let subscriber = try TestSubscriber(port: broker.port, filters: ["vigil/anomalies/#"])
        #expect(subscriber.waitUntilSubscribed())
        let config = try Self.webhookConfig(
            broker: broker, receiver: receiver, outbox: "retry_min_ms: 50, retry_max_ms: 200, shutdown_grace_ms: 200")
        let start = Date().timeIntervalSince1970 - 1000
        do {
            let vigil = try ChildProcess(product: "vigil", arguments: ["run", "--config", config])
            #expect(vigil.waitForOutput(containing: "subscribed"), "\(vigil.output.current)")
            try Self.publish(0..<205, port: broker.port, device: "wh-1", start: start)
            // The webhook fails, detection goes on: both events reach MQTT while the outbox holds them.
            let (messages, published) = subscriber.messages.wait(timeout: 15) { $0.count >= 2 }
            #expect(published, "MQTT saw \(messages.count); vigil said:\n\(vigil.output.current)")
            #expect(receiver.requests.wait(timeout: 10) { $0.count >= 3 }.satisfied, "retries")
            vigil.signal(SIGTERM)
            #expect(vigil.waitForExit() == 0)
            let log = vigil.output.current
            #expect(log.contains("webhook_delivered=0"), "\(log)")
            #expect(log.contains("webhook_queued=2"), "\(log)")
            #expect(log.contains("processed=205"), "\(log)")
        }
        // The endpoint recovers; the next run delivers the queued events first, in order, each once.
        failing.update { $0 = false }
        let vigil = try ChildProcess(product: "vigil", arguments: ["run", "--config", config])
        #expect(vigil.waitForOutput(containing: "outbox holds events from an earlier run"), "\(vigil.output.current)")
        let (requests, done) = receiver.requests.wait(timeout: 15) { $0.filter { $0.status == 200 }.count >= 2 }
        #expect(done, "\(vigil.output.current)")
        let accepted = requests.filter { $0.status == 200 }
        let states = accepted.compactMap { ($0.json as? [String: Any])?["state"] as? String }
        #expect(states == ["firing", "resolved"])
        let mqttIDs = IncidentOutputRunTests.ids(subscriber.messages.current.map(\.payload))
        #expect(accepted.map { $0.headers["webhook-id"] ?? "" } == mqttIDs, "the same events as on MQTT, in order")
        vigil.signal(SIGTERM)
        #expect(vigil.waitForExit() == 0)
        #expect(vigil.output.current.contains("webhook_delivered=2"), "\(vigil.output.current)")
        subscriber.client.stop()
    }

    static func ids(_ payloads: [String]) -> [String] {
        payloads.compactMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])?["id"] as? String }
    }

    @Test func aMissingSecretFileStopsVigilAtStart() throws {
        let broker = try Broker()
        defer { broker.stop() }
        let config = try VigilRunTests.writeConfig(broker: broker, extra: """
            outputs:
              webhook:
                url: "http://127.0.0.1:9/hook"
                secret_file: "/nonexistent/vigil-secret"
            """)
        let vigil = try ChildProcess(product: "vigil", arguments: ["run", "--config", config])
        #expect(vigil.waitForExit() == 1)
        #expect(vigil.output.current.contains("\(config):"), "\(vigil.output.current)")
        #expect(vigil.output.current.contains("outputs.webhook.secret_file: cannot read the secret file '/nonexistent/vigil-secret'"), "\(vigil.output.current)")
        let check = try ChildProcess(product: "vigil", arguments: ["check-config", "--config", config])
        #expect(check.waitForExit() == 1)
    }
}
