/// When a replay sweeps for silence: on the recording's clock, at every whole interval of receive time.
///
/// Live, each shard worker sweeps on a wall-clock timer. A replay runs faster than the recording did, so it
/// cannot use the wall clock; instead the producer keeps a watermark (the highest receive time it has routed)
/// and, whenever the watermark passes a boundary (a multiple of the interval), broadcasts a sweep at that
/// boundary to every shard through the rings (``Router/sweep(nowNanos:)``). Each worker sweeps when it reaches
/// the record, after the messages routed before it: so the outcome depends only on the recording, never on
/// the replay's speed or its shard count.
///
/// ```swift
/// var schedule = SweepSchedule(intervalNanos: 1_000_000_000)
/// for message in recording {
///     schedule.advance(to: message.receivedAtNanos) { router.sweep(nowNanos: $0) }
///     router.route(...)
/// }
/// schedule.finish { router.sweep(nowNanos: $0) }
/// ```
///
/// The sweep at boundary `b` comes after every message received at or before `b`. A receive time that goes
/// backwards (an out-of-order line) does not move the watermark. Across a gap longer than `maxCatchUp`
/// intervals, the gap's first `maxCatchUp` boundaries are swept and then the clock jumps to the gap's last
/// boundary: a device's silence limit is far shorter than a day, and a bogus time in year 2100 must not cost
/// billions of sweeps.
package struct SweepSchedule: Sendable {
    package let intervalNanos: Int64
    package let maxCatchUp: Int
    /// The highest receive time seen, or nil before the first message.
    package private(set) var watermark: Int64? = nil
    /// The last sweep's time.
    package private(set) var lastSweep: Int64? = nil
    /// Sweeps broadcast so far.
    package private(set) var sweeps = 0
    /// Gaps across which the clock jumped (see above).
    package private(set) var jumps = 0
    private var next: Int64 = 0

    /// - Parameters:
    ///   - intervalNanos: time between sweeps on the recording's clock (live, `sweepInterval` is 1 s).
    ///   - maxCatchUp: the most sweeps in one gap between two messages before the clock jumps (a day of 1 s).
    package init(intervalNanos: Int64 = 1_000_000_000, maxCatchUp: Int = 86_400) {
        precondition(intervalNanos > 0 && maxCatchUp > 0)
        self.intervalNanos = intervalNanos
        self.maxCatchUp = maxCatchUp
    }

    /// Call before routing a message received at `time` (ns since the epoch, not negative): `sweep` receives
    /// each boundary the watermark passes, in order.
    package mutating func advance(to time: Int64, sweep: (Int64) -> Void) {
        guard let mark = watermark else {
            watermark = time
            next = (max(time, 0) / intervalNanos + 1) * intervalNanos
            return
        }
        guard time > mark else { return }
        watermark = time
        var done = 0
        while next < time {
            if done == maxCatchUp {
                // A long gap: jump to its last boundary (the largest multiple of the interval below `time`).
                let last = ((time - 1) / intervalNanos) * intervalNanos
                if last > next {
                    next = last
                    jumps += 1
                }
            }
            emit(next, sweep)
            next += intervalNanos
            done += 1
        }
    }

    /// Call after the last message: sweeps the boundaries up to the watermark, then once at the watermark
    /// itself (the end of the recording) unless that was a boundary.
    package mutating func finish(sweep: (Int64) -> Void) {
        guard let mark = watermark else { return }
        var done = 0
        while next <= mark && done < maxCatchUp {
            emit(next, sweep)
            next += intervalNanos
            done += 1
        }
        if lastSweep != mark { emit(mark, sweep) }
    }

    private mutating func emit(_ time: Int64, _ sweep: (Int64) -> Void) {
        sweep(time)
        sweeps += 1
        lastSweep = time
    }
}
