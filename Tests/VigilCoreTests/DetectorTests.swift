import Foundation
import Testing
import VigilCore

/// Each detector on a synthetic series whose answer is known: quiet on the clean series, firing on the
/// injected anomaly within a stated number of samples.
@Suite struct DetectorTests {
    static let threshold = 0.999999
    static let thresholdZ = Score.z(forScore: threshold)

    @Test func metricStateFitsIn256Bytes() {
        #expect(DetectionEngine.metricStateBytes <= 256)
        #expect(MemoryLayout<EpisodeTracker>.stride == 32)
    }

    /// Feeds `values` to a baseline plus CUSUM; returns the index of the first sample the CUSUM scores over
    /// the threshold, and the EWMA's.
    static func firstAlarms(_ values: [Double]) -> (change: Int?, ewma: Int?) {
        let p = EWMADetector.Parameters(halfLife: 50, warmup: 30)
        var baseline = EWMADetector()
        var cusum = CUSUMDetector()
        var change: Int? = nil
        var ewma: Int? = nil
        for (index, value) in values.enumerated() {
            guard let a = baseline.observe(value, p, alpha: p.alpha) else { continue }
            if cusum.observe(residual: a.z, .init()) >= threshold, change == nil { change = index }
            if a.score >= threshold, ewma == nil { ewma = index }
        }
        return (change, ewma)
    }

    @Test func changeIsQuietOnNoiseAndCatchesADriftBeforeTheEWMA() {
        var random = SplitMix(seed: 11)
        let clean = (0..<20_000).map { _ in 10 + random.normal() }
        #expect(Self.firstAlarms(clean).change == nil)

        // From sample 1000 on, a drift of 0.1 sigma per sample. (Slower drifts, 0.05 sigma per sample and below,
        // are absorbed by the baseline's trend term before the CUSUM has evidence: a known limit.)
        let drift = (0..<3000).map { index in 10 + random.normal() + (index >= 1000 ? Double(index - 1000) * 0.1 : 0) }
        let (change, ewma) = Self.firstAlarms(drift)
        let caught = try! #require(change)
        #expect(caught > 1000 && caught < 1000 + 60)
        #expect(ewma == nil || caught < ewma!)

        // A 1.5 sigma step is caught within 40 samples (27 with this seed: the baseline absorbs part of the step).
        let step = (0..<2000).map { index in 10 + random.normal() + (index >= 1000 ? 1.5 : 0) }
        let stepCaught = try! #require(Self.firstAlarms(step).change)
        #expect(stepCaught >= 1000 && stepCaught < 1040, "caught at \(stepCaught)")
    }

    @Test func changeIgnoresASingleSpike() {
        var random = SplitMix(seed: 12)
        let spike = (0..<2000).map { index in 10 + random.normal() + (index == 1000 ? 50 : 0) }
        let (change, ewma) = Self.firstAlarms(spike)
        #expect(change == nil)
        #expect(ewma == 1000)
    }

    @Test func flatlineCatchesAStuckSensorAndToleratesAQuantisedOne() {
        let p = FlatlineDetector.Parameters(minRun: 5, halfLife: 500, warmup: 30)
        var random = SplitMix(seed: 3)
        // A noisy sensor that then sticks at sample 500.
        var noisy = FlatlineDetector()
        var firstAlarm: Int? = nil
        for index in 0..<600 {
            let value = index < 500 ? 20 + random.normal() : 20.5
            if let score = noisy.observe(value, p, alpha: p.alpha, threshold: Self.threshold), score >= Self.threshold, firstAlarm == nil {
                firstAlarm = index
            }
        }
        #expect(firstAlarm == 504)  // the fifth identical sample

        // A coarse sensor that repeats itself half of the time never alarms on its normal runs.
        var coarse = FlatlineDetector()
        var alarms = 0
        var value = 20.0
        for _ in 0..<20_000 {
            if random.uniform() < 0.5 { value += random.uniform() < 0.5 ? 0.5 : -0.5 }
            if let score = coarse.observe(value, p, alpha: p.alpha, threshold: Self.threshold), score >= Self.threshold { alarms += 1 }
        }
        #expect(alarms == 0)
        #expect(abs(Double(coarse.repeatProbability) - 0.5) < 0.1)
    }

    @Test func rateCatchesAFloodWithinTheWindowAndADrought() {
        let p = RateDetector.Parameters(window: 60, halfLife: 30, warmup: 5)
        var rate = RateDetector()
        var time = 0.0
        var random = SplitMix(seed: 5)
        var alarms = 0
        // One message every ~6 s (10 a window) for an hour.
        while time < 3600 {
            let (closed, open) = rate.observe(time: time, p, alpha: p.alpha, thresholdZ: Self.thresholdZ)
            if (closed?.score ?? 0) >= Self.threshold || (open?.score ?? 0) >= Self.threshold { alarms += 1 }
            time += 5 + random.uniform() * 2
        }
        #expect(alarms == 0)
        #expect(abs(rate.mean - 10) < 1)
        // A flood: ten messages a second. It is flagged within the first 30 messages of the window.
        let floodStart = (time / 60).rounded(.up) * 60
        var floodAlarm: Int? = nil
        for index in 0..<100 {
            let (_, open) = rate.observe(time: floodStart + Double(index) * 0.1, p, alpha: p.alpha, thresholdZ: Self.thresholdZ)
            if (open?.score ?? 0) >= Self.threshold && floodAlarm == nil { floodAlarm = index }
        }
        let flagged = try! #require(floodAlarm)
        #expect(flagged < 30)
    }

    @Test func silenceNeedsWarmUpAndFiresPastItsLimit() {
        let p = SilenceDetector.Parameters(factor: 10, minSilence: 30, maxSilence: 3600, halfLife: 50, warmup: 10)
        var silence = SilenceDetector()
        for index in 0..<5 { silence.heard(at: Double(index) * 10, p, alpha: p.alpha) }
        #expect(silence.check(now: 10_000, p) == nil)  // still warming up
        for index in 5..<100 { silence.heard(at: Double(index) * 10, p, alpha: p.alpha) }
        #expect(abs(silence.interval - 10) < 1e-9)
        #expect(silence.limit(p) == 100)
        #expect(silence.check(now: 990 + 99, p)!.score < 1)
        #expect(silence.check(now: 990 + 101, p)!.score == 1)
    }

    @Test func seasonalLearnsTheHourAndFlagsAValueWrongForIt() {
        let p = SeasonalDetector.Parameters(period: 86_400, buckets: 24, halfLifePeriods: 7, minSamples: 10)
        var seasonal = SeasonalDetector(p)
        var random = SplitMix(seed: 9)
        // Ten days of a daily cycle: 10 at night, 30 at 14:00, noise 0.5, one sample every 5 minutes.
        func normal(_ t: Double) -> Double { 20 + 10 * cos(2 * .pi * (t.truncatingRemainder(dividingBy: 86_400) - 14 * 3600) / 86_400) }
        var alarms = 0
        var t = 0.0
        while t < 10 * 86_400 {
            if let a = seasonal.observe(normal(t) + 0.5 * random.normal(), time: t, p, thresholdZ: Self.thresholdZ), a.score >= Self.threshold { alarms += 1 }
            t += 300
        }
        #expect(alarms == 0)
        // 30 is normal at 14:00 and wrong at 02:00.
        let afternoon = seasonal.observe(30, time: t + 14 * 3600, p, thresholdZ: Self.thresholdZ)!
        #expect(afternoon.score < Self.threshold)
        let night = seasonal.observe(30, time: t + 2 * 3600 + 600, p, thresholdZ: Self.thresholdZ)!
        #expect(night.score >= Self.threshold)
        #expect(abs(night.expected - normal(2 * 3600 + 600)) < 2)
    }

    @Test func theEngineReportsSilenceAndItsEndAndExplainsIt() {
        var profile = DetectorProfile()
        profile.silence = .init(factor: 5, minSilence: 10, maxSilence: 100, halfLife: 10, warmup: 5)
        var engine = DetectionEngine(
            settings: DetectionSettings(profile: profile),
            decoder: PayloadDecoder(limits: PayloadLimits(), timestampField: nil, timestampUnit: .auto)
        )
        var events: [AnomalyEvent] = []
        func send(at time: Double) {
            var payload = "{\"v\": 1.5}"
            var device = "d-1"
            _ = device.withUTF8 { d in
                payload.withUTF8 { p in
                    engine.process(device: UnsafeRawBufferPointer(d), payload: UnsafeRawBufferPointer(p), receivedAtNanos: Int64(time * 1e9)) { events.append($0) }
                }
            }
        }
        for index in 0..<20 { send(at: 1000 + Double(index) * 2) }
        #expect(engine.sweep(now: 1038 + 9) { events.append($0) } == 0)
        #expect(engine.sweep(now: 1038 + 11) { events.append($0) } == 1)
        #expect(engine.sweep(now: 1038 + 20) { events.append($0) } == 0)  // one episode, not one per sweep
        send(at: 1100)
        let silence = events.filter { $0.detector == "silence" }
        #expect(silence.map(\.state) == [.firing, .resolved])
        #expect(silence.first?.device == "d-1")
        #expect(silence.first?.onset == 1040)  // last message + the learned interval
        #expect(silence.first?.explanation.contains("d-1 has been silent for 11 s") == true)
        #expect(silence.last?.explanation.contains("talking again") == true)
        // The resolved event keeps the detection time of its firing and adds its own end and duration.
        #expect(silence.last?.detected == 1049)
        #expect(silence.last?.timeToDetectMs == 9000)
        #expect(silence.last?.durationMs == 60_000)
        #expect(silence.last?.json(latencyMs: nil).contains("\"duration_ms\":60000") == true)
    }

    @Test func theEngineFlagsAPayloadOverTheCap() {
        var profile = DetectorProfile()
        profile.payloadSize = .init(maxBytes: 64)
        var engine = DetectionEngine(
            settings: DetectionSettings(profile: profile),
            decoder: PayloadDecoder(limits: PayloadLimits(), timestampField: nil, timestampUnit: .auto)
        )
        var events: [AnomalyEvent] = []
        func send(_ payload: String, at time: Double) {
            var payload = payload
            var device = "m-1"
            _ = device.withUTF8 { d in
                payload.withUTF8 { p in
                    engine.process(device: UnsafeRawBufferPointer(d), payload: UnsafeRawBufferPointer(p), receivedAtNanos: Int64(time * 1e9)) { events.append($0) }
                }
            }
        }
        for index in 0..<40 { send("{\"power_w\": \(100 + index % 7)}", at: Double(index)) }
        #expect(events.isEmpty)
        send("{\"power_w\": 103, \"note\": \"" + String(repeating: "x", count: 80) + "\"}", at: 41)
        let size = try! #require(events.first { $0.detector == "payload_size" })
        #expect(size.metric == "payload_bytes")
        #expect(size.explanation.contains("over the 64-byte cap"))
    }

    @Test func aMetricDetectorJudgesOnlyItsOwnMetrics() {
        // Flatline on voltage only: a circuit's power sits at exactly 0 when idle, which is not a fault.
        var profile = DetectorProfile(metrics: ["power", "voltage"], detectorMetrics: [.flatline: ["voltage"], .ewma: ["voltage"]])
        profile.change = nil
        var engine = DetectionEngine(
            settings: DetectionSettings(profile: profile),
            decoder: PayloadDecoder(limits: PayloadLimits(), timestampField: nil, timestampUnit: .auto)
        )
        var events: [AnomalyEvent] = []
        var random = SplitMix(seed: 21)
        func send(power: Double, voltage: Double, at time: Double) {
            var payload = "{\"power\": \(power), \"voltage\": \(voltage), \"other\": 1}"
            var device = "m-1"
            _ = device.withUTF8 { d in
                payload.withUTF8 { p in
                    engine.process(device: UnsafeRawBufferPointer(d), payload: UnsafeRawBufferPointer(p), receivedAtNanos: Int64(time * 1e9)) { events.append($0) }
                }
            }
        }
        // Power busy, then idle at exactly 0 with a 2 kW step in the middle; voltage noisy throughout.
        for index in 0..<400 {
            let power = index < 100 ? 300 + 20 * random.normal() : index == 250 ? 2000 : 0
            send(power: power.rounded(), voltage: 230 + random.normal(), at: Double(index))
        }
        #expect(events.filter { $0.metric == "power" }.isEmpty, "\(events.map { "\($0.detector):\($0.metric)" })")
        // The voltage sticks: flatline fires on it.
        for index in 400..<420 { send(power: 0, voltage: 229.5, at: Double(index)) }
        let fired = events.filter { $0.state == .firing }.map { "\($0.detector):\($0.metric)" }
        #expect(fired.contains("flatline:voltage"), "\(fired)")
        #expect(!fired.contains { $0.hasSuffix(":power") || $0.hasSuffix(":other") })
    }
}
