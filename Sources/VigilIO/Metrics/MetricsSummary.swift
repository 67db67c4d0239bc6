import Foundation
import VigilCore
package import VigilPipeline

/// The periodic JSON summary published on `vigil/metrics/{client_id}`: totals, rates over the last interval,
/// worker busy ratios, and time to detect (mean, p50, p90, p99) per detector.
///
/// Holds the previous reading to compute rates and busy ratios; call ``next(now:)`` from one queue only.
package final class MetricsSummary: @unchecked Sendable {
    // @unchecked: `previous` is only touched by `next(now:)`, which its owner calls from one serial queue.
    private let pipeline: Pipeline
    private let anomalies: AnomalyMetrics?
    private let clientID: String
    private var previous: (time: Double, received: Int, busy: [Int])? = nil

    package init(pipeline: Pipeline, anomalies: AnomalyMetrics?, clientID: String) {
        self.pipeline = pipeline
        self.anomalies = anomalies
        self.clientID = clientID
    }

    /// The summary at wall time `now` (seconds since the epoch), as one JSON object.
    package func next(now: Double = Date().timeIntervalSince1970) -> String {
        let snapshot = pipeline.snapshot()
        let busy = pipeline.workers.map { $0.counters[ShardWorker.Counter.busyNanos.rawValue] }
        var object: [String: Any] = [
            "client_id": clientID,
            "time": TimeFormat.iso8601(now),
            "received": snapshot.received,
            "processed": snapshot.processed,
            "samples": snapshot.samples,
            "dropped": snapshot.droppedTotal,
            "devices": snapshot.devices,
            "evictions": snapshot.evictions,
            "fired": snapshot.fired,
            "resolved": snapshot.resolved,
            "ring_depth": snapshot.ringDepth,
        ]
        if let previous, now > previous.time {
            let seconds = now - previous.time
            object["interval_s"] = Self.rounded(seconds, 3)
            object["received_per_s"] = Self.rounded(Double(snapshot.received - previous.received) / seconds, 1)
            object["worker_busy_ratio"] = zip(busy, previous.busy).map { Self.rounded(min(1, Double($0 - $1) / 1e9 / seconds), 4) }
        }
        previous = (now, snapshot.received, busy)
        var mttd: [String: Any] = [:]
        for kind in DetectorKind.allCases {
            guard let histogram = snapshot.timeToDetect[kind], histogram.count > 0 else { continue }
            mttd[kind.label] = Self.describe(histogram)
        }
        object["time_to_detect_ms"] = mttd
        if let anomalies {
            let latency = anomalies.detectionLatency
            if latency.count > 0 { object["detection_latency_ms"] = Self.describe(latency) }
        }
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self)
    }

    /// count, mean, p50, p90, p99 in milliseconds (quantiles interpolated within buckets, as Prometheus does).
    static func describe(_ histogram: HistogramSnapshot) -> [String: Any] {
        func ms(_ seconds: Double?) -> Any { seconds.map { rounded($0 * 1000, 3) } ?? NSNull() }
        return [
            "count": histogram.count, "mean": ms(histogram.mean), "p50": ms(histogram.quantile(0.5)),
            "p90": ms(histogram.quantile(0.9)), "p99": ms(histogram.quantile(0.99)),
        ]
    }

    static func rounded(_ value: Double, _ places: Int) -> Double {
        let scale = pow(10, Double(places))
        return (value * scale).rounded() / scale
    }
}
