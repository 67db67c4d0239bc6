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
/// The incremental exponentially weighted variance (West, 1979; Finch, 2009):
/// `d = x − μ; μ += α·d; v = (1 − α)·(v + α·d²)`. During warm-up α is `max(1/n, α)`, which makes the first
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

    static let gaussianTail: Float = 2.576

    package init() {}

    /// Whether the baseline has seen its warm-up.
    package func isWarm(_ p: Parameters) -> Bool { Int(count) >= p.warmup }

    /// Scores `value` against the current baseline (nil while warming up), then learns from it.
    package mutating func observe(_ value: Double, _ p: Parameters, alpha: Double) -> Assessment? {
        var assessment: Assessment? = nil
        if Int(count) >= p.warmup {
            let std = max(variance.squareRoot(), p.minStd)
            let z = (value - mean) / std
            // Multiplicative stochastic approximation of the 99th percentile: up by 99 steps when exceeded,
            // down by one otherwise, so it settles where 1% of |z| lie above it.
            tail *= abs(z) > Double(tail) ? 1.0099 : 0.9999
            tail = min(max(tail, Self.gaussianTail), 40)
            let scaled = z * Double(Self.gaussianTail / tail)
            assessment = Assessment(score: Score.fromZ(scaled), z: z, expected: mean, std: std * Double(tail / Self.gaussianTail))
        }
        update(value, p, alpha: alpha)
        return assessment
    }

    private mutating func update(_ value: Double, _ p: Parameters, alpha: Double) {
        count = count < Int32.max ? count + 1 : count
        var x = value
        if Int(count) > p.warmup {
            let bound = p.clip * max(variance.squareRoot(), p.minStd)
            x = min(max(x, mean - bound), mean + bound)
        }
        let a = max(alpha, 1 / Double(count))
        let d = x - mean
        mean += a * d
        variance = (1 - a) * (variance + a * d * d)
    }
}
