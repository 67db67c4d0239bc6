import Foundation
import Testing
@testable import VigilCore

/// Engine state to checkpoint records and back: a restored engine decides as the original would.
struct CheckpointTests {
    static func feed(_ engine: inout DetectionEngine, device: String, values: [Double], start: Double) -> [AnomalyEvent] {
        var events: [AnomalyEvent] = []
        for (index, value) in values.enumerated() {
            let time = start + Double(index)
            var payload = "{\"ts\": \(Int64(time * 1000)), \"temperature\": \(value), \"humidity\": \(40 + value / 10)}"
            var device = device
            _ = device.withUTF8 { id in
                payload.withUTF8 { bytes in
                    engine.process(device: UnsafeRawBufferPointer(id), payload: UnsafeRawBufferPointer(bytes),
                                   receivedAtNanos: Int64(time * 1e9)) { events.append($0) }
                }
            }
        }
        return events
    }

    static func engine() -> DetectionEngine {
        var profile = DetectorProfile()
        profile.seasonal = SeasonalDetector.Parameters(period: 3600, buckets: 12)
        return DetectionEngine(settings: DetectionSettings(profile: profile), decoder: PayloadDecoder(limits: PayloadLimits(), timestampField: "ts", timestampUnit: .auto))
    }

    static func normal(_ count: Int, offset: Int = 0) -> [Double] {
        (0..<count).map { index -> Double in
            let x = Double(index + offset)
            let wave: Double = sin(x * 1.7) * cos(x * 0.31)
            return 20 + 0.5 * wave
        }
    }

    @Test func aRestoredEngineIsWarmAndDecidesAsTheOriginal() throws {
        var original = Self.engine()
        let start = 1_767_225_600.0
        for device in ["a", "b", "c"] { _ = Self.feed(&original, device: device, values: Self.normal(200), start: start) }
        #expect(original.warmingDeviceCount == 0)
        let records = original.checkpointRecords().map(\.bytes)
        #expect(records.count == 3)

        var restored = Self.engine()
        let counts = try restored.restore(records: records, now: start + 200)
        #expect(counts.devices == 3)
        #expect(restored.deviceCount == 3)
        #expect(restored.warmingDeviceCount == 0)
        // The same records again: a restored engine writes what it read (receive-time detectors re-anchored).
        #expect(restored.checkpointRecords().count == 3)

        // Normal traffic: no event from either. A spike: the same event from both.
        let more = Self.normal(50, offset: 200)
        #expect(Self.feed(&original, device: "a", values: more, start: start + 200).isEmpty)
        #expect(Self.feed(&restored, device: "a", values: more, start: start + 200).isEmpty)
        let spikeOriginal = Self.feed(&original, device: "b", values: [80], start: start + 300)
        let spikeRestored = Self.feed(&restored, device: "b", values: [80], start: start + 300)
        #expect(!spikeOriginal.isEmpty)
        #expect(spikeOriginal.map(\.detector) == spikeRestored.map(\.detector))
        #expect(spikeOriginal.map(\.expected) == spikeRestored.map(\.expected))
    }

    @Test func damagedRecordsAreErrorsNotCrashes() throws {
        var original = Self.engine()
        _ = Self.feed(&original, device: "a", values: Self.normal(60), start: 1000)
        let record = try #require(original.checkpointRecords().first?.bytes)
        // Every truncation, and a flipped byte at every position: an error or a load, never a trap.
        for length in 0..<record.count {
            var engine = Self.engine()
            #expect(throws: CheckpointError.self) { _ = try engine.restore(records: [Array(record[0..<length])], now: 2000) }
        }
        for position in 0..<record.count {
            var damaged = record
            damaged[position] ^= 0xA5
            var engine = Self.engine()
            _ = try? engine.restore(records: [damaged], now: 2000)
        }
    }
}
