import Testing
import VigilCore

/// The engine scores every field at its own event time (SenML records carry their own).
@Suite struct DetectionEngineTests {
    /// Fires on the second of two consecutive anomalous samples, so an event's onset and detection
    /// times come from two different samples.
    static let settings = DetectionSettings(profile: DetectorProfile(
        episodes: EpisodeTracker.Policy(fireAfter: 2, resolveAfter: 3),
        ewma: EWMADetector.Parameters(warmup: 10),
        change: nil, flatline: nil, rate: nil, silence: nil, payloadSize: nil
    ))

    static func engine() -> DetectionEngine {
        DetectionEngine(
            settings: settings,
            decoder: PayloadDecoder(
                format: .auto, limits: PayloadLimits(), timestampField: "ts", timestampUnit: .seconds
            )
        )
    }

    /// Processes `payload` for device `dev-1`, returning the result and the events emitted.
    static func process(
        _ engine: inout DetectionEngine,
        _ payload: String,
        receivedAt seconds: Int64
    ) -> (ProcessResult, [AnomalyEvent]) {
        var events: [AnomalyEvent] = []
        let result = Array("dev-1".utf8).withUnsafeBytes { device in
            Array(payload.utf8).withUnsafeBytes { bytes in
                engine.process(device: device, payload: bytes, receivedAtNanos: seconds * 1_000_000_000) {
                    events.append($0)
                }
            }
        }
        return (result, events)
    }

    /// A pack of `count` records of `dev/temp` around 20, ten seconds apart from `start`.
    static func warmUpPack(start: Int, count: Int) -> String {
        let records = (0..<count).map { k in
            "{\"n\":\"temp\",\"t\":\(10 * k),\"v\":\(k % 2 == 0 ? "20.2" : "19.8")}"
        }
        return "[{\"bn\":\"dev/\",\"bt\":\(start)}," + records.joined(separator: ",") + "]"
    }

    @Test func eachSenMLRecordIsScoredAtItsOwnTime() throws {
        var engine = Self.engine()
        let warmUp = Self.process(&engine, Self.warmUpPack(start: 1_700_000_000, count: 20), receivedAt: 1_900_000_000)
        #expect(warmUp.0.samples == 20)
        #expect(warmUp.1.isEmpty)

        // Two spikes of the same metric in one pack, five seconds apart, received much later.
        let spike = #"[{"bn":"dev/","bt":1700000300,"n":"temp","v":95},{"n":"temp","t":5,"v":96}]"#
        let (result, events) = Self.process(&engine, spike, receivedAt: 1_900_000_100)
        #expect(result.samples == 2)
        #expect(result.fired == 1)
        let event = try #require(events.first)
        #expect(events.count == 1)
        #expect(event.state == .firing)
        #expect(event.device == "dev-1")
        #expect(event.metric == "dev/temp")
        #expect(event.value == 96)
        // The run started with the first record and fired on the second: each at its own time.
        #expect(event.onset == 1_700_000_300)
        #expect(event.detected == 1_700_000_305)
        #expect(event.timeToDetectMs == 5000)
    }

    @Test func relativeSenMLTimesAreCountedFromTheReceiveTime() throws {
        var engine = Self.engine()
        _ = Self.process(&engine, Self.warmUpPack(start: 1_899_999_000, count: 20), receivedAt: 1_900_000_000)
        let (result, events) = Self.process(
            &engine, #"[{"bn":"dev/","n":"temp","t":-2,"v":95},{"n":"temp","v":96}]"#, receivedAt: 1_900_000_500
        )
        #expect(result.fired == 1)
        let event = try #require(events.first)
        #expect(event.onset == 1_900_000_498)
        #expect(event.detected == 1_900_000_500)
    }

    @Test func jsonObjectsKeepTheirPayloadTimestampOrTheReceiveTime() throws {
        var engine = Self.engine()
        for k in 0..<20 {
            let payload = "{\"ts\":\(1_700_000_000 + k),\"temp\":\(k % 2 == 0 ? 20.2 : 19.8)}"
            _ = Self.process(&engine, payload, receivedAt: 1_900_000_000)
        }
        _ = Self.process(&engine, #"{"ts":1700000100,"temp":95}"#, receivedAt: 1_900_000_000)
        // No timestamp in the payload: the receive time.
        let (_, events) = Self.process(&engine, #"{"temp":96}"#, receivedAt: 1_900_000_001)
        let event = try #require(events.first)
        #expect(event.metric == "temp")
        #expect(event.onset == 1_700_000_100)
        #expect(event.detected == 1_900_000_001)
    }
}

@Suite struct MetricBudgetTests {
    /// A device at its metric cap that keeps inventing field names must not use up the shard's name budget.
    @Test func aCappedDeviceDoesNotSpendOtherDevicesNames() {
        var engine = DetectionEngine(
            settings: DetectionSettings(maxMetricsPerDevice: 2, maxMetricNames: 4),
            decoder: PayloadDecoder(limits: PayloadLimits(), timestampField: nil, timestampUnit: .auto)
        )
        func send(_ device: String, _ payload: String) -> ProcessResult {
            Array(device.utf8).withUnsafeBytes { d in
                Array(payload.utf8).withUnsafeBytes { p in
                    engine.process(device: d, payload: p, receivedAtNanos: 1_000_000_000) { _ in }
                }
            }
        }
        #expect(send("noisy", "{\"a\": 1, \"b\": 2}").droppedMetrics == 0)
        for index in 0..<10 { #expect(send("noisy", "{\"x\(index)\": 1}").droppedMetrics == 1) }
        // Two of the four names are left for everyone else.
        #expect(send("quiet", "{\"c\": 1, \"d\": 2}").droppedMetrics == 0)
    }
}
