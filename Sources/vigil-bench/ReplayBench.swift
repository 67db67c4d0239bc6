import Foundation
import Synchronization
import VigilCore
import VigilPipeline

/// `replay`: the corpus through the same Router and Pipeline that `vigil run` builds, as fast as they go.
///
/// One producer thread (this one) calls `router.route` for every message, overflow policy block; the time
/// runs from the first route to the return of `pipeline.drain()`, which has processed the last record. The
/// engine alone (the same corpus through one DetectionEngine on this thread, no ring) is measured as well, to
/// separate the detection cost from the pipeline's.
enum ReplayBench {
    struct Outcome {
        var seconds: Double
        /// CPU seconds of the whole process (producer and workers) over the same span.
        var cpuSeconds: Double
        /// CPU seconds of the producer thread alone (routing; waiting for ring space uses none).
        var producerCPUSeconds: Double
        var snapshot: PipelineSnapshot
        var events: Int
    }

    /// Counts what the workers report; the corpus should produce no events and no drops.
    final class CountingObserver: PipelineObserver {
        let events = Atomic<Int>(0)
        let drops = Atomic<Int>(0)

        func anomaly(_ event: AnomalyEvent) { events.wrappingAdd(1, ordering: .relaxed) }
        func dropped(_ reason: DropReason, shard: Int, device: UnsafeRawBufferPointer, offset: Int?) {
            drops.wrappingAdd(1, ordering: .relaxed)
        }
    }

    /// The pipeline as `vigil run` builds it from the default configuration, with `shards` shards.
    static func makePipeline(shards: Int, devices: Int, ringBytes: Int, observer: CountingObserver) -> Pipeline {
        let settings = PipelineSettings(
            shards: shards, ringCapacity: ringBytes, overflow: .block, maxPayloadBytes: 65536)
        let template = try! TopicTemplate(Corpus.template)  // a literal known to be valid
        return Pipeline(settings: settings, templates: [template], observer: observer) { _ in
            makeEngine(devices: devices)
        }
    }

    /// The engine with the default detection settings (device cap raised to hold the whole corpus).
    static func makeEngine(devices: Int) -> DetectionEngine {
        DetectionEngine(
            settings: DetectionSettings(maxDevices: max(100_000, devices)), decoder: DecodeBench.makeDecoder())
    }

    static func replay(corpus: Corpus, shards: Int, ringBytes: Int) -> Outcome {
        let observer = CountingObserver()
        let pipeline = makePipeline(shards: shards, devices: corpus.deviceCount, ringBytes: ringBytes, observer: observer)
        let messages = corpus.messageCount
        let cpuStart = Measure.cpuSeconds()
        var producerCPUSeconds = 0.0
        let seconds = Measure.time {
            let producerStart = Measure.cpuSeconds(thread: true)
            corpus.withView { view in
                for message in 0..<messages {
                    pipeline.router.route(
                        topic: view.topic(message), payload: view.payload(message),
                        receivedAtNanos: Int64(message)
                    )
                }
            }
            producerCPUSeconds = Measure.cpuSeconds(thread: true) - producerStart
            pipeline.drain()
        }
        let cpuSeconds = Measure.cpuSeconds() - cpuStart
        return Outcome(
            seconds: seconds, cpuSeconds: cpuSeconds, producerCPUSeconds: producerCPUSeconds,
            snapshot: pipeline.snapshot(),
            events: observer.events.load(ordering: .relaxed)
        )
    }

    /// The producer's cost alone: `router.route` for the first messages of the corpus into rings large enough
    /// to hold them all while the workers are held, so the producer never waits and never shares a core with
    /// a worker. A first pass faults the rings' pages in; then three timed passes (the workers drain the rings
    /// between passes, untimed). Returns the median wall and CPU ns per message.
    static func routeOnly(corpus: Corpus, messages: Int) -> (ns: Double, cpuNs: Double) {
        let observer = CountingObserver()
        var capacity = 1 << 16
        while capacity < messages * (ByteRing.headerBytes + corpus.topicLength + 104) { capacity <<= 1 }
        let settings = PipelineSettings(shards: 1, ringCapacity: capacity, overflow: .drop, maxPayloadBytes: 65536)
        let template = try! TopicTemplate(Corpus.template)  // a literal known to be valid
        let pipeline = Pipeline(settings: settings, templates: [template], observer: observer) { _ in
            makeEngine(devices: corpus.deviceCount)
        }
        var wall: [Double] = []
        var cpu: [Double] = []
        for pass in 0..<4 {
            pipeline.workers[0].suspend()
            let cpuStart = Measure.cpuSeconds(thread: true)
            let seconds = Measure.time {
                corpus.withView { view in
                    for message in 0..<messages {
                        pipeline.router.route(
                            topic: view.topic(message), payload: view.payload(message),
                            receivedAtNanos: Int64(message)
                        )
                    }
                }
            }
            let cpuSeconds = Measure.cpuSeconds(thread: true) - cpuStart
            pipeline.workers[0].resume()
            pipeline.workers[0].flush()
            if pass > 0 {
                wall.append(seconds * 1e9 / Double(messages))
                cpu.append(cpuSeconds * 1e9 / Double(messages))
            }
        }
        pipeline.drain()
        if observer.drops.load(ordering: .relaxed) > 0 || pipeline.snapshot().processed != 4 * messages {
            return (.nan, .nan)
        }
        return (Measure.median(wall), Measure.median(cpu))
    }

    /// The corpus through one engine on this thread: decode + detect, no router, no ring, no worker.
    static func engineOnly(corpus: Corpus) -> (seconds: Double, cpuSeconds: Double, samples: Int, rejected: Int) {
        var engine = makeEngine(devices: corpus.deviceCount)
        var samples = 0
        var rejected = 0
        let messages = corpus.messageCount
        let cpuStart = Measure.cpuSeconds(thread: true)
        let seconds = Measure.time {
            corpus.withView { view in
                for message in 0..<messages {
                    let result = engine.process(
                        device: view.deviceID(message), payload: view.payload(message),
                        receivedAtNanos: Int64(message)
                    ) { _ in }
                    samples += result.samples
                    if result.rejection != nil { rejected += 1 }
                }
            }
        }
        return (seconds, Measure.cpuSeconds(thread: true) - cpuStart, samples, rejected)
    }

    static func run(corpus: Corpus, options: BenchOptions, report: Report, reference: CReference.Availability) {
        let messages = Double(corpus.messageCount)
        var oneShard: [Double] = []
        var twoShards: [Double] = []
        var engine: [Double] = []
        var cRates: [Double] = []
        /// The C reference's rate per round (nil for a round where it failed), to pair with Vigil's.
        var cByRound: [Double?] = []
        // CPU nanoseconds per message, per configuration.
        var cpu: [String: [Double]] = [:]
        var blockedWaits = [0, 0]
        var events = 0
        let routed = min(corpus.messageCount, 1_000_000)
        progress("replay: router.route alone, \(Report.grouped(routed)) messages, workers held ...")
        let route = routeOnly(corpus: corpus, messages: routed)
        if route.ns.isNaN { report.fail("router.route alone: messages were dropped or not processed") }
        for round in 1...options.rounds {
            let tag = "replay round \(round)/\(options.rounds)"
            cByRound.append(nil)
            if case .ready(let c) = reference {
                progress("\(tag): C reference ...")
                switch c.run() {
                case .success(let result):
                    if result.messages != corpus.messageCount
                        || result.samples != Corpus.metricsPerMessage * corpus.messageCount
                    {
                        report.fail("C reference processed \(result.messages) messages, \(result.samples) samples")
                    }
                    cRates.append(result.messagesPerSecond)
                    cByRound[round - 1] = result.messagesPerSecond
                    cpu["c", default: []].append(result.cpuSeconds * 1e9 / messages)
                    progress("\(tag): C reference \(Report.format(result.messagesPerSecond, unit: "msg/s")) msg/s")
                case .failure(let error):
                    report.fail("C reference: \(error.message)")
                }
            }
            for shards in [1, 2] {
                progress(
                    "\(tag): \(shards) shard\(shards == 1 ? "" : "s"), \(Report.grouped(corpus.messageCount)) messages ..."
                )
                let outcome = replay(corpus: corpus, shards: shards, ringBytes: options.ringBytes)
                let snapshot = outcome.snapshot
                if snapshot.processed != corpus.messageCount || snapshot.droppedTotal != 0
                    || snapshot.samples != Corpus.metricsPerMessage * corpus.messageCount
                    || snapshot.devices != corpus.deviceCount
                {
                    report.fail(
                        "replay with \(shards) shards: processed \(snapshot.processed), samples \(snapshot.samples), devices \(snapshot.devices), dropped \(snapshot.dropped)"
                    )
                }
                let rate = messages / outcome.seconds
                if shards == 1 { oneShard.append(rate) } else { twoShards.append(rate) }
                cpu["shards\(shards)", default: []].append(outcome.cpuSeconds * 1e9 / messages)
                cpu["producer\(shards)", default: []].append(outcome.producerCPUSeconds * 1e9 / messages)
                blockedWaits[shards - 1] += snapshot.blockedWaits
                events += outcome.events
                progress("\(tag): \(shards) shard\(shards == 1 ? "" : "s") \(Report.format(rate, unit: "msg/s")) msg/s")
            }
            progress("\(tag): engine only (one thread, no pipeline) ...")
            let direct = engineOnly(corpus: corpus)
            if direct.rejected != 0 || direct.samples != Corpus.metricsPerMessage * corpus.messageCount {
                report.fail("engine only: \(direct.rejected) rejected, \(direct.samples) samples")
            }
            engine.append(messages / direct.seconds)
            cpu["engine", default: []].append(direct.cpuSeconds * 1e9 / messages)
            progress("\(tag): engine only \(Report.format(messages / direct.seconds, unit: "msg/s")) msg/s")
        }

        let one = Measure.median(oneShard)
        let two = Measure.median(twoShards)
        let direct = Measure.median(engine)
        let note = "median of \(options.rounds)"
        report.add(
            "replay", "replay.engine_only.msgs_per_s", "engine only (decode + detect, 1 thread)", direct, "msg/s",
            note: note)
        report.add("replay", "replay.engine_only.ns_per_msg", "engine only, per message", 1e9 / direct, "ns/msg")
        report.add(
            "replay", "replay.engine_only.cpu_ns_per_msg", "engine only, CPU per message",
            cpu["engine"].map(Measure.median), "ns/msg")
        report.add(
            "replay", "replay.shards1.msgs_per_s", "Router + Pipeline, 1 shard", one, "msg/s",
            note: "\(note); producer blocked \(blockedWaits[0]) times")
        report.add(
            "replay", "replay.shards1.ns_per_msg", "Router + Pipeline, 1 shard, per message", 1e9 / one, "ns/msg")
        report.add(
            "replay", "replay.shards1.cpu_ns_per_msg", "Router + Pipeline, 1 shard, CPU per message",
            cpu["shards1"].map(Measure.median),
            "ns/msg", note: "all threads: producer + worker"
        )
        report.add(
            "replay", "replay.shards2.msgs_per_s", "Router + Pipeline, 2 shards", two, "msg/s",
            note: "\(note); producer blocked \(blockedWaits[1]) times")
        report.add(
            "replay", "replay.shards2.ns_per_msg", "Router + Pipeline, 2 shards, per message", 1e9 / two, "ns/msg")
        report.add(
            "replay", "replay.shards2.cpu_ns_per_msg", "Router + Pipeline, 2 shards, CPU per message",
            cpu["shards2"].map(Measure.median),
            "ns/msg", note: "all threads: producer + 2 workers"
        )
        // Ratios pair the figures of one round (measured minutes apart at most), then take the median over the
        // rounds: on a shared machine the load drifts between rounds, and pairing cancels most of that drift.
        let scaling = Self.pairedMedian(twoShards, oneShard.map { $0 })!
        report.add("replay", "replay.scaling", "2 shards / 1 shard", scaling, "x", note: "median of per-round ratios")
        report.add(
            "replay", "replay.route_only.ns_per_msg", "router.route alone (workers held), per message", route.ns,
            "ns/msg",
            note: "median of 3 passes of \(Report.grouped(routed)) messages"
        )
        report.add(
            "replay", "replay.route_only.cpu_ns_per_msg", "router.route alone, CPU per message", route.cpuNs, "ns/msg")
        // With W the worker's CPU per message and P the producer's, n cores give at best n / (W + P) messages
        // per second when the producer shares the cores with the workers, against 1 / W for one shard.
        if let total = cpu["shards1"].map(Measure.median), let producer = cpu["producer1"].map(Measure.median),
            !route.cpuNs.isNaN
        {
            let worker = total - producer
            report.add(
                "replay", "replay.producer_cpu_ns_per_msg", "producer thread in the 1-shard run, CPU per message",
                producer, "ns/msg",
                note: "route + waiting for ring space"
            )
            report.add(
                "replay", "replay.worker_cpu_ns_per_msg", "shard worker in the 1-shard run, CPU per message", worker,
                "ns/msg")
            let cores = Double(min(2, ProcessInfo.processInfo.activeProcessorCount))
            report.add(
                "replay", "replay.scaling_ceiling", "2 shards / 1 shard, ceiling on \(Int(cores)) cores",
                min(2, cores * worker / (worker + route.cpuNs)), "x",
                note: "cores x W / (W + P): W worker, P route alone; an idle machine"
            )
        }
        report.add(
            "replay", "replay.pipeline_share", "1 shard / engine only", Self.pairedMedian(oneShard, engine.map { $0 }), "x",
            note: "1.00x when ring + wake-ups add nothing to the worker")
        if events > 0 {
            report.add("replay", "replay.events", "anomaly events during replay", Double(events), "events")
        }

        let cMedian: Double? = cRates.isEmpty ? nil : Measure.median(cRates)
        let cNote: String? =
            switch reference {
            case .ready: note
            case .unavailable(let reason): reason
            }
        report.add("C ref", "c.msgs_per_s", "C scanner + strtod + EWMA, 1 thread", cMedian, "msg/s", note: cNote)
        report.add("C ref", "c.ns_per_msg", "C reference, per message", cMedian.map { 1e9 / $0 }, "ns/msg")
        report.add("C ref", "c.cpu_ns_per_msg", "C reference, CPU per message", cpu["c"].map(Measure.median), "ns/msg")
        let vsC = Self.pairedMedian(oneShard, cByRound)
        report.add("C ref", "ratio.shards1_vs_c", "Vigil 1 shard / C", vsC, "x", note: "medians of per-round ratios")
        report.add("C ref", "ratio.shards2_vs_c", "Vigil 2 shards / C", Self.pairedMedian(twoShards, cByRound), "x")
        report.add("C ref", "ratio.engine_vs_c", "Vigil engine only / C", Self.pairedMedian(engine, cByRound), "x")

        report.addTarget("replay, 1 shard / C", value: vsC, goal: ">= 0.5x", met: vsC.map { $0 >= 0.5 })
        report.addTarget("replay, 2 shards / 1 shard", value: scaling, goal: ">= 1.8x", met: scaling >= 1.8)
    }

    /// The median over rounds of `numerators[i] / denominators[i]`, skipping rounds without a denominator.
    static func pairedMedian(_ numerators: [Double], _ denominators: [Double?]) -> Double? {
        let ratios = zip(numerators, denominators).compactMap { numerator, denominator in
            denominator.map { numerator / $0 }
        }
        return ratios.isEmpty ? nil : Measure.median(ratios)
    }
}
