import Foundation
import Testing
import TestSupport
import VigilIO
import VigilSim

/// The recording writer against the reader (plain and gzip), the strict reader, and scenario files.
@Suite struct RecordingWriterTests {
    static let messages: [(nanos: Int64, topic: String, payload: [UInt8])] = [
        (1_767_225_600_000_000_000, "devices/a/telemetry", Array(#"{"ts":1767225600000,"temperature":21.5}"#.utf8)),
        (1_767_225_600_001_250_000, "devices/b/telemetry", Array("quote \" backslash \\ newline \n tab \t bell \u{7} é ✓".utf8)),
        (1_767_225_600_002_000_000, "devices/a/telemetry", [0x00, 0xFF, 0xFE, 0x80, 0x41]),
        (1_767_225_600_003_000_000, "devices/c/telemetry", []),
    ]

    @Test(arguments: ["rec.jsonl", "rec.jsonl.gz"])
    func writtenMessagesReadBackByteForByte(name: String) throws {
        let folder = try TemporaryDirectory()
        let path = folder.path(name)
        let writer = try RecordingWriter(path: path)
        for message in Self.messages {
            try Array(message.topic.utf8).withUnsafeBytes { topic in
                try message.payload.withUnsafeBytes { try writer.append(receivedAtNanos: message.nanos, topic: topic, payload: $0) }
            }
        }
        #expect(!FileManager.default.fileExists(atPath: path))
        try writer.finish()
        #expect(!FileManager.default.fileExists(atPath: path + ".partial"))
        if name.hasSuffix(".gz") {
            let magic = try Data(contentsOf: URL(fileURLWithPath: path)).prefix(2)
            #expect(Array(magic) == [0x1F, 0x8B])
        }
        let reader = try RecordingReader(inputs: [RecordingInput(path: path)], skipBad: false)
        var read: [(Int64, String, [UInt8])] = []
        while try reader.next({ message in
            guard case .topic(let topic) = message.address else { return }
            read.append((message.receivedAtNanos, String(decoding: topic, as: UTF8.self), Array(message.payload)))
        }) {}
        #expect(read.map(\.0) == Self.messages.map(\.nanos))
        #expect(read.map(\.1) == Self.messages.map(\.topic))
        #expect(read.map(\.2) == Self.messages.map(\.payload))
        #expect(reader.stats.first?.invalid == 0)
    }

    @Test func aBadLineStopsTheStrictReaderWithItsLineAndIsCountedWithSkipBad() throws {
        let folder = try TemporaryDirectory()
        let path = try folder.write("cut.jsonl", """
            {"t": 1000, "topic": "devices/a/telemetry", "payload": "1"}
            {"t": 1001, "topic": "devices/a/telemetry", "payload": "2"}
            {"t": 1002, "topic": "devices/a/tele
            {"t": 1003, "topic": "devices/a/telemetry", "payload": "4"}
            """)
        let strict = try RecordingReader(inputs: [RecordingInput(path: path)], skipBad: false)
        var count = 0
        #expect(throws: RecordingError.self) {
            while try strict.next({ _ in count += 1 }) {}
        }
        do {
            let again = try RecordingReader(inputs: [RecordingInput(path: path)], skipBad: false)
            while try again.next({ _ in }) {}
        } catch {
            #expect(error.line == 3)
            #expect(error.description.hasPrefix("\(path):3: "), "\(error)")
        }
        #expect(count == 2)
        let lenient = try RecordingReader(inputs: [RecordingInput(path: path)], skipBad: true)
        count = 0
        while try lenient.next({ _ in count += 1 }) {}
        #expect(count == 3)
        #expect(lenient.stats.first?.invalid == 1)
        #expect(lenient.stats.first?.issues.first?.line == 3)
    }

    @Test func aCorruptGzipFileIsAnErrorNotACrash() throws {
        let folder = try TemporaryDirectory()
        let path = folder.path("bad.jsonl.gz")
        // A gzip header, then garbage.
        try Data([0x1F, 0x8B, 0x08, 0, 0, 0, 0, 0, 0, 3] + Array(repeating: 0xAB, count: 64)).write(to: URL(fileURLWithPath: path))
        #expect(throws: RecordingError.self) {
            let reader = try RecordingReader(inputs: [RecordingInput(path: path)], skipBad: false)
            while try reader.next({ _ in }) {}
        }
    }
}

/// Load-test scenario files: strict, with lines.
@Suite struct LoadScenarioTests {
    @Test func aScenarioIsReadWithEveryKey() throws {
        let scenario = try LoadScenario.parse(yaml: """
            description: "two kinds"
            devices: 100
            rate: 50
            duration_s: 30
            seed: 9
            grace_s: 4
            anomalies:
              - {kind: spike, fraction: 0.1, at_s: 10}
              - {kind: level_shift, fraction: 0.05, at_s: 5, spread_s: 2, duration_s: 8, every_s: 10}
            """)
        #expect(scenario.devices == 100 && scenario.rate == 50 && scenario.durationSeconds == 30 && scenario.seed == 9)
        #expect(scenario.anomalies.map(\.kind) == [.spike, .levelShift])
        #expect(scenario.anomalies[1].everySeconds == 10 && scenario.anomalies[1].durationSeconds == 8)
        let injections = scenario.injections(start: 1000)
        // 10 spikes once; 5 level shifts at 5, 15 and 25 s.
        #expect(injections.filter { $0.kind == .spike }.count == 10)
        #expect(injections.filter { $0.kind == .levelShift }.count == 15)
        // Each device has one anomaly at most (25 of 100 devices drawn without repeats).
        #expect(Set(injections.map(\.device)).count == 25)
        #expect(injections.allSatisfy { $0.onset >= 1000 && $0.onset < 1030 })
        // A spike lasts one reporting interval (100 devices at 50 msg/s: 2 s).
        #expect(injections.first { $0.kind == .spike }.map { $0.end - $0.onset } == 2)
        #expect(scenario.injections(start: 1000) == injections)
        // Without `classes:` the fleet is all environment sensors, and the anomalies hit its metrics.
        #expect(scenario.classes == ["environment": 1] && scenario.deviceClasses().allSatisfy { $0 == .environment })
        #expect(injections.allSatisfy { $0.metric == "temperature" })
    }

    @Test func aMixOfClassesIsDrawnExactlyAndEachAnomalyNamesItsClassMetric() throws {
        let scenario = try LoadScenario.parse(yaml: """
            devices: 1000
            seed: 4
            classes: {environment: 0.5, power_meter: 0.3, controller: 0.2}
            anomalies:
              - {kind: spike, fraction: 0.1}
              - {kind: drift, fraction: 0.1}
              - {kind: stuck, fraction: 0.1}
              - {kind: variance_burst, fraction: 0.1}
              - {kind: silence, fraction: 0.05}
            """)
        #expect(scenario.classes == ["environment": 0.5, "power_meter": 0.3, "controller": 0.2])
        let classes = scenario.deviceClasses()
        #expect(classes.filter { $0 == .environment }.count == 500)
        #expect(classes.filter { $0 == .powerMeter }.count == 300)
        #expect(classes.filter { $0 == .controller }.count == 200)
        // The same seed draws the same devices; another seed others.
        #expect(scenario.deviceClasses() == classes)
        var reseeded = scenario
        reseeded.seed = 5
        #expect(reseeded.deviceClasses() != classes)
        // Every anomaly names the metric its own device's class has for the kind.
        let injections = scenario.injections(start: 0)
        #expect(injections.count == 450)
        for injection in injections {
            let deviceClass = classes[try #require(Int(injection.device.dropFirst(2)))]
            #expect(injection.metric == deviceClass.metric(for: injection.kind), "\(injection)")
            if injection.kind != .silence {
                #expect(deviceClass.metrics.contains { $0.name == injection.metric }, "\(injection)")
            }
        }
        let metrics = Set(injections.compactMap(\.metric))
        #expect(metrics == ["temperature", "load", "power", "voltage", "zone_temp", "valve"])
    }

    @Test func aWrongMixOfClassesIsAnErrorWithItsLine() throws {
        func errors(_ classes: String) -> String {
            do {
                _ = try LoadScenario.parse(yaml: "devices: 10\nclasses: \(classes)\n", source: "mix.yaml")
                return "no error"
            } catch {
                return error.description
            }
        }
        var text = errors("{environment: 0.5, power_meters: 0.5}")
        #expect(text.contains("mix.yaml:2: classes.power_meters: unknown key; did you mean `power_meter`?"), "\(text)")
        text = errors("{environment: 0.5, controller: 0.4}")
        #expect(text.contains("mix.yaml:2: classes: the fractions must add up to 1, they add up to 0.9"), "\(text)")
        text = errors("{environment: 1.5, controller: -0.5}")
        #expect(text.contains("mix.yaml:2: classes.environment: must be between 0 and 1, got 1.5"), "\(text)")
        #expect(text.contains("classes.controller: must be between 0 and 1"), "\(text)")
        text = errors("[environment]")
        #expect(text.contains("mix.yaml:2: classes: expected a mapping of device classes"), "\(text)")
        text = errors("{environment: 0.5, environment: 0.5}")
        #expect(text.contains("duplicate key"), "\(text)")
    }

    @Test func unknownKeysAndBadValuesAreErrorsWithTheirLines() throws {
        do {
            _ = try LoadScenario.parse(yaml: """
                devices: 100
                rate: 0
                anomalies:
                  - kind: spike
                    fractoin: 0.1
                  - {kind: meteor}
                durration_s: 5
                """, source: "bad.yaml")
            Issue.record("no error")
        } catch {
            let text = error.description
            #expect(text.contains("bad.yaml:2: rate: must be greater than 0"), "\(text)")
            #expect(text.contains("bad.yaml:5: anomalies[0].fractoin: unknown key; did you mean `fraction`?"), "\(text)")
            #expect(text.contains("bad.yaml:6: anomalies[1].kind: must be one of"), "\(text)")
            #expect(text.contains("bad.yaml:7: durration_s: unknown key; did you mean `duration_s`?"), "\(text)")
        }
    }

    @Test func theShippedScenariosAreValid() throws {
        let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("loadtest/scenarios")
        let names = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".yaml") }.sorted()
        #expect(names.contains("default.yaml") && names.contains("soak.yaml"))
        for name in names {
            let scenario = try LoadScenario.load(path: folder.appendingPathComponent(name).path)
            #expect(!scenario.injections(start: 0).isEmpty, "\(name)")
            if name == "default.yaml" || name == "soak.yaml" { #expect(scenario.classes.count == 3, "\(name) mixes the classes") }
        }
    }
}
