import Foundation

/// The sentence in each event: what happened, against what, in words a person on call can act on.
package enum Explanation {
    /// Four significant digits, no exponent for everyday magnitudes.
    package static func format(_ value: Double) -> String {
        String(format: "%.4g", value)
    }

    static func text(
        _ kind: DetectorKind, state: AnomalyEvent.State, device: String, metric: String, value: Double,
        assessment a: Assessment, profile: DetectorProfile, seasonBucket: Int, episodeSeconds: Double, peakZ: Double
    ) -> String {
        let f = format
        let spread = (a.high - a.low) / 2 / max(profile.thresholdZ, 1e-9)
        let direction = a.z >= 0 ? "above" : "below"
        if state == .resolved {
            let after = "after \(f(episodeSeconds)) s"
            switch kind {
            case .silence: return "\(device) is talking again \(after) of silence"
            case .rate: return "\(device)'s message rate is back to normal (\(f(a.expected)) per window) \(after)"
            case .payloadSize: return "\(device)'s messages are back to their usual size (\(f(a.expected)) bytes) \(after)"
            case .flatline: return "\(metric) on \(device) is varying again (now \(f(value))) \(after)"
            default:
                return "\(metric) on \(device) is back within its \(baselineName(kind, profile, seasonBucket)) "
                    + "\(f(a.expected)) ± \(f(spread)) at \(f(value)) \(after); the episode peaked at \(f(abs(peakZ))) sigma"
            }
        }
        switch kind {
        case .ewma, .seasonal:
            return "\(metric) \(f(value)) on \(device) is \(f(abs(a.z))) sigma \(direction) its "
                + "\(baselineName(kind, profile, seasonBucket)) \(f(a.expected)) ± \(f(spread)) (normal \(f(a.low)) to \(f(a.high)))"
        case .change:
            return "\(metric) on \(device) has shifted \(a.z >= 0 ? "up" : "down"): \(f(abs(a.z))) sigma of accumulated evidence "
                + "against its baseline \(f(a.expected)) ± \(f(spread)) (latest \(f(value))); a drift or a step change, not a single spike"
        case .flatline:
            return "\(metric) on \(device) has reported exactly \(f(value)) for \(Int(a.z)) samples in a row, "
                + "longer than its history allows: a stuck or disconnected sensor?"
        case .rate:
            return a.z >= 0
                ? "\(device) sent \(f(value)) messages in the current window, against \(f(a.expected)) ± \(f(spread)) normally: a flood (chattering, looping or replayed device?)"
                : "\(device) sent \(f(value)) messages in its last window, against \(f(a.expected)) ± \(f(spread)) normally: a drought"
        case .silence:
            return "\(device) has been silent for \(f(value)) s; it usually speaks every \(f(a.expected)) s (limit \(f(a.high)) s)"
        case .payloadSize:
            let cap = profile.payloadSize?.maxBytes ?? 0
            if cap > 0 && value > Double(cap) {
                return "\(device) sent a \(f(value))-byte message, over the \(cap)-byte cap (usually \(f(a.expected)) ± \(f(spread)))"
            }
            return "\(device) sent a \(f(value))-byte message, \(f(abs(a.z))) sigma \(direction) its usual \(f(a.expected)) ± \(f(spread)) bytes"
        }
    }

    /// "EWMA baseline", or "14:00 baseline" for an hourly seasonal bucket.
    static func baselineName(_ kind: DetectorKind, _ profile: DetectorProfile, _ bucket: Int) -> String {
        guard kind == .seasonal, let p = profile.seasonal else { return "EWMA baseline" }
        let start = Double(bucket) * p.period / Double(p.buckets)
        if p.period == 86_400 || p.period == 604_800 {
            let days = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"]  // 1970-01-01 was a Thursday
            let seconds = Int(start)
            let clock = String(format: "%02d:%02d", seconds / 3600 % 24, seconds / 60 % 60)
            return p.period == 86_400 ? "\(clock) UTC baseline" : "\(days[seconds / 86_400 % 7]) \(clock) UTC baseline"
        }
        return "season bucket \(bucket + 1)/\(p.buckets) baseline"
    }
}
