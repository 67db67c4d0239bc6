package import Dispatch
import Synchronization
package import VigilCore

/// One shard: a ring, the detection engine of the devices hashed to it, and the serial queue that drains one
/// into the other. Each device's state is touched by this worker only.
///
/// ## Wake-ups
/// The producer must not dispatch per message, and the worker must never sleep with records in its ring.
/// Both are solved with one flag, `sleeping`, and a `DispatchSource` that coalesces signals:
/// - the worker, finding its ring empty, sets `sleeping`, then looks at the ring once more;
/// - the producer, after publishing a record, signals the source only if it can swap `sleeping` from true
///   to false.
/// Both halves are store-then-load with sequentially consistent ordering (Dekker's pattern), so either the
/// worker sees the new record or the producer sees the flag. A signal is one atomic swap plus, only when the
/// worker was asleep, one `DispatchSource.add`; under load the worker never sleeps and no signal is sent.
///
/// ## Spin, then park
/// A worker that finds its ring empty first polls it for up to `spinNanos` (a few microseconds) before it
/// parks: a record arriving within that time is processed without a wake-up, which saves the producer the
/// `DispatchSource.add` and the worker a thread wake-up at moderate rates. The spin is bounded, so an idle
/// shard costs no CPU; 0, the default (``PipelineSettings/defaultSpinNanos``), parks at once.
package final class ShardWorker: Sendable {
    package enum Counter: Int, CaseIterable {
        case messages, samples, fired, resolved, batches, wakeups, evictions
        /// Monotonic nanoseconds spent draining the ring (the worker's busy time), added per batch.
        case busyNanos
    }

    package let index: Int
    package let ring: ByteRing
    /// Consumer-side counters: `Counter` cases.
    package let counters = Counters(count: Counter.allCases.count)
    /// Consumer-side drops, indexed by `DropReason.rawValue`.
    package let drops = Counters(count: DropReason.allCases.count)
    /// Time to detect of each firing event, per detector (`DetectorKind.rawValue`), on event time.
    package let timeToDetect = DetectorKind.allCases.map { _ in Histogram() }
    /// Devices tracked (a gauge, updated per batch).
    private let devices = Atomic<Int>(0)
    package var deviceCount: Int { devices.load(ordering: .relaxed) }

    private let queue: DispatchQueue
    // Dispatch sources are thread-safe (`add(data:)` and `cancel()` may be called from any thread) but the
    // protocol is not annotated Sendable; this is the only reason for the exemption.
    nonisolated(unsafe) private let source: any DispatchSourceUserDataAdd
    // The silence sweep's timer, on the same queue; same exemption as `source`.
    nonisolated(unsafe) private let sweepTimer: (any DispatchSourceTimer)?
    private let sleeping = Atomic<Bool>(true)
    /// Records published since the producer last considered a wake-up (producer side only; see `notify(every:)`).
    private let unsignalled = Atomic<Int>(0)
    private let producerWaiting = Atomic<Bool>(false)
    private let spaceAvailable = DispatchSemaphore(value: 0)
    /// The engine is only used on `queue`, a batch at a time; the mutex makes that checkable and lets a
    /// reader (an inventory endpoint) look at it between batches. It is never contended per message.
    private let engine: Mutex<DetectionEngine>
    private let observer: any PipelineObserver
    private let batchSize: Int
    private let spinNanos: Int64

    /// - Parameters:
    ///   - sweepInterval: seconds between silence sweeps on the wall clock; 0 for none (offline replay sweeps
    ///     on the recording's clock instead, through sweep records in the ring: ``Router/sweep(nowNanos:)``).
    ///   - spinNanos: how long an idle worker polls its ring before parking (see "Spin, then park"); 0 for none.
    package init(
        index: Int, ringCapacity: Int, batchSize: Int, sweepInterval: Double = 0,
        spinNanos: Int = PipelineSettings.defaultSpinNanos,
        engine: sending DetectionEngine, observer: any PipelineObserver
    ) {
        self.spinNanos = Int64(max(0, spinNanos))
        self.index = index
        self.ring = ByteRing(capacity: ringCapacity)
        self.queue = DispatchQueue(label: "vigil.shard.\(index)", qos: .userInitiated)
        self.source = DispatchSource.makeUserDataAddSource(queue: queue)
        self.engine = Mutex(engine)
        self.observer = observer
        self.batchSize = batchSize
        sweepTimer = sweepInterval > 0 ? DispatchSource.makeTimerSource(queue: queue) : nil
        source.setEventHandler { [weak self] in self?.drain() }
        source.activate()
        if let sweepTimer {
            sweepTimer.schedule(deadline: .now() + sweepInterval, repeating: sweepInterval, leeway: .milliseconds(100))
            sweepTimer.setEventHandler { [weak self] in self?.sweep(now: Double(WallClock.nowNanos()) / 1e9) }
            sweepTimer.activate()
        }
    }

    deinit {
        sweepTimer?.cancel()
        source.cancel()
    }

    private func recordTimeToDetect(_ event: AnomalyEvent) {
        guard event.state == .firing, let kind = DetectorKind(label: event.detector) else { return }
        timeToDetect[kind.rawValue].record(event.detected - event.onset)
    }

    /// Judges silence for every device of this shard at receive time `now` (on the worker's queue).
    private func sweep(now: Double) {
        let fired = engine.withLock { engine in
            engine.sweep(now: now) { event in
                recordTimeToDetect(event)
                observer.anomaly(event)
            }
        }
        if fired > 0 { counters.add(Counter.fired.rawValue, fired) }
    }

    // MARK: Producer side

    /// Tells the worker a record is waiting; cheap when the worker is already awake.
    @inline(__always)
    package func notify() {
        if sleeping.load(ordering: .sequentiallyConsistent),
            sleeping.exchange(false, ordering: .sequentiallyConsistent)
        {
            source.add(data: 1)
        }
    }

    /// Like ``notify()``, but only for every `every`-th record: an offline replay, which wants throughput and no
    /// latency, so a sleeping worker is woken once per batch instead of once per record.
    ///
    /// - Important: up to `every - 1` records may then wait in the ring with the worker asleep, until more
    ///   arrive, the producer waits for space (which always wakes the worker), or ``flush()`` runs; use it only
    ///   where intake ends with ``Pipeline/drain()``.
    @inline(__always)
    package func notify(every: Int) {
        guard every > 1 else { return notify() }
        let pending = unsignalled.load(ordering: .relaxed) &+ 1
        if pending >= every {
            unsignalled.store(0, ordering: .relaxed)
            notify()
        } else {
            unsignalled.store(pending, ordering: .relaxed)
        }
    }

    /// Blocks the producer until the worker frees space, for at most `timeout` (then the caller retries).
    package func waitForSpace(timeout: DispatchTimeInterval) {
        producerWaiting.store(true, ordering: .sequentiallyConsistent)
        notify()
        _ = spaceAvailable.wait(timeout: .now() + timeout)
    }

    // MARK: Consumer side

    private func drain() {
        var mark = DispatchTime.now().uptimeNanoseconds
        while true {
            let consumed = engine.withLock { engine in processBatch(&engine) }
            // Two clock reads per batch, not per message: busy time for the worker busy ratio.
            let now = DispatchTime.now().uptimeNanoseconds
            counters.add(Counter.busyNanos.rawValue, Int(now &- mark))
            mark = now
            if consumed > 0 {
                if producerWaiting.load(ordering: .sequentiallyConsistent),
                    producerWaiting.exchange(false, ordering: .sequentiallyConsistent)
                {
                    spaceAvailable.signal()
                }
                continue
            }
            if spinForRecords() { continue }
            sleeping.store(true, ordering: .sequentiallyConsistent)
            guard ring.hasRecordsAfterSleeping else { return }
            // A record arrived while going to sleep. If the producer already took the flag it has queued
            // another drain for us; otherwise take it back and carry on.
            guard sleeping.exchange(false, ordering: .sequentiallyConsistent) else { return }
        }
    }

    /// Polls the empty ring for up to `spinNanos`; true as soon as a record is there. The clock is read once
    /// every 32 polls, so a poll costs a load or two.
    private func spinForRecords() -> Bool {
        guard spinNanos > 0 else { return false }
        let deadline = MonotonicClock.nowNanos() + spinNanos
        var polls = 0
        while true {
            if !ring.isEmpty { return true }
            polls &+= 1
            if polls & 31 == 0 && MonotonicClock.nowNanos() >= deadline { return false }
        }
    }

    private func processBatch(_ engine: inout DetectionEngine) -> Int {
        var messages = 0
        var samples = 0
        var fired = 0
        var resolved = 0
        var evictions = 0
        let consumed = ring.consume(limit: batchSize) { record in
            if record.kind == .sweep {
                // A replay's sweep on the recording's clock, in ring order with the messages around it.
                fired += engine.sweep(now: Double(record.receivedAtNanos) / 1e9) { observer.anomaly($0) }
                return
            }
            messages += 1
            let result = engine.process(
                device: record.device, payload: record.payload, receivedAtNanos: record.receivedAtNanos,
                tag: Int(record.tag), sequence: record.sequence
            ) { event in
                recordTimeToDetect(event)
                observer.anomaly(event)
            }
            samples += result.samples
            fired += result.fired
            resolved += result.resolved
            evictions += result.evicted
            if let rejection = result.rejection {
                let reason = DropReason(rejection)
                drops.add(reason.rawValue)
                var offset: Int? = nil
                if case .payload(let error) = rejection { offset = error.offset }
                observer.dropped(reason, shard: index, device: record.device, offset: offset)
            }
            if result.droppedMetrics > 0 {
                drops.add(DropReason.metricLimit.rawValue, result.droppedMetrics)
                observer.dropped(.metricLimit, shard: index, device: record.device, offset: nil)
            }
        }
        if consumed > 0 {
            counters.add(Counter.messages.rawValue, messages)
            counters.add(Counter.samples.rawValue, samples)
            counters.add(Counter.fired.rawValue, fired)
            counters.add(Counter.resolved.rawValue, resolved)
            counters.add(Counter.evictions.rawValue, evictions)
            counters.add(Counter.batches.rawValue)
            devices.store(engine.deviceCount, ordering: .relaxed)
        }
        return consumed
    }

    /// Runs `body` with the engine between batches (for inspection and checkpoints).
    package func withEngine<R: Sendable>(_ body: (inout DetectionEngine) -> R) -> R {
        queue.sync {
            engine.withLock { engine in
                let result = body(&engine)
                // On the worker's queue, so the gauge keeps its single writer; a restore changes the count.
                devices.store(engine.deviceCount, ordering: .relaxed)
                return result
            }
        }
    }

    /// Holds the worker: records queue up in the ring until ``resume()``. For tests of full rings.
    package func suspend() { queue.suspend() }
    package func resume() { queue.resume() }

    /// Processes everything already in the ring, returning when it is empty. Call once intake has stopped.
    package func flush() {
        queue.sync { drain() }
    }
}

extension DropReason {
    package init(_ rejection: Rejection) {
        switch rejection {
        case .payload(let error): self.init(label: error.reason)
        case .metricLimit: self = .metricLimit
        }
    }
}
