import Foundation

/// A two-sided CUSUM on the standardised residuals of the EWMA baseline: catches a small persistent shift or
/// a slow drift long before any single sample is 3σ out.
///
/// Each sample's residual `r = (x − μ)/σ` (against the baseline before the sample) is clipped to ±`clip`, so
/// one spike cannot trip it (the EWMA detector owns spikes), and accumulated:
/// `S⁺ = max(0, S⁺ + r − k)`, `S⁻ = max(0, S⁻ − r − k)`.
///
/// ## Calibration
/// For residuals that are standard normal, the reflected random walk with drift −k has a stationary tail
/// `P(S > s) ≈ exp(−2ks)` (Siegmund's approximation), so the score `1 − exp(−2k·max(S⁺, S⁻))` reads like the
/// other detectors' scores: 0.9999 means "this much accumulated evidence happens once in 10,000 samples of a
/// stable signal". With the default k = 0.5 that is S = 9.2: a 2σ shift is caught in about 6 samples, a
/// drift of 0.1σ per sample in about 20, when its residuals are still near 2σ.
package struct CUSUMDetector: Sendable, Equatable {
    package struct Parameters: Sendable, Equatable {
        /// The slack per sample, in σ: half the smallest shift worth finding.
        package var k: Double
        /// Residuals are clipped to ±clip σ before they accumulate.
        package var clip: Double

        package init(k: Double = 0.5, clip: Double = 4) {
            self.k = k
            self.clip = clip
        }
    }

    package private(set) var up = 0.0
    package private(set) var down = 0.0
    private var lastResidual: Float = 0
    /// Lag-1 autocorrelation of the clipped residuals, learned slowly.
    package private(set) var autocorrelation: Float = 0

    package init() {}

    /// Accumulates one residual (in σ, against the baseline before the sample) and scores the evidence.
    ///
    /// - Parameter samples: samples the metric's baseline has seen, this one included: the autocorrelation is
    ///   a plain running mean over the first 500, so a young baseline is not judged as if its residuals were
    ///   independent (an autocorrelated metric then raised shift after shift until the slow average caught up).
    package mutating func observe(residual: Double, samples: Int32 = .max, _ p: Parameters) -> Double {
        let clipped = min(max(residual, -p.clip), p.clip)
        // Learned slowly once warm (a time constant of 500 samples): a shift's residuals are correlated too,
        // and the tens of samples it takes to detect one must not explain it away.
        let rate = max(0.002, 1 / Float(max(samples, 1)))
        autocorrelation += rate * (Float(clipped) * lastResidual - autocorrelation)
        lastResidual = Float(clipped)
        let rho = Double(min(max(autocorrelation, 0), 0.98))
        let r = clipped * ((1 - rho) / (1 + rho)).squareRoot()
        up = max(0, up + r - p.k)
        down = max(0, down - r - p.k)
        return 1 - exp(-2 * p.k * max(up, down))
    }

    /// Positive when the evidence is for an upward shift.
    package var direction: Double { up >= down ? 1 : -1 }

    /// The accumulated evidence, in σ.
    package var statistic: Double { max(up, down) }
}

extension CUSUMDetector {
    /// Checkpoints (`DetectionEngine+Checkpoint.swift`): every field, fixed width.
    package func write(to writer: inout CheckpointWriter) {
        writer.f64(up)
        writer.f64(down)
        writer.f32(lastResidual)
        writer.f32(autocorrelation)
    }

    package init(from reader: inout CheckpointReader) throws(CheckpointError) {
        self.init()
        up = try reader.f64()
        down = try reader.f64()
        lastResidual = try reader.f32()
        autocorrelation = try reader.f32()
    }
}
