import Foundation
import Testing
import TestSupport

/// The built `vigil replay --offline` on generated recordings: exit codes, the anomalies file, the summary.
@Suite(.timeLimit(.minutes(2)))
struct ReplayCommandTests {
    @Test func replaysAGeneratedRecordingIntoAnAnomaliesFile() throws {
        let folder = try TemporaryDirectory("vigil-replay")
        let input = try folder.write("fleet.jsonl", SyntheticRecording.jsonl(devices: 10, seconds: 200, spikes: [(device: 4, second: 150)]))
        let config = try folder.write("vigil.yaml", """
            subscriptions:
              - filter: "devices/+/telemetry"
                device: "devices/{device}/telemetry"
            payload:
              timestamp_field: "ts"
            """)
        let anomalies = folder.path("anomalies.jsonl")
        let scores = folder.path("scores.csv")
        let result = try ChildProcess.run(product: "vigil", arguments: [
            "replay", "--offline", "--config", config, "--shards", "2", "--scores", scores, "--anomalies", anomalies, input,
        ], timeout: 60)
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains("replay summary"), "\(result.output)")
        #expect(result.output.contains("messages   2000 read, 2000 processed"), "\(result.output)")
        #expect(result.output.contains("samples    4000"), "\(result.output)")

        let lines = try String(contentsOfFile: anomalies, encoding: .utf8).split(separator: "\n")
        let events = lines.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        #expect(events.count == lines.count)
        let spike = events.filter { $0["device"] as? String == "d-4" && $0["detector"] as? String == "ewma" }
        #expect(spike.map { $0["state"] as! String } == ["firing", "resolved"])
        // The sample at +150 s, t = start + 150 000 + 4 * 7 ms, stamped 3 ms earlier.
        #expect(spike.first?["detected"] as? String == "2026-01-01T00:02:30.025Z")
        #expect(spike.first?["time_to_detect_ms"] as? Double == 0)
        #expect(try String(contentsOfFile: scores, encoding: .utf8).split(separator: "\n").count == 4001)

        // The same run again, on one shard: the same file.
        let again = folder.path("again.jsonl")
        let second = try ChildProcess.run(product: "vigil", arguments: [
            "replay", "--offline", "--config", config, "--shards", "1", "--anomalies", again, input,
        ], timeout: 60)
        #expect(second.status == 0, "\(second.output)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: again)) == Data(contentsOf: URL(fileURLWithPath: anomalies)))
    }

    @Test func badInputAndBadCommandLines() throws {
        let folder = try TemporaryDirectory("vigil-replay")
        let input = try folder.write("a.jsonl", #"{"t": 1000, "topic": "devices/a/telemetry", "payload": "{\"v\": 1}"}"# + "\nnot json\n")
        let strict = try ChildProcess.run(product: "vigil", arguments: ["replay", "--offline", input])
        #expect(strict.status == 1, "\(strict.output)")
        #expect(strict.output.contains("a.jsonl:2: not valid JSON"), "\(strict.output)")
        let ok = try ChildProcess.run(product: "vigil", arguments: ["replay", "--offline", "--skip-bad", input])
        #expect(ok.status == 0, "\(ok.output)")
        #expect(ok.output.contains("1 messages, 1 invalid lines (line 2)"), "\(ok.output)")
        #expect(ok.output.contains("line 2: not valid JSON"), "\(ok.output)")

        let missing = try ChildProcess.run(product: "vigil", arguments: ["replay", "--offline", folder.path("missing.jsonl")])
        #expect(missing.status == 1)
        #expect(missing.output.contains("missing.jsonl: cannot open"), "\(missing.output)")
        let empty = try folder.write("empty.jsonl", "\n\n")
        #expect(try ChildProcess.run(product: "vigil", arguments: ["replay", "--offline", empty]).status == 1)

        for arguments in [["replay", input], ["replay", "--offline", "--broker", input], ["replay", "--offline", "--speed", "2", input], ["replay", "--offline"], ["replay", "--offline", "--shards", "0", input], ["replay", "--offline", "--bogus", input]] {
            let result = try ChildProcess.run(product: "vigil", arguments: arguments)
            #expect(result.status == 64, "\(arguments): \(result.output)")
        }
        let help = try ChildProcess.run(product: "vigil", arguments: ["replay", "--help"])
        #expect(help.status == 0)
        #expect(help.output.contains("BAD INPUT"))
    }
}
