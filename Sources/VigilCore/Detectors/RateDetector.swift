import Foundation

/// Messages per window against the device's own learned rate: a flood (a chattering or replaying device) and
/// a drought (a device that slowed down).
///
/// Time is cut into windows of `window` seconds of receive time. The count of each closed window teaches an
/// exponentially weighted mean and variance of counts. A flood is scored as it happens, against the count so
/// far in the open window (so a device at ten times its rate is caught within a fraction of a window); a
/// drought is scored when a window closes short. The spread is at least √mean (Poisson), so a perfectly
/// regular device is not flagged for one extra message.
package struct RateDetector: Sendable, Equatable {
    package struct Parameters: Sendable, Equatable {
        /// Window length, seconds.
        package var window: Double
        /// Windows over which the rate is learned (a half-life).
        package var halfLife: Double
        /// Closed windows to see before scoring.
        package var warmup: Int

        package init(window: Double = 60, halfLife: Double = 30, warmup: Int = 5) {
            self.window = window
            self.halfLife = halfLife
            self.warmup = warmup
        }

        package var alpha: Double { 1 - exp(log(0.5) / halfLife) }
    }

    package private(set) var windowStart = Double.nan
    package private(set) var count: Int32 = 0
    package private(set) var windows: Int32 = 0
    package private(set) var mean = 0.0
    package private(set) var variance = 0.0

    package init() {}

    /// The spread of counts the detector allows.
    package var spread: Double { max(variance.squareRoot(), mean.squareRoot(), 1) }

    /// Counts one message received at `time`. Returns the assessment of the window(s) it closed (a drought, or
    /// nil when none closed or while warming up) and of the open window's count so far (a flood).
    package mutating func observe(time: Double, _ p: Parameters, alpha: Double, thresholdZ: Double) -> (closed: Assessment?, open: Assessment?) {
        if windowStart.isNaN { windowStart = (time / p.window).rounded(.down) * p.window }
        var closed: Assessment? = nil
        if time >= windowStart + p.window {
            // Close the open window and any empty ones after it. Long gaps are the silence detector's business:
            // at most a few empty windows are learned from, then the clock jumps.
            let elapsed = Int(((time - windowStart) / p.window).rounded(.down))
            closed = close(count: Double(count), p, alpha: alpha, thresholdZ: thresholdZ)
            for _ in 1..<min(elapsed, 4) { closed = close(count: 0, p, alpha: alpha, thresholdZ: thresholdZ) ?? closed }
            windowStart += Double(elapsed) * p.window
            count = 0
        }
        count += 1
        guard Int(windows) >= p.warmup else { return (closed, nil) }
        let z = (Double(count) - mean) / spread
        // Only an excess can be judged before the window ends.
        let open = Assessment(
            score: z > 0 ? Score.fromZ(z) : 0, z: z, expected: mean,
            low: max(0, mean - thresholdZ * spread), high: mean + thresholdZ * spread
        )
        return (closed, open)
    }

    private mutating func close(count: Double, _ p: Parameters, alpha: Double, thresholdZ: Double) -> Assessment? {
        var assessment: Assessment? = nil
        if Int(windows) >= p.warmup {
            let z = (count - mean) / spread
            assessment = Assessment(
                score: z < 0 ? Score.fromZ(z) : 0, z: z, expected: mean,
                low: max(0, mean - thresholdZ * spread), high: mean + thresholdZ * spread
            )
        }
        windows = windows < Int32.max ? windows + 1 : windows
        // Learn, clipped so that a flood or a drought does not become the new normal at once.
        var x = count
        if Int(windows) > p.warmup { x = min(max(x, mean - 3 * spread), mean + 3 * spread) }
        let a = max(alpha, 1 / Double(windows))
        let d = x - mean
        mean += a * d
        variance = (1 - a) * (variance + a * d * d)
        return assessment
    }
}

extension RateDetector {
    /// Checkpoints (`DetectionEngine+Checkpoint.swift`): every field, fixed width.
    package func write(to writer: inout CheckpointWriter) {
        writer.f64(windowStart)
        writer.i32(count)
        writer.i32(windows)
        writer.f64(mean)
        writer.f64(variance)
    }

    package init(from reader: inout CheckpointReader) throws(CheckpointError) {
        self.init()
        windowStart = try reader.f64()
        count = min(max(0, try reader.i32()), Int32.max - 1)
        windows = max(0, try reader.i32())
        mean = try reader.f64()
        variance = try reader.f64()
    }

    /// After a restart: the learned rate stays, the window that was open when Vigil stopped is forgotten (its
    /// count covers only part of it and would read as a drop).
    package mutating func resume() {
        windowStart = .nan
        count = 0
    }
}
