import Foundation

/// Exponentially weighted mean and variance of one metric of one device, with a warm-up.
///
/// Scores each sample against the baseline learned *before* it, then learns from it. While warming up
/// (fewer than `warmup` samples) it scores nothing, so no event ever fires from a cold baseline.
///
/// An anomalous sample must not drag the baseline towards itself (otherwise a long spike would soon look
/// normal), so the update clips it to `mean ± clip·σ` first.
///
/// ## Heavy tails
/// A Gaussian reading of `z` over-alarms on heavy-tailed metrics (bursty loads, small counts). The detector
/// learns the 99th percentile `q` of its own `|z|` (stochastic approximation) and, where `q` exceeds the
/// Gaussian 2.576, scores `z·2.576/q` instead: a score is then judged against the metric's own history of
/// deviations. It only ever makes a detector less sensitive, never more.
///
/// ## Implementation notes
/// The baseline is Holt's linear method (level and trend) so that a smooth ramp, such as a daily cycle,
/// does not leave a lagging baseline that looks like a shift. The incremental exponentially weighted
/// variance (West, 1979; Finch, 2009) of the one-step errors:
/// `d = x − (μ + b); μ = μ + b + α·d; b += αβ·d; v = (1 − α)·(v + α·d²)`. During warm-up α is `max(1/n, α)`, which makes the first
/// samples a plain running mean and variance instead of a mean biased towards the first value.
package struct EWMADetector: Sendable, Equatable {
    package struct Parameters: Sendable, Equatable {
        /// Samples after which a sample's weight has halved.
        package var halfLife: Double
        /// Samples to see before scoring.
        package var warmup: Int
        /// Absolute floor on σ, so a perfectly flat signal does not make every tiny change infinite.
        package var minStd: Double
        /// Updates are clipped to this many σ.
        package var clip: Double

        package init(halfLife: Double = 50, warmup: Int = 30, minStd: Double = 1e-6, clip: Double = 3) {
            self.halfLife = halfLife
            self.warmup = warmup
            self.minStd = minStd
            self.clip = clip
        }

        /// The smoothing factor for `halfLife`.
        package var alpha: Double { 1 - exp(log(0.5) / halfLife) }
    }

    /// What one sample looked like against the baseline before it.
    package struct Assessment: Sendable, Equatable {
        package var score: Double
        /// Signed deviation in σ (positive: above the baseline).
        package var z: Double
        package var expected: Double
        package var std: Double
    }

    package private(set) var count: Int32 = 0
    /// Learned 99th percentile of |z| (2.576 for a Gaussian metric).
    package private(set) var tail: Float = Self.gaussianTail
    package private(set) var mean = 0.0
    package private(set) var variance = 0.0
    /// Local trend per sample (Holt), learned ten times slower than the level.
    package private(set) var trend = 0.0

    static let gaussianTail: Float = 2.576

    package init() {}

    /// Whether the baseline has seen its warm-up.
    package func isWarm(_ p: Parameters) -> Bool { Int(count) >= p.warmup }

    /// Scores `value` against the current baseline (nil while warming up), then learns from it.
    package mutating func observe(_ value: Double, _ p: Parameters, alpha: Double) -> Assessment? {
        var assessment: Assessment? = nil
        if Int(count) >= p.warmup {
            let std = max(variance.squareRoot(), p.minStd)
            let z = (value - mean - trend) / std
            // Multiplicative stochastic approximation of the 99th percentile: up by 99 steps when exceeded,
            // down by one otherwise, so it settles where 1% of |z| lie above it. Deviations beyond twice the
            // current tail are anomalies, not evidence of a heavier tail: they do not raise it.
            if abs(z) <= 2 * Double(tail) { tail *= abs(z) > Double(tail) ? 1.0099 : 0.9999 }
            tail = min(max(tail, Self.gaussianTail), 40)
            let scaled = z * Double(Self.gaussianTail / tail)
            assessment = Assessment(score: Score.fromZ(scaled), z: z, expected: mean + trend, std: std * Double(tail / Self.gaussianTail))
        }
        update(value, p, alpha: alpha)
        return assessment
    }

    private mutating func update(_ value: Double, _ p: Parameters, alpha: Double) {
        count = count < Int32.max ? count + 1 : count
        let a = max(alpha, 1 / Double(count))
        // Holt's linear method in error-correction form: predict level + trend, correct both by the error.
        let predicted = mean + trend
        var d = value - predicted
        var outlier = false
        if Int(count) > p.warmup {
            // An outlier moves the baseline by at most clip·σ·α and leaves the spread alone: otherwise a
            // persistent anomaly (a drift, a shift) would inflate σ as fast as it grows and never score.
            let bound = p.clip * max(variance.squareRoot(), p.minStd)
            outlier = abs(d) > bound
            d = min(max(d, -bound), bound)
        }
        mean = predicted + a * d
        // The trend learns ten times slower than the level (β = 0.1), and only once warm, so that a smooth
        // daily ramp is followed while a step or a spike is not mistaken for a trend.
        if Int(count) > p.warmup { trend += 0.1 * a * d }
        if !outlier { variance = (1 - a) * (variance + a * d * d) }
    }
}

extension EWMADetector {
    /// Checkpoints (`DetectionEngine+Checkpoint.swift`): every field, fixed width.
    package func write(to writer: inout CheckpointWriter) {
        writer.i32(count)
        writer.f32(tail)
        writer.f64(mean)
        writer.f64(variance)
        writer.f64(trend)
    }

    package init(from reader: inout CheckpointReader) throws(CheckpointError) {
        self.init()
        count = max(0, try reader.i32())
        tail = try reader.f32()
        mean = try reader.f64()
        variance = try reader.f64()
        trend = try reader.f64()
    }
}
