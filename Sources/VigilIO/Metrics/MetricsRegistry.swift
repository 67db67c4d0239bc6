import Foundation
import Synchronization
package import VigilPipeline

/// The metric families a scrape of `/metrics` returns, gathered from providers that any component registers.
///
/// Each provider is a closure that writes its families into a ``MetricsWriter`` when scraped; values are read
/// then (counters summed over shards, gauges sampled), so nothing is kept up to date between scrapes.
///
/// ```swift
/// let registry = MetricsRegistry()
/// registry.register { writer in
///     writer.counter("vigil_outbox_delivered_total", help: "Events delivered, per output.",
///                    samples: outputs.map { ([("output", $0.name)], Double($0.delivered)) })
/// }
/// let text = registry.render()   // Prometheus text exposition format 0.0.4
/// ```
package final class MetricsRegistry: Sendable {
    package typealias Provider = @Sendable (inout MetricsWriter) -> Void

    private let providers = Mutex<[Provider]>([])

    package init() {}

    /// Adds a provider; providers are asked in the order they were registered.
    package func register(_ provider: @escaping Provider) {
        providers.withLock { $0.append(provider) }
    }

    /// Every family of every provider, in the text exposition format (version 0.0.4).
    package func render() -> String {
        let current = providers.withLock { $0 }
        var writer = MetricsWriter()
        for provider in current { provider(&writer) }
        return writer.text
    }
}

/// Writes metric families in the Prometheus text exposition format (0.0.4): `# HELP`, `# TYPE`, then samples.
///
/// A family name may be written once per scrape; a second family of the same name (two providers claiming one
/// name) is left out and listed in ``duplicates``, so the output always parses.
package struct MetricsWriter {
    package enum Kind: String { case counter, gauge, histogram }

    package typealias Labels = [(String, String)]

    package private(set) var text = ""
    package private(set) var duplicates: [String] = []
    private var names: Set<String> = []

    package init() {}

    /// A counter family: one sample per label set. `name` should end in `_total`.
    package mutating func counter(_ name: String, help: String, samples: [(Labels, Double)]) {
        family(name, .counter, help: help) { text in
            for (labels, value) in samples { Self.sample(&text, name, labels, value) }
        }
    }

    package mutating func counter(_ name: String, help: String, value: Double) {
        counter(name, help: help, samples: [([], value)])
    }

    /// A gauge family: one sample per label set.
    package mutating func gauge(_ name: String, help: String, samples: [(Labels, Double)]) {
        family(name, .gauge, help: help) { text in
            for (labels, value) in samples { Self.sample(&text, name, labels, value) }
        }
    }

    package mutating func gauge(_ name: String, help: String, value: Double) {
        gauge(name, help: help, samples: [([], value)])
    }

    /// A histogram family with ``Histogram/bounds`` as bucket bounds: cumulative `_bucket{le}`, `_sum`, `_count`.
    package mutating func histogram(_ name: String, help: String, samples: [(Labels, HistogramSnapshot)]) {
        family(name, .histogram, help: help) { text in
            for (labels, histogram) in samples {
                var cumulative = 0
                for (index, count) in histogram.buckets.enumerated() {
                    cumulative += count
                    let le = index < Histogram.bounds.count ? Self.number(Histogram.bounds[index]) : "+Inf"
                    Self.sample(&text, name + "_bucket", labels + [("le", le)], Double(cumulative))
                }
                Self.sample(&text, name + "_sum", labels, histogram.sum)
                Self.sample(&text, name + "_count", labels, Double(cumulative))
            }
        }
    }

    private mutating func family(_ name: String, _ kind: Kind, help: String, body: (inout String) -> Void) {
        guard names.insert(name).inserted else {
            duplicates.append(name)
            return
        }
        text += "# HELP \(name) \(Self.escapeHelp(help))\n# TYPE \(name) \(kind.rawValue)\n"
        body(&text)
    }

    private static func sample(_ text: inout String, _ name: String, _ labels: Labels, _ value: Double) {
        text += name
        if !labels.isEmpty {
            text += "{"
            for (index, (key, labelValue)) in labels.enumerated() {
                if index > 0 { text += "," }
                text += key + "=\"" + escapeLabel(labelValue) + "\""
            }
            text += "}"
        }
        text += " " + number(value) + "\n"
    }

    /// A sample value as Prometheus writes it: integers without a fraction, `+Inf`, `-Inf`, `NaN`.
    package static func number(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value > 0 ? "+Inf" : "-Inf" }
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return "\(value)"
    }

    /// Label values escape backslash, double quote and line feed.
    static func escapeLabel(_ value: String) -> String {
        guard value.contains(where: { $0 == "\\" || $0 == "\"" || $0 == "\n" }) else { return value }
        var escaped = ""
        for character in value {
            switch character {
            case "\\": escaped += "\\\\"
            case "\"": escaped += "\\\""
            case "\n": escaped += "\\n"
            default: escaped.append(character)
            }
        }
        return escaped
    }

    /// Help text escapes backslash and line feed.
    static func escapeHelp(_ value: String) -> String {
        value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\n", with: "\\n")
    }
}
