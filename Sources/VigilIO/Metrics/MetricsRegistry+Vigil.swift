import Foundation
import VigilCore
package import VigilPipeline

/// The families Vigil's own parts contribute. Every counter is read per shard and summed here, at scrape time.
extension MetricsRegistry {
    /// `vigil_build_info` and `vigil_start_time_seconds`.
    package func registerBuildInfo(startTime: Double = Date().timeIntervalSince1970) {
        register { writer in
            writer.gauge("vigil_build_info", help: "Always 1; the version of this build as a label.", samples: [([("version", BuildInfo.version)], 1)])
            writer.gauge("vigil_start_time_seconds", help: "When this process started, in seconds since the epoch.", value: startTime)
        }
    }

    /// Messages, bytes, drops, rings, workers, devices, samples, time to detect.
    package func registerPipeline(_ pipeline: Pipeline) {
        register { writer in
            let snapshot = pipeline.snapshot()
            writer.counter("vigil_messages_received_total", help: "Messages handed to the router by the MQTT client.", value: Double(snapshot.received))
            writer.counter("vigil_received_bytes_total", help: "Payload bytes of the messages received.", value: Double(snapshot.receivedBytes))
            writer.gauge(
                "vigil_cluster_instances",
                help: "Instances sharing the fleet by device hash (cluster.mode: hash; 1 otherwise).",
                value: Double(pipeline.ownership.instances)
            )
            writer.gauge(
                "vigil_cluster_index", help: "This instance's index among them (0 when alone).", value: Double(pipeline.ownership.index)
            )
            writer.counter(
                "vigil_messages_not_owned_total",
                help: "Messages of devices another instance owns (cluster.mode: hash), skipped on purpose.",
                value: Double(snapshot.notOwned)
            )
            writer.counter("vigil_messages_processed_total", help: "Messages taken off the rings by the shard workers.", value: Double(snapshot.processed))
            let consumerRejections = snapshot.dropped.filter { $0.key.rawValue > DropReason.shutdown.rawValue && $0.key != .metricLimit }
            let decoded = snapshot.processed - consumerRejections.values.reduce(0, +)
            writer.counter("vigil_messages_decoded_total", help: "Messages decoded into at least a sample's worth of fields.", value: Double(max(0, decoded)))
            writer.counter(
                "vigil_messages_dropped_total",
                help: "Messages (or, for metric_limit, metrics of a message) dropped, by reason.",
                samples: DropReason.allCases.map { ([("reason", $0.label)], Double(snapshot.dropped[$0] ?? 0)) }
            )
            writer.counter("vigil_ring_blocked_waits_total", help: "Times the router waited for ring space (overflow: block).", value: Double(snapshot.blockedWaits))
            writer.counter("vigil_samples_scored_total", help: "Samples (device, metric, value) scored by the detectors.", value: Double(snapshot.samples))
            writer.gauge("vigil_devices_tracked", help: "Devices tracked, over all shards.", value: Double(snapshot.devices))
            writer.counter("vigil_devices_evicted_total", help: "Devices forgotten to stay within pipeline.max_devices.", value: Double(snapshot.evictions))
            // Between batches, shard by shard: a scrape never sees an engine mid-batch.
            let warming = pipeline.workers.reduce(0) { $0 + $1.withEngine { $0.warmingDeviceCount } }
            writer.gauge("vigil_devices_warming", help: "Devices whose baselines are still warming up (no event can fire from them).", value: Double(warming))

            let shards = pipeline.workers.map { [("shard", String($0.index))] }
            writer.gauge("vigil_ring_depth_messages", help: "Messages waiting in each shard's ring.", samples: zip(shards, pipeline.workers.map { Double($0.ring.depth) }).map { ($0, $1) })
            writer.gauge("vigil_ring_used_bytes", help: "Bytes in use in each shard's ring.", samples: zip(shards, pipeline.workers.map { Double($0.ring.usedBytes) }).map { ($0, $1) })
            writer.gauge("vigil_ring_capacity_bytes", help: "Bytes of each shard's ring.", samples: zip(shards, pipeline.workers.map { Double($0.ring.capacity) }).map { ($0, $1) })
            writer.counter(
                "vigil_worker_busy_seconds_total",
                help: "Seconds each shard worker spent draining its ring; rate() of it is the worker's busy ratio.",
                samples: zip(shards, pipeline.workers.map { Double($0.counters[ShardWorker.Counter.busyNanos.rawValue]) / 1e9 }).map { ($0, $1) }
            )
            writer.counter(
                "vigil_worker_batches_total", help: "Batches each shard worker took from its ring.",
                samples: zip(shards, pipeline.workers.map { Double($0.counters[ShardWorker.Counter.batches.rawValue]) }).map { ($0, $1) }
            )
            writer.histogram(
                "vigil_time_to_detect_seconds",
                help: "Time to detect of each firing anomaly event, per detector: detection event time minus onset.",
                samples: DetectorKind.allCases.map { ([("detector", $0.label)], snapshot.timeToDetect[$0] ?? HistogramSnapshot()) }
            )
        }
    }

    /// `vigil_anomalies_total{detector,state}` and `vigil_detection_latency_seconds`.
    package func registerAnomalies(_ metrics: AnomalyMetrics) {
        register { writer in
            let counts = metrics.counts()
            var samples: [(MetricsWriter.Labels, Double)] = []
            for kind in DetectorKind.allCases {
                samples.append(([("detector", kind.label), ("state", "firing")], Double(counts.fired[kind] ?? 0)))
                samples.append(([("detector", kind.label), ("state", "resolved")], Double(counts.resolved[kind] ?? 0)))
            }
            if counts.unknown > 0 { samples.append(([("detector", "other"), ("state", "any")], Double(counts.unknown))) }
            writer.counter("vigil_anomalies_total", help: "Anomaly events, per detector and state (firing, resolved).", samples: samples)
            writer.histogram(
                "vigil_detection_latency_seconds",
                help: "Wall time from receiving the sample that changed an episode to publishing its event.",
                samples: [([], metrics.detectionLatency)]
            )
        }
    }

    /// Broker connection state, connects and reconnects, and anomaly publishing.
    package func registerBroker(ingest: MQTTClient, outbound: MQTTClient, publisher: AnomalyPublisher) {
        let connections = [("ingest", ingest), ("outbound", outbound)]
        register { writer in
            func perConnection(_ value: (MQTTClient) -> Int) -> [(MetricsWriter.Labels, Double)] {
                connections.map { ([("connection", $0.0)], Double(value($0.1))) }
            }
            writer.gauge(
                "vigil_broker_connected", help: "1 while connected to the broker, per connection (ingest subscribes; outbound publishes).",
                samples: perConnection { $0.isConnected ? 1 : 0 }
            )
            writer.gauge(
                "vigil_broker_subscribed", help: "1 while every subscription is granted on the ingest connection.",
                samples: [([("connection", "ingest")], ingest.isSubscribed ? 1 : 0)]
            )
            writer.counter("vigil_broker_connects_total", help: "Successful connections to the broker, the first one included.", samples: perConnection(\.connectCount))
            writer.counter("vigil_broker_reconnects_total", help: "Successful connections after the first.", samples: perConnection { max(0, $0.connectCount - 1) })
            writer.gauge("vigil_broker_unacknowledged_publishes", help: "QoS 1/2 publishes the broker has not acknowledged yet.", value: Double(max(0, outbound.unacknowledgedPublishes)))
            writer.counter("vigil_anomaly_events_published_total", help: "Anomaly events handed to the MQTT client.", value: Double(publisher.publishedCount))
            writer.counter("vigil_anomaly_events_publish_failed_total", help: "Anomaly events the MQTT client refused.", value: Double(publisher.publishFailedCount))
        }
    }

    /// The HTTP endpoint's own requests and refusals.
    package func registerHTTP(_ server: HTTPServer) {
        register { writer in
            writer.counter("vigil_http_requests_total", help: "HTTP requests answered (any status).", value: Double(server.requestCount))
            let rejections = server.rejectionCounts
            writer.counter(
                "vigil_http_rejected_total", help: "HTTP connections refused or cut off, by reason.",
                samples: HTTPServer.Rejection.allCases.map { ([("reason", $0.label)], Double(rejections[$0] ?? 0)) }
            )
            writer.gauge("vigil_http_open_connections", help: "HTTP connections open now.", value: Double(server.openConnections))
        }
    }
}
