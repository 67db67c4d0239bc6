import Foundation

/// Everything one run measured, printed as a table and written as JSON.
final class Report {
    struct Figure: Codable {
        var section: String
        var key: String
        var label: String
        /// `nil` when the figure could not be measured (the note says why).
        var value: Double?
        var unit: String
        var note: String?
    }

    struct Target: Codable {
        var name: String
        var value: Double?
        var goal: String
        /// `nil` when the inputs were not measured in this run.
        var met: Bool?
    }

    struct Environment: Codable {
        var date: String
        var cpu: String
        var cores: Int
        var swift: String
        var commit: String?
        /// "release", or "debug" when built without optimisation (whose figures, allocations included, mean nothing).
        var build: String
        var arguments: [String]
        /// /proc/loadavg's 1-minute figure when the run started and when it ended: other work on the machine.
        var loadStart: Double?
        var loadEnd: Double?
    }

    struct CorpusInfo: Codable {
        var messages: Int
        var devices: Int
        var metricsPerMessage: Int
        var meanPayloadBytes: Double
        var seed: UInt64
        var example: String
    }

    private(set) var figures: [Figure] = []
    private(set) var targets: [Target] = []
    /// Checks that failed: a benchmark that did not process what it was given measures nothing.
    private(set) var failures: [String] = []
    var environment: Environment
    var corpus: CorpusInfo?
    /// Sums the benchmarks computed so that the optimiser cannot drop their work; written to the JSON.
    var checksums: [String: Double] = [:]

    init(environment: Environment) {
        self.environment = environment
    }

    func add(_ section: String, _ key: String, _ label: String, _ value: Double?, _ unit: String, note: String? = nil) {
        figures.append(Figure(section: section, key: key, label: label, value: value, unit: unit, note: note))
    }

    func value(_ key: String) -> Double? {
        figures.first { $0.key == key }?.value
    }

    func addTarget(_ name: String, value: Double?, goal: String, met: Bool?) {
        targets.append(Target(name: name, value: value, goal: goal, met: met))
    }

    func fail(_ message: String) {
        failures.append(message)
        progress("CHECK FAILED: \(message)")
    }

    // MARK: Output

    func table() -> String {
        var lines: [String] = []
        lines.append("vigil-bench  \(environment.date)")
        let load = [environment.loadStart, environment.loadEnd].map { $0.map { String(format: "%.2f", $0) } ?? "?" }
        lines.append(
            "machine  \(environment.cpu), \(environment.cores) cores, load average \(load[0]) at start, \(load[1]) at end"
        )
        lines.append(
            "swift    \(environment.swift)\(environment.commit.map { "   commit \($0)" } ?? "")   \(environment.build) build")
        if environment.build != "release" {
            lines.append("WARNING  not an optimised build: build with -c release (make bench does) before reading any figure")
        }
        if let corpus {
            lines.append(
                "corpus   \(Self.grouped(corpus.messages)) messages, \(Self.grouped(corpus.devices)) devices, "
                    + "\(corpus.metricsPerMessage) metrics + ts a message, mean payload \(String(format: "%.1f", corpus.meanPayloadBytes)) bytes, seed \(corpus.seed)"
            )
        }
        lines.append("")
        let labelWidth = max(44, (figures.map(\.label.count).max() ?? 0) + 2)
        lines.append(
            Self.pad("section", 9) + Self.pad("figure", labelWidth) + Self.pad("value", 14, right: true) + "  "
                + Self.pad("unit", 11) + "note")
        lines.append(String(repeating: "-", count: 9 + labelWidth + 14 + 2 + 11 + 30))
        var lastSection = ""
        for figure in figures {
            let section = figure.section == lastSection ? "" : figure.section
            lastSection = figure.section
            lines.append(
                Self.pad(section, 9) + Self.pad(figure.label, labelWidth)
                    + Self.pad(Self.format(figure.value, unit: figure.unit), 14, right: true) + "  "
                    + Self.pad(figure.unit, 11) + (figure.note ?? "")
            )
        }
        if !targets.isEmpty {
            lines.append("")
            lines.append("targets (issue 4)")
            for target in targets {
                let verdict = target.met.map { $0 ? "met" : "MISSED" } ?? "not measured"
                let value = target.value.map { String(format: "%.3g", $0) } ?? "n/a"
                lines.append(
                    "  " + Self.pad(target.name, labelWidth + 7) + Self.pad(value, 14, right: true) + "  "
                        + Self.pad(target.goal, 11) + verdict)
            }
        }
        for failure in failures {
            lines.append("CHECK FAILED: \(failure)")
        }
        return lines.joined(separator: "\n")
    }

    func json() throws -> Data {
        struct Document: Encodable {
            var environment: Environment
            var corpus: CorpusInfo?
            var figures: [Figure]
            var targets: [Target]
            var failures: [String]
            var checksums: [String: Double]
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try encoder.encode(
            Document(
                environment: environment, corpus: corpus, figures: figures, targets: targets, failures: failures,
                checksums: checksums
            ))
    }

    // MARK: Formatting

    static func format(_ value: Double?, unit: String) -> String {
        guard let value else { return "n/a" }
        switch unit {
        case "msg/s": return String(format: "%.3fM", value / 1e6)
        case "x": return String(format: "%.2fx", value)
        case "ns/msg": return String(format: "%.1f", value)
        case "alloc/msg", "bytes/msg": return value == 0 ? "0" : String(format: "%.4g", value)
        case "s": return String(format: "%.2f", value)
        default: return String(format: "%.4g", value)
        }
    }

    static func grouped(_ number: Int) -> String {
        let digits = Array(String(number))
        var out = ""
        for (index, digit) in digits.enumerated() {
            if index > 0 && (digits.count - index) % 3 == 0 { out.append(",") }
            out.append(digit)
        }
        return out
    }

    private static func pad(_ text: String, _ width: Int, right: Bool = false) -> String {
        let fill = String(repeating: " ", count: max(0, width - text.count))
        return right ? fill + text : text + fill
    }
}
