import Foundation
import Testing
import VigilCore

@Suite struct EWMADetectorTests {
    let parameters = EWMADetector.Parameters(halfLife: 20, warmup: 10, minStd: 1e-6, clip: 3)
    let threshold = 0.9999

    @Test func scoresNothingWhileWarmingUp() {
        var detector = EWMADetector()
        for index in 0..<10 {
            #expect(detector.observe(Double(index), parameters, alpha: parameters.alpha) == nil)
        }
        #expect(detector.observe(5, parameters, alpha: parameters.alpha) != nil)
    }

    @Test func warmUpGivesThePlainMeanAndVariance() {
        var detector = EWMADetector()
        let values = [2.0, 4, 4, 4, 5, 5, 7, 9]
        for value in values { _ = detector.observe(value, parameters, alpha: parameters.alpha) }
        #expect(abs(detector.mean - 5) < 1e-12)
        #expect(abs(detector.variance - 4) < 1e-12)  // population variance of the classic example
    }

    @Test func tracksASlowlyMovingSignalAndFlagsASpike() {
        var detector = EWMADetector()
        var generator = SplitMix(seed: 7)
        var worst = 0.0
        for step in 0..<2000 {
            let value = 20 + Double(step) * 0.001 + generator.normal() * 0.5
            if let assessment = detector.observe(value, parameters, alpha: parameters.alpha) {
                worst = max(worst, assessment.score)
            }
        }
        #expect(abs(detector.mean - 22) < 0.5)
        #expect(abs(detector.variance.squareRoot() - 0.5) < 0.2)
        let spike = detector.observe(35, parameters, alpha: parameters.alpha)!
        #expect(spike.score >= threshold)
        #expect(spike.z > 10)
        #expect(worst < 0.99999)  // normal noise stays below a tight threshold
    }

    @Test func aSpikeDoesNotDragTheBaseline() {
        var detector = EWMADetector()
        var generator = SplitMix(seed: 1)
        for _ in 0..<500 { _ = detector.observe(10 + generator.normal(), parameters, alpha: parameters.alpha) }
        let predicted = detector.mean + detector.trend
        let std = detector.variance.squareRoot()
        let variance = detector.variance
        _ = detector.observe(10_000, parameters, alpha: parameters.alpha)
        // Clipped at 3σ: the level moves by at most α·3σ past its prediction, not α·9990, and σ is untouched.
        #expect(detector.mean - predicted <= parameters.alpha * 3 * std + 1e-9)
        #expect(detector.variance == variance)
    }

    @Test func aFlatSignalUsesTheStdFloor() {
        var detector = EWMADetector()
        let p = EWMADetector.Parameters(halfLife: 20, warmup: 5, minStd: 0.1, clip: 3)
        for _ in 0..<50 { _ = detector.observe(1, p, alpha: p.alpha) }
        let assessment = detector.observe(1.2, p, alpha: p.alpha)!
        #expect(abs(assessment.z - 2) < 1e-9)
        #expect(assessment.std == 0.1)
    }

    @Test func scoresAreCalibratedTailProbabilities() {
        #expect(abs(Score.fromZ(0)) < 1e-15)
        #expect(abs(Score.fromZ(1.959964) - 0.95) < 1e-6)
        #expect(abs(Score.fromZ(-3) - 0.99730020393674) < 1e-12)
        #expect(abs(Score.z(forScore: 0.9999) - 3.8905918864) < 1e-6)
        #expect(abs(Score.fromZ(Score.z(forScore: 0.999)) - 0.999) < 1e-12)
    }
}

/// A small seeded generator for reproducible tests (SplitMix64 + Box-Muller).
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func uniform() -> Double { Double(next() >> 11) / Double(1 << 53) }
    mutating func normal() -> Double {
        let u = max(uniform(), 1e-300)
        return (-2 * log(u)).squareRoot() * cos(2 * .pi * uniform())
    }
}
