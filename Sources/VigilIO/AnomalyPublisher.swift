import Foundation
import Synchronization
package import VigilCore
package import VigilPipeline

/// The pipeline's observer in a running service: publishes each anomaly event to MQTT, logs it, and logs
/// dropped input (rate-limited, at debug level, never the payload itself).
package final class AnomalyPublisher: PipelineObserver {
    /// Events handed to the MQTT client, and those it refused. Shard threads share these; events are rare.
    private let published = Atomic<Int>(0)
    private let publishFailed = Atomic<Int>(0)
    package var publishedCount: Int { published.load(ordering: .relaxed) }
    package var publishFailedCount: Int { publishFailed.load(ordering: .relaxed) }
    private let client: MQTTClient?
    private let topicTemplate: String
    private let qos: Int
    private let retain: Bool
    private let logger: Logger
    private let lines: (@Sendable (String) -> Void)?

    /// - Parameters:
    ///   - client: where events go; `nil` publishes nowhere (offline runs).
    ///   - topic: the anomalies topic, with `{device}` and `{detector}` filled per event.
    ///   - lines: also receives each event's JSON (a backtest's output file, a test).
    package init(client: MQTTClient?, topic: String, qos: Int, retain: Bool, logger: Logger, lines: (@Sendable (String) -> Void)? = nil) {
        self.client = client
        self.topicTemplate = topic
        self.qos = qos
        self.retain = retain
        self.logger = logger
        self.lines = lines
    }

    package func anomaly(_ event: AnomalyEvent) {
        let latencyMs = Double(WallClock.nowNanos() - event.receivedAtNanos) / 1e6
        let json = event.json(latencyMs: latencyMs)
        let topic = topicTemplate
            .replacingOccurrences(of: "{device}", with: event.device)
            .replacingOccurrences(of: "{detector}", with: event.detector)
        if let client {
            do {
                try client.publish(topic: topic, payload: json, qos: qos, retain: retain)
                published.add(1, ordering: .relaxed)
            } catch {
                publishFailed.add(1, ordering: .relaxed)
                logger.error("could not publish anomaly event", [("topic", topic), ("error", error.description)], limitKey: "publish_failed")
            }
        }
        lines?(json)
        logger.info("anomaly \(event.state.rawValue)", [
            ("device", event.device), ("metric", event.metric), ("detector", event.detector),
            ("score", JSONWriter.number(event.score)), ("value", JSONWriter.number(event.value)),
            ("ttd_ms", String(format2: event.timeToDetectMs)), ("latency_ms", String(format2: latencyMs)),
            ("explanation", event.explanation),
        ])
    }

    package func dropped(_ reason: DropReason, shard: Int, device: UnsafeRawBufferPointer, offset: Int?) {
        guard logger.isEnabled(.debug) else { return }
        var fields = [("reason", reason.label), ("device", String(decoding: device, as: UTF8.self))]
        if let offset { fields.append(("offset", String(offset))) }
        if shard >= 0 { fields.append(("shard", String(shard))) }
        logger.debug("dropped input", fields, limitKey: "drop." + reason.label)
    }
}

extension String {
    /// Two decimals, for latencies in log lines.
    init(format2 value: Double) {
        let hundredths = Int64((value * 100).rounded())
        let sign = hundredths < 0 ? "-" : ""
        let magnitude = abs(hundredths)
        let fraction = magnitude % 100
        self = "\(sign)\(magnitude / 100).\(fraction < 10 ? "0" : "")\(fraction)"
    }
}
