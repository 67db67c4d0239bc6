import Dispatch
import Foundation
import Synchronization
import VigilCore
import VigilIO
import VigilPipeline

/// The service's observability: the HTTP endpoint (`/metrics`, `/healthz`, `/readyz`, `/devices`), the retained
/// MQTT status topic with its Last Will, and the periodic metrics summary.
///
/// Other components add metric families with ``registry`` (``MetricsRegistry/register(_:)``) and readiness
/// conditions with ``readiness`` (``Readiness/add(_:_:)``).
final class Observability: Sendable {
    let registry = MetricsRegistry()
    let readiness = Readiness()
    let anomalies: AnomalyMetrics
    private let config: VigilConfig
    private let logger: Logger
    private let server: HTTPServer?
    private let summaryQueue = DispatchQueue(label: "vigil.metrics-summary", qos: .utility)
    // A timer source is thread-safe; the protocol is not annotated Sendable (the only reason).
    nonisolated(unsafe) private let summaryTimer: (any DispatchSourceTimer)?

    /// The status messages (Last Will `offline`, `online` on every connect), added to the outbound connection's options.
    static func addStatusMessages(config: VigilConfig, to options: inout MQTTClientOptions) {
        let topic = config.statusTopic
        options.will = .init(topic: topic, payload: "offline", qos: config.status.qos, retain: true)
        options.birth = .init(topic: topic, payload: "online", qos: config.status.qos, retain: true)
    }

    /// Binds the HTTP endpoint (an address in use is a start-up error); nothing is served until ``start(ingest:outbound:pipeline:publisher:)``.
    init(config: VigilConfig, logger: Logger, anomalies: AnomalyMetrics) throws {
        self.config = config
        self.logger = logger
        self.anomalies = anomalies
        if config.metrics.enabled, let (host, port) = config.metrics.hostAndPort {
            var settings = HTTPServerSettings(host: host, port: port)
            settings.maxRequestBytes = config.metrics.maxRequestBytes
            settings.timeoutSeconds = Double(config.metrics.timeoutSeconds)
            settings.maxConnections = config.metrics.maxConnections
            let endpoint = endpoint
            server = try HTTPServer(settings: settings) { request in
                guard let endpoint = endpoint.value.withLock({ $0 }) else { return HTTPResponse(status: 503, body: "starting\n") }
                return endpoint.handle(request)
            }
        } else {
            server = nil
        }
        summaryTimer = config.status.metricsIntervalSeconds > 0 ? DispatchSource.makeTimerSource(queue: summaryQueue) : nil
    }

    /// Set once by ``start(ingest:outbound:pipeline:publisher:)``: the server answers 503 until then.
    private let endpoint = EndpointBox()

    private final class EndpointBox: Sendable {
        let value = Mutex<ObservabilityEndpoint?>(nil)
    }

    /// Registers the families and readiness conditions, then serves and starts the summary timer.
    func start(ingest: MQTTClient, outbound: MQTTClient, pipeline: Pipeline, publisher: AnomalyPublisher) throws {
        registry.registerBuildInfo()
        registry.registerBroker(ingest: ingest, outbound: outbound, publisher: publisher)
        registry.registerPipeline(pipeline)
        registry.registerAnomalies(anomalies)
        readiness.add("broker_connected") { ingest.isConnected && outbound.isConnected }
        readiness.add("subscribed") { ingest.isSubscribed }
        // Issue 8 (checkpoints) replaces this with "checkpoint loaded"; with no checkpoint configured it is true.
        readiness.add("checkpoint_loaded") { true }
        if let server {
            registry.registerHTTP(server)
            var endpoint = ObservabilityEndpoint(
                registry: registry, readiness: readiness, bearerToken: try config.metricsBearerToken()
            ) { limit in Self.inventory(pipeline, limit: limit) }
            endpoint.maxDevicesListed = config.metrics.maxDevicesListed
            self.endpoint.value.withLock { $0 = endpoint }
            server.start()
            logger.info("serving metrics", [
                ("listen", "http://\(server.settings.host.contains(":") ? "[\(server.settings.host)]" : server.settings.host):\(server.port)/metrics"),
                ("auth", config.metrics.bearerTokenFile == nil ? "none" : "bearer"),
            ])
        }
        if let summaryTimer {
            let summary = MetricsSummary(pipeline: pipeline, anomalies: anomalies, clientID: config.broker.clientID)
            let topic = config.statusMetricsTopic
            let qos = config.status.qos
            let interval = Double(config.status.metricsIntervalSeconds)
            _ = summary.next()  // the baseline for the first interval's rates
            summaryTimer.schedule(deadline: .now() + interval, repeating: interval, leeway: .milliseconds(100))
            summaryTimer.setEventHandler { [logger] in
                // While disconnected a QoS 1 summary would only queue up in the client, stale by the time it goes.
                guard outbound.isConnected else {
                    _ = summary.next()
                    return
                }
                do {
                    try outbound.publish(topic: topic, payload: summary.next(), qos: qos)
                } catch {
                    logger.warning("could not publish the metrics summary", [("topic", topic), ("error", "\(error)")], limitKey: "metrics_summary")
                }
            }
            summaryTimer.activate()
        }
    }

    /// Before a graceful disconnect (which discards the Last Will): stops the summary and says `offline`.
    func stop(client: MQTTClient) {
        summaryTimer?.cancel()
        server?.stop()
        do {
            try client.publish(topic: config.statusTopic, payload: "offline", qos: config.status.qos, retain: true)
        } catch {
            logger.warning("could not publish the offline status", [("error", error.description)])
        }
    }

    /// The most recently seen devices over all shards, each shard read between its batches.
    static func inventory(_ pipeline: Pipeline, limit: Int) -> (devices: [DeviceInventory], total: Int) {
        var devices: [DeviceInventory] = []
        var total = 0
        for worker in pipeline.workers {
            let part = worker.withEngine { $0.inventory(limit: limit) }
            devices += part.devices
            total += part.total
        }
        devices.sort { $0.lastSeen > $1.lastSeen }
        return (Array(devices.prefix(limit)), total)
    }
}
