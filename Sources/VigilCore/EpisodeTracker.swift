/// The state machine of one episode key (device, metric, detector).
///
/// It fires after `fireAfter` consecutive samples at or above the threshold and resolves after
/// `resolveAfter` consecutive samples below it. The onset of an episode is the event time of the first sample
/// of the run that fired it, so time to detect = detection event time − onset.
///
/// 32 bytes: the same fields serve the run being counted before the episode fires and the episode after.
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
        /// The episode ended; `onset` and `peakScore` describe the whole episode, `detectedAt` is the event
        /// time at which it fired.
        case resolved(onset: Double, peakScore: Double, peakZ: Double, detectedAt: Double)
    }

    /// Onset of the current run (before firing) or of the episode (after).
    package private(set) var onset = 0.0
    /// Peak score of the run or the episode.
    package private(set) var peakScore = 0.0
    private var peakDeviation: Float = 0
    /// Seconds from onset to the sample that fired (fits the padding: the struct stays 32 bytes).
    private var detectionDelay: Float = 0
    private var runLength: UInt16 = 0
    private var quietRun: UInt16 = 0
    package private(set) var isFiring = false

    package init() {}

    /// The signed deviation at the peak.
    package var peakZ: Double { Double(peakDeviation) }

    /// Feeds one scored sample; returns a transition when the episode fires or resolves.
    package mutating func observe(score: Double, z: Double, eventTime: Double, threshold: Double, policy: Policy) -> Transition? {
        let anomalous = score >= threshold
        if isFiring {
            if anomalous {
                quietRun = 0
                notePeak(score: score, z: z)
                return nil
            }
            quietRun &+= 1
            guard Int(quietRun) >= policy.resolveAfter else { return nil }
            return resolve()
        }
        guard anomalous else {
            runLength = 0
            return nil
        }
        if runLength == 0 {
            onset = eventTime
            peakScore = score
            peakDeviation = Float(z)
        } else {
            notePeak(score: score, z: z)
        }
        runLength = runLength < UInt16.max ? runLength + 1 : runLength
        guard Int(runLength) >= policy.fireAfter else { return nil }
        isFiring = true
        quietRun = 0
        detectionDelay = Float(eventTime - onset)
        return .fired(onset: onset, peakScore: peakScore)
    }

    /// Ends a firing episode now (a silent device spoke again); nil when none is firing.
    package mutating func resolve() -> Transition? {
        guard isFiring else { return nil }
        isFiring = false
        quietRun = 0
        runLength = 0
        return .resolved(onset: onset, peakScore: peakScore, peakZ: peakZ, detectedAt: onset + Double(detectionDelay))
    }

    private mutating func notePeak(score: Double, z: Double) {
        if score > peakScore || (score == peakScore && abs(z) > abs(Double(peakDeviation))) {
            peakScore = score
            peakDeviation = Float(z)
        }
    }
}

extension EpisodeTracker {
    /// Checkpoints (`DetectionEngine+Checkpoint.swift`): every field, fixed width.
    package func write(to writer: inout CheckpointWriter) {
        writer.f64(onset)
        writer.f64(peakScore)
        writer.f32(peakDeviation)
        writer.f32(detectionDelay)
        writer.u16(runLength)
        writer.u16(quietRun)
        writer.bool(isFiring)
    }

    package init(from reader: inout CheckpointReader) throws(CheckpointError) {
        self.init()
        onset = try reader.f64()
        peakScore = try reader.f64()
        peakDeviation = try reader.f32()
        detectionDelay = try reader.f32()
        runLength = try reader.u16()
        quietRun = try reader.u16()
        isFiring = try reader.bool()
    }
}
