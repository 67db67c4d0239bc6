import Foundation

/// What the engine needs to know, from the configuration.
package struct DetectionSettings: Sendable, Equatable {
    /// The profile of each subscription (a message's tag), in order; a device keeps the profile of its first
    /// message. Never empty.
    package var profiles: [DetectorProfile]
    /// Devices tracked by one engine (one shard); a new device past the cap evicts the idlest of a sample of
    /// tracked devices (counted).
    package var maxDevices: Int
    /// Distinct metrics kept per device; further metric names of that device are counted and ignored.
    package var maxMetricsPerDevice: Int
    /// Distinct metric names per engine, over all its devices.
    package var maxMetricNames: Int

    package init(profile: DetectorProfile = .init(), maxDevices: Int = 100_000, maxMetricsPerDevice: Int = 64, maxMetricNames: Int = 10_000) {
        self.init(profiles: [profile], maxDevices: maxDevices, maxMetricsPerDevice: maxMetricsPerDevice, maxMetricNames: maxMetricNames)
    }

    package init(profiles: [DetectorProfile], maxDevices: Int = 100_000, maxMetricsPerDevice: Int = 64, maxMetricNames: Int = 10_000) {
        precondition(!profiles.isEmpty, "at least one profile")
        self.profiles = profiles
        self.maxDevices = maxDevices
        self.maxMetricsPerDevice = maxMetricsPerDevice
        self.maxMetricNames = maxMetricNames
    }
}

/// Why a message, or some of its metrics, went unscored.
package enum Rejection: Sendable, Equatable {
    case payload(PayloadError)
    /// The device already has `maxMetricsPerDevice` metrics, or the shard `maxMetricNames` names.
    case metricLimit

    /// The `reason` label for counters.
    package var reason: String {
        switch self {
        case .payload(let error): error.reason
        case .metricLimit: "metric_limit"
        }
    }
}

/// One sample's verdict, for backtests that write every score out.
package struct SampleScore: Sendable {
    /// The message's place in its input.
    package var sequence: Int64
    package var eventTime: Double
    package var device: String
    package var metric: String
    package var value: Double
    /// The highest score any of the metric's detectors gave this sample (0 while warming up).
    package var score: Double
    /// Whether this sample fired an episode.
    package var firing: Bool
}

/// Receives every sample's score (on the shard worker's thread).
package typealias ScoreSink = @Sendable (SampleScore) -> Void

/// The outcome of one message.
package struct ProcessResult: Sendable, Equatable {
    /// Samples (device, metric, value) scored or learned from.
    package var samples = 0
    /// Metrics dropped by a limit.
    package var droppedMetrics = 0
    /// Set when the whole message was rejected.
    package var rejection: Rejection? = nil
    /// Devices evicted to make room for this message's device.
    package var evicted = 0
    /// Events emitted.
    package var fired = 0
    package var resolved = 0
}

/// Decodes messages and runs the detectors of every device of one shard.
///
/// Deterministic and single-threaded: one shard worker owns one engine and feeds it in ring order. Metric
/// detectors run on event time (a SenML record's own time, else the payload's timestamp, else receive time),
/// so a replay at any speed decides exactly as live traffic did; device detectors (rate, silence) run on receive time, which a
/// replay takes from the recording.
///
/// ## State
/// Devices are interned to dense indices (``ByteInterner``) and their state sits in one contiguous array;
/// each device keeps a small array of its metrics. Scoring a sample of a known device and metric allocates
/// nothing. ``MetricState`` is at most 256 bytes with the default profile (see ``metricStateBytes``).
package struct DetectionEngine {
    struct MetricState {
        var metric: Int32
        var ewma = EWMADetector()
        var change = CUSUMDetector()
        var flatline = FlatlineDetector()
        var seasonal: SeasonalDetector? = nil
        /// One per metric detector, indexed by `DetectorKind.rawValue` (ewma, change, seasonal, flatline).
        var episodes = (EpisodeTracker(), EpisodeTracker(), EpisodeTracker(), EpisodeTracker())
    }

    struct DeviceState {
        var metrics: [MetricState] = []
        var rate = RateDetector()
        var silence = SilenceDetector()
        var size = EWMADetector()
        var rateEpisode = EpisodeTracker()
        var sizeEpisode = EpisodeTracker()
        /// Set while a silence episode is open: its onset, and when the sweep found it.
        var silentSince: Double? = nil
        var silenceDetectedAt = 0.0
        var lastEventTime = 0.0
        var lastReceiveTime = 0.0
        var messages = 0
        /// Index into the engine's profiles.
        var profile = 0
    }

    /// A profile with what is derived from it computed once.
    struct CompiledProfile {
        var profile: DetectorProfile
        var thresholdZ: Double
        var alphas: (ewma: Double, flatline: Double, rate: Double, silence: Double, size: Double)

        init(_ p: DetectorProfile) {
            profile = p
            thresholdZ = p.thresholdZ
            alphas = (p.ewma.alpha, p.flatline?.alpha ?? 0, p.rate?.alpha ?? 0, p.silence?.alpha ?? 0, p.payloadSize?.baseline.alpha ?? 0)
        }
    }

    /// Bytes of detector and episode state per (device, metric): the figure issue 3 bounds at 256.
    package static var metricStateBytes: Int { MemoryLayout<MetricState>.stride }
    /// Bytes of per-device state outside its metrics (the metrics array is a separate heap object).
    package static var deviceStateBytes: Int { MemoryLayout<DeviceState>.stride }

    package let settings: DetectionSettings
    private var decoder: PayloadDecoder
    var devices = ByteInterner(expectedCount: 1024)
    var metricNames = ByteInterner(expectedCount: 64)
    var states: [DeviceState] = []
    /// Seeded, so that eviction (and so a replay) is deterministic.
    private var evictionRandom: UInt64 = 0x9E37_79B9_7F4A_7C15
    /// Per (metric name, profile), at `metric * profiles.count + profile`: which of the profile's metric
    /// detectors judge that metric (bit `DetectorKind.rawValue`), plus ``judgedBit`` when the profile judges it
    /// at all (0: it does not).
    var metricSelection: [UInt8] = []
    private static let judgedBit: UInt8 = 1 << 7
    let profiles: [CompiledProfile]
    private let scores: ScoreSink?

    /// - Parameter scores: receives every sample's score (backtests); nil costs nothing per sample.
    package init(settings: DetectionSettings, decoder: PayloadDecoder, scores: ScoreSink? = nil) {
        self.settings = settings
        self.decoder = decoder
        self.profiles = settings.profiles.map(CompiledProfile.init)
        self.scores = scores
    }

    /// Devices tracked.
    package var deviceCount: Int { devices.count }

    /// Devices whose baselines are not yet trustworthy: some metric has not finished its warm-up.
    package var warmingDeviceCount: Int {
        states.reduce(0) { count, device in count + (isWarming(device) ? 1 : 0) }
    }

    func isWarming(_ device: DeviceState) -> Bool {
        let ewma = profiles[device.profile].profile.ewma
        return device.metrics.isEmpty || device.metrics.contains { !$0.ewma.isWarm(ewma) }
    }

    /// Whether `device` is still warming up (nil when unknown).
    package func isWarming(_ device: String) -> Bool? {
        var device = device
        guard let index = device.withUTF8({ devices.index(of: UnsafeRawBufferPointer($0)) }) else { return nil }
        return isWarming(states[index])
    }

    /// Decodes one message of `device` and scores it; `emit` receives every state change.
    ///
    /// - Parameters:
    ///   - tag: the subscription the message came through, which picks a new device's profile.
    ///   - sequence: the message's place in its input, passed on to the score sink.
    package mutating func process(
        device: UnsafeRawBufferPointer,
        payload: UnsafeRawBufferPointer,
        receivedAtNanos: Int64,
        tag: Int = 0,
        sequence: Int64 = 0,
        emit: (AnomalyEvent) -> Void
    ) -> ProcessResult {
        var result = ProcessResult()
        do {
            try decoder.decode(payload)
        } catch {
            result.rejection = .payload(error)
            return result
        }
        let deviceIndex: Int
        if let known = devices.index(of: device) {
            deviceIndex = known
        } else {
            if devices.count >= settings.maxDevices {
                evictIdlest()
                result.evicted += 1
            }
            deviceIndex = devices.insert(device).index
            var state = DeviceState()
            state.profile = tag < profiles.count ? tag : 0
            if deviceIndex < states.count { states[deviceIndex] = state } else { states.append(state) }
        }
        let receiveTime = Double(receivedAtNanos) / 1e9
        let eventTime = decoder.eventTime ?? receiveTime
        states[deviceIndex].lastEventTime = eventTime
        states[deviceIndex].lastReceiveTime = receiveTime
        states[deviceIndex].messages += 1
        var context = EventContext(device: deviceIndex, eventTime: eventTime, receivedAtNanos: receivedAtNanos)
        context.profile = states[deviceIndex].profile
        deviceDetectors(&context, payloadBytes: payload.count, result: &result, emit: emit)

        for field in 0..<decoder.fieldCount {
            guard let slot = metricSlot(device: deviceIndex, field: field) else {
                result.droppedMetrics += 1
                continue
            }
            guard slot >= 0 else { continue }  // not a metric this profile judges
            result.samples += 1
            context.metric = Int(states[deviceIndex].metrics[slot].metric)
            context.maxScore = 0
            context.fired = false
            context.eventTime = decoder.fieldEventTime(field, receivedAt: receiveTime)
            states[deviceIndex].lastEventTime = max(states[deviceIndex].lastEventTime, context.eventTime)
            let value = decoder.fieldValue(field)
            metricDetectors(&context, slot: slot, value: value, result: &result, emit: emit)
            if let scores {
                scores(SampleScore(
                    sequence: sequence, eventTime: context.eventTime, device: devices.key(deviceIndex),
                    metric: metricNames.key(context.metric), value: value, score: context.maxScore, firing: context.fired
                ))
            }
        }
        return result
    }

    /// Judges silence at receive time `now` for every device; call it periodically (a sweep).
    package mutating func sweep(now: Double, emit: (AnomalyEvent) -> Void) -> Int {
        var fired = 0
        for index in states.indices where states[index].silentSince == nil {
            guard let parameters = profiles[states[index].profile].profile.silence,
                let assessment = states[index].silence.check(now: now, parameters), assessment.score >= 1
            else { continue }
            let onset = states[index].silence.lastSeen + states[index].silence.interval
            states[index].silentSince = onset
            states[index].silenceDetectedAt = now
            var context = EventContext(device: index, eventTime: now, receivedAtNanos: Int64(now * 1e9))
            context.profile = states[index].profile
            emit(makeEvent(.silence, .fired(onset: onset, peakScore: 1), context, value: now - states[index].silence.lastSeen, assessment))
            fired += 1
        }
        return fired
    }

    /// Forgets the idlest of up to 16 tracked devices picked at random (Redis' approximated LRU: O(1) per
    /// eviction, close to the true idlest), preferring devices with no open episode, so that an alert is
    /// rarely left without its resolution.
    private mutating func evictIdlest() {
        var victim = -1
        var victimIdle = -Double.infinity
        var victimOpen = true
        for _ in 0..<16 {
            evictionRandom = evictionRandom &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            let candidate = Int(truncatingIfNeeded: (evictionRandom >> 33) % UInt64(states.count))
            let state = states[candidate]
            let open = state.silentSince != nil || state.rateEpisode.isFiring || state.sizeEpisode.isFiring
                || state.metrics.contains { $0.episodes.0.isFiring || $0.episodes.1.isFiring || $0.episodes.2.isFiring || $0.episodes.3.isFiring }
            let idle = -state.lastReceiveTime
            if victim < 0 || (victimOpen && !open) || (open == victimOpen && idle > victimIdle) {
                victim = candidate
                victimIdle = idle
                victimOpen = open
            }
        }
        guard victim >= 0 else { return }
        devices.remove(victim)
        states[victim] = DeviceState()
    }

    // MARK: Detectors

    private mutating func deviceDetectors(_ context: inout EventContext, payloadBytes: Int, result: inout ProcessResult, emit: (AnomalyEvent) -> Void) {
        let index = context.device
        let receiveTime = Double(context.receivedAtNanos) / 1e9
        let compiled = profiles[context.profile]
        let (profile, thresholdZ, alphas) = (compiled.profile, compiled.thresholdZ, compiled.alphas)
        context.metric = -1
        if let p = profile.silence {
            if let onset = states[index].silentSince {
                states[index].silentSince = nil
                let assessment = states[index].silence.check(now: receiveTime, p)
                    ?? Assessment(score: 1, z: 0, expected: 0, low: 0, high: 0)
                let silence = receiveTime - states[index].silence.lastSeen
                let transition = EpisodeTracker.Transition.resolved(onset: onset, peakScore: 1, peakZ: assessment.z, detectedAt: states[index].silenceDetectedAt)
                report(transition, .silence, context, value: silence, assessment, &result, emit)
            }
            states[index].silence.heard(at: receiveTime, p, alpha: alphas.silence)
        }
        if let p = profile.rate {
            let (closed, open) = states[index].rate.observe(time: receiveTime, p, alpha: alphas.rate, thresholdZ: thresholdZ)
            // Two optionals, not an array of them: an array literal here would allocate for every message.
            for step in 0..<2 {
                guard let assessment = step == 0 ? closed : open else { continue }
                let transition = states[index].rateEpisode.observe(
                    score: assessment.score, z: assessment.z, eventTime: context.eventTime,
                    threshold: profile.threshold, policy: profile.episodes
                )
                if let transition { report(transition, .rate, context, value: Double(states[index].rate.count), assessment, &result, emit) }
            }
        }
        if let p = profile.payloadSize {
            let size = Double(payloadBytes)
            if var assessment = states[index].size.observe(size, p.baseline, alpha: alphas.size).map({ ewmaAssessment($0, thresholdZ) }) {
                if p.maxBytes > 0 && payloadBytes > p.maxBytes { assessment.score = 1 }
                let transition = states[index].sizeEpisode.observe(
                    score: assessment.score, z: assessment.z, eventTime: context.eventTime,
                    threshold: profile.threshold, policy: profile.episodes
                )
                if let transition { report(transition, .payloadSize, context, value: size, assessment, &result, emit) }
            }
        }
    }

    private mutating func metricDetectors(_ context: inout EventContext, slot: Int, value: Double, result: inout ProcessResult, emit: (AnomalyEvent) -> Void) {
        let d = context.device
        let compiled = profiles[context.profile]
        let (profile, thresholdZ, alphas) = (compiled.profile, compiled.thresholdZ, compiled.alphas)
        let selection = metricSelection[context.metric * profiles.count + context.profile]
        func selected(_ kind: DetectorKind) -> Bool { selection & (1 << UInt8(kind.rawValue)) != 0 }
        let baseline = states[d].metrics[slot].ewma.observe(value, profile.ewma, alpha: alphas.ewma)
        if let baseline {
            if profile.ewmaAlerts, selected(.ewma) {
                judge(.ewma, ewmaAssessment(baseline, thresholdZ), slot: slot, value: value, &context, &result, emit)
            }
            if let p = profile.change, selected(.change) {
                let samples = states[d].metrics[slot].ewma.count
                let score = states[d].metrics[slot].change.observe(residual: baseline.z, samples: samples, p)
                let change = states[d].metrics[slot].change
                let assessment = Assessment(
                    score: score, z: change.direction * change.statistic, expected: baseline.expected,
                    low: baseline.expected - thresholdZ * baseline.std, high: baseline.expected + thresholdZ * baseline.std
                )
                judge(.change, assessment, slot: slot, value: value, &context, &result, emit)
            }
        }
        if let p = profile.seasonal, selected(.seasonal) {
            if states[d].metrics[slot].seasonal == nil { states[d].metrics[slot].seasonal = SeasonalDetector(p) }
            if let assessment = states[d].metrics[slot].seasonal!.observe(value, time: context.eventTime, p, thresholdZ: thresholdZ) {
                context.seasonBucket = SeasonalDetector.bucket(of: context.eventTime, p)
                judge(.seasonal, assessment, slot: slot, value: value, &context, &result, emit)
            }
        }
        if let p = profile.flatline, selected(.flatline),
            let score = states[d].metrics[slot].flatline.observe(value, p, alpha: alphas.flatline, threshold: profile.threshold)
        {
            let run = Double(states[d].metrics[slot].flatline.run)
            let assessment = Assessment(score: score, z: run, expected: value, low: value, high: value)
            judge(.flatline, assessment, slot: slot, value: value, &context, &result, emit)
        }
    }

    private func ewmaAssessment(_ baseline: EWMADetector.Assessment, _ thresholdZ: Double) -> Assessment {
        let half = thresholdZ * baseline.std
        return Assessment(score: baseline.score, z: baseline.z, expected: baseline.expected, low: baseline.expected - half, high: baseline.expected + half)
    }

    /// Feeds a metric detector's assessment to its episode and reports any transition.
    private mutating func judge(
        _ kind: DetectorKind, _ assessment: Assessment, slot: Int, value: Double,
        _ context: inout EventContext, _ result: inout ProcessResult, _ emit: (AnomalyEvent) -> Void
    ) {
        let d = context.device
        let profile = profiles[context.profile].profile
        let transition: EpisodeTracker.Transition?
        let (t, z, threshold, policy) = (context.eventTime, assessment.z, profile.threshold, profile.episodes)
        context.maxScore = max(context.maxScore, assessment.score)
        switch kind {
        case .ewma: transition = states[d].metrics[slot].episodes.0.observe(score: assessment.score, z: z, eventTime: t, threshold: threshold, policy: policy)
        case .change: transition = states[d].metrics[slot].episodes.1.observe(score: assessment.score, z: z, eventTime: t, threshold: threshold, policy: policy)
        case .seasonal: transition = states[d].metrics[slot].episodes.2.observe(score: assessment.score, z: z, eventTime: t, threshold: threshold, policy: policy)
        default: transition = states[d].metrics[slot].episodes.3.observe(score: assessment.score, z: z, eventTime: t, threshold: threshold, policy: policy)
        }
        if let transition {
            if case .fired = transition { context.fired = true }
            report(transition, kind, context, value: value, assessment, &result, emit)
        }
    }

    private func report(
        _ transition: EpisodeTracker.Transition, _ kind: DetectorKind, _ context: EventContext, value: Double,
        _ assessment: Assessment, _ result: inout ProcessResult, _ emit: (AnomalyEvent) -> Void
    ) {
        let event = makeEvent(kind, transition, context, value: value, assessment)
        if event.state == .firing { result.fired += 1 } else { result.resolved += 1 }
        emit(event)
    }

    /// The index in the device's metric list of decoder field `field`: -1 when the profile does not judge it,
    /// nil when a limit refuses it.
    private mutating func metricSlot(device: Int, field: Int) -> Int? {
        let known = decoder.withFieldName(field) { metricNames.index(of: $0) }
        let metric: Int
        if let known {
            guard metricSelection[known * profiles.count + states[device].profile] != 0 else { return -1 }
            metric = known
            // Linear scan: a device has a handful of metrics, in one small contiguous array.
            for (slot, state) in states[device].metrics.enumerated() where state.metric == Int32(metric) {
                return slot
            }
        } else {
            // A device at its own cap must not spend the shard-wide name budget of every other device.
            guard states[device].metrics.count < settings.maxMetricsPerDevice,
                metricNames.count < settings.maxMetricNames
            else { return nil }
            metric = decoder.withFieldName(field) { metricNames.insert($0).index }
            let name = metricNames.key(metric)
            for compiled in profiles { metricSelection.append(Self.selection(of: name, by: compiled.profile)) }
            guard metricSelection[metric * profiles.count + states[device].profile] != 0 else { return -1 }
        }
        guard states[device].metrics.count < settings.maxMetricsPerDevice else { return nil }
        states[device].metrics.append(MetricState(metric: Int32(metric)))
        return states[device].metrics.count - 1
    }

    /// The ``metricSelection`` entry of metric `name` under `profile`.
    static func selection(of name: String, by profile: DetectorProfile) -> UInt8 {
        guard profile.judges(metric: name) else { return 0 }
        var selection = judgedBit
        for kind in DetectorKind.allCases where !kind.isDeviceLevel && profile.judges(metric: name, with: kind) {
            selection |= 1 << UInt8(kind.rawValue)
        }
        return selection
    }

    // MARK: Events

    struct EventContext {
        var device: Int
        /// -1 for device-level detectors.
        var metric = -1
        var eventTime: Double
        var receivedAtNanos: Int64
        var seasonBucket = 0
        var profile = 0
        /// The highest score of the current sample, and whether it fired an episode.
        var maxScore = 0.0
        var fired = false

        init(device: Int, eventTime: Double, receivedAtNanos: Int64) {
            self.device = device
            self.eventTime = eventTime
            self.receivedAtNanos = receivedAtNanos
        }
    }

    private func makeEvent(_ kind: DetectorKind, _ transition: EpisodeTracker.Transition, _ context: EventContext, value: Double, _ a: Assessment) -> AnomalyEvent {
        let profile = profiles[context.profile].profile
        let device = devices.key(context.device)
        let metric: String =
            switch kind {
            case .rate: "message_rate"
            case .silence: "silence_s"
            case .payloadSize: "payload_bytes"
            default: metricNames.key(context.metric)
            }
        let (state, onset, score, detected): (AnomalyEvent.State, Double, Double, Double) =
            switch transition {
            case .fired(let onset, let peak): (.firing, onset, peak, context.eventTime)
            case .resolved(let onset, let peak, _, let detectedAt): (.resolved, onset, peak, detectedAt)
            }
        let explanation = Explanation.text(
            kind, state: state, device: device, metric: metric, value: value, assessment: a,
            profile: profile, seasonBucket: context.seasonBucket, episodeSeconds: context.eventTime - onset,
            peakZ: { if case .resolved(_, _, let z, _) = transition { return z } else { return a.z } }()
        )
        var event = AnomalyEvent(
            id: UUID().uuidString.lowercased(),
            dedupKey: "vigil:\(device):\(metric):\(kind.label):\(Int64(exactly: (onset * 1000).rounded()) ?? 0)",
            device: device, metric: metric, detector: kind.label, state: state,
            score: score, value: value, expected: a.expected, band: a.low...max(a.low, a.high),
            onset: onset, detected: detected, receivedAtNanos: context.receivedAtNanos,
            explanation: explanation, profile: profile.name
        )
        if state == .resolved { event.resolvedAt = context.eventTime }
        return event
    }
}
