import Foundation
import Testing
import TestSupport
import VigilIO

/// The metrics endpoint, the status topic and the metrics summary, end to end: a real mosquitto, the built
/// `vigil`, `promtool` and a real Prometheus, all on loopback.
@Suite(.timeLimit(.minutes(2)))
struct ObservabilityTests {
    static func firing(_ messages: [TestSubscriber.Message]) -> Int {
        VigilRunTests.events(messages).filter { $0["state"] as? String == "firing" }.count
    }

    /// Normal traffic for `devices`, then one spike each: at least one firing event per device.
    static func publishTraffic(port: Int, devices: [String]) throws -> MQTTClient {
        let publisher = try MQTTClient(options: MQTTClientOptions(host: "127.0.0.1", port: port, clientID: "obs-pub-\(UUID().uuidString.prefix(6))"))
        try publisher.start(handler: nil)
        let start = Date().timeIntervalSince1970 - 1000
        for device in devices {
            for payload in VigilRunTests.normalSamples(start: start) {
                try publisher.publish(topic: "devices/\(device)/telemetry", payload: payload, qos: 1)
            }
            let spike = "{\"ts\": \(Int64((start + 200) * 1000)), \"temperature\": 80, \"meta\": {\"rssi\": -60}}"
            try publisher.publish(topic: "devices/\(device)/telemetry", payload: spike, qos: 1)
        }
        return publisher
    }

    /// The metric family names `vigil_...` used in `text` (histogram series names mapped to their family).
    static func metricNames(in text: String) -> Set<String> {
        var names: Set<String> = []
        var scanner = Substring(text)
        while let range = scanner.range(of: "vigil_") {
            let rest = scanner[range.lowerBound...]
            let name = String(rest.prefix { $0.isLetter || $0.isNumber || $0 == "_" })
            scanner = rest.dropFirst(name.count)
            var family = name
            for suffix in ["_bucket", "_count", "_sum"] where family.hasSuffix(suffix) && family.contains("_seconds") {
                family = String(family.dropLast(suffix.count))
            }
            names.insert(family)
        }
        return names
    }

    static func run(_ executable: String, _ arguments: [String]) throws -> (Int32, String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: output, as: UTF8.self))
    }

    @Test func liveScrapePassesPromtoolAndPrometheusCountsEveryDetection() throws {
        let broker = try Broker()
        defer { broker.stop() }
        let subscriber = try TestSubscriber(port: broker.port, filters: ["vigil/anomalies/#", "vigil/metrics/#"])
        #expect(subscriber.waitUntilSubscribed())
        let port = try FreePort.find()
        let config = try VigilRunTests.writeConfig(
            broker: broker, extra: "status: {metrics_interval_s: 1}", metrics: "{listen: \"127.0.0.1:\(port)\"}"
        )
        let vigil = try ChildProcess(product: "vigil", arguments: ["run", "--config", config])
        #expect(vigil.waitForOutput(containing: "subscribed"), "\(vigil.output.current)")

        let devices = ["a-1", "a-2", "a-3"]
        let publisher = try Self.publishTraffic(port: broker.port, devices: devices)
        defer { publisher.stop() }
        let anomalies = subscriber.messages.wait(timeout: 20) { Self.firing($0) >= devices.count }
        #expect(anomalies.satisfied, "\(vigil.output.current)")

        // promtool's linter on a live scrape, after traffic and detections.
        let scrape = try HTTPProbe.get(port: port, path: "/metrics")
        #expect(scrape.status == 200)
        #expect(scrape.headers["content-type"]?.hasPrefix("text/plain; version=0.0.4") == true)
        let scrapeFile = broker.directory.appendingPathComponent("scrape.txt")
        try scrape.body.write(to: scrapeFile, atomically: true, encoding: .utf8)
        let promtool = Process()
        promtool.executableURL = URL(fileURLWithPath: "/usr/bin/promtool")
        promtool.arguments = ["check", "metrics"]
        promtool.standardInput = try FileHandle(forReadingFrom: scrapeFile)
        let promtoolOutput = Pipe()
        promtool.standardOutput = promtoolOutput
        promtool.standardError = promtoolOutput
        try promtool.run()
        promtool.waitUntilExit()
        let lint = String(decoding: promtoolOutput.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(promtool.terminationStatus == 0, "promtool check metrics: \(lint)\n\(scrape.body)")
        for name in [
            "vigil_messages_received_total ", "vigil_messages_dropped_total{reason=\"syntax\"}", "vigil_devices_tracked 3",
            "vigil_anomalies_total{detector=\"ewma\",state=\"firing\"}", "vigil_time_to_detect_seconds_bucket{detector=\"ewma\",le=\"+Inf\"}",
            "vigil_detection_latency_seconds_count ", "vigil_ring_capacity_bytes{shard=\"1\"}", "vigil_worker_busy_seconds_total{shard=\"0\"}",
            "vigil_broker_connected{connection=\"ingest\"} 1", "vigil_broker_connected{connection=\"outbound\"} 1",
            "vigil_broker_reconnects_total{connection=\"ingest\"} 0", "vigil_build_info{version=",
        ] {
            #expect(scrape.body.contains(name), "missing \(name)")
        }
        // The shipped dashboard and alerting rules use only names this scrape has, and the rules pass promtool.
        let docs = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("docs")
        let rules = docs.appendingPathComponent("prometheus-alerts.yml")
        let (rulesStatus, rulesOutput) = try Self.run("/usr/bin/promtool", ["check", "rules", rules.path])
        #expect(rulesStatus == 0, "\(rulesOutput)")
        for file in ["grafana-dashboard.json", "prometheus-alerts.yml"] {
            let text = try String(contentsOf: docs.appendingPathComponent(file), encoding: .utf8)
            #expect(Self.metricNames(in: text).count >= 10)
            for name in Self.metricNames(in: text) {
                #expect(scrape.body.contains("# TYPE \(name) "), "\(file) uses \(name), which /metrics does not have")
            }
        }
        // No device id ever becomes a label.
        for device in devices { #expect(!scrape.body.contains(device)) }

        // A real Prometheus scrapes it; its time-to-detect count equals the detections published.
        let prometheus = try PrometheusServer(targets: ["127.0.0.1:\(port)"])
        defer { prometheus.stop() }
        var agreed = false
        var last: (prometheus: Double?, published: Int) = (nil, 0)
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            let published = Self.firing(subscriber.messages.current)
            let counted = try prometheus.query("sum(vigil_time_to_detect_seconds_count)")
            last = (counted, published)
            if let counted, counted == Double(published), published >= devices.count {
                agreed = true
                break
            }
            usleep(250_000)  // Prometheus is polled: it scrapes once a second
        }
        #expect(agreed, "prometheus counted \(String(describing: last.prometheus)), vigil published \(last.published) firing events")
        let firingCounter = try prometheus.query("sum(vigil_anomalies_total{state=\"firing\"})")
        #expect(firingCounter == Double(Self.firing(subscriber.messages.current)))

        // The MQTT summary carries MTTD per detector.
        let summaries = subscriber.messages.wait(timeout: 10) { messages in
            messages.contains { $0.topic.hasPrefix("vigil/metrics/") && $0.payload.contains("\"ewma\"") }
        }
        #expect(summaries.satisfied)
        let summary = try #require(summaries.value.last { $0.topic.hasPrefix("vigil/metrics/") && $0.payload.contains("\"ewma\"") })
        let object = try #require(try JSONSerialization.jsonObject(with: Data(summary.payload.utf8)) as? [String: Any])
        let ewma = try #require((object["time_to_detect_ms"] as? [String: Any])?["ewma"] as? [String: Any])
        for key in ["count", "mean", "p50", "p90", "p99"] { #expect(ewma[key] != nil, "summary lacks \(key): \(summary.payload)") }
        #expect((ewma["count"] as? Int ?? 0) >= devices.count)
        #expect((object["worker_busy_ratio"] as? [Double])?.count == 2)

        vigil.signal(SIGTERM)
        #expect(vigil.waitForExit() == 0)
        subscriber.client.stop()
    }

    @Test func endpointRefusesBadRequestsWithoutHoldingUpIngestion() throws {
        let broker = try Broker()
        defer { broker.stop() }
        let port = try FreePort.find()
        let tokenFile = broker.directory.appendingPathComponent("token")
        try "s3cret-token\n".write(to: tokenFile, atomically: true, encoding: .utf8)
        let config = try VigilRunTests.writeConfig(
            broker: broker,
            metrics: "{listen: \"127.0.0.1:\(port)\", bearer_token_file: \"\(tokenFile.path)\", timeout_s: 4, max_request_bytes: 1024}"
        )
        let vigil = try ChildProcess(product: "vigil", arguments: ["run", "--config", config])
        #expect(vigil.waitForOutput(containing: "subscribed"), "\(vigil.output.current)")
        let auth = ["Authorization": "Bearer s3cret-token"]

        // Probes need no token; metrics and inventory do.
        #expect(try HTTPProbe.get(port: port, path: "/healthz").status == 200)
        #expect(try HTTPProbe.get(port: port, path: "/readyz").status == 200)
        #expect(try HTTPProbe.get(port: port, path: "/metrics").status == 401)
        #expect(try HTTPProbe.get(port: port, path: "/metrics", headers: ["Authorization": "Bearer wrong"]).status == 401)
        #expect(try HTTPProbe.get(port: port, path: "/devices", headers: ["Authorization": "Bearer s3cret-tokenX"]).status == 401)
        #expect(try HTTPProbe.get(port: port, path: "/metrics", headers: auth).status == 200)
        #expect(try HTTPProbe.get(port: port, path: "/nowhere", headers: auth).status == 404)

        // Unknown methods: 405.
        for method in ["POST", "DELETE", "BREW"] {
            let probe = try HTTPProbe(port: port)
            probe.send("\(method) /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
            #expect(HTTPProbe.parse(probe.readAll())?.status == 405, "\(method)")
        }
        // Oversized: 431, whether the headers never end or end beyond the limit.
        let huge = try HTTPProbe(port: port)
        huge.send("GET /metrics HTTP/1.1\r\nX-Padding: " + String(repeating: "a", count: 4000) + "\r\n\r\n")
        #expect(HTTPProbe.parse(huge.readAll())?.status == 431)

        // A slow client holds a connection open with half a request; ingestion carries on meanwhile.
        let slow = try HTTPProbe(port: port, timeout: 10)
        slow.send("GET /metrics HTTP/1.1\r\nHost: ")
        let publisher = try MQTTClient(options: MQTTClientOptions(host: "127.0.0.1", port: broker.port, clientID: "obs-slow-pub"))
        try publisher.start(handler: nil)
        defer { publisher.stop() }
        let start = Date().timeIntervalSince1970
        for payload in VigilRunTests.normalSamples(count: 100, start: start) {
            try publisher.publish(topic: "devices/s-1/telemetry", payload: payload, qos: 1)
        }
        var processed = false
        var body = ""
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline, !processed {
            body = try HTTPProbe.get(port: port, path: "/metrics", headers: auth).body
            processed = body.contains("vigil_messages_processed_total 100\n")
            if !processed { usleep(50_000) }
        }
        #expect(processed, "ingestion stalled while a slow client was connected")
        // The slow client was still connected then (this scrape is the other connection).
        #expect(body.contains("vigil_http_open_connections 2\n"), "\(body)")
        // ...and it is cut off (408) at the 4 s limit.
        let slowAnswer = slow.readAll()
        #expect(slowAnswer.hasPrefix("HTTP/1.1 408"), "\(slowAnswer)")
        #expect(slow.waitForClose())

        let inventory = try HTTPProbe.get(port: port, path: "/devices?limit=5", headers: auth)
        #expect(inventory.status == 200)
        let devices = try #require(try JSONSerialization.jsonObject(with: Data(inventory.body.utf8)) as? [String: Any])
        #expect(devices["tracked"] as? Int == 1)
        let first = try #require((devices["devices"] as? [[String: Any]])?.first)
        #expect(first["device"] as? String == "s-1")
        #expect(first["messages"] as? Int == 100)
        #expect(first["warming"] as? Bool == false)
        #expect(first["open_episodes"] as? [String] == [])
        #expect(try HTTPProbe.get(port: port, path: "/devices?limit=x", headers: auth).status == 400)

        // Every refusal is counted.
        let metrics = try HTTPProbe.get(port: port, path: "/metrics", headers: auth).body
        for (reason, count) in [("method", 3), ("too_large", 1), ("timeout", 1), ("unauthorized", 3)] {
            #expect(metrics.contains("vigil_http_rejected_total{reason=\"\(reason)\"} \(count)\n"), "\(reason)\n\(metrics)")
        }
        vigil.signal(SIGTERM)
        #expect(vigil.waitForExit() == 0)
    }

    @Test func statusIsOnlineWhileRunningAndOfflineAfterSIGKILL() throws {
        let broker = try Broker()
        defer { broker.stop() }
        let subscriber = try TestSubscriber(port: broker.port, filters: ["vigil/status/#"])
        #expect(subscriber.waitUntilSubscribed())
        let config = try VigilRunTests.writeConfig(broker: broker)
        let vigil = try ChildProcess(product: "vigil", arguments: ["run", "--config", config])
        let online = subscriber.messages.wait(timeout: 15) { $0.contains { $0.payload == "online" } }
        #expect(online.satisfied, "\(vigil.output.current)")
        #expect(online.value.first?.topic.hasPrefix("vigil/status/vigil-it-") == true)

        // Retained: a client that subscribes later still reads `online`.
        let late = try TestSubscriber(port: broker.port, filters: ["vigil/status/#"])
        let lateOnline = late.messages.wait(timeout: 10) { $0.last?.payload == "online" }.satisfied
        #expect(lateOnline)

        vigil.signal(SIGKILL)
        #expect(vigil.waitForExit() != nil)
        // The broker delivers the Last Will, and keeps it retained.
        let offline = subscriber.messages.wait(timeout: 15) { $0.last?.payload == "offline" }.satisfied
        #expect(offline, "\(subscriber.messages.current)")
        let after = try TestSubscriber(port: broker.port, filters: ["vigil/status/#"])
        let retainedOffline = after.messages.wait(timeout: 10) { $0.last?.payload == "offline" }.satisfied
        #expect(retainedOffline)
        subscriber.client.stop()
        late.client.stop()
        after.client.stop()
    }
}
