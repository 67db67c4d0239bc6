import Foundation
import Synchronization
import Testing
import VigilCore
import VigilPipeline

/// Records what the pipeline reports.
final class RecordingObserver: PipelineObserver {
    let events = Mutex<[AnomalyEvent]>([])
    let drops = Mutex<[DropReason: Int]>([:])

    func anomaly(_ event: AnomalyEvent) { events.withLock { $0.append(event) } }
    func dropped(_ reason: DropReason, shard: Int, device: UnsafeRawBufferPointer, offset: Int?) {
        drops.withLock { $0[reason, default: 0] += 1 }
    }
}

@Suite struct PipelineTests {
    static let template = try! TopicTemplate("devices/{device}/telemetry")

    static func makePipeline(shards: Int, ringCapacity: Int = 1 << 20, overflow: OverflowPolicy = .block, observer: RecordingObserver) -> Pipeline {
        let settings = PipelineSettings(shards: shards, ringCapacity: ringCapacity, overflow: overflow, maxPayloadBytes: 1024, batchSize: 64)
        let detection = DetectionSettings(profile: DetectorProfile(ewma: .init(halfLife: 20, warmup: 10)))
        return Pipeline(settings: settings, templates: [template], observer: observer) { _ in
            DetectionEngine(settings: detection, decoder: PayloadDecoder(limits: PayloadLimits(), timestampField: "ts", timestampUnit: .seconds))
        }
    }

    static func route(_ pipeline: Pipeline, device: String, payload: String, at seconds: Int64 = 0) {
        var topic = "devices/\(device)/telemetry"
        var payload = payload
        topic.withUTF8 { topic in
            payload.withUTF8 { payload in
                pipeline.router.route(
                    topic: UnsafeRawBufferPointer(topic), payload: UnsafeRawBufferPointer(payload), receivedAtNanos: 1 + seconds * 1_000_000_000
                )
            }
        }
    }

    /// Device `d`'s value at step `t`: quiet, except a spike at step 150 for every tenth device.
    static func value(device: Int, step: Int) -> Double {
        step == 150 && device % 10 == 0 ? 1000 : 50 + Double((device * 7 + step * 13) % 11) / 10
    }

    @Test(arguments: [1, 2, 4])
    func everyMessageIsProcessedOnceAndEachDeviceLivesOnOneShard(shards: Int) {
        let observer = RecordingObserver()
        let pipeline = Self.makePipeline(shards: shards, observer: observer)
        let devices = 200
        for step in 0..<200 {
            for device in 0..<devices {
                Self.route(pipeline, device: "d-\(device)", payload: "{\"ts\": \(1000 + step), \"v\": \(Self.value(device: device, step: step))}")
            }
        }
        pipeline.drain()
        let snapshot = pipeline.snapshot()
        #expect(snapshot.received == 200 * devices)
        #expect(snapshot.processed == 200 * devices)
        #expect(snapshot.samples == 200 * devices)
        #expect(snapshot.droppedTotal == 0)
        // Had a device's messages reached two shards, both would count it.
        #expect(snapshot.devices == devices)
        let fired = observer.events.withLock { $0.filter { $0.state == .firing } }
        #expect(Set(fired.map(\.device)) == Set(stride(from: 0, to: devices, by: 10).map { "d-\($0)" }))
        #expect(fired.allSatisfy { $0.detected == 1150 && $0.value == 1000 })
        // Each firing event's time to detect is in the histogram of its detector (0 here: k = 1).
        let ttd = snapshot.timeToDetect[.ewma]
        #expect(ttd?.count == fired.filter { $0.detector == "ewma" }.count)
        #expect(ttd?.quantile(0.99) == 0)
    }

    @Test func theSameInputGivesTheSameEventsForAnyShardCount() {
        func run(shards: Int) -> [String] {
            let observer = RecordingObserver()
            let pipeline = Self.makePipeline(shards: shards, observer: observer)
            for step in 0..<300 {
                for device in 0..<50 {
                    Self.route(pipeline, device: "d-\(device)", payload: "{\"ts\": \(step), \"v\": \(Self.value(device: device, step: step))}")
                }
            }
            pipeline.drain()
            return observer.events.withLock { $0.map { "\($0.device) \($0.metric) \($0.state) \($0.detected) \($0.score)" }.sorted() }
        }
        let one = run(shards: 1)
        #expect(!one.isEmpty)
        #expect(run(shards: 3) == one)
    }

    @Test func dropPolicyCountsWhatDoesNotFit() {
        let observer = RecordingObserver()
        // A tiny ring and a held worker: what does not fit is dropped, and every drop is counted.
        let pipeline = Self.makePipeline(shards: 1, ringCapacity: 4096, overflow: .drop, observer: observer)
        let sent = 1000
        pipeline.workers[0].suspend()
        for step in 0..<sent { Self.route(pipeline, device: "d-\(step % 100)", payload: "{\"ts\": \(step), \"v\": 1.5}") }
        let held = pipeline.snapshot().ringDepth[0]
        #expect(held > 50 && held < 100)  // 4096 bytes hold ~68 records of 32 + 3 + 19..22 bytes, 8-aligned
        #expect(pipeline.snapshot().dropped[.ringFull] == sent - held)
        pipeline.workers[0].resume()
        pipeline.drain()
        let snapshot = pipeline.snapshot()
        let ringFull = snapshot.dropped[.ringFull] ?? 0
        #expect(ringFull > 0)
        #expect(snapshot.processed + ringFull == sent)
        #expect(observer.drops.withLock { $0[.ringFull] } == ringFull)
    }

    @Test func blockPolicyLosesNothing() {
        let observer = RecordingObserver()
        let pipeline = Self.makePipeline(shards: 2, ringCapacity: 4096, overflow: .block, observer: observer)
        let sent = 20_000
        for step in 0..<sent { Self.route(pipeline, device: "d-\(step % 100)", payload: "{\"ts\": \(step), \"v\": 1.5}") }
        pipeline.drain()
        let snapshot = pipeline.snapshot()
        #expect(snapshot.processed == sent)
        #expect(snapshot.droppedTotal == 0)
    }

    @Test func badInputIsCountedByReason() {
        let observer = RecordingObserver()
        let pipeline = Self.makePipeline(shards: 2, observer: observer)
        Self.route(pipeline, device: "a", payload: "{\"v\": ")
        Self.route(pipeline, device: "a", payload: "not json")
        Self.route(pipeline, device: "b", payload: "{\"v\": NaN}")
        Self.route(pipeline, device: "b", payload: String(repeating: "x", count: 2000))  // over maxPayloadBytes
        var topic = "elsewhere/x"
        var payload = "{\"v\": 1}"
        topic.withUTF8 { t in payload.withUTF8 { p in pipeline.router.route(topic: UnsafeRawBufferPointer(t), payload: UnsafeRawBufferPointer(p), receivedAtNanos: 1) } }
        pipeline.drain()
        let dropped = pipeline.snapshot().dropped
        #expect(dropped == [.truncated: 1, .notJSON: 1, .syntax: 1, .oversized: 1, .topicMismatch: 1])
        #expect(observer.events.withLock { $0.isEmpty })
    }

    @Test func theDeviceCapEvictsTheIdlestAndCountsIt() {
        let observer = RecordingObserver()
        let settings = PipelineSettings(shards: 1, ringCapacity: 1 << 16, overflow: .block, maxPayloadBytes: 1024)
        let pipeline = Pipeline(settings: settings, templates: [Self.template], observer: observer) { _ in
            DetectionEngine(settings: DetectionSettings(maxDevices: 3), decoder: PayloadDecoder(limits: PayloadLimits(), timestampField: nil, timestampUnit: .auto))
        }
        // d-1 is the idlest when d-3 arrives: last heard at t = 2, while d-0 spoke again at t = 4.
        for (second, device) in ["d-0", "d-1", "d-2", "d-0", "d-3"].enumerated() {
            Self.route(pipeline, device: device, payload: "{\"v\": 1}", at: Int64(second + 1))
        }
        pipeline.drain()
        let snapshot = pipeline.snapshot()
        #expect(snapshot.devices == 3)
        #expect(snapshot.processed == 5)
        #expect(snapshot.evictions == 1)
        #expect(snapshot.droppedTotal == 0)
        let known = pipeline.workers[0].withEngine { engine in ["d-0", "d-1", "d-2", "d-3"].map { engine.isWarming($0) != nil } }
        #expect(known == [true, false, true, true])
    }

    /// Silence is judged by sweep records in ring order: a replay's sweep at a time on the recording's clock
    /// finds a device that stopped, whatever the wall clock says, and the device's next message resolves it.
    @Test func sweepRecordsJudgeSilenceOnTheRecordingsClock() {
        let observer = RecordingObserver()
        let pipeline = Self.makePipeline(shards: 2, observer: observer)
        func send(_ device: String, at second: Int64) {
            var topic = "devices/\(device)/telemetry"
            var payload = "{\"v\": 1}"
            topic.withUTF8 { t in
                payload.withUTF8 { p in
                    pipeline.router.route(topic: UnsafeRawBufferPointer(t), payload: UnsafeRawBufferPointer(p), receivedAtNanos: second * 1_000_000_000)
                }
            }
        }
        for second in Int64(1000)..<1020 { send("quiet", at: second) }  // the last at 1019: 19 intervals of 1 s
        pipeline.router.sweep(nowNanos: 1040 * 1_000_000_000)  // 21 s of silence: under the 30 s floor
        pipeline.router.sweep(nowNanos: 1050 * 1_000_000_000)  // 31 s: silent
        pipeline.router.sweep(nowNanos: 1060 * 1_000_000_000)  // still silent: no second event
        send("quiet", at: 1100)
        pipeline.drain()
        let events = observer.events.withLock { $0 }
        #expect(events.map { "\($0.device) \($0.detector) \($0.state)" } == ["quiet silence firing", "quiet silence resolved"])
        #expect(events.first?.onset == 1020)  // last heard + its interval
        #expect(events.first?.detected == 1050)
        #expect(events.last?.detected == 1050)  // the firing's detection, kept
        #expect(events.last?.resolvedAt == 1100)
        #expect(pipeline.snapshot().fired == 1)
        #expect(pipeline.snapshot().processed == 21)  // sweeps are not messages
    }

    @Test func routingByDeviceSkipsTheTopicTemplates() {
        let observer = RecordingObserver()
        let pipeline = Self.makePipeline(shards: 3, observer: observer)
        var device = "pump-7"
        var payload = "{\"ts\": 1000, \"v\": 1}"
        for _ in 0..<5 {
            device.withUTF8 { d in
                payload.withUTF8 { p in
                    pipeline.router.route(device: UnsafeRawBufferPointer(d), payload: UnsafeRawBufferPointer(p), receivedAtNanos: 1)
                }
            }
        }
        pipeline.drain()
        let snapshot = pipeline.snapshot()
        #expect(snapshot.received == 5)
        #expect(snapshot.processed == 5)
        #expect(snapshot.devices == 1)
        #expect(snapshot.droppedTotal == 0)
    }

    /// Workers that spin before parking still wake for every message: bursts separated by idle gaps longer
    /// than the spin (so the worker parks between them), each awaited without `drain()`.
    @Test(arguments: [0, 50_000])
    func workersThatSpinThenParkProcessEveryBurst(spinNanos: Int) {
        var settings = PipelineSettings(shards: 2, ringCapacity: 1 << 16, overflow: .block, maxPayloadBytes: 1024)
        settings.spinNanos = spinNanos
        let detection = DetectionSettings(profile: DetectorProfile(ewma: .init(halfLife: 20, warmup: 10)))
        let pipeline = Pipeline(settings: settings, templates: [Self.template], observer: RecordingObserver()) { _ in
            DetectionEngine(settings: detection, decoder: PayloadDecoder(limits: PayloadLimits(), timestampField: "ts", timestampUnit: .seconds))
        }
        var expected = 0
        for burst in 0..<20 {
            for device in 0..<(1 + burst % 3) {
                Self.route(pipeline, device: "d-\(device)", payload: "{\"ts\": \(burst), \"v\": 1}")
                expected += 1
            }
            // Await the burst (a condition, with a generous deadline), then stay idle past the spin.
            let deadline = ContinuousClock.now + .seconds(10)
            while pipeline.snapshot().processed < expected && ContinuousClock.now < deadline { usleep(100) }
            #expect(pipeline.snapshot().processed == expected)
            usleep(200)
        }
        pipeline.drain()
        #expect(pipeline.snapshot().processed == expected)
    }
}
