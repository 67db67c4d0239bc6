import Dispatch
import Foundation
import Synchronization
package import VigilCore
package import VigilPipeline

/// Counts and queues of every incident output, and what noise control held back: the figures `/metrics` and the
/// shutdown log show.
package struct OutputsSnapshot: Sendable, Equatable {
    package var outputs: [OutputSnapshot]
    package var noise: NoiseControl.Counts
    /// Alerts held firing by the flapping guard right now.
    package var flapping: Int
    /// Below an output's `min_severity` (summed over outputs).
    package var belowSeverity: Int
}

/// The pipeline's observer when incident outputs are configured: publishes to MQTT as before (the wrapped
/// ``AnomalyPublisher``), and hands each event to the incident outputs on a queue of their own. The shard
/// worker only renders nothing and enqueues a closure: no disk, no network, no lock shared with delivery.
///
/// On the outputs queue: noise control, then per output its `min_severity`, then the output (the HTTP ones
/// append to their outbox and wake their delivery queue; the file output queues a line).
package final class IncidentOutputs: PipelineObserver {
    private let publisher: AnomalyPublisher
    private let http: [(output: HTTPOutput, minSeverity: Severity, render: @Sendable (OutputEvent) -> OutboxEntry)]
    private let file: (output: FileOutput, minSeverity: Severity)?
    private let queue = DispatchQueue(label: "vigil.outputs")
    private let noise: Mutex<NoiseControl>
    /// Events handed over by the shard workers and not yet taken by the outputs queue: a burst becomes one
    /// batch (one append and one fsync per outbox).
    private let pending = Mutex<[(event: AnomalyEvent, latencyMs: Double)]>([])
    private let belowSeverity = Atomic<Int>(0)
    private let logger: Logger
    // nonisolated(unsafe): set once in init; DispatchSource's methods are thread-safe (libdispatch).
    nonisolated(unsafe) private let timer: any DispatchSourceTimer
    private let now: @Sendable () -> Double

    /// - Parameters:
    ///   - http: each HTTP output with its minimum severity and how an event becomes its outbox entry.
    ///   - now: the wall clock (epoch seconds) noise control runs on.
    package init(
        publisher: AnomalyPublisher, http: [(output: HTTPOutput, minSeverity: Severity, render: @Sendable (OutputEvent) -> OutboxEntry)],
        file: (output: FileOutput, minSeverity: Severity)?, noise: NoiseSettings, logger: Logger,
        now: @escaping @Sendable () -> Double = { Date().timeIntervalSince1970 }
    ) {
        self.publisher = publisher
        self.http = http
        self.file = file
        self.noise = Mutex(NoiseControl(settings: noise))
        self.logger = logger
        self.now = now
        timer = DispatchSource.makeTimerSource(queue: queue)
    }

    /// Starts delivery (an earlier run's queued entries first) and the once-a-second noise-control tick.
    package func start() {
        for entry in http { entry.output.start() }
        timer.schedule(deadline: .now() + 1, repeating: 1)
        timer.setEventHandler { [weak self] in self?.tick() }
        timer.activate()
    }

    package func anomaly(_ event: AnomalyEvent) {
        publisher.anomaly(event)
        let latencyMs = Double(WallClock.nowNanos() - event.receivedAtNanos) / 1e6
        let first = pending.withLock { pending -> Bool in
            pending.append((event, latencyMs))
            return pending.count == 1
        }
        if first { queue.async { self.handlePending() } }
    }

    package func dropped(_ reason: DropReason, shard: Int, device: UnsafeRawBufferPointer, offset: Int?) {
        publisher.dropped(reason, shard: shard, device: device, offset: offset)
    }

    private func handlePending() {
        let batch = pending.withLock { pending in
            defer { pending.removeAll(keepingCapacity: true) }
            return pending
        }
        var outputs: [OutputEvent] = []
        for (event, latencyMs) in batch {
            let (delivered, counts) = noise.withLock { noise in
                let before = noise.counts
                return (noise.process(event, latencyMs: latencyMs, now: now()), (before, noise.counts))
            }
            outputs += delivered
            if counts.0 != counts.1 {
                let reason = counts.1.silenced > counts.0.silenced ? "silenced" : counts.1.rateLimited > counts.0.rateLimited ? "rate_limited" : "flapping"
                logger.info("anomaly \(event.state.rawValue) held back", [
                    ("device", event.device), ("metric", event.metric), ("detector", event.detector), ("reason", reason),
                ], limitKey: "held.\(reason)")
            }
        }
        deliver(outputs)
    }

    private func tick() {
        deliver(noise.withLock { $0.tick(now: now()) })
    }

    private func deliver(_ events: [OutputEvent]) {
        guard !events.isEmpty else { return }
        for entry in http {
            let passing = events.filter { $0.severity >= entry.minSeverity }
            belowSeverity.add(events.count - passing.count, ordering: .relaxed)
            if !passing.isEmpty { entry.output.enqueue(passing.map(entry.render)) }
        }
        for event in events {
            if let file {
                if event.severity >= file.minSeverity {
                    file.output.write(event.json())
                } else {
                    belowSeverity.add(1, ordering: .relaxed)
                }
            }
        }
    }

    /// Processes what the shard workers handed over, then gives each HTTP output up to `grace` seconds to
    /// empty its outbox (what is left is delivered after the next start) and flushes the file.
    package func stop(grace: Double) {
        queue.sync {}
        timer.cancel()
        let deadline = Date().addingTimeInterval(grace)
        for entry in http { entry.output.stop(timeout: max(0, deadline.timeIntervalSinceNow)) }
        file?.output.stop()
    }

    package func snapshot() -> OutputsSnapshot {
        var outputs = http.map { $0.output.snapshot() }
        if let file { outputs.append(file.output.snapshot()) }
        let (counts, flapping) = noise.withLock { ($0.counts, $0.flappingCount) }
        return OutputsSnapshot(outputs: outputs, noise: counts, flapping: flapping, belowSeverity: belowSeverity.load(ordering: .relaxed))
    }

    /// The snapshot as log fields: `<output>_delivered=…` and so on, then the noise counts.
    package func logFields() -> [(String, String)] {
        let snapshot = snapshot()
        var fields: [(String, String)] = []
        for output in snapshot.outputs {
            fields += [
                ("\(output.name)_delivered", String(output.delivered)), ("\(output.name)_retried", String(output.retried)),
                ("\(output.name)_failed", String(output.failed)), ("\(output.name)_dropped", String(output.dropped)),
            ]
            if output.name != "file" {
                fields += [("\(output.name)_queued", String(output.outboxEntries)), ("\(output.name)_oldest_s", String(format2: output.outboxOldestAgeSeconds))]
            }
        }
        fields += [
            ("silenced", String(snapshot.noise.silenced)), ("rate_limited", String(snapshot.noise.rateLimited)),
            ("flapping_held", String(snapshot.noise.flapping)), ("below_severity", String(snapshot.belowSeverity)),
        ]
        return fields
    }
}
