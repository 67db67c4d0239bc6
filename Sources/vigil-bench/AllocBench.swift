import CBenchAlloc
import Foundation
import Synchronization
import VigilCore
import VigilPipeline

/// `alloc`: heap allocations per message on the hot path, in steady state.
///
/// Counting is process-wide (every thread) through CBenchAlloc's malloc interposer. A corpus of at most 5,000
/// devices and 40 messages each is used: the first 35 steps warm everything up (devices interned, metric slots
/// created, EWMA past its 30-sample warm-up, rings and dispatch threads running), the last 5 are counted.
/// The target is exactly 0: the figures are allocations over the counted window divided by its messages.
enum AllocBench {
    static let warmSteps = 35
    static let steps = 40

    struct Count {
        var allocations: UInt64
        var bytes: UInt64
    }

    static func run(options: BenchOptions, report: Report) {
        guard CBenchAlloc_isInterposed() != 0 else {
            report.add(
                "alloc", "alloc.available", "allocation counting", nil, "alloc/msg",
                note: "malloc is not interposed in this binary")
            report.addTarget("zero allocations per message", value: nil, goal: "0", met: nil)
            return
        }
        let devices = min(options.devices, 5_000)
        progress(
            "alloc: corpus of \(devices) devices x \(steps) messages; counting the last \(steps - warmSteps) steps")
        let corpus = Corpus(devices: devices, messages: devices * steps, seed: options.seed &+ 1)
        let warm = 0..<(devices * warmSteps)
        let counted = (devices * warmSteps)..<corpus.messageCount
        let trace = Int32(ProcessInfo.processInfo.environment["VIGIL_BENCH_ALLOC_TRACE"] ?? "") ?? 0
        var total: UInt64 = 0
        var sum = 0.0

        // The counter itself: a String this long lives on the heap (allocated inside libswiftCore).
        let probe = counting(trace: 0) { sum += Double(String(repeating: "x", count: 100 + devices % 7).utf8.count) }
        if probe.allocations == 0 {
            report.fail("alloc: a heap String was not counted; the figures below mean nothing")
        }

        func record(_ key: String, _ label: String, _ count: Count, messages: Int) {
            total += count.allocations
            report.add(
                "alloc", key, label, Double(count.allocations) / Double(messages), "alloc/msg",
                note: "\(count.allocations) allocations (\(count.bytes) bytes) in \(Report.grouped(messages)) messages"
            )
        }

        // (a) Decoding only.
        var decoder = DecodeBench.makeDecoder()
        let decoded = corpus.withView { view -> Count in
            func decodeRange(_ range: Range<Int>) {
                for message in range {
                    try? decoder.decode(view.payload(message))
                    sum += decoder.fieldCount > 0 ? decoder.fieldValue(0) : 0
                }
            }
            decodeRange(warm)
            return counting(trace: trace) { decodeRange(counted) }
        }
        record("alloc.decode", "PayloadDecoder.decode", decoded, messages: counted.count)

        // (b) The engine for known devices (decode + detect).
        var engine = ReplayBench.makeEngine(devices: devices)
        var events = 0
        let processed = corpus.withView { view -> Count in
            func processRange(_ range: Range<Int>) {
                for message in range {
                    let result = engine.process(
                        device: view.deviceID(message), payload: view.payload(message),
                        receivedAtNanos: Int64(message)
                    ) { _ in events += 1 }
                    sum += Double(result.samples)
                }
            }
            processRange(warm)
            return counting(trace: trace) { processRange(counted) }
        }
        record("alloc.engine", "DetectionEngine.process, known devices", processed, messages: counted.count)

        // (c) router.route + ring + worker, 1 and 2 shards.
        for shards in [1, 2] {
            let observer = ReplayBench.CountingObserver()
            let pipeline = ReplayBench.makePipeline(
                shards: shards, devices: devices, ringBytes: options.ringBytes, observer: observer)
            let count = corpus.withView { view -> Count in
                func routeRange(_ range: Range<Int>) {
                    for message in range {
                        pipeline.router.route(
                            topic: view.topic(message), payload: view.payload(message),
                            receivedAtNanos: Int64(message)
                        )
                    }
                    waitUntilProcessed(pipeline, range.upperBound)
                }
                routeRange(warm)
                return counting(trace: trace) { routeRange(counted) }
            }
            pipeline.drain()
            let snapshot = pipeline.snapshot()
            if snapshot.processed != corpus.messageCount || snapshot.droppedTotal != 0 {
                report.fail(
                    "alloc, \(shards) shards: processed \(snapshot.processed) of \(corpus.messageCount), dropped \(snapshot.dropped)"
                )
            }
            events += observer.events.load(ordering: .relaxed)
            record(
                "alloc.pipeline\(shards)", "router.route + ring + worker, \(shards) shard\(shards == 1 ? "" : "s")",
                count,
                messages: counted.count
            )
        }
        report.checksums["alloc"] = sum
        if events > 0 {
            report.add(
                "alloc", "alloc.events", "anomaly events in the alloc corpus", Double(events), "events",
                note: "events allocate by design")
        }
        report.addTarget("zero allocations per message", value: Double(total), goal: "0", met: total == 0)
    }

    /// Counts the allocations `body` makes, on every thread.
    private static func counting(trace: Int32, _ body: () -> Void) -> Count {
        CBenchAlloc_start()
        if trace > 0 { CBenchAlloc_traceNext(trace) }
        body()
        CBenchAlloc_stop()
        CBenchAlloc_traceNext(0)
        return Count(allocations: CBenchAlloc_allocations(), bytes: CBenchAlloc_bytes())
    }

    /// Waits, without allocating, until the workers have processed `messages` messages.
    private static func waitUntilProcessed(_ pipeline: Pipeline, _ messages: Int) {
        while true {
            var processed = 0
            for worker in pipeline.workers { processed += worker.counters[ShardWorker.Counter.messages.rawValue] }
            if processed >= messages { return }
            usleep(200)
        }
    }
}
