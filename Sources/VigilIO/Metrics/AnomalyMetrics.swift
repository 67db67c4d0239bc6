import Synchronization
package import VigilCore
package import VigilPipeline

/// A ``PipelineObserver`` in front of another: passes every call on, then counts the anomaly events per
/// detector and state and records each event's detection latency (receive wall time of the sample that
/// fired it to the moment the inner observer returned, that is, after the event was handed to its publisher).
///
/// Shard threads share it, so it takes a lock per event; events are rare next to messages and nothing here
/// runs per message (``dropped(_:shard:device:offset:)`` is passed on untouched).
package final class AnomalyMetrics: PipelineObserver {
    private struct State {
        /// Per detector (`DetectorKind.rawValue`): events firing, resolved.
        var fired = [Int](repeating: 0, count: DetectorKind.allCases.count)
        var resolved = [Int](repeating: 0, count: DetectorKind.allCases.count)
        /// Events from a detector this build does not know (never expected; counted so nothing is lost).
        var unknown = 0
    }

    private let inner: any PipelineObserver
    private let state = Mutex(State())
    /// Written only under `state`'s lock, which makes the lock holder its single writer.
    private let latency = Histogram()

    package init(_ inner: any PipelineObserver) {
        self.inner = inner
    }

    package func anomaly(_ event: AnomalyEvent) {
        inner.anomaly(event)
        let seconds = Double(WallClock.nowNanos() - event.receivedAtNanos) / 1e9
        let kind = DetectorKind(label: event.detector)
        state.withLock { state in
            latency.record(seconds)
            guard let kind else {
                state.unknown += 1
                return
            }
            switch event.state {
            case .firing: state.fired[kind.rawValue] += 1
            case .resolved: state.resolved[kind.rawValue] += 1
            }
        }
    }

    package func dropped(_ reason: DropReason, shard: Int, device: UnsafeRawBufferPointer, offset: Int?) {
        inner.dropped(reason, shard: shard, device: device, offset: offset)
    }

    /// Events per detector and state so far.
    package func counts() -> (fired: [DetectorKind: Int], resolved: [DetectorKind: Int], unknown: Int) {
        state.withLock { state in
            var fired: [DetectorKind: Int] = [:]
            var resolved: [DetectorKind: Int] = [:]
            for kind in DetectorKind.allCases {
                fired[kind] = state.fired[kind.rawValue]
                resolved[kind] = state.resolved[kind.rawValue]
            }
            return (fired, resolved, state.unknown)
        }
    }

    /// Detection latency (receive to publish, wall time) of every event so far.
    package var detectionLatency: HistogramSnapshot {
        state.withLock { _ in latency.snapshot }
    }
}
