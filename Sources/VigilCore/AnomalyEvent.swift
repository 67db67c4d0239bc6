/// One state change of an anomaly episode: the record Vigil publishes.
///
/// The JSON form (``json(latencyMs:)``) has these fields, in this order: `id`, `dedup_key`, `device`, `metric`,
/// `detector`, `state`, `score`, `value`, `expected`, `band`, `onset`, `detected`, `time_to_detect_ms`,
/// `latency_ms`, `explanation`, `profile`, and for a resolved event `resolved` and `duration_ms`.
package struct AnomalyEvent: Sendable, Equatable {
    package enum State: String, Sendable { case firing, resolved }

    /// Unique per event.
    package var id: String
    /// The same for the firing and the resolved event of one episode: incident tools group on it.
    package var dedupKey: String
    package var device: String
    package var metric: String
    package var detector: String
    package var state: State
    /// The calibrated score in [0, 1]: the sample's for a firing event, the episode's peak for a resolved one.
    package var score: Double
    /// The value of the sample that changed the state.
    package var value: Double
    /// What the baseline expected.
    package var expected: Double
    /// The normal band `[low, high]` at the threshold.
    package var band: ClosedRange<Double>
    /// Event time (epoch seconds) of the first anomalous sample of the episode.
    package var onset: Double
    /// Event time (epoch seconds) of the sample that fired the episode (for a resolved event too).
    package var detected: Double
    /// Event time (epoch seconds) of the sample that resolved the episode; nil for a firing event.
    package var resolvedAt: Double? = nil
    /// Wall-clock time (ns since the epoch) when the sample that changed the state was received.
    package var receivedAtNanos: Int64
    /// A sentence a person on call can act on.
    package var explanation: String
    /// The detector profile that judged it.
    package var profile: String

    /// Detection event time − onset, in milliseconds (rounded to the microsecond: event times are doubles
    /// of epoch seconds, whose last bits are noise at this scale).
    package var timeToDetectMs: Double { Self.milliseconds(detected - onset) }

    /// Resolution − onset, in milliseconds, for a resolved event.
    package var durationMs: Double? { resolvedAt.map { Self.milliseconds($0 - onset) } }

    private static func milliseconds(_ seconds: Double) -> Double { (seconds * 1_000_000).rounded() / 1000 }

    /// The event as one JSON object; `latencyMs` is receive → publish wall time, known only when publishing.
    package func json(latencyMs: Double?) -> String {
        var writer = JSONWriter()
        writer.field("id", id)
        writer.field("dedup_key", dedupKey)
        writer.field("device", device)
        writer.field("metric", metric)
        writer.field("detector", detector)
        writer.field("state", state.rawValue)
        writer.field("score", score)
        writer.field("value", value)
        writer.field("expected", expected)
        writer.rawField("band", "[\(JSONWriter.number(band.lowerBound)),\(JSONWriter.number(band.upperBound))]")
        writer.field("onset", TimeFormat.iso8601(onset))
        writer.field("detected", TimeFormat.iso8601(detected))
        writer.field("time_to_detect_ms", timeToDetectMs)
        writer.rawField("latency_ms", latencyMs.map(JSONWriter.number) ?? "null")
        writer.field("explanation", explanation)
        writer.field("profile", profile)
        if let resolvedAt, let durationMs {
            writer.field("resolved", TimeFormat.iso8601(resolvedAt))
            writer.field("duration_ms", durationMs)
        }
        return writer.finish()
    }
}

/// Writes one flat JSON object with fields in a fixed order (events are rare: clarity over speed).
package struct JSONWriter {
    private var text = "{"
    private var isEmpty = true

    package init() {}

    package mutating func field(_ key: String, _ value: String) {
        rawField(key, Self.string(value))
    }

    package mutating func field(_ key: String, _ value: Double) {
        rawField(key, Self.number(value))
    }

    package mutating func rawField(_ key: String, _ json: String) {
        if !isEmpty { text += "," }
        isEmpty = false
        text += Self.string(key) + ":" + json
    }

    package mutating func finish() -> String {
        text + "}"
    }

    /// A JSON number; non-finite values (which JSON cannot carry) become `null`.
    package static func number(_ value: Double) -> String {
        guard value.isFinite else { return "null" }
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return "\(value)"
    }

    /// A JSON string literal with RFC 8259 escapes.
    package static func string(_ value: String) -> String {
        var out = "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
