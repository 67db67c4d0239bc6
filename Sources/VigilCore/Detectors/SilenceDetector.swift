import Foundation

/// A device that stopped talking: no message for longer than `factor` times its learned interval, within
/// `[minSilence, maxSilence]` seconds.
///
/// Silence has no sample to score, so it is found by a periodic sweep (``check(now:_:)``) on receive time:
/// the wall clock live, the recording's clock in a replay (so a replay decides as live traffic did). It
/// resolves when the device speaks again.
package struct SilenceDetector: Sendable, Equatable {
    package struct Parameters: Sendable, Equatable {
        /// Silence longer than this many learned intervals is anomalous...
        package var factor: Double
        /// ...but never below this many seconds...
        package var minSilence: Double
        /// ...and always above this many seconds, whatever the interval.
        package var maxSilence: Double
        /// Intervals over which the interval is learned (a half-life).
        package var halfLife: Double
        /// Messages to see before judging.
        package var warmup: Int

        package init(factor: Double = 10, minSilence: Double = 30, maxSilence: Double = 3600, halfLife: Double = 50, warmup: Int = 10) {
            self.factor = factor
            self.minSilence = minSilence
            self.maxSilence = maxSilence
            self.halfLife = halfLife
            self.warmup = warmup
        }

        package var alpha: Double { 1 - exp(log(0.5) / halfLife) }
    }

    package private(set) var lastSeen = Double.nan
    package private(set) var interval = 0.0
    package private(set) var messages: Int32 = 0

    package init() {}

    /// The silence, in seconds, past which the device is judged silent.
    package func limit(_ p: Parameters) -> Double {
        min(max(p.factor * interval, p.minSilence), p.maxSilence)
    }

    package func isWarm(_ p: Parameters) -> Bool { Int(messages) > p.warmup }

    /// Notes a message received at `time`.
    package mutating func heard(at time: Double, _ p: Parameters, alpha: Double) {
        if !lastSeen.isNaN, time >= lastSeen {
            // The gap teaches the interval, capped at the limit so a silence does not become normal.
            let gap = min(time - lastSeen, limit(p))
            let a = max(alpha, 1 / Double(max(messages, 1)))
            interval += a * (gap - interval)
        }
        lastSeen = time.isNaN ? lastSeen : max(time, lastSeen.isNaN ? time : lastSeen)
        messages = messages < Int32.max ? messages + 1 : messages
    }

    /// Judges the silence at `now`: nil while warming up, else a score of 1 once past the limit (and a score
    /// below 1 that grows with the silence before that).
    package func check(now: Double, _ p: Parameters) -> Assessment? {
        guard isWarm(p), !lastSeen.isNaN else { return nil }
        let gap = now - lastSeen
        let limit = limit(p)
        let score = gap > limit ? 1 : max(0, min(0.99, gap / limit))
        return Assessment(score: score, z: gap / max(interval, 1e-9), expected: interval, low: 0, high: limit)
    }
}

extension SilenceDetector {
    /// Checkpoints (`DetectionEngine+Checkpoint.swift`): every field, fixed width.
    package func write(to writer: inout CheckpointWriter) {
        writer.f64(lastSeen)
        writer.f64(interval)
        writer.i32(messages)
    }

    package init(from reader: inout CheckpointReader) throws(CheckpointError) {
        self.init()
        lastSeen = try reader.f64()
        interval = try reader.f64()
        messages = max(0, try reader.i32())
    }

    /// After a restart at `now`: Vigil did not listen while it was down, so that time is not silence; the
    /// device counts as heard at the restart (the learned interval stays).
    package mutating func resume(at now: Double) {
        if !lastSeen.isNaN, now > lastSeen { lastSeen = now }
    }
}
