import Foundation
import Testing
import VigilIO

/// The `metrics` and `status` sections: defaults, every key, and errors with their lines.
@Suite struct ObservabilityConfigTests {
    @Test func defaults() throws {
        let config = try VigilConfig.parse(yaml: VigilConfigTests.subscriptionYAML)
        #expect(config.metrics == MetricsConfig())
        #expect(config.metrics.listen == "127.0.0.1:9464")
        #expect(config.metrics.hostAndPort! == ("127.0.0.1", 9464))
        #expect(config.metrics.bearerTokenFile == nil)
        #expect(config.status.metricsIntervalSeconds == 60)
        #expect(config.statusTopic == "vigil/status/vigil")
        #expect(config.statusMetricsTopic == "vigil/metrics/vigil")
    }

    @Test func everyKeyIsParsed() throws {
        let config = try VigilConfig.parse(yaml: """
            broker: {client_id: "edge-7"}
            metrics:
              enabled: false
              listen: "[::1]:0"
              bearer_token_file: "/run/secrets/token"
              max_request_bytes: 1024
              timeout_s: 2
              max_connections: 4
              max_devices_listed: 50
            status:
              topic: "site/{client_id}/up"
              metrics_topic: "site/{client_id}/stats"
              metrics_interval_s: 0
              qos: 0
            \(VigilConfigTests.subscriptionYAML)
            """)
        #expect(!config.metrics.enabled)
        #expect(config.metrics.hostAndPort! == ("::1", 0))
        #expect(config.metrics.bearerTokenFile == "/run/secrets/token")
        #expect(config.metrics.maxRequestBytes == 1024)
        #expect(config.metrics.timeoutSeconds == 2)
        #expect(config.metrics.maxConnections == 4)
        #expect(config.metrics.maxDevicesListed == 50)
        #expect(config.statusTopic == "site/edge-7/up")
        #expect(config.statusMetricsTopic == "site/edge-7/stats")
        #expect(config.status.metricsIntervalSeconds == 0)
        #expect(config.status.qos == 0)
    }

    @Test(arguments: [
        ("metrics:\n  listen: \"9464\"", "1: -", "metrics.listen"),
        ("metrics:\n  listen: \"::1:9464\"", "", "metrics.listen"),
        ("metrics:\n  listen: \"127.0.0.1:70000\"", "", "metrics.listen"),
        ("metrics:\n  max_request_bytes: 100", "", "metrics.max_request_bytes"),
        ("metrics:\n  timeout_s: 0", "", "metrics.timeout_s"),
        ("metrics:\n  max_connections: 0", "", "metrics.max_connections"),
        ("metrics:\n  bearer_token_file: \"\"", "", "metrics.bearer_token_file"),
        ("metrics:\n  listn: \"127.0.0.1:1\"", "", "metrics.listn"),
        ("status:\n  topic: \"vigil/+/status\"", "", "status.topic"),
        ("status:\n  metrics_interval_s: -1", "", "status.metrics_interval_s"),
        ("status:\n  qos: 3", "", "status.qos"),
    ])
    func badValuesAreReportedWithKeyAndLine(yaml: String, _ unused: String, key: String) throws {
        let issue = try VigilConfigTests.onlyIssue(yaml + "\n" + VigilConfigTests.subscriptionYAML)
        #expect(issue.key == key)
        #expect(issue.line == 2)
    }

    @Test func bearerTokenIsReadTrimmedAndAnEmptyFileIsAnError() throws {
        let path = try VigilConfigTests.temporaryFile(Array("  tok-1\n".utf8))
        var config = try VigilConfig.parse(yaml: VigilConfigTests.subscriptionYAML)
        config.metrics.bearerTokenFile = path
        #expect(try config.metricsBearerToken() == "tok-1")
        config.metrics.bearerTokenFile = try VigilConfigTests.temporaryFile(Array("\n".utf8))
        #expect(throws: ConfigError.self) { try config.metricsBearerToken() }
        config.metrics.bearerTokenFile = "/nonexistent/token"
        #expect(throws: ConfigError.self) { try config.metricsBearerToken() }
    }
}
