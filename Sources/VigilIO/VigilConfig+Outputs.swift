import Foundation
import VigilCore

/// The durable outbox of the HTTP outputs (`outbox`).
package struct OutboxConfig: Sendable, Equatable {
    /// Most bytes queued per output; the oldest entries are dropped (and counted) past it (`max_bytes`).
    package var maxBytes: Int = 64 << 20
    /// First retry delay, milliseconds (`retry_min_ms`).
    package var retryMinMs: Int = 1000
    /// Longest retry delay, milliseconds, at least `retry_min_ms` (`retry_max_ms`).
    package var retryMaxMs: Int = 300_000
    /// Timeout of one HTTP request, milliseconds (`timeout_ms`).
    package var timeoutMs: Int = 10_000
    /// How long a clean stop keeps delivering queued entries before leaving them for the next start, ms
    /// (`shutdown_grace_ms`).
    package var shutdownGraceMs: Int = 5000

    package init() {}
}

/// `outputs.alertmanager`: alerts to Alertmanager's API v2.
package struct AlertmanagerOutputConfig: Sendable, Equatable {
    /// Alertmanager's base URL, such as `http://127.0.0.1:9093`; alerts go to `<url>/api/v2/alerts` (`url`).
    package var url: String
    /// Seconds between re-sends of the firing alerts (`refresh_s`).
    package var refreshSeconds: Int = 60
    /// `generatorURL` of each alert; none when null (`generator_url`).
    package var generatorURL: String?
    /// Lowest severity delivered (`min_severity`).
    package var minSeverity: Severity = .warning

    package init(url: String) { self.url = url }
}

/// `outputs.pagerduty`: PagerDuty Events API v2.
package struct PagerDutyOutputConfig: Sendable, Equatable {
    /// The enqueue URL (`url`).
    package var url: String = "https://events.pagerduty.com/v2/enqueue"
    /// File holding the integration's routing key; when null, `VIGIL_PAGERDUTY_ROUTING_KEY` (`routing_key_file`).
    package var routingKeyFile: String?
    /// Lowest severity delivered (`min_severity`).
    package var minSeverity: Severity = .warning

    package init() {}
}

/// `outputs.webhook`: the event JSON, POSTed and signed (Standard Webhooks).
package struct WebhookOutputConfig: Sendable, Equatable {
    /// Where to POST (`url`).
    package var url: String
    /// File holding the signing secret (`whsec_<base64>`, or any text) (`secret_file`); required.
    package var secretFile: String
    /// Lowest severity delivered (`min_severity`).
    package var minSeverity: Severity = .warning

    package init(url: String, secretFile: String) {
        self.url = url
        self.secretFile = secretFile
    }
}

/// `outputs.file`: JSON lines.
package struct FileOutputConfig: Sendable, Equatable {
    /// The file; relative to the config file's folder when relative (`path`).
    package var path: String
    /// Size at which the file is rotated (`max_bytes`).
    package var maxBytes: Int = 100 << 20
    /// Rotated files kept: `PATH.1` … `PATH.<keep>` (`keep`).
    package var keep: Int = 5
    /// Lowest severity delivered (`min_severity`).
    package var minSeverity: Severity = .warning

    package init(path: String) { self.path = path }
}

/// Secrets the outputs need, read at start (a missing file stops `vigil run` before it connects).
package struct OutputSecrets: Sendable {
    package var webhookKey: [UInt8]?
    package var pagerDutyRoutingKey: String?
}

extension VigilConfig {
    /// A path from the config resolved like `models_dir`: a relative path is relative to the config's folder.
    package func resolvedPath(_ path: String) -> String {
        guard !path.hasPrefix("/"), let directory = origin.directory else { return path }
        return directory.hasSuffix("/") ? directory + path : directory + "/" + path
    }

    /// The outbox folder of output `name`: `<state.dir>/outbox/<name>`, with `state` beside the config file when
    /// `state.dir` is not set.
    package func outboxDirectory(_ name: String) -> String {
        resolvedPath(state.dir ?? StateConfig.defaultOutboxParent) + "/outbox/" + name
    }

    /// The noise-control settings of the incident outputs.
    package var noiseSettings: NoiseSettings {
        NoiseSettings(
            rateLimitPerDevice: outputs.rateLimitPerDevice, rateLimitWindow: Double(outputs.rateLimitWindowSeconds),
            flappingMaxFires: outputs.flappingMaxFires, flappingWindow: Double(outputs.flappingWindowSeconds),
            silences: silences, severity: outputs.severity
        )
    }

    /// Reads the webhook secret and the PagerDuty routing key.
    ///
    /// - Throws: ``ConfigError`` on the config file, with the key's line, for a secret file that is missing,
    ///   unreadable or empty, or a PagerDuty output with neither a key file nor `VIGIL_PAGERDUTY_ROUTING_KEY`.
    package func outputSecrets(environment: [String: String] = ProcessInfo.processInfo.environment) throws(ConfigError) -> OutputSecrets {
        var secrets = OutputSecrets()
        var issues: [ConfigError.Issue] = []
        func read(_ path: String, key: String) -> String? {
            guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
                issues.append(.init(kind: .unreadableFile, key: key, line: origin.lines[key], message: "cannot read the secret file '\(path)'"))
                return nil
            }
            let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
            if trimmed.isEmpty {
                issues.append(.init(kind: .invalidValue, key: key, line: origin.lines[key], message: "the secret file '\(path)' is empty"))
                return nil
            }
            return trimmed
        }
        if let webhook = outputs.webhook, let text = read(webhook.secretFile, key: "outputs.webhook.secret_file") {
            secrets.webhookKey = OutputFormat.webhookKey(secret: text)
            if secrets.webhookKey == nil {
                let key = "outputs.webhook.secret_file"
                issues.append(.init(kind: .invalidValue, key: key, line: origin.lines[key], message: "the secret in '\(webhook.secretFile)' starts with whsec_ but is not base64"))
            }
        }
        if let pagerDuty = outputs.pagerduty {
            if let path = pagerDuty.routingKeyFile {
                secrets.pagerDutyRoutingKey = read(path, key: "outputs.pagerduty.routing_key_file")
            } else if let key = environment["VIGIL_PAGERDUTY_ROUTING_KEY"], !key.isEmpty {
                secrets.pagerDutyRoutingKey = key
            } else {
                let key = "outputs.pagerduty"
                issues.append(.init(kind: .missingKey, key: key, line: origin.lines[key], message: "needs a routing key: set routing_key_file, or the environment variable VIGIL_PAGERDUTY_ROUTING_KEY"))
            }
        }
        guard issues.isEmpty else { throw ConfigError(source: origin.source, issues: issues) }
        return secrets
    }
}

/// The `state`, `outbox`, `outputs` (besides `mqtt`) and `silences` sections.
extension ConfigDecoder {
    static let outputKeys = ["mqtt", "alertmanager", "pagerduty", "webhook", "file", "rate_limit", "flapping", "severity"]

    mutating func decodeState(_ top: ConfigMapping, into config: inout VigilConfig) {
        if let state = section(top["state"], known: ["dir", "checkpoint_interval_s"]) {
            read(&config.state.dir, state["dir"], check: { $0.isEmpty ? "must not be empty" : nil })
            read(&config.state.checkpointIntervalSeconds, state["checkpoint_interval_s"], range: 1...86_400)
        }
        if let outbox = section(top["outbox"], known: ["max_bytes", "retry_min_ms", "retry_max_ms", "timeout_ms", "shutdown_grace_ms"]) {
            read(&config.outbox.maxBytes, outbox["max_bytes"], range: 1024...)
            let minValid = read(&config.outbox.retryMinMs, outbox["retry_min_ms"], range: 1...)
            let maxValid = read(&config.outbox.retryMaxMs, outbox["retry_max_ms"], range: 1...)
            read(&config.outbox.timeoutMs, outbox["timeout_ms"], range: 100...)
            read(&config.outbox.shutdownGraceMs, outbox["shutdown_grace_ms"], range: 0...)
            if minValid, maxValid, config.outbox.retryMinMs > config.outbox.retryMaxMs, let field = outbox["retry_max_ms"] ?? outbox["retry_min_ms"] {
                report(.outOfRange, field.key, field.line, "outbox.retry_max_ms (\(config.outbox.retryMaxMs)) must be at least outbox.retry_min_ms (\(config.outbox.retryMinMs))")
            }
        }
    }

    mutating func decodeIncidentOutputs(_ outputs: ConfigMapping, into config: inout VigilConfig) {
        if let field = outputs["alertmanager"], let section = section(field, known: ["url", "refresh_s", "generator_url", "min_severity"]) {
            var output = AlertmanagerOutputConfig(url: "")
            requireURL(&output.url, section, "url")
            read(&output.refreshSeconds, section["refresh_s"], range: 1...86_400)
            read(&output.generatorURL, section["generator_url"], check: { $0.isEmpty ? "must not be empty" : nil })
            read(&output.minSeverity, section["min_severity"])
            config.outputs.alertmanager = output
        }
        if let field = outputs["pagerduty"], let section = section(field, known: ["url", "routing_key_file", "min_severity"]) {
            var output = PagerDutyOutputConfig()
            if section["url"] != nil { requireURL(&output.url, section, "url") }
            read(&output.routingKeyFile, section["routing_key_file"], check: { $0.isEmpty ? "must not be empty" : nil })
            read(&output.minSeverity, section["min_severity"])
            config.origin.lines["outputs.pagerduty"] = field.line
            if let line = section["routing_key_file"]?.line { config.origin.lines["outputs.pagerduty.routing_key_file"] = line }
            config.outputs.pagerduty = output
        }
        if let field = outputs["webhook"], let section = section(field, known: ["url", "secret_file", "min_severity"]) {
            var output = WebhookOutputConfig(url: "", secretFile: "")
            requireURL(&output.url, section, "url")
            if section["secret_file"] == nil {
                report(.missingKey, "outputs.webhook.secret_file", field.line, "required key is missing: webhooks are always signed")
            }
            read(&output.secretFile, section["secret_file"], check: { $0.isEmpty ? "must not be empty" : nil })
            if let line = section["secret_file"]?.line { config.origin.lines["outputs.webhook.secret_file"] = line }
            read(&output.minSeverity, section["min_severity"])
            config.outputs.webhook = output
        }
        if let field = outputs["file"], let section = section(field, known: ["path", "max_bytes", "keep", "min_severity"]) {
            var output = FileOutputConfig(path: "")
            if section["path"] == nil { report(.missingKey, "outputs.file.path", field.line, "required key is missing") }
            read(&output.path, section["path"], check: { $0.isEmpty ? "must not be empty" : nil })
            read(&output.maxBytes, section["max_bytes"], range: 1024...)
            read(&output.keep, section["keep"], range: 0...1000)
            read(&output.minSeverity, section["min_severity"])
            config.outputs.file = output
        }
        if let section = section(outputs["rate_limit"], known: ["per_device", "window_s"]) {
            read(&config.outputs.rateLimitPerDevice, section["per_device"], range: 0...)
            read(&config.outputs.rateLimitWindowSeconds, section["window_s"], range: 1...)
        }
        if let section = section(outputs["flapping"], known: ["max_fires", "window_s"]) {
            read(&config.outputs.flappingMaxFires, section["max_fires"], range: 0...)
            read(&config.outputs.flappingWindowSeconds, section["window_s"], range: 1...)
        }
        if let section = section(outputs["severity"], known: ["error_score", "critical_score"]) {
            let unit = { (value: Double) in (0...1).contains(value) }
            read(&config.outputs.severity.errorScore, section["error_score"], requirement: "must be between 0 and 1", unit)
            read(&config.outputs.severity.criticalScore, section["critical_score"], requirement: "must be between 0 and 1", unit)
        }
    }

    private mutating func requireURL(_ target: inout String, _ section: ConfigMapping, _ name: String) {
        guard section[name] != nil else {
            report(.missingKey, "\(section.field.key).\(name)", section.field.line, "required key is missing")
            return
        }
        read(&target, section[name]) { text in
            guard let url = URL(string: text), let scheme = url.scheme, ["http", "https"].contains(scheme), url.host != nil else {
                return "must be an http:// or https:// URL, got \"\(text)\""
            }
            return nil
        }
    }

    mutating func decodeSilences(_ top: ConfigMapping) -> [Silence] {
        guard let field = top["silences"] else { return [] }
        guard case .sequence(let items) = field.node.content else {
            if case .scalar(let scalar) = field.node.content, scalar.value == .null { return [] }
            report(.typeMismatch, field.key, field.line, "expected a list of silences, found \(describe(field.node))")
            return []
        }
        var silences: [Silence] = []
        for (index, item) in items.enumerated() {
            let itemField = ConfigField(key: "\(field.key)[\(index)]", line: item.line, node: item)
            guard let mapping = section(itemField, known: ["device", "metric", "detector", "start", "end", "daily", "comment"]) else {
                report(.typeMismatch, itemField.key, item.line, "expected a mapping such as {device: \"lab-*\", daily: \"22:00-06:00\"}")
                continue
            }
            var silence = Silence()
            let glob = { (text: String) in text.isEmpty ? "must not be empty" : nil }
            read(&silence.device, mapping["device"], check: glob)
            read(&silence.metric, mapping["metric"], check: glob)
            read(&silence.detector, mapping["detector"], check: glob)
            var comment: String?
            read(&comment, mapping["comment"], check: { _ in nil })
            for (name, keyPath) in [("start", \Silence.start), ("end", \Silence.end)] {
                var text = ""
                guard let value = mapping[name], read(&text, value, check: { _ in nil }) else { continue }
                let time = Array(text.utf8).withUnsafeBytes { TimestampParser.parseISO8601($0) }
                guard let time else {
                    report(.invalidValue, value.key, value.line, "must be an ISO 8601 time such as \"2026-01-31T22:00:00Z\", got \"\(text)\"")
                    continue
                }
                silence[keyPath: keyPath] = time
            }
            if let value = mapping["daily"] {
                var text = ""
                if read(&text, value, check: { _ in nil }) {
                    if let (from, to) = Self.dailyWindow(text) {
                        silence.dailyStartMinute = from
                        silence.dailyEndMinute = to
                    } else {
                        report(.invalidValue, value.key, value.line, "must be \"HH:MM-HH:MM\" in UTC, such as \"22:00-06:00\", got \"\(text)\"")
                    }
                }
            }
            if let start = silence.start, let end = silence.end, end <= start, let value = mapping["end"] {
                report(.outOfRange, value.key, value.line, "must be after start")
            }
            if mapping["start"] == nil, mapping["end"] == nil, mapping["daily"] == nil {
                report(.missingKey, itemField.key, item.line, "a silence needs a time: start and/or end, or daily")
            }
            silences.append(silence)
        }
        return silences
    }

    /// `HH:MM-HH:MM` → minutes after midnight of each end.
    static func dailyWindow(_ text: String) -> (Int, Int)? {
        let parts = text.split(separator: "-")
        guard parts.count == 2 else { return nil }
        func minutes(_ part: Substring) -> Int? {
            let fields = part.trimmingCharacters(in: .whitespaces).split(separator: ":")
            guard fields.count == 2, fields[0].count == 2, fields[1].count == 2, let hour = Int(fields[0]), let minute = Int(fields[1]),
                (0...24).contains(hour), (0...59).contains(minute), hour * 60 + minute <= 1440
            else { return nil }
            return hour * 60 + minute
        }
        guard let from = minutes(parts[0]), let to = minutes(parts[1]), from != to else { return nil }
        return (from, to)
    }
}
