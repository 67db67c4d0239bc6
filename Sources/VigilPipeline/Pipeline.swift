package import VigilCore

/// How the pipeline is shaped, from the configuration.
package struct PipelineSettings: Sendable {
    /// Shard workers (one per core is the usual choice).
    package var shards: Int
    /// Bytes per shard ring (a power of two).
    package var ringCapacity: Int
    package var overflow: OverflowPolicy
    /// Payloads larger than this are dropped at the router (`too_large`).
    package var maxPayloadBytes: Int
    /// Records a worker takes per batch before it releases ring space and publishes its counters.
    package var batchSize: Int
    /// Seconds between silence sweeps on the wall clock (0: none).
    package var sweepInterval: Double
    /// Records per shard between wake-ups of a sleeping worker: 1 live; a batch offline, where intake always
    /// ends with ``Pipeline/drain()`` (``ShardWorker/notify(every:)``).
    package var wakeEvery = 1
    /// Nanoseconds an idle worker polls its ring before parking (``ShardWorker``, "Spin, then park").
    package var spinNanos = PipelineSettings.defaultSpinNanos
    /// The spin used unless a caller sets another: none. `vigil-bench latency` measures 0 against 20 µs; on the
    /// shared 2-core VM a spinning worker took CPU from the MQTT network thread and made the tail worse (see
    /// docs/benchmarks.md), so workers park at once until a quieter machine shows the spin paying off.
    package static let defaultSpinNanos = 0
    /// The devices this instance keeps when several instances share a subscription (`cluster.mode: hash`).
    package var ownership = DeviceOwnership.all

    package init(shards: Int, ringCapacity: Int, overflow: OverflowPolicy, maxPayloadBytes: Int, batchSize: Int = 256, sweepInterval: Double = 0) {
        self.shards = shards
        self.ringCapacity = ringCapacity
        self.overflow = overflow
        self.maxPayloadBytes = maxPayloadBytes
        self.batchSize = batchSize
        self.sweepInterval = sweepInterval
    }
}

/// The shards and the router in front of them: one producer, one ring per shard, one worker per ring.
///
/// A second producer (say, a replay reader beside the broker) would get a router and a set of rings of its
/// own, so that every ring stays single-producer single-consumer.
package final class Pipeline: Sendable {
    package let router: Router
    package let workers: [ShardWorker]
    /// The devices this instance keeps (`cluster.mode: hash`).
    package let ownership: DeviceOwnership

    /// - Parameter makeEngine: the detection engine for shard `k`.
    package init(
        settings: PipelineSettings, templates: [TopicTemplate], observer: any PipelineObserver,
        makeEngine: (Int) -> DetectionEngine
    ) {
        precondition(settings.shards >= 1)
        var workers: [ShardWorker] = []
        for shard in 0..<settings.shards {
            workers.append(ShardWorker(
                index: shard, ringCapacity: settings.ringCapacity, batchSize: settings.batchSize,
                sweepInterval: settings.sweepInterval, spinNanos: settings.spinNanos, engine: makeEngine(shard),
                observer: observer
            ))
        }
        self.workers = workers
        self.ownership = settings.ownership
        self.router = Router(
            templates: templates, workers: workers, overflow: settings.overflow,
            maxPayloadBytes: settings.maxPayloadBytes, observer: observer, wakeEvery: settings.wakeEvery,
            ownership: settings.ownership
        )
    }

    /// Stops intake (later messages are counted under `shutdown`), then processes what the rings hold.
    package func drain() {
        router.close()
        for worker in workers { worker.flush() }
    }

    /// Counters summed over the router and all shards.
    package func snapshot() -> PipelineSnapshot {
        var snapshot = PipelineSnapshot()
        snapshot.received = router.counters[Router.Counter.received.rawValue]
        snapshot.receivedBytes = router.counters[Router.Counter.receivedBytes.rawValue]
        snapshot.blockedWaits = router.counters[Router.Counter.blockedWaits.rawValue]
        snapshot.notOwned = router.counters[Router.Counter.notOwned.rawValue]
        for reason in DropReason.allCases {
            var total = router.drops[reason.rawValue]
            for worker in workers { total += worker.drops[reason.rawValue] }
            if total > 0 { snapshot.dropped[reason] = total }
        }
        for worker in workers {
            snapshot.processed += worker.counters[ShardWorker.Counter.messages.rawValue]
            snapshot.samples += worker.counters[ShardWorker.Counter.samples.rawValue]
            snapshot.fired += worker.counters[ShardWorker.Counter.fired.rawValue]
            snapshot.resolved += worker.counters[ShardWorker.Counter.resolved.rawValue]
            snapshot.evictions += worker.counters[ShardWorker.Counter.evictions.rawValue]
            snapshot.devices += worker.deviceCount
            snapshot.ringDepth.append(worker.ring.depth)
            for kind in DetectorKind.allCases {
                snapshot.timeToDetect[kind, default: HistogramSnapshot()] = snapshot.timeToDetect[kind, default: HistogramSnapshot()]
                    + worker.timeToDetect[kind.rawValue].snapshot
            }
        }
        return snapshot
    }
}

/// A point-in-time sum of the pipeline's counters.
package struct PipelineSnapshot: Sendable, Equatable {
    package var received = 0
    package var receivedBytes = 0
    package var blockedWaits = 0
    /// Messages of devices another instance owns (`cluster.mode: hash`).
    package var notOwned = 0
    package var processed = 0
    package var samples = 0
    package var fired = 0
    package var resolved = 0
    package var devices = 0
    /// Devices forgotten to stay within `max_devices`.
    package var evictions = 0
    package var dropped: [DropReason: Int] = [:]
    package var ringDepth: [Int] = []
    /// Time to detect of firing events per detector (event time: detection − onset).
    package var timeToDetect: [DetectorKind: HistogramSnapshot] = [:]

    package var droppedTotal: Int { dropped.values.reduce(0, +) }
}
