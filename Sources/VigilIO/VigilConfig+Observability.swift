import Foundation

/// The HTTP endpoint for Prometheus, health, readiness and the device inventory (`metrics`).
package struct MetricsConfig: Sendable, Equatable {
    /// Serve the endpoint at all (`enabled`).
    package var enabled = true
    /// `host:port` to listen on; `[::1]:9464` for IPv6; port 0 picks a free one (`listen`).
    package var listen = "127.0.0.1:9464"
    /// A file holding the bearer token that `/metrics` and `/devices` require (`bearer_token_file`); nil: none.
    package var bearerTokenFile: String? = nil
    /// Largest request accepted, in bytes, 256...65536 (`max_request_bytes`).
    package var maxRequestBytes = 8192
    /// Seconds a client has to send its request and again to read the answer, 1...300 (`timeout_s`).
    package var timeoutSeconds = 5
    /// Connections open at once, 1...1024 (`max_connections`).
    package var maxConnections = 16
    /// Most devices `/devices` lists, whatever `limit` asks, 1...1000000 (`max_devices_listed`).
    package var maxDevicesListed = 10000

    package init() {}

    /// `listen` split into host and port (validated when loaded).
    package var hostAndPort: (host: String, port: Int)? { Self.split(listen) }

    static func split(_ text: String) -> (host: String, port: Int)? {
        var host: Substring
        var portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return nil }
            host = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":") else { return nil }
            portText = rest.dropFirst()
        } else {
            guard let colon = text.lastIndex(of: ":") else { return nil }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
            if host.contains(":") { return nil }  // IPv6 needs brackets
        }
        guard !host.isEmpty, let port = Int(portText), (0...65535).contains(port) else { return nil }
        return (String(host), port)
    }
}

/// The MQTT status and metrics topics (`status`).
package struct StatusConfig: Sendable, Equatable {
    /// Retained `online`/`offline` status topic, with `{client_id}` filled in; `offline` is the Last Will
    /// (`topic`).
    package var topic = "vigil/status/{client_id}"
    /// Topic of the periodic JSON metrics summary, with `{client_id}` filled in (`metrics_topic`).
    package var metricsTopic = "vigil/metrics/{client_id}"
    /// Seconds between metrics summaries, 0 (none) or 1...86400 (`metrics_interval_s`).
    package var metricsIntervalSeconds = 60
    /// QoS of the status and summary messages, 0...2 (`qos`).
    package var qos = 1

    package init() {}
}

extension VigilConfig {
    /// The status topic with the client id filled in.
    package var statusTopic: String { status.topic.replacingOccurrences(of: "{client_id}", with: broker.clientID) }
    /// The metrics summary topic with the client id filled in.
    package var statusMetricsTopic: String {
        status.metricsTopic.replacingOccurrences(of: "{client_id}", with: broker.clientID)
    }

    /// The bearer token from `metrics.bearer_token_file` (surrounding whitespace removed), or nil.
    package func metricsBearerToken() throws(ConfigError) -> String? {
        guard let path = metrics.bearerTokenFile else { return nil }
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
            throw ConfigError(source: path, issues: [.init(kind: .unreadableFile, key: "metrics.bearer_token_file", line: nil, message: "cannot read the bearer token file '\(path)'")])
        }
        let token = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !token.isEmpty else {
            throw ConfigError(source: path, issues: [.init(kind: .invalidValue, key: "metrics.bearer_token_file", line: nil, message: "the bearer token file '\(path)' is empty")])
        }
        return token
    }
}

extension ConfigDecoder {
    static let metricsKeys = [
        "enabled", "listen", "bearer_token_file", "max_request_bytes", "timeout_s", "max_connections", "max_devices_listed",
    ]
    static let statusKeys = ["topic", "metrics_topic", "metrics_interval_s", "qos"]

    /// The `metrics` and `status` sections.
    mutating func decodeObservability(_ top: ConfigMapping, into config: inout VigilConfig) {
        if let metrics = section(top["metrics"], known: Self.metricsKeys) {
            read(&config.metrics.enabled, metrics["enabled"])
            read(&config.metrics.listen, metrics["listen"]) { text in
                MetricsConfig.split(text) == nil
                    ? "must be host:port (such as \"127.0.0.1:9464\", \"0.0.0.0:9464\" or \"[::1]:9464\"), got \"\(text)\"" : nil
            }
            read(&config.metrics.bearerTokenFile, metrics["bearer_token_file"], check: { $0.isEmpty ? "must not be empty" : nil })
            read(&config.metrics.maxRequestBytes, metrics["max_request_bytes"], range: 256...65536)
            read(&config.metrics.timeoutSeconds, metrics["timeout_s"], range: 1...300)
            read(&config.metrics.maxConnections, metrics["max_connections"], range: 1...1024)
            read(&config.metrics.maxDevicesListed, metrics["max_devices_listed"], range: 1...1_000_000)
        }
        if let status = section(top["status"], known: Self.statusKeys) {
            read(&config.status.topic, status["topic"], check: MQTTTopicCheck.publishTopic)
            read(&config.status.metricsTopic, status["metrics_topic"], check: MQTTTopicCheck.publishTopic)
            _ = read(&config.status.metricsIntervalSeconds, status["metrics_interval_s"], requirement: "must be 0 (off) or between 1 and 86400") {
                (0...86400).contains($0)
            }
            read(&config.status.qos, status["qos"], range: 0...2)
        }
    }
}
