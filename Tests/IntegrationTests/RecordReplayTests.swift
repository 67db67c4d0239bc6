import Foundation
import Testing
import TestSupport
import VigilSim

/// `vigil record`, `vigil replay --broker` and `vigil-loadgen` (fleet, report, trace) as built binaries, on real
/// brokers.
@Suite(.timeLimit(.minutes(3)))
struct RecordReplayTests {
    static func brokerConfig(_ folder: TemporaryDirectory, _ name: String, port: Int) throws -> String {
        try folder.write(name, """
            broker:
              host: "127.0.0.1"
              port: \(port)
              client_id: "vigil-\(name)"
            subscriptions:
              - filter: "devices/+/telemetry"
                device: "devices/{device}/telemetry"
                qos: 1
            payload:
              timestamp_field: "ts"
            metrics: {listen: "127.0.0.1:0"}
            """)
    }

    /// Messages per topic, in arrival order.
    static func byTopic(_ messages: [TestSubscriber.Message]) -> [String: [String]] {
        Dictionary(grouping: messages, by: \.topic).mapValues { $0.map(\.payload) }
    }

    @Test func recordWhileTheGeneratorPublishesThenReplayOfflineAndIntoASecondBroker() throws {
        let folder = try TemporaryDirectory("vigil-record")
        let first = try Broker()
        let second = try Broker()
        let recording = folder.path("fleet.jsonl.gz")
        // The service runs on the config the recorder uses: recording beside it must neither take over its
        // session nor take messages from it.
        let config = try Self.brokerConfig(folder, "first.yaml", port: first.port)
        let service = try ChildProcess(product: "vigil", arguments: ["run", "--config", config])
        #expect(service.waitForOutput(containing: "subscribed"), "\(service.output.current)")
        let recorder = try ChildProcess(product: "vigil", arguments: ["record", "--config", config, "--output", recording])
        #expect(recorder.waitForOutput(containing: "vigil record: subscribed"), "\(recorder.output.current)")
        let watcher = try TestSubscriber(port: first.port, filters: ["devices/+/telemetry"])
        #expect(watcher.waitUntilSubscribed())

        // A small fleet with a flood (a burst of one device's messages) for 3 seconds.
        let scenario = try folder.write("small.yaml", """
            devices: 8
            rate: 160
            duration_s: 3
            seed: 5
            anomalies:
              - {kind: flood, fraction: 0.25, at_s: 1, duration_s: 1}
            """)
        let summary = folder.path("summary.json")
        let generator = try ChildProcess.run(product: "vigil-loadgen", arguments: [
            "--port", "\(first.port)", "--scenario", scenario, "--summary", summary, "--settle", "0",
        ], timeout: 30)
        #expect(generator.status == 0, "\(generator.output)")
        let sent = try #require((try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: summary))) as? [String: Any])?["sent"] as? Int)
        #expect(sent > 400)
        #expect(watcher.messages.wait(timeout: 10) { $0.count >= sent }.satisfied)
        let original = watcher.messages.current

        // The recorder got everything (it subscribed before the generator started): stop it.
        recorder.signal(SIGINT)
        #expect(recorder.waitForExit(timeout: 15) == 0, "\(recorder.output.current)")
        _ = recorder.output.wait(timeout: 2) { $0.contains("recorded") }
        #expect(recorder.output.current.contains("recorded \(sent) messages"), "\(recorder.output.current)")
        service.signal(SIGTERM)
        #expect(service.waitForExit(timeout: 15) == 0)
        #expect(service.output.current.contains("stopped received=\(sent) "), "\(service.output.current)")
        #expect(!service.output.current.contains("connection lost"), "\(service.output.current)")

        // Offline: every message read and processed.
        let offline = try ChildProcess.run(product: "vigil", arguments: ["replay", "--offline", recording], timeout: 60)
        #expect(offline.status == 0, "\(offline.output)")
        #expect(offline.output.contains("messages   \(sent) read, \(sent) processed"), "\(offline.output)")

        // Into a second broker, four times as fast, over three connections.
        let receiver = try TestSubscriber(port: second.port, filters: ["devices/+/telemetry"])
        #expect(receiver.waitUntilSubscribed())
        let replay = try ChildProcess.run(product: "vigil", arguments: [
            "replay", "--broker", "--config", try Self.brokerConfig(folder, "second.yaml", port: second.port), "--speed", "4",
            "--connections", "3", "--qos", "1", recording,
        ], timeout: 60)
        #expect(replay.status == 0, "\(replay.output)")
        #expect(replay.output.contains("sent \(sent) messages"), "\(replay.output)")
        #expect(replay.output.contains("behind schedule: at most"), "\(replay.output)")
        #expect(receiver.messages.wait(timeout: 10) { $0.count >= sent }.satisfied)
        let replayed = receiver.messages.current
        #expect(replayed.count == original.count)
        // Same payload bytes, in the same order per device (compared quietly: thousands of payloads).
        let same = Self.byTopic(replayed) == Self.byTopic(original)
        #expect(same, "per-device sequences differ")
    }

    @Test func rewriteTimestampsAndBadLines() throws {
        let folder = try TemporaryDirectory("vigil-replay-broker")
        let broker = try Broker()
        let receiver = try TestSubscriber(port: broker.port, filters: ["devices/+/telemetry"])
        #expect(receiver.waitUntilSubscribed())
        let config = try Self.brokerConfig(folder, "vigil.yaml", port: broker.port)
        let input = try folder.write("cut.jsonl", """
            {"t": 1000, "topic": "devices/a/telemetry", "payload": "{\\"ts\\":1767225600000,\\"v\\":1}"}
            {"t": 1100, "topic": "devices/a/telemetry", "payload": "{\\"ts\\": 1767225600100, \\"v\\":2}"}
            {"t": 1200, "topic": "devices/a/tele
            {"t": 1300, "topic": "devices/b/telemetry", "payload": "{\\"v\\":4}"}
            """)
        // Without --skip-bad: stops at line 3, naming it.
        let strict = try ChildProcess.run(product: "vigil", arguments: ["replay", "--broker", "--config", config, input])
        #expect(strict.status == 1, "\(strict.output)")
        #expect(strict.output.contains("cut.jsonl:3: "), "\(strict.output)")
        #expect(strict.output.contains("--skip-bad"), "\(strict.output)")
        let offline = try ChildProcess.run(product: "vigil", arguments: ["replay", "--offline", input])
        #expect(offline.status == 1, "\(offline.output)")
        #expect(offline.output.contains("cut.jsonl:3: "), "\(offline.output)")
        receiver.messages.update { $0.removeAll() }

        let before = Int64(Date().timeIntervalSince1970 * 1000)
        let lenient = try ChildProcess.run(product: "vigil", arguments: [
            "replay", "--broker", "--config", config, "--skip-bad", "--rate", "100", "--rewrite-timestamps", "ts", input,
        ])
        #expect(lenient.status == 0, "\(lenient.output)")
        #expect(lenient.output.contains("sent 3 messages"), "\(lenient.output)")
        #expect(lenient.output.contains("1 invalid lines skipped (line 3:"), "\(lenient.output)")
        #expect(lenient.output.contains("timestamps rewritten: 2; left as recorded (no number field): 1"), "\(lenient.output)")
        #expect(receiver.messages.wait(timeout: 10) { $0.count >= 3 }.satisfied)
        let payloads = receiver.messages.current.map(\.payload)
        #expect(payloads.last == #"{"v":4}"#)
        for payload in payloads.prefix(2) {
            let object = try #require(try JSONSerialization.jsonObject(with: Data(payload.utf8)) as? [String: Any])
            let ts = try #require((object["ts"] as? NSNumber)?.int64Value)
            #expect(ts >= before && ts < before + 60_000, "\(payload)")
        }
    }

    @Test func reportJoinsEventsWithTheTruthOnAHandCheckedScenario() throws {
        let folder = try TemporaryDirectory("vigil-report")
        // Three anomalies; six firing events and one resolved event.
        let truth = try folder.write("truth.jsonl", """
            {"device":"d-1","metric":"temperature","kind":"spike","onset":1000,"end":1000.5}
            {"device":"d-2","metric":"temperature","kind":"level_shift","onset":1000,"end":1010}
            {"device":"d-3","metric":null,"kind":"silence","onset":1005,"end":1015}
            """)
        func event(_ device: String, _ detected: String, state: String = "firing", latency: Double = 1) -> String {
            #"{"device":"\#(device)","metric":"temperature","detector":"ewma","state":"\#(state)","detected":"\#(detected)","latency_ms":\#(latency),"received_ms":1000000}"#
        }
        // 1000 s after the epoch is 1970-01-01T00:16:40Z.
        let events = try folder.write("events.jsonl", [
            event("d-1", "1970-01-01T00:16:40.500Z", latency: 2),  // spike: detected 0.5 s after onset
            event("d-1", "1970-01-01T00:16:40.600Z"),  // a second firing in the same window: neither new nor false
            event("d-2", "1970-01-01T00:16:43.000Z", latency: 3),  // level shift: 3 s
            event("d-2", "1970-01-01T00:16:45.000Z", state: "resolved"),  // resolved events are not judged
            event("d-4", "1970-01-01T00:16:42.000Z"),  // no anomaly on d-4: false alarm
            event("d-3", "1970-01-01T00:17:20.000Z"),  // 1040 s: after d-3's window [1005, 1015 + 10]: false alarm
            event("d-2", "1970-01-01T00:16:39.000Z", latency: 4),  // before d-2's onset: false alarm
        ].joined(separator: "\n") + "\n")
        // 10 devices for 360 s: 1 device-hour.
        let summary = try folder.write("summary.json", #"{"devices":10,"duration_s":360,"grace_s":10,"connections":1,"start":1000,"finished":1360,"rate":10,"sent":3600,"publish_errors":0,"max_lag_s":0,"sent_per_second":[10,10]}"#)
        let out = folder.path("out")
        let result = try ChildProcess.run(product: "vigil-loadgen", arguments: [
            "report", "--truth", truth, "--events", events, "--summary", summary, "--out", out,
        ])
        #expect(result.status == 0, "\(result.output)")
        let table = result.output
        #expect(table.contains("spike           1         1         1.00    0.50 s     0.50 s"), "\(table)")
        #expect(table.contains("level_shift     1         1         1.00    3.00 s     3.00 s"), "\(table)")
        #expect(table.contains("silence         1         0         0.00    -          -"), "\(table)")
        #expect(table.contains("all             3         2         0.67"), "\(table)")
        #expect(table.contains("firing events 6, false alarms 3 = 3.0000 per device-hour (1.00 device-hours)"), "\(table)")
        #expect(table.contains("offered rate          10 msg/s (scheduled "), "\(table)")
        // Latencies 1, 1, 1, 1, 2, 3, 4 ms.
        #expect(table.contains("p50 1.00 ms, p99 4.00 ms, p999 4.00 ms (n=7 events)"), "\(table)")
        let markdown = try String(contentsOfFile: out + "/report.md", encoding: .utf8)
        #expect(markdown.contains("| kind") || markdown.contains("kind            injected"))
        let svg = try String(contentsOfFile: out + "/report.svg", encoding: .utf8)
        #expect(svg.hasPrefix("<svg") && svg.contains("<polyline"))
        // One class (no mix in the summary): no lines per class.
        #expect(!table.contains("class           devices"), "\(table)")

        // The same run as a mixed fleet: seed 1 draws d-0, d-2, d-3, d-4, d-7 as environment sensors and the
        // other five as power meters (checked with the generator's --truth), so d-1's spike is a meter's and
        // the rest, false alarms included, the sensors'. Half the fleet each: 0.5 device-hours.
        let mixed = try folder.write("mixed.json", #"{"devices":10,"seed":1,"classes":{"environment":0.5,"power_meter":0.5},"duration_s":360,"grace_s":10,"connections":1,"start":1000,"finished":1360,"rate":10,"sent":3600,"publish_errors":0,"max_lag_s":0,"sent_per_second":[10,10]}"#)
        var scenario = LoadScenario()
        scenario.devices = 10
        scenario.classes = ["environment": 0.5, "power_meter": 0.5]
        #expect(scenario.deviceClasses().map(\.name) == [
            "environment", "power_meter", "environment", "environment", "environment", "power_meter", "power_meter",
            "environment", "power_meter", "power_meter",
        ])
        let byClass = try ChildProcess.run(product: "vigil-loadgen", arguments: [
            "report", "--truth", truth, "--events", events, "--summary", mixed,
        ])
        #expect(byClass.status == 0, "\(byClass.output)")
        #expect(byClass.output.contains("all             3         2         0.67"), "\(byClass.output)")
        #expect(byClass.output.contains("environment     5         2         1         0.50    3.00 s     3 (6.0000); ewma/temperature 3"), "\(byClass.output)")
        #expect(byClass.output.contains("power_meter     5         1         1         1.00    0.50 s     0 (0.0000)\n"), "\(byClass.output)")
        #expect(!byClass.output.contains("controller"), "\(byClass.output)")
    }

    @Test func aScenarioWithAnUnknownKeyIsRefusedWithItsLine() throws {
        let folder = try TemporaryDirectory("vigil-scenario")
        let scenario = try folder.write("bad.yaml", "devices: 10\nanomalies:\n  - {kind: spike, fraction: 0.1, onset_s: 3}\n")
        let result = try ChildProcess.run(product: "vigil-loadgen", arguments: ["--scenario", scenario, "--port", "1"])
        #expect(result.status == 1, "\(result.output)")
        #expect(result.output.contains("bad.yaml:3: anomalies[0].onset_s: unknown key"), "\(result.output)")
    }

    @Test func theShippedTraceReplaysOfflineAndIsRegeneratedByteForByte() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let trace = root.appendingPathComponent("loadtest/trace.jsonl.gz").path
        let folder = try TemporaryDirectory("vigil-trace")
        let regenerated = folder.path("trace.jsonl.gz")
        let generate = try ChildProcess.run(product: "vigil-loadgen", arguments: ["trace", "--output", regenerated])
        #expect(generate.status == 0, "\(generate.output)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: regenerated)) == Data(contentsOf: URL(fileURLWithPath: trace)))
        let config = try folder.write("vigil.yaml", """
            subscriptions:
              - filter: "devices/+/telemetry"
                device: "devices/{device}/telemetry"
            payload:
              timestamp_field: "ts"
            """)
        let anomalies = folder.path("anomalies.jsonl")
        let result = try ChildProcess.run(product: "vigil", arguments: [
            "replay", "--offline", "--config", config, "--anomalies", anomalies, trace,
        ], timeout: 90)
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains("0 invalid"), "\(result.output)")
        let firing = try String(contentsOfFile: anomalies, encoding: .utf8).split(separator: "\n").filter { $0.contains(#""state":"firing""#) }
        #expect(!firing.isEmpty)
    }
}
