import Foundation
import Synchronization

extension IncidentOutputs {
    /// The incident outputs `config` names, with their outboxes opened under `state.dir` (what an earlier run
    /// left queued is delivered first); nil when none is configured.
    ///
    /// - Throws: ``Outbox/OpenError`` or ``FileOutput/OpenError`` (as their description) when a folder or file
    ///   cannot be opened.
    package static func make(config: VigilConfig, secrets: OutputSecrets, publisher: AnomalyPublisher, logger: Logger) throws -> IncidentOutputs? {
        let outputs = config.outputs
        guard outputs.hasIncidentOutputs else { return nil }
        let client = HTTPClient(timeout: Double(config.outbox.timeoutMs) / 1000)
        let policy = RetryPolicy(minDelay: Double(config.outbox.retryMinMs) / 1000, maxDelay: Double(config.outbox.retryMaxMs) / 1000)
        func outbox(_ name: String) throws -> Outbox {
            let outbox = try Outbox(directory: config.outboxDirectory(name), maxBytes: config.outbox.maxBytes)
            let depth = outbox.depth()
            if depth.entries > 0 || outbox.corruptAtStart > 0 {
                logger.info("outbox holds events from an earlier run", [
                    ("output", name), ("queued", String(depth.entries)), ("unreadable", String(outbox.corruptAtStart)),
                ])
            }
            return outbox
        }
        var http: [(output: HTTPOutput, minSeverity: Severity, render: @Sendable (OutputEvent) -> OutboxEntry)] = []
        if let alertmanager = outputs.alertmanager {
            let base = alertmanager.url.hasSuffix("/") ? String(alertmanager.url.dropLast()) : alertmanager.url
            let url = URL(string: base + "/api/v2/alerts")!
            let firing = FiringAlerts()
            let output = HTTPOutput(
                name: "alertmanager", outbox: try outbox("alertmanager"), client: client, policy: policy, logger: logger,
                makeRequest: { OutgoingRequest(url: url, body: Data(("[" + $0.body + "]").utf8)) },
                onDelivered: { firing.note($0) },
                refresh: { firing.bodies().map { OutgoingRequest(url: url, body: Data(("[" + $0.joined(separator: ",") + "]").utf8)) } },
                refreshInterval: Double(alertmanager.refreshSeconds)
            )
            let generatorURL = alertmanager.generatorURL
            http.append((output, alertmanager.minSeverity, { OutputFormat.alertmanagerAlert($0, generatorURL: generatorURL) }))
        }
        if let pagerDuty = outputs.pagerduty, let routingKey = secrets.pagerDutyRoutingKey {
            let url = URL(string: pagerDuty.url)!
            let output = HTTPOutput(
                name: "pagerduty", outbox: try outbox("pagerduty"), client: client, policy: policy, logger: logger,
                makeRequest: { OutgoingRequest(url: url, body: OutputFormat.pagerDutyBody($0.body, routingKey: routingKey)) }
            )
            http.append((output, pagerDuty.minSeverity, OutputFormat.pagerDuty))
        }
        if let webhook = outputs.webhook, let key = secrets.webhookKey {
            let url = URL(string: webhook.url)!
            let output = HTTPOutput(
                name: "webhook", outbox: try outbox("webhook"), client: client, policy: policy, logger: logger,
                makeRequest: { entry in
                    let body = Data(entry.body.utf8)
                    let timestamp = Int64(Date().timeIntervalSince1970)
                    return OutgoingRequest(url: url, headers: OutputFormat.webhookHeaders(id: entry.key, timestamp: timestamp, body: body, key: key), body: body)
                }
            )
            http.append((output, webhook.minSeverity, OutputFormat.webhook))
        }
        var file: (output: FileOutput, minSeverity: Severity)?
        if let fileConfig = outputs.file {
            let output = try FileOutput(path: config.resolvedPath(fileConfig.path), maxBytes: fileConfig.maxBytes, keep: fileConfig.keep, logger: logger)
            file = (output, fileConfig.minSeverity)
        }
        return IncidentOutputs(publisher: publisher, http: http, file: file, noise: config.noiseSettings, logger: logger)
    }
}

/// The alerts Alertmanager was last told are firing (by alert key): what a refresh re-sends.
final class FiringAlerts: Sendable {
    private let firing = Mutex<[String: String]>([:])

    func note(_ entry: OutboxEntry) {
        firing.withLock { $0[entry.key] = entry.state == "firing" ? entry.body : nil }
    }

    /// The firing alerts' bodies, or nil when none fires.
    func bodies() -> [String]? {
        firing.withLock { alerts in alerts.isEmpty ? nil : alerts.keys.sorted().map { alerts[$0]! } }
    }
}
