import Dispatch
import Synchronization
package import VigilCore

/// What the producer does when a shard's ring is full.
package enum OverflowPolicy: String, Sendable {
    /// Wait for the worker to free space: back-pressure reaches the broker through TCP. Nothing is lost.
    case block
    /// Drop the message and count it under `ring_full`.
    case drop
}

/// The producer side of the pipeline: topic → device id → stable hash → shard ring.
///
/// Called on the producer's thread (the MQTT network thread, or the replay reader) for every message, so it
/// allocates nothing, takes no lock and builds no `String`: it matches the topic's bytes against the
/// templates, hashes the device id's bytes, and copies device id and payload into the shard's ring.
package final class Router: Sendable {
    package enum Counter: Int, CaseIterable {
        case received, receivedBytes, blockedWaits
        /// Messages of devices another instance owns (`cluster.mode: hash`): skipped on purpose, not dropped.
        case notOwned
    }

    package let counters = Counters(count: Counter.allCases.count)
    /// Producer-side drops, indexed by `DropReason.rawValue`.
    package let drops = Counters(count: DropReason.allCases.count)
    package let workers: [ShardWorker]
    private let templates: [TopicTemplate]
    private let overflow: OverflowPolicy
    private let maxPayloadBytes: Int
    private let closed = Atomic<Bool>(false)
    private let observer: any PipelineObserver
    private let wakeEvery: Int
    private let ownership: DeviceOwnership

    /// - Parameter wakeEvery: records per shard between wake-ups of a sleeping worker: 1 live (every record
    ///   is processed at once); a batch in an offline replay (see ``ShardWorker/notify(every:)``).
    /// - Parameter ownership: the devices this instance keeps; messages of the others are counted under
    ///   ``Counter/notOwned`` and go no further.
    package init(
        templates: [TopicTemplate], workers: [ShardWorker], overflow: OverflowPolicy, maxPayloadBytes: Int,
        observer: any PipelineObserver, wakeEvery: Int = 1, ownership: DeviceOwnership = .all
    ) {
        precondition(!templates.isEmpty && !workers.isEmpty && wakeEvery >= 1)
        self.wakeEvery = wakeEvery
        self.ownership = ownership
        self.templates = templates
        self.workers = workers
        self.overflow = overflow
        self.maxPayloadBytes = maxPayloadBytes
        self.observer = observer
    }

    /// Stops accepting messages: later ones are counted under `shutdown`, and a producer blocked on a full ring
    /// gives up.
    package func close() {
        closed.store(true, ordering: .sequentiallyConsistent)
    }

    /// Routes one message. Only the producer thread may call this.
    ///
    /// - Parameter sequence: the message's place in its input (a backtest orders its output by it); live
    ///   traffic passes 0.
    package func route(topic: UnsafeRawBufferPointer, payload: UnsafeRawBufferPointer, receivedAtNanos: Int64, sequence: Int64 = 0) {
        counters.add(Counter.received.rawValue)
        counters.add(Counter.receivedBytes.rawValue, payload.count)
        if closed.load(ordering: .relaxed) {
            drop(.shutdown, device: topic)
            return
        }
        var deviceRange: Range<Int>? = nil
        var tag: UInt32 = 0
        for (index, template) in templates.enumerated() {
            deviceRange = template.deviceRange(in: topic)
            if deviceRange != nil {
                tag = UInt32(index)
                break
            }
        }
        guard let deviceRange else {
            drop(.topicMismatch, device: topic)
            return
        }
        enqueue(device: UnsafeRawBufferPointer(rebasing: topic[deviceRange]), payload: payload, receivedAtNanos: receivedAtNanos, tag: tag, sequence: sequence)
    }

    /// Routes one message whose device is already known (a CSV recording's row): no template matching.
    /// Only the producer thread may call this.
    ///
    /// - Parameters:
    ///   - tag: the subscription whose profile a new device gets (0, the first, when there is no topic).
    ///   - sequence: the message's place in its input.
    package func route(device: UnsafeRawBufferPointer, payload: UnsafeRawBufferPointer, receivedAtNanos: Int64, tag: UInt32 = 0, sequence: Int64 = 0) {
        counters.add(Counter.received.rawValue)
        counters.add(Counter.receivedBytes.rawValue, payload.count)
        if closed.load(ordering: .relaxed) {
            drop(.shutdown, device: device)
            return
        }
        enqueue(device: device, payload: payload, receivedAtNanos: receivedAtNanos, tag: tag, sequence: sequence)
    }

    private func enqueue(device: UnsafeRawBufferPointer, payload: UnsafeRawBufferPointer, receivedAtNanos: Int64, tag: UInt32, sequence: Int64) {
        let hash = StableHash.hash(device)
        guard ownership.owns(hash) else {
            counters.add(Counter.notOwned.rawValue)
            return
        }
        guard payload.count <= maxPayloadBytes else {
            drop(.oversized, device: device)
            return
        }
        let worker = workers[StableHash.shard(of: hash, count: workers.count)]
        guard device.count + payload.count <= worker.ring.maxRecordBytes else {
            drop(.oversized, device: device)
            return
        }
        while !worker.ring.write(device: device, payload: payload, receivedAtNanos: receivedAtNanos, tag: tag, sequence: sequence) {
            if overflow == .drop {
                drop(.ringFull, device: device)
                return
            }
            if closed.load(ordering: .relaxed) {
                drop(.shutdown, device: device)
                return
            }
            counters.add(Counter.blockedWaits.rawValue)
            worker.waitForSpace(timeout: .milliseconds(5))
        }
        worker.notify(every: wakeEvery)
    }

    /// Asks every shard to judge silence at receive time `nowNanos`, in ring order: each worker sweeps when it
    /// reaches the record, after every message routed before this call and before any routed after it. A
    /// replay calls this on the recording's clock; live service sweeps on each worker's wall-clock timer instead.
    ///
    /// A sweep is never dropped, whatever the overflow policy: the producer waits for room (it gives up only
    /// once the router is closed). Only the producer thread may call this.
    package func sweep(nowNanos: Int64) {
        for worker in workers {
            while !worker.ring.writeSweep(nowNanos: nowNanos) {
                if closed.load(ordering: .relaxed) { return }
                counters.add(Counter.blockedWaits.rawValue)
                worker.waitForSpace(timeout: .milliseconds(5))
            }
            worker.notify(every: wakeEvery)
        }
    }

    private func drop(_ reason: DropReason, device: UnsafeRawBufferPointer) {
        drops.add(reason.rawValue)
        observer.dropped(reason, shard: -1, device: device, offset: nil)
    }
}
