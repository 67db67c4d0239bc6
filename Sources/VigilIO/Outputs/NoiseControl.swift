import Foundation
import Glibc
package import VigilCore

/// A maintenance window (an item of `silences`): firing events that match it are not delivered (but counted).
package struct Silence: Sendable, Equatable {
    /// Shell-style globs (`*`, `?`, `[...]`) on the event's device, metric and detector.
    package var device: String
    package var metric: String
    package var detector: String
    /// An absolute window, epoch seconds: from `start` (inclusive) to `end` (exclusive); either may be open.
    package var start: Double?
    package var end: Double?
    /// A daily window in UTC, minutes after midnight; `end` < `start` wraps past midnight.
    package var dailyStartMinute: Int?
    package var dailyEndMinute: Int?

    package init(
        device: String = "*", metric: String = "*", detector: String = "*", start: Double? = nil, end: Double? = nil,
        dailyStartMinute: Int? = nil, dailyEndMinute: Int? = nil
    ) {
        self.device = device
        self.metric = metric
        self.detector = detector
        self.start = start
        self.end = end
        self.dailyStartMinute = dailyStartMinute
        self.dailyEndMinute = dailyEndMinute
    }

    package func isActive(at now: Double) -> Bool {
        if let start, now < start { return false }
        if let end, now >= end { return false }
        if let from = dailyStartMinute, let to = dailyEndMinute {
            let minute = Int((now.truncatingRemainder(dividingBy: 86_400) + 86_400).truncatingRemainder(dividingBy: 86_400) / 60)
            return from <= to ? (from <= minute && minute < to) : (minute >= from || minute < to)
        }
        return true
    }

    package func matches(_ event: AnomalyEvent, at now: Double) -> Bool {
        isActive(at: now) && Self.glob(device, event.device) && Self.glob(metric, event.metric)
            && Self.glob(detector, event.detector)
    }

    static func glob(_ pattern: String, _ text: String) -> Bool {
        pattern == "*" || fnmatch(pattern, text, 0) == 0
    }
}

/// What noise control does, from `outputs.rate_limit`, `outputs.flapping`, `outputs.severity` and `silences`.
package struct NoiseSettings: Sendable, Equatable {
    /// Most firing events delivered per device per ``rateLimitWindow`` seconds; 0: no limit.
    package var rateLimitPerDevice: Int
    package var rateLimitWindow: Double
    /// An alert (device, metric, detector) that fires more than this many times in ``flappingWindow`` seconds
    /// is flapping; 0: no guard.
    package var flappingMaxFires: Int
    package var flappingWindow: Double
    package var silences: [Silence]
    package var severity: SeverityScale

    package init(
        rateLimitPerDevice: Int = 0, rateLimitWindow: Double = 60, flappingMaxFires: Int = 0, flappingWindow: Double = 600,
        silences: [Silence] = [], severity: SeverityScale = SeverityScale()
    ) {
        self.rateLimitPerDevice = rateLimitPerDevice
        self.rateLimitWindow = rateLimitWindow
        self.flappingMaxFires = flappingMaxFires
        self.flappingWindow = flappingWindow
        self.silences = silences
        self.severity = severity
    }
}

/// Decides which events reach the incident outputs. Pure and single-threaded (the outputs queue owns it);
/// time is passed in (wall clock, epoch seconds).
///
/// - A firing event is held back while a silence matches it, or when its device is over the rate limit. Its
///   resolution is then held back too: a tool never sees a resolution without its firing.
/// - A resolution is always delivered when its firing was, even inside a silence (no alert is left open).
/// - Flapping guard: an alert that fires more than `flappingMaxFires` times in `flappingWindow` is held firing:
///   the event that trips the guard is delivered marked `flapping`, later resolutions are held and later
///   firings swallowed, and once it has not fired for a whole window ``tick(now:)`` releases the last held
///   resolution (with the dedup key of the firing that was delivered).
package struct NoiseControl: Sendable {
    package struct Counts: Sendable, Equatable {
        package var silenced = 0
        package var rateLimited = 0
        /// Firings swallowed and resolutions held because the alert was flapping.
        package var flapping = 0
    }

    private struct Open: Sendable {
        /// The delivered firing's dedup key: what the held resolution will carry.
        var dedupKey: String
        /// The latest episode mapped onto this alert (its resolution is the one that counts).
        var latestEpisode: String
        var severity: Severity
        var heldResolution: OutputEvent?
    }

    package let settings: NoiseSettings
    package private(set) var counts = Counts()
    private var open: [String: Open] = [:]
    /// Episodes whose firing was held back, so their resolution is held back too.
    private var suppressed: Set<String> = []
    private var fires: [String: [Double]] = [:]
    private var flapping: Set<String> = []
    private var deviceFires: [String: [Double]] = [:]
    /// Bound on `suppressed`: an episode that never resolves (its device evicted) must not grow it forever.
    private static let maxSuppressed = 100_000

    package init(settings: NoiseSettings) {
        self.settings = settings
    }

    /// Alerts currently held firing by the flapping guard.
    package var flappingCount: Int { flapping.count }

    /// The events to deliver for `event` (none or one).
    package mutating func process(_ event: AnomalyEvent, latencyMs: Double?, now: Double) -> [OutputEvent] {
        let key = "\(event.device)|\(event.metric)|\(event.detector)"
        switch event.state {
        case .firing:
            if settings.flappingMaxFires > 0 {
                var times = fires[key, default: []].filter { $0 > now - settings.flappingWindow }
                times.append(now)
                fires[key] = times
                if times.count > settings.flappingMaxFires { flapping.insert(key) }
            }
            if var alert = open[key] {
                // Fired again while the alert is still shown firing (its resolution held): nothing new to say.
                alert.latestEpisode = event.dedupKey
                alert.heldResolution = nil
                open[key] = alert
                counts.flapping += 1
                return []
            }
            if settings.silences.contains(where: { $0.matches(event, at: now) }) {
                counts.silenced += 1
                suppress(event.dedupKey)
                return []
            }
            if settings.rateLimitPerDevice > 0 {
                var times = deviceFires[event.device, default: []].filter { $0 > now - settings.rateLimitWindow }
                guard times.count < settings.rateLimitPerDevice else {
                    deviceFires[event.device] = times
                    counts.rateLimited += 1
                    suppress(event.dedupKey)
                    return []
                }
                times.append(now)
                deviceFires[event.device] = times
            }
            let severity = settings.severity.severity(score: event.score)
            open[key] = Open(dedupKey: event.dedupKey, latestEpisode: event.dedupKey, severity: severity)
            return [OutputEvent(event: event, latencyMs: latencyMs, severity: severity, flapping: flapping.contains(key))]
        case .resolved:
            if suppressed.remove(event.dedupKey) != nil { return [] }
            guard var alert = open[key], alert.latestEpisode == event.dedupKey else {
                // Not seen firing in this run (it fired before a restart): deliver, so the tool can close it.
                return [OutputEvent(event: event, latencyMs: latencyMs, severity: settings.severity.severity(score: event.score))]
            }
            var resolution = event
            resolution.dedupKey = alert.dedupKey
            let output = OutputEvent(event: resolution, latencyMs: latencyMs, severity: alert.severity, flapping: flapping.contains(key))
            if flapping.contains(key) {
                alert.heldResolution = output
                open[key] = alert
                counts.flapping += 1
                return []
            }
            open[key] = nil
            return [output]
        }
    }

    private mutating func suppress(_ dedupKey: String) {
        if suppressed.count >= Self.maxSuppressed { suppressed.removeAll(keepingCapacity: true) }
        suppressed.insert(dedupKey)
    }

    /// Releases alerts that stopped flapping (their held resolutions), and forgets old history.
    package mutating func tick(now: Double) -> [OutputEvent] {
        var released: [OutputEvent] = []
        for key in flapping {
            let times = fires[key, default: []].filter { $0 > now - settings.flappingWindow }
            fires[key] = times
            guard times.isEmpty else { continue }
            flapping.remove(key)
            if let held = open[key]?.heldResolution {
                open[key] = nil
                var output = held
                output.flapping = false
                released.append(output)
            }
        }
        fires = fires.filter { key, times in flapping.contains(key) || times.contains { $0 > now - settings.flappingWindow } }
        deviceFires = deviceFires.filter { _, times in times.contains { $0 > now - settings.rateLimitWindow } }
        return released
    }
}
