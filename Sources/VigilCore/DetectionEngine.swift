import Foundation

/// What the engine needs to know, from the configuration.
package struct DetectionSettings: Sendable, Equatable {
    package var ewma: EWMADetector.Parameters
    package var episodes: EpisodeTracker.Policy
    /// Devices tracked by one engine (one shard); a new device past the cap is rejected and counted.
    package var maxDevices: Int
    /// Distinct metrics kept per device; further metric names of that device are counted and ignored.
    package var maxMetricsPerDevice: Int
    /// Distinct metric names per engine, over all its devices.
    package var maxMetricNames: Int
    /// The profile name reported in events.
    package var profile: String

    package init(
        ewma: EWMADetector.Parameters = .init(),
        episodes: EpisodeTracker.Policy = .init(),
        maxDevices: Int = 100_000,
        maxMetricsPerDevice: Int = 64,
        maxMetricNames: Int = 10_000,
        profile: String = "default"
    ) {
        self.ewma = ewma
        self.episodes = episodes
        self.maxDevices = maxDevices
        self.maxMetricsPerDevice = maxMetricsPerDevice
        self.maxMetricNames = maxMetricNames
        self.profile = profile
    }
}

/// Why a message, or some of its metrics, went unscored.
package enum Rejection: Sendable, Equatable {
    case payload(PayloadError)
    /// The shard already tracks `maxDevices` devices.
    case deviceLimit
    /// The device already has `maxMetricsPerDevice` metrics, or the shard `maxMetricNames` names.
    case metricLimit

    /// The `reason` label for counters.
    package var reason: String {
        switch self {
        case .payload(let error): error.reason
        case .deviceLimit: "device_limit"
        case .metricLimit: "metric_limit"
        }
    }
}

/// The outcome of one message.
package struct ProcessResult: Sendable, Equatable {
    /// Samples (device, metric, value) scored or learned from.
    package var samples = 0
    /// Metrics dropped by a limit.
    package var droppedMetrics = 0
    /// Set when the whole message was rejected.
    package var rejection: Rejection? = nil
    /// Events emitted.
    package var fired = 0
    package var resolved = 0
}

/// Decodes messages and runs the detectors of every device of one shard.
///
/// Deterministic and single-threaded: one shard worker owns one engine and feeds it in ring order.
/// Detectors run on event time (a SenML record's own time, else the payload's timestamp, else receive time), so
/// a replay at any speed decides exactly as live traffic did.
package struct DetectionEngine {
    private struct MetricState {
        var metric: Int32
        var ewma = EWMADetector()
        var episode = EpisodeTracker()
    }

    private struct DeviceState {
        var metrics: [MetricState] = []
        var lastEventTime = 0.0
        var messages = 0
    }

    package let settings: DetectionSettings
    private var decoder: PayloadDecoder
    private var devices = ByteInterner(expectedCount: 1024)
    private var metricNames = ByteInterner(expectedCount: 64)
    private var states: [DeviceState] = []
    private let alpha: Double
    private let thresholdZ: Double

    package init(settings: DetectionSettings, decoder: PayloadDecoder) {
        self.settings = settings
        self.decoder = decoder
        self.alpha = settings.ewma.alpha
        self.thresholdZ = settings.ewma.thresholdZ
    }

    /// Devices tracked.
    package var deviceCount: Int { devices.count }

    /// Decodes one message of `device` and scores each of its metrics; `emit` receives every state change.
    package mutating func process(
        device: UnsafeRawBufferPointer,
        payload: UnsafeRawBufferPointer,
        receivedAtNanos: Int64,
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
            guard devices.count < settings.maxDevices else {
                result.rejection = .deviceLimit
                return result
            }
            deviceIndex = devices.insert(device).index
            states.append(DeviceState())
        }
        let receivedAt = Double(receivedAtNanos) / 1e9
        states[deviceIndex].messages += 1

        // Each field has its own event time (a SenML record's time, else the payload's timestamp, else
        // receive time); the device's last event time is the latest of them.
        var latestEventTime = -Double.infinity
        for field in 0..<decoder.fieldCount {
            let eventTime = decoder.fieldEventTime(field, receivedAt: receivedAt)
            latestEventTime = max(latestEventTime, eventTime)
            guard let slot = metricSlot(device: deviceIndex, field: field) else {
                result.droppedMetrics += 1
                continue
            }
            let value = decoder.fieldValue(field)
            result.samples += 1
            let parameters = settings.ewma
            guard let assessment = states[deviceIndex].metrics[slot].ewma.observe(value, parameters, alpha: alpha) else {
                continue  // warming up
            }
            guard let transition = states[deviceIndex].metrics[slot].episode.observe(
                score: assessment.score, z: assessment.z, eventTime: eventTime,
                threshold: parameters.threshold, policy: settings.episodes
            ) else { continue }
            let metric = Int(states[deviceIndex].metrics[slot].metric)
            let event = makeEvent(
                transition, device: deviceIndex, metric: metric, value: value,
                assessment: assessment, eventTime: eventTime, receivedAtNanos: receivedAtNanos
            )
            if event.state == .firing { result.fired += 1 } else { result.resolved += 1 }
            emit(event)
        }
        states[deviceIndex].lastEventTime = latestEventTime
        return result
    }

    /// The index in the device's metric list of decoder field `field`, adding it when new and allowed.
    private mutating func metricSlot(device: Int, field: Int) -> Int? {
        let known = decoder.withFieldName(field) { metricNames.index(of: $0) }
        let metric: Int
        if let known {
            metric = known
            // Linear scan: a device has a handful of metrics, and this touches one small contiguous array.
            for (slot, state) in states[device].metrics.enumerated() where state.metric == Int32(metric) {
                return slot
            }
        } else {
            guard metricNames.count < settings.maxMetricNames else { return nil }
            metric = decoder.withFieldName(field) { metricNames.insert($0).index }
        }
        guard states[device].metrics.count < settings.maxMetricsPerDevice else { return nil }
        states[device].metrics.append(MetricState(metric: Int32(metric)))
        return states[device].metrics.count - 1
    }

    private func makeEvent(
        _ transition: EpisodeTracker.Transition, device: Int, metric: Int, value: Double,
        assessment: EWMADetector.Assessment, eventTime: Double, receivedAtNanos: Int64
    ) -> AnomalyEvent {
        let deviceName = devices.key(device)
        let metricName = metricNames.key(metric)
        let halfWidth = thresholdZ * assessment.std
        let band = (assessment.expected - halfWidth)...(assessment.expected + halfWidth)
        let state: AnomalyEvent.State
        let onset: Double
        let score: Double
        let explanation: String
        let baseline = "its EWMA baseline \(Self.format(assessment.expected)) ± \(Self.format(assessment.std))"
        switch transition {
        case .fired(let episodeOnset, let peak):
            state = .firing
            onset = episodeOnset
            score = peak
            let direction = assessment.z >= 0 ? "above" : "below"
            explanation = "\(metricName) \(Self.format(value)) on \(deviceName) is "
                + "\(Self.format(abs(assessment.z))) sigma \(direction) \(baseline) "
                + "(normal \(Self.format(band.lowerBound)) to \(Self.format(band.upperBound)))"
        case .resolved(let episodeOnset, let peak, let peakZ):
            state = .resolved
            onset = episodeOnset
            score = peak
            explanation = "\(metricName) on \(deviceName) is back within \(baseline) at \(Self.format(value)) after "
                + "\(Self.format(eventTime - episodeOnset)) s; the episode peaked at \(Self.format(abs(peakZ))) sigma"
        }
        let onsetMillis = Int64((onset * 1000).rounded())
        return AnomalyEvent(
            id: UUID().uuidString.lowercased(),
            dedupKey: "vigil:\(deviceName):\(metricName):ewma:\(onsetMillis)",
            device: deviceName, metric: metricName, detector: "ewma", state: state,
            score: score, value: value, expected: assessment.expected, band: band,
            onset: onset, detected: eventTime, receivedAtNanos: receivedAtNanos,
            explanation: explanation, profile: settings.profile
        )
    }

    /// Four significant digits, no exponent for everyday magnitudes.
    static func format(_ value: Double) -> String {
        String(format: "%.4g", value)
    }
}
