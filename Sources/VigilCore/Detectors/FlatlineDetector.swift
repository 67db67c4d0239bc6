import Foundation

/// A metric that stopped varying: the same value, again and again, for longer than its history allows.
///
/// It learns `p`, the probability that a sample repeats the previous value exactly (a noisy analogue
/// sensor: near 0; a coarse or slow one: higher). Were repeats independent, a run of `n` equal samples would
/// have probability `p^(n−1)`, so a run scores `1 − p^(n−1)`: for a noisy sensor a handful of identical
/// values is already alarming, for a quantised one it takes many more. Runs shorter than `minRun` never score.
/// While a run is anomalous it does not teach `p`, so a stuck sensor never comes to look normal.
package struct FlatlineDetector: Sendable, Equatable {
    package struct Parameters: Sendable, Equatable {
        /// Shortest run (samples, the first included) that can score at all.
        package var minRun: Int
        /// Samples over which the repeat probability is learned (a half-life).
        package var halfLife: Double
        /// Samples to see before scoring.
        package var warmup: Int

        package init(minRun: Int = 5, halfLife: Double = 500, warmup: Int = 30) {
            self.minRun = minRun
            self.halfLife = halfLife
            self.warmup = warmup
        }

        package var alpha: Double { 1 - exp(log(0.5) / halfLife) }
    }

    private var last = Double.nan
    package private(set) var run: Int32 = 0
    private var seen: Int32 = 0
    /// Learned probability that a sample repeats the previous one.
    package private(set) var repeatProbability: Float = 0

    package init() {}

    /// Scores the run `value` extends (nil while warming up), then learns.
    package mutating func observe(_ value: Double, _ p: Parameters, alpha: Double, threshold: Double) -> Double? {
        let repeated = value == last
        run = repeated ? run + 1 : 1
        last = value
        seen = seen < Int32.max ? seen + 1 : seen
        var score: Double? = nil
        if Int(seen) > p.warmup {
            // Laplace-smoothed so that a sensor never seen to repeat still needs minRun samples.
            let probability = max(Double(repeatProbability), 1 / Double(seen + 1))
            score = Int(run) >= p.minRun ? 1 - pow(probability, Double(run - 1)) : 0
        }
        if (score ?? 0) < threshold && seen > 1 {
            let a = max(alpha, 1 / Double(seen))
            repeatProbability += Float(a * ((repeated ? 1 : 0) - Double(repeatProbability)))
        }
        return score
    }
}

extension FlatlineDetector {
    /// Checkpoints (`DetectionEngine+Checkpoint.swift`): every field, fixed width.
    package func write(to writer: inout CheckpointWriter) {
        writer.f64(last)
        writer.i32(run)
        writer.i32(seen)
        writer.f32(repeatProbability)
    }

    package init(from reader: inout CheckpointReader) throws(CheckpointError) {
        self.init()
        last = try reader.f64()
        run = min(max(0, try reader.i32()), Int32.max - 1)
        seen = max(0, try reader.i32())
        repeatProbability = try reader.f32()
    }
}
