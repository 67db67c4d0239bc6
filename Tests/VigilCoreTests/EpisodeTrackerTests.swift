import Testing
import VigilCore

@Suite struct EpisodeTrackerTests {
    /// Feeds (score, time) pairs and returns the transitions with the index of the sample that caused them.
    func run(_ scores: [Double], policy: EpisodeTracker.Policy, threshold: Double = 0.9) -> [(Int, EpisodeTracker.Transition)] {
        var tracker = EpisodeTracker()
        var transitions: [(Int, EpisodeTracker.Transition)] = []
        for (index, score) in scores.enumerated() {
            if let transition = tracker.observe(score: score, z: score * 10, eventTime: Double(index), threshold: threshold, policy: policy) {
                transitions.append((index, transition))
            }
        }
        return transitions
    }

    @Test func firesOnTheFirstAnomalousSampleWhenKIsOne() {
        let transitions = run([0.1, 0.95, 0.2, 0.2, 0.2], policy: .init(fireAfter: 1, resolveAfter: 3))
        #expect(transitions.count == 2)
        #expect(transitions[0].0 == 1)
        #expect(transitions[0].1 == .fired(onset: 1, peakScore: 0.95))
        #expect(transitions[1].0 == 4)
        #expect(transitions[1].1 == .resolved(onset: 1, peakScore: 0.95, peakZ: Double(Float(9.5)), detectedAt: 1))
    }

    @Test func needsKConsecutiveSamplesAndReportsTheRunsOnset() {
        // A run of two is broken; the run of three starting at 4 fires at 6 with onset 4.
        let transitions = run([0.95, 0.99, 0.1, 0.1, 0.91, 0.97, 0.93, 0.1], policy: .init(fireAfter: 3, resolveAfter: 1))
        #expect(transitions.count == 2)
        #expect(transitions[0].0 == 6)
        #expect(transitions[0].1 == .fired(onset: 4, peakScore: 0.97))
        #expect(transitions[1].0 == 7)
        // The resolution remembers when the episode fired: sample 6, two samples after its onset.
        #expect(transitions[1].1 == .resolved(onset: 4, peakScore: 0.97, peakZ: Double(Float(9.7)), detectedAt: 6))
    }

    @Test func aSingleQuietSampleDoesNotResolveWhenMIsLarger() {
        let transitions = run([0.95, 0.1, 0.96, 0.1, 0.1, 0.99], policy: .init(fireAfter: 1, resolveAfter: 2))
        #expect(transitions.map(\.0) == [0, 4, 5])
        #expect(transitions[1].1 == .resolved(onset: 0, peakScore: 0.96, peakZ: Double(Float(9.6)), detectedAt: 0))
        #expect(transitions[2].1 == .fired(onset: 5, peakScore: 0.99))
    }
}
