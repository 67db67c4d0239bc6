package import Foundation
package import VigilCore

/// How urgent an event is, from its score (see ``SeverityScale``); PagerDuty's names.
package enum Severity: String, Sendable, CaseIterable, Comparable {
    case info, warning, error, critical

    private var rank: Int { Self.allCases.firstIndex(of: self)! }
    package static func < (lhs: Severity, rhs: Severity) -> Bool { lhs.rank < rhs.rank }
}

/// Scores at or above which an event is `error` or `critical`; below `error` it is a `warning`.
package struct SeverityScale: Sendable, Equatable {
    package var errorScore: Double
    package var criticalScore: Double

    package init(errorScore: Double = 0.9999999, criticalScore: Double = 0.999999999) {
        self.errorScore = errorScore
        self.criticalScore = criticalScore
    }

    package func severity(score: Double) -> Severity {
        score >= criticalScore ? .critical : score >= errorScore ? .error : .warning
    }
}

/// An anomaly event on its way to the outputs, with what noise control added.
package struct OutputEvent: Sendable, Equatable {
    package var event: AnomalyEvent
    /// Receive → hand-off to the outputs, wall time.
    package var latencyMs: Double?
    package var severity: Severity
    /// The episode fires and resolves too often: it is held firing until it settles.
    package var flapping = false

    package init(event: AnomalyEvent, latencyMs: Double?, severity: Severity, flapping: Bool = false) {
        self.event = event
        self.latencyMs = latencyMs
        self.severity = severity
        self.flapping = flapping
    }

    /// The event's JSON (``AnomalyEvent/json(latencyMs:)``) with `severity` and `flapping` added at the end.
    package func json() -> String {
        String(event.json(latencyMs: latencyMs).dropLast())
            + ",\"severity\":\"\(severity.rawValue)\",\"flapping\":\(flapping)}"
    }

    /// The alert's identity in tools that group by labels: device, metric and detector.
    package var alertKey: String { "\(event.device)|\(event.metric)|\(event.detector)" }
}

/// Request bodies for each kind of endpoint.
package enum OutputFormat {
    /// Webhook: the event JSON as is.
    package static func webhook(_ output: OutputEvent) -> OutboxEntry {
        OutboxEntry(key: output.event.id, state: output.event.state.rawValue, body: output.json(), enqueuedAt: Date().timeIntervalSince1970)
    }

    /// Standard Webhooks signature headers for `body` (https://www.standardwebhooks.com):
    /// `webhook-signature: v1,<base64 HMAC-SHA256(key, "<id>.<timestamp>.<body>")>`.
    package static func webhookHeaders(id: String, timestamp: Int64, body: Data, key: [UInt8]) -> [(String, String)] {
        let message = Array("\(id).\(timestamp).".utf8) + Array(body)
        let signature = Data(HMACSHA256.mac(key: key, message: message)).base64EncodedString()
        return [("webhook-id", id), ("webhook-timestamp", String(timestamp)), ("webhook-signature", "v1,\(signature)")]
    }

    /// The signing key from a secret file's text: `whsec_<base64>` (Standard Webhooks) is decoded; any other
    /// text is used as its UTF-8 bytes. Nil when empty or not valid base64 after `whsec_`.
    package static func webhookKey(secret: String) -> [UInt8]? {
        let text = secret.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !text.isEmpty else { return nil }
        if text.hasPrefix("whsec_") {
            guard let data = Data(base64Encoded: String(text.dropFirst(6))), !data.isEmpty else { return nil }
            return Array(data)
        }
        return Array(text.utf8)
    }

    /// Alertmanager (`POST /api/v2/alerts`, a list of these): one alert object. A firing alert has no `endsAt`
    /// (Alertmanager then keeps it for its `resolve_timeout`, and Vigil re-sends it while it fires); a resolved
    /// one ends at its resolution time.
    package static func alertmanagerAlert(_ output: OutputEvent, generatorURL: String?) -> OutboxEntry {
        let event = output.event
        var labels = JSONWriter()
        labels.field("alertname", "VigilAnomaly")
        labels.field("device", event.device)
        labels.field("metric", event.metric)
        labels.field("detector", event.detector)
        labels.field("profile", event.profile)
        labels.field("severity", output.severity.rawValue)
        var annotations = JSONWriter()
        annotations.field("summary", event.explanation)
        annotations.field("value", JSONWriter.number(event.value))
        annotations.field("expected", JSONWriter.number(event.expected))
        annotations.field("band", "[\(JSONWriter.number(event.band.lowerBound)), \(JSONWriter.number(event.band.upperBound))]")
        annotations.field("time_to_detect", "\(JSONWriter.number(event.timeToDetectMs)) ms")
        annotations.field("score", JSONWriter.number(event.score))
        annotations.field("dedup_key", event.dedupKey)
        if output.flapping { annotations.field("flapping", "true") }
        var alert = JSONWriter()
        alert.rawField("labels", labels.finish())
        alert.rawField("annotations", annotations.finish())
        alert.field("startsAt", TimeFormat.iso8601(event.onset))
        if event.state == .resolved {
            // Alertmanager ignores an end before the start.
            alert.field("endsAt", TimeFormat.iso8601(max(event.resolvedAt ?? event.detected, event.onset)))
        }
        if let generatorURL { alert.field("generatorURL", generatorURL) }
        return OutboxEntry(key: output.alertKey, state: event.state.rawValue, body: alert.finish(), enqueuedAt: Date().timeIntervalSince1970)
    }

    /// PagerDuty Events API v2: `trigger` or `resolve` with `dedup_key` = the episode's dedup key. The body is
    /// stored without `routing_key` (a secret stays out of the outbox file); ``pagerDutyBody(_:routingKey:)``
    /// adds it when sending.
    package static func pagerDuty(_ output: OutputEvent) -> OutboxEntry {
        let event = output.event
        var body = JSONWriter()
        body.field("event_action", event.state == .firing ? "trigger" : "resolve")
        body.field("dedup_key", event.dedupKey)
        if event.state == .firing {
            var payload = JSONWriter()
            payload.field("summary", String(event.explanation.prefix(1024)))
            payload.field("source", event.device)
            payload.field("severity", output.severity.rawValue)
            payload.field("timestamp", TimeFormat.iso8601(event.detected))
            payload.field("component", event.metric)
            payload.field("group", event.profile)
            payload.field("class", event.detector)
            payload.rawField("custom_details", output.json())
            body.rawField("payload", payload.finish())
        }
        return OutboxEntry(key: event.dedupKey, state: event.state.rawValue, body: body.finish(), enqueuedAt: Date().timeIntervalSince1970)
    }

    package static func pagerDutyBody(_ stored: String, routingKey: String) -> Data {
        Data(("{\"routing_key\":" + JSONWriter.string(routingKey) + "," + stored.dropFirst()).utf8)
    }
}
