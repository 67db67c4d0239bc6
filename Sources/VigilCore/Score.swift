import Foundation

/// Turns a deviation into a calibrated score in [0, 1].
///
/// A detector's score is `1 - p`, where `p` is the two-sided tail probability of a standard normal deviation
/// at least as large as the one seen. A score of 0.9999 therefore means "a deviation this large happens about
/// once in 10,000 samples of a normal signal", whichever detector produced it, so one threshold serves all.
package enum Score {
    /// The score of a deviation of `z` standard deviations.
    @inline(__always)
    package static func fromZ(_ z: Double) -> Double {
        1 - erfc(abs(z) / 2.0.squareRoot())
    }

    /// The deviation, in standard deviations, whose score is `score` (the inverse of ``fromZ(_:)``).
    ///
    /// Used to draw the band `expected ± z·σ` that an event reports. Bisection: it runs once per configuration.
    package static func z(forScore score: Double) -> Double {
        precondition(score > 0 && score < 1, "score must be in (0, 1)")
        var low = 0.0
        var high = 40.0
        for _ in 0..<200 {
            let mid = (low + high) / 2
            if fromZ(mid) < score { low = mid } else { high = mid }
        }
        return (low + high) / 2
    }
}
