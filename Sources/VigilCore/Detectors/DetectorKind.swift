/// The detectors Vigil runs. Metric detectors judge each (device, metric); device detectors judge a device's
/// traffic as a whole.
package enum DetectorKind: Int, CaseIterable, Sendable {
    /// Exponentially weighted mean and variance: spikes, dips, level shifts.
    case ewma
    /// Two-sided CUSUM on the EWMA's standardised residuals: small persistent shifts and drifts.
    case change
    /// Per-season-bucket baselines on event time: a value normal for the day but wrong for the hour.
    case seasonal
    /// A metric that stopped varying: a stuck sensor.
    case flatline
    /// Messages per window against the device's own rate: floods and droughts.
    case rate
    /// No message for longer than the device's learned interval allows.
    case silence
    /// Bytes per message against the device's own sizes, and an absolute cap.
    case payloadSize

    /// The label in events and metrics.
    package var label: String {
        switch self {
        case .ewma: "ewma"
        case .change: "change"
        case .seasonal: "seasonal"
        case .flatline: "flatline"
        case .rate: "rate"
        case .silence: "silence"
        case .payloadSize: "payload_size"
        }
    }

    package init?(label: String) {
        guard let kind = Self.allCases.first(where: { $0.label == label }) else { return nil }
        self = kind
    }

    /// Whether it judges a device's traffic rather than one of its metrics.
    package var isDeviceLevel: Bool {
        switch self {
        case .rate, .silence, .payloadSize: true
        default: false
        }
    }
}

/// What one detector thinks of one sample: a calibrated score and what it expected.
package struct Assessment: Sendable, Equatable {
    /// Calibrated score in [0, 1]: one minus the tail probability of something at least this unusual.
    package var score: Double
    /// Signed deviation in the detector's own units of spread (σ for most; positive = above).
    package var z: Double
    /// What the detector expected.
    package var expected: Double
    /// The normal band at the threshold.
    package var low: Double
    package var high: Double

    package init(score: Double, z: Double, expected: Double, low: Double, high: Double) {
        self.score = score
        self.z = z
        self.expected = expected
        self.low = low
        self.high = high
    }
}
