import Foundation
import Testing
import TestSupport
import VigilIO

/// Offline replay through the real pipeline: determinism across shard counts, silence on the recording's clock,
/// CSV recordings, and what it refuses.
@Suite struct OfflineReplayTests {
    static let config = VigilConfig(
        subscriptions: [SubscriptionConfig(filter: "devices/+/telemetry", device: "devices/{device}/telemetry")],
        payload: PayloadConfig(timestampField: "ts")
    )

    static func replay(
        _ inputs: [String], shards: Int, folder: TemporaryDirectory, tag: String, config: VigilConfig = config
    ) throws -> (summary: ReplaySummary, scores: Data, anomalies: Data) {
        let scores = folder.path("scores-\(tag).csv")
        let anomalies = folder.path("anomalies-\(tag).jsonl")
        let options = ReplayOptions(
            config: config, inputs: inputs.map { RecordingInput(path: $0) }, shards: shards, scoresPath: scores, anomaliesPath: anomalies
        )
        let summary = try OfflineReplay(options: options).run()
        return (summary, try Data(contentsOf: URL(fileURLWithPath: scores)), try Data(contentsOf: URL(fileURLWithPath: anomalies)))
    }

    static func events(_ data: Data) -> [[String: Any]] {
        String(decoding: data, as: UTF8.self).split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
    }

    @Test func theSameInputGivesTheSameFilesByteForByteForAnyShardCount() throws {
        let folder = try TemporaryDirectory()
        let text = SyntheticRecording.jsonl(
            devices: 40, seconds: 400, spikes: [(3, 300), (17, 250)], silent: [(device: 5, from: 150, to: 330)]
        )
        let input = try folder.write("fleet.jsonl", text)
        let one = try Self.replay([input], shards: 1, folder: folder, tag: "1")
        let three = try Self.replay([input], shards: 3, folder: folder, tag: "3")
        #expect(one.scores == three.scores)
        #expect(one.anomalies == three.anomalies)
        #expect(three.summary.shards == 3)
        // Again with 3: a run is repeatable, not merely equal across shard counts once.
        #expect(try Self.replay([input], shards: 3, folder: folder, tag: "3b").anomalies == one.anomalies)

        // Scores: a header, then one row per sample in input order (each message's temperature, then humidity).
        let rows = String(decoding: one.scores, as: UTF8.self).split(separator: "\n")
        #expect(rows.first == "event_time_ms,device,metric,value,score,firing")
        #expect(rows.count - 1 == one.summary.samples)
        #expect(one.summary.samples == 2 * one.summary.messages)
        var expected: [String] = []
        for line in text.split(separator: "\n") {
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            let device = (object["topic"] as! String).split(separator: "/")[1]
            let ts = (object["t"] as! NSNumber).int64Value - 3
            expected.append("\(ts),\(device),temperature")
            expected.append("\(ts),\(device),humidity")
        }
        #expect(rows.dropFirst().map { $0.split(separator: ",").prefix(3).joined(separator: ",") } == expected)
        #expect(rows.contains { $0.hasPrefix("\(SyntheticRecording.start + 300_000 + 21 - 3),d-3,temperature,") && $0.hasSuffix(",1") })

        // Anomalies: the spikes and the silence, ordered by detection time, with derived ids and no latency.
        let events = Self.events(one.anomalies)
        #expect(!events.isEmpty)
        let firing = events.filter { $0["state"] as? String == "firing" && $0["detector"] as? String == "ewma" }
        #expect(Set(firing.map { $0["device"] as! String }).isSuperset(of: ["d-3", "d-17"]))
        #expect(events.contains { $0["device"] as? String == "d-5" && $0["detector"] as? String == "silence" && $0["state"] as? String == "firing" })
        #expect(events.contains { $0["device"] as? String == "d-5" && $0["detector"] as? String == "silence" && $0["state"] as? String == "resolved" })
        let detected = events.map { $0["detected"] as! String }
        #expect(detected == detected.sorted())
        #expect(events.allSatisfy { $0["latency_ms"] is NSNull && UUID(uuidString: $0["id"] as! String) != nil })
        #expect(Set(events.map { $0["id"] as! String }).count == events.count)
        #expect(one.summary.events.reduce(0) { $0 + $1.firing + $1.resolved } == events.count)
    }

    /// A device that stops for ten minutes of the recording is found silent on the recording's clock (the
    /// replay itself takes milliseconds), with the right onset, and resolved when it speaks again. With other
    /// devices talking meanwhile or not: the watermark that drives the sweeps moves either way.
    @Test(arguments: [true, false])
    func silenceIsFoundOnTheRecordingsClock(withOtherTraffic: Bool) throws {
        let folder = try TemporaryDirectory()
        var lines: [String] = []
        for second in 0..<750 {
            let t = SyntheticRecording.start + Int64(second) * 1000
            if second < 120 || second >= 720 {
                lines.append(#"{"t": \#(t), "topic": "devices/quiet/telemetry", "payload": "{\"v\": \#(second % 7)}"}"#)
            }
            if withOtherTraffic {
                lines.append(#"{"t": \#(t + 400), "topic": "devices/busy/telemetry", "payload": "{\"v\": \#(second % 5)}"}"#)
            }
        }
        let input = try folder.write("quiet.jsonl", lines.joined(separator: "\n"))
        let run = try Self.replay([input], shards: 2, folder: folder, tag: "q", config: ReplayOptions.defaultConfig)
        let silence = Self.events(run.anomalies).filter { $0["detector"] as? String == "silence" }
        #expect(silence.map { "\($0["device"]!) \($0["state"]!)" } == ["quiet firing", "quiet resolved"])
        // Last heard at +119 s, every second before: onset one interval later; silent past the 30 s floor at the
        // first sweep after +149 s; resolved by the message at +720 s.
        #expect(silence.first?["onset"] as? String == "2026-01-01T00:02:00.000Z")
        #expect(silence.first?["detected"] as? String == "2026-01-01T00:02:30.000Z")
        #expect(silence.last?["onset"] as? String == "2026-01-01T00:02:00.000Z")
        // A resolved event keeps its firing's detection time and says when it ended.
        #expect(silence.last?["detected"] as? String == "2026-01-01T00:02:30.000Z")
        #expect(silence.last?["resolved"] as? String == "2026-01-01T00:12:00.000Z")
        #expect(run.summary.sweeps >= 749)
        #expect(run.summary.seconds < 120)  // nowhere near the recording's 12 minutes
    }

    @Test func csvRecordingsReplayAsTheirDevice() throws {
        let folder = try TemporaryDirectory()
        var csv = "timestamp,temperature,humidity\n"
        for row in 0..<200 {
            let temperature = row == 150 ? 60.0 : 20 + 0.3 * sin(Double(row) * 0.7)
            csv += "2026-01-05 10:\(String(format: "%02d:%02d", row * 10 / 60, row * 10 % 60)),\(temperature),\(40 + row % 3)\n"
        }
        let input = try folder.write("pump-7.csv", csv)
        let run = try Self.replay([input], shards: 2, folder: folder, tag: "csv", config: ReplayOptions.defaultConfig)
        #expect(run.summary.messages == 200)
        #expect(run.summary.samples == 400)
        let spike = Self.events(run.anomalies).filter { $0["detector"] as? String == "ewma" && $0["state"] as? String == "firing" }
        #expect(spike.map { $0["device"] as! String } == ["pump-7"])
        #expect(spike.first?["detected"] as? String == "2026-01-05T10:25:00.000Z")
        #expect(spike.first?["value"] as? Double == 60)
        let rows = String(decoding: run.scores, as: UTF8.self).split(separator: "\n")
        #expect(rows[1].hasPrefix("1767607200000,pump-7,temperature,20,"))
    }

    @Test func inputWithNoValidMessageIsAnErrorAndWritesNothing() throws {
        let folder = try TemporaryDirectory()
        let input = try folder.write("bad.jsonl", "nope\n{\"t\": 1}\n")
        let options = ReplayOptions(
            config: ReplayOptions.defaultConfig, inputs: [RecordingInput(path: input)], shards: 2,
            scoresPath: folder.path("s.csv"), anomaliesPath: folder.path("a.jsonl")
        )
        do {
            _ = try OfflineReplay(options: options).run()
            Issue.record("expected an error")
        } catch {
            #expect(error.description.hasPrefix("no message could be read from \(input)"))
            #expect(error.description.contains("bad.jsonl:1: not valid JSON"))
            #expect(error.description.contains("bad.jsonl:2: no \"topic\""))
        }
        let left = try FileManager.default.contentsOfDirectory(atPath: folder.url.path)
        #expect(left == ["bad.jsonl"])
    }

    @Test func anOutputThatCannotBeWrittenFailsBeforeTheRun() throws {
        let folder = try TemporaryDirectory()
        let input = try folder.write("a.jsonl", #"{"t": 1000, "topic": "devices/a/telemetry", "payload": "{\"v\": 1}"}"#)
        for (scores, anomalies) in [(folder.path("no/s.csv"), nil), (nil, folder.path("no/a.jsonl")), (folder.path("s.csv"), folder.path("no/a.jsonl"))] {
            let options = ReplayOptions(
                config: ReplayOptions.defaultConfig, inputs: [RecordingInput(path: input)], shards: 2, scoresPath: scores, anomaliesPath: anomalies
            )
            let replay = OfflineReplay(options: options)
            #expect(throws: ReplayError.self) { try replay.run() }
            #expect(replay.messagesRouted == 0)
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.url.path) == ["a.jsonl"])
    }

    @Test func payloadsThePipelineRefusesAreDropsNotReaderErrors() throws {
        let folder = try TemporaryDirectory()
        let input = try folder.write("mixed.jsonl", [
            #"{"t": 1000, "topic": "devices/a/telemetry", "payload": "{\"v\": 1}"}"#,
            #"{"t": 2000, "topic": "elsewhere/a", "payload": "{\"v\": 1}"}"#,
            #"{"t": 3000, "topic": "devices/a/telemetry", "payload": "not json"}"#,
            #"{"t": 4000, "topic": "devices/a/telemetry", "payload_b64": "AAEC"}"#,
        ].joined(separator: "\n"))
        let run = try Self.replay([input], shards: 1, folder: folder, tag: "d", config: ReplayOptions.defaultConfig)
        #expect(run.summary.messages == 4)
        #expect(run.summary.invalid == 0)
        #expect(run.summary.drops.map { "\($0.reason)=\($0.count)" } == ["topic_mismatch=1", "not_json=2"])
        let table = run.summary.table()
        #expect(table.contains("topic_mismatch"))
        #expect(table.contains("messages   4 read, 3 processed"))
    }

    @Test func scoreFieldsAreQuotedWhenTheyMustBe() {
        var buffer: [UInt8] = []
        ScoreRow.appendField("plain", to: &buffer)
        buffer.append(UInt8(ascii: ";"))
        ScoreRow.appendField("a,b \"c\"", to: &buffer)
        #expect(String(decoding: buffer, as: UTF8.self) == "plain;\"a,b \"\"c\"\"\"")
    }
}
