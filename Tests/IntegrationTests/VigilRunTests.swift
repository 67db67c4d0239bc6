import Foundation
import Testing
import TestSupport
import VigilIO

/// End to end: a real mosquitto on a free loopback port, the built `vigil` binary, a publisher and a subscriber.
@Suite(.timeLimit(.minutes(2)))
struct VigilRunTests {
    /// A config for `vigil run` against `broker`, written into the broker's folder with a profile of its own,
    /// `it`, in `models/` beside it (a relative `models_dir` is relative to the config's folder).
    /// - Parameter metrics: the `metrics` section (flow style); by default the endpoint listens on a port the
    ///   kernel picks, so that tests running side by side never compete for 9464.
    static func writeConfig(broker: Broker, extra: String = "", metrics: String = "{listen: \"127.0.0.1:0\"}") throws -> String {
        let models = broker.directory.appendingPathComponent("models")
        try FileManager.default.createDirectory(at: models, withIntermediateDirectories: true)
        try """
            description: "Integration tests"
            threshold: 0.9999
            detectors:
              ewma: {warmup: 30}
            """.write(to: models.appendingPathComponent("it.yaml"), atomically: true, encoding: .utf8)
        let yaml = """
            broker:
              host: "127.0.0.1"
              port: \(broker.port)
              client_id: "vigil-it-\(UUID().uuidString.prefix(8))"
              reconnect_min_s: 1
              reconnect_max_s: 2
            subscriptions:
              - filter: "devices/#"
                device: "devices/{device}/telemetry"
                profile: it
            models_dir: models
            payload:
              timestamp_field: "ts"
            pipeline:
              shards: 2
            log:
              level: "debug"
            metrics: \(metrics)
            \(extra)
            """
        let path = broker.directory.appendingPathComponent("vigil-\(UUID().uuidString.prefix(8)).yaml").path
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// 200 samples of a quiet signal: 20 ± 0.5, deterministic.
    static func normalSamples(count: Int = 200, start: Double) -> [String] {
        (0..<count).map { index in
            let value = 20 + 0.5 * sin(Double(index) * 1.7) * cos(Double(index) * 0.31)
            return "{\"ts\": \(Int64((start + Double(index)) * 1000)), \"temperature\": \(value), \"meta\": {\"rssi\": -60}}"
        }
    }

    static func events(_ messages: [TestSubscriber.Message]) -> [[String: Any]] {
        messages.compactMap { try? JSONSerialization.jsonObject(with: Data($0.payload.utf8)) as? [String: Any] }
    }

    @Test func spikeBecomesAnAnomalyEventAndBadInputIsCountedNotFatal() throws {
        let broker = try Broker()
        defer { broker.stop() }
        let subscriber = try TestSubscriber(port: broker.port, filters: ["vigil/anomalies/#"])
        #expect(subscriber.waitUntilSubscribed())
        let vigil = try ChildProcess(product: "vigil", arguments: ["run", "--config", try Self.writeConfig(broker: broker)])
        #expect(vigil.waitForOutput(containing: "subscribed"), "\(vigil.output.current)")

        let publisher = try MQTTClient(options: MQTTClientOptions(host: "127.0.0.1", port: broker.port, clientID: "it-pub"))
        try publisher.start(handler: nil)
        let start = Date().timeIntervalSince1970 - 1000
        for payload in Self.normalSamples(start: start) {
            try publisher.publish(topic: "devices/d-1/telemetry", payload: payload, qos: 1)
        }
        // Bad input in the same stream, for the same device: each is counted and dropped, none fires.
        let bad = ["{not json", "{\"temperature\": NaN}", "{\"temperature\": 1e999}", "{\"temperature\": 20.1", "", "[1,2]"]
        for payload in bad { try publisher.publish(topic: "devices/d-1/telemetry", payload: payload, qos: 1) }
        try publisher.publish(topic: "devices/d-1/status", payload: "{\"temperature\": 99}", qos: 1)
        let spikeTime = Int64((start + 200) * 1000)
        try publisher.publish(topic: "devices/d-1/telemetry", payload: "{\"ts\": \(spikeTime), \"temperature\": 80, \"meta\": {\"rssi\": -60}}", qos: 1)

        let (messages, arrived) = subscriber.messages.wait(timeout: 15) { !$0.isEmpty }
        #expect(arrived, "no anomaly event; vigil said:\n\(vigil.output.current)")
        let events = Self.events(messages)
        #expect(events.count == 1)
        let event = try #require(events.first)
        #expect(messages.first?.topic == "vigil/anomalies/d-1")
        #expect(event["device"] as? String == "d-1")
        #expect(event["metric"] as? String == "temperature")
        #expect(event["detector"] as? String == "ewma")
        #expect(event["state"] as? String == "firing")
        #expect(event["value"] as? Double == 80)
        #expect((event["score"] as? Double ?? 0) >= 0.9999)
        #expect(event["time_to_detect_ms"] as? Double == 0)
        #expect((event["latency_ms"] as? Double ?? -1) >= 0)
        let expected = try #require(event["expected"] as? Double)
        #expect(abs(expected - 20) < 0.5)
        let explanation = try #require(event["explanation"] as? String)
        #expect(explanation.contains("temperature 80 on d-1 is"), "\(explanation)")
        for key in ["id", "dedup_key", "band", "onset", "detected", "profile"] { #expect(event[key] != nil, "missing \(key)") }
        #expect(event["profile"] as? String == "it")

        #expect(vigil.isRunning)
        vigil.signal(SIGTERM)
        #expect(vigil.waitForExit() == 0)
        let log = vigil.output.current
        #expect(log.contains("stopped"))
        // 200 + spike decoded; 6 payloads rejected by reason, 1 topic that fits no template.
        #expect(log.contains("processed=207"), "\(log)")
        #expect(log.contains("dropped=7"), "\(log)")
        #expect(log.contains("dropped_topic_mismatch=1"))
        #expect(log.contains("devices=1 evictions=0 warming=0"), "\(log)")
        #expect(log.contains("dropped_syntax="))
        #expect(log.contains("dropped_non_finite=1"))
        #expect(log.contains("dropped_truncated=1"))
        #expect(log.contains("dropped_not_json="))
        publisher.stop()
        subscriber.client.stop()
    }

    @Test func reconnectsWhenTheBrokerComesBack() throws {
        let broker = try Broker()
        defer { broker.stop() }
        let vigil = try ChildProcess(product: "vigil", arguments: ["run", "--config", try Self.writeConfig(broker: broker)])
        #expect(vigil.waitForOutput(containing: "subscribed"), "\(vigil.output.current)")

        broker.kill()
        #expect(vigil.waitForOutput(containing: "connection lost"), "\(vigil.output.current)")
        let restarted = try Broker(port: broker.port)
        defer { restarted.stop() }
        // A second "subscribed" line: vigil reconnected by itself and subscribed again.
        let resubscribed = vigil.output.wait(timeout: 20) { $0.components(separatedBy: "subscribed").count > 2 }.satisfied
        #expect(resubscribed, "\(vigil.output.current)")

        let subscriber = try TestSubscriber(port: restarted.port, filters: ["vigil/anomalies/#"])
        #expect(subscriber.waitUntilSubscribed())
        let publisher = try MQTTClient(options: MQTTClientOptions(host: "127.0.0.1", port: restarted.port, clientID: "it-pub-2"))
        try publisher.start(handler: nil)
        let start = Date().timeIntervalSince1970
        for payload in Self.normalSamples(start: start) { try publisher.publish(topic: "devices/d-9/telemetry", payload: payload, qos: 1) }
        try publisher.publish(topic: "devices/d-9/telemetry", payload: "{\"ts\": \(Int64((start + 200) * 1000)), \"temperature\": -40}", qos: 1)
        let (messages, arrived) = subscriber.messages.wait(timeout: 15) { !$0.isEmpty }
        #expect(arrived, "\(vigil.output.current)")
        #expect(Self.events(messages).first?["device"] as? String == "d-9")
        vigil.signal(SIGINT)
        #expect(vigil.waitForExit() == 0)
        publisher.stop()
        subscriber.client.stop()
    }
}
