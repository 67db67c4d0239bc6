/// The state machine of one episode key (device, metric, detector).
///
/// It fires after `fireAfter` consecutive samples at or above the threshold and resolves after
/// `resolveAfter` consecutive samples below it. The onset of an episode is the event time of the first sample
/// of the run that fired it, so time to detect = detection event time − onset.
package struct EpisodeTracker: Sendable, Equatable {
    package struct Policy: Sendable, Equatable {
        package var fireAfter: Int
        package var resolveAfter: Int
        package init(fireAfter: Int = 1, resolveAfter: Int = 3) {
            self.fireAfter = fireAfter
            self.resolveAfter = resolveAfter
        }
    }

    package enum Transition: Sendable, Equatable {
        /// The episode started: onset is the first sample of the run.
        case fired(onset: Double, peakScore: Double)
        /// The episode ended; `onset` and `peakScore` describe the whole episode.
        case resolved(onset: Double, peakScore: Double, peakZ: Double)
    }

    package private(set) var isFiring = false
    private var runLength = 0
    private var runOnset = 0.0
    private var runPeak = 0.0
    private var quietRun = 0
    package private(set) var onset = 0.0
    package private(set) var peakScore = 0.0
    package private(set) var peakZ = 0.0

    package init() {}

    /// Feeds one scored sample; returns a transition when the episode fires or resolves.
    package mutating func observe(score: Double, z: Double, eventTime: Double, threshold: Double, policy: Policy) -> Transition? {
        let anomalous = score >= threshold
        if isFiring {
            if anomalous {
                quietRun = 0
                if score > peakScore || (score == peakScore && abs(z) > abs(peakZ)) {
                    peakScore = score
                    peakZ = z
                }
                return nil
            }
            quietRun += 1
            guard quietRun >= policy.resolveAfter else { return nil }
            isFiring = false
            quietRun = 0
            runLength = 0
            return .resolved(onset: onset, peakScore: peakScore, peakZ: peakZ)
        }
        guard anomalous else {
            runLength = 0
            return nil
        }
        if runLength == 0 {
            runOnset = eventTime
            runPeak = score
            peakZ = z
        } else if score > runPeak || (score == runPeak && abs(z) > abs(peakZ)) {
            runPeak = score
            peakZ = z
        }
        runLength += 1
        guard runLength >= policy.fireAfter else { return nil }
        isFiring = true
        quietRun = 0
        onset = runOnset
        peakScore = runPeak
        return .fired(onset: onset, peakScore: peakScore)
    }
}
