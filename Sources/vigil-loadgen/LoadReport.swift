import Foundation
import VigilCore
import VigilSim

/// `vigil-loadgen report`: joins a load test's anomaly events with its ground truth and writes the report: a
/// table on stdout, `report.md` and `report.svg` in `--out`.
///
/// The join is ``QualityEvaluation/score(firings:injections:minimumGrace:)``, the one `vigil-bench quality`
/// uses: a firing event on a device inside one of its anomaly windows `[onset, end + max(grace_s, duration)]`
/// detects it (the first one gives the true time to detect, detection event time minus injected onset); a
/// firing event outside every window of its device is a false alarm.
struct LoadReport {
    var scenario: String
    var summary: [String: Any]
    var injections: [SyntheticFleet.Injection]
    var events: [PublishedEvent]
    var evaluation: QualityEvaluation
    /// Per device class of a mixed fleet (in ``DeviceClass/all``'s order): its devices and its own scores;
    /// empty for a fleet of one class (or a summary that does not say).
    var byClass: [(name: String, devices: Int, evaluation: QualityEvaluation)] = []
    /// vigil's last log record ("stopped"): received, processed, dropped_<reason>, ...
    var vigilStopped: [String: String]
    /// (epoch seconds, RSS in kB) of vigil, sampled during the run.
    var rss: [(time: Double, kilobytes: Double)]

    static func main(_ arguments: [String]) throws -> Int32 {
        var values: [String: String] = [:]
        var rest = arguments[...]
        while let flag = rest.popFirst() {
            guard ["--truth", "--events", "--summary", "--vigil-log", "--rss", "--out", "--scenario"].contains(flag),
                let value = rest.popFirst()
            else { throw UsageError(message: "report: unknown flag or missing value: '\(flag)'") }
            values[flag] = value
        }
        for required in ["--truth", "--events", "--summary"] where values[required] == nil {
            throw UsageError(message: "report: \(required) FILE is required")
        }
        let report = try LoadReport(
            scenario: values["--scenario"] ?? "", truthPath: values["--truth"]!, eventsPath: values["--events"]!,
            summaryPath: values["--summary"]!, vigilLogPath: values["--vigil-log"], rssPath: values["--rss"]
        )
        let table = report.table()
        print(table)
        if let out = values["--out"] {
            try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
            try report.markdown(table: table).write(toFile: out + "/report.md", atomically: true, encoding: .utf8)
            try report.svg().write(toFile: out + "/report.svg", atomically: true, encoding: .utf8)
            print("written: \(out)/report.md, \(out)/report.svg")
        }
        return 0
    }

    init(scenario: String, truthPath: String, eventsPath: String, summaryPath: String, vigilLogPath: String?, rssPath: String?) throws {
        self.scenario = scenario
        func jsonLines(_ path: String) throws -> [[String: Any]] {
            try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").enumerated().map { index, line in
                guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
                    throw UsageError(message: "\(path):\(index + 1): not a JSON object")
                }
                return object
            }
        }
        injections = try jsonLines(truthPath).enumerated().map { index, object in
            guard let device = object["device"] as? String, let kindName = object["kind"] as? String,
                let kind = SyntheticFleet.Kind(rawValue: kindName), let onset = (object["onset"] as? NSNumber)?.doubleValue,
                let end = (object["end"] as? NSNumber)?.doubleValue
            else { throw UsageError(message: "\(truthPath):\(index + 1): needs device, kind, onset and end") }
            return SyntheticFleet.Injection(device: device, kind: kind, metric: object["metric"] as? String, onset: onset, end: end)
        }
        events = try String(contentsOfFile: eventsPath, encoding: .utf8).split(separator: "\n").enumerated().map { index, line in
            var line = line
            guard let event = line.withUTF8({ PublishedEvent(json: UnsafeRawBufferPointer($0)) }) else {
                throw UsageError(message: "\(eventsPath):\(index + 1): not an anomaly event")
            }
            return event
        }
        guard let summary = try jsonLines(summaryPath).first else { throw UsageError(message: "\(summaryPath): empty") }
        self.summary = summary
        let grace = (summary["grace_s"] as? NSNumber)?.doubleValue ?? 10
        let firings = events.filter { $0.state == "firing" }.map {
            QualityEvaluation.Firing(device: $0.device, metric: $0.metric, detector: $0.detector, detected: $0.detected)
        }
        evaluation = QualityEvaluation.score(firings: firings, injections: injections, minimumGrace: grace)
        let devices = (summary["devices"] as? NSNumber)?.doubleValue ?? 0
        let duration = (summary["duration_s"] as? NSNumber)?.doubleValue ?? 0
        evaluation.deviceDays = devices * duration / 86_400
        // The run's classes, recomputed from its seed, size and mix as the generator drew them.
        if let mix = summary["classes"] as? [String: NSNumber], mix.values.filter({ $0.doubleValue > 0 }).count > 1 {
            var scenario = LoadScenario()
            scenario.devices = Int(devices)
            scenario.seed = (summary["seed"] as? NSNumber)?.uint64Value ?? 0
            scenario.classes = mix.mapValues(\.doubleValue)
            let classOf = Dictionary(uniqueKeysWithValues: scenario.deviceClasses().enumerated().map { ("d-\($0.offset)", $0.element.name) })
            for deviceClass in DeviceClass.all {
                let count = classOf.values.filter { $0 == deviceClass.name }.count
                guard count > 0 else { continue }
                var score = QualityEvaluation.score(
                    firings: firings.filter { classOf[$0.device] == deviceClass.name },
                    injections: injections.filter { classOf[$0.device] == deviceClass.name }, minimumGrace: grace
                )
                score.deviceDays = Double(count) * duration / 86_400
                byClass.append((deviceClass.name, count, score))
            }
        }
        vigilStopped = [:]
        if let vigilLogPath, let text = try? String(contentsOfFile: vigilLogPath, encoding: .utf8) {
            for line in text.split(separator: "\n") {
                guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                    object["msg"] as? String == "stopped"
                else { continue }
                vigilStopped = object.compactMapValues { $0 as? String }
            }
        }
        rss = []
        if let rssPath, let text = try? String(contentsOfFile: rssPath, encoding: .utf8) {
            rss = text.split(separator: "\n").compactMap { line in
                let parts = line.split(separator: " ")
                guard parts.count == 2, let time = Double(parts[0]), let kilobytes = Double(parts[1]) else { return nil }
                return (time, kilobytes)
            }
        }
    }

    private func number(_ key: String) -> Double { (summary[key] as? NSNumber)?.doubleValue ?? 0 }

    /// Device-hours the fleet ran.
    var deviceHours: Double { number("devices") * number("duration_s") / 3600 }

    /// receive → publish latency of the events that carry it, milliseconds, sorted.
    var latencies: [Double] { events.compactMap(\.latencyMs).sorted() }

    static func quantile(_ sorted: [Double], _ q: Double) -> Double? {
        guard !sorted.isEmpty else { return nil }
        return sorted[min(sorted.count - 1, max(0, Int((q * Double(sorted.count)).rounded(.up)) - 1))]
    }

    func table() -> String {
        func cell(_ text: String, _ width: Int) -> String { text.padding(toLength: width, withPad: " ", startingAt: 0) }
        func seconds(_ value: Double?) -> String { value.map { String(format: "%.2f s", $0) } ?? "-" }
        func ms(_ value: Double?) -> String { value.map { String(format: "%.2f ms", $0) } ?? "-" }
        let duration = number("duration_s")
        let sent = number("sent")
        // The generator publishes for `duration` seconds of schedule; when it falls behind, it takes longer.
        let publishing = max(number("finished") - number("start"), duration, 1e-9)
        let received = Double(vigilStopped["received"] ?? "") ?? .nan
        var lines: [String] = []
        lines.append("load test \(scenario.isEmpty ? "" : "'\(scenario)' ")- \(Int(number("devices"))) devices, \(format(duration, 0)) s, "
            + "\(Int(number("connections"))) publisher connection(s)")
        lines.append(cell("offered rate", 22) + "\(format(sent / publishing, 0)) msg/s (scheduled \(format(number("rate"), 0)); sent \(Int(sent)) in "
            + "\(format(publishing)) s, publish errors \(Int(number("publish_errors"))), most behind schedule \(format(number("max_lag_s") * 1000)) ms)")
        if received.isNaN {
            lines.append(cell("achieved rate", 22) + "- (no vigil log)")
        } else {
            lines.append(cell("achieved rate", 22) + "\(format(received / publishing, 0)) msg/s (vigil received \(Int(received)), "
                + String(format: "%.3f%%", sent > 0 ? 100 * received / sent : 0) + " of sent)")
        }
        var drops = ["not delivered to vigil \(received.isNaN ? "-" : String(Int(max(0, sent - received))))"]
        for (key, value) in vigilStopped.sorted(by: { $0.key < $1.key }) where key.hasPrefix("dropped_") {
            drops.append("\(key.dropFirst(8)) \(value)")
        }
        if vigilStopped["dropped"] != nil && drops.count == 1 { drops.append("vigil dropped none") }
        lines.append(cell("drops by reason", 22) + drops.joined(separator: ", "))
        let latencies = self.latencies
        lines.append(cell("latency recv->publish", 22) + "p50 \(ms(Self.quantile(latencies, 0.5))), p99 \(ms(Self.quantile(latencies, 0.99))), "
            + "p999 \(ms(Self.quantile(latencies, 0.999))) (n=\(latencies.count) events)")
        // Sample stamped (scheduled send) -> event back at the generator: broker queues and Vigil's backlog included.
        let delays = events.filter { $0.state == "firing" }.compactMap { event in event.receivedMs.map { $0 - event.detected * 1000 } }.sorted()
        lines.append(cell("alert delay", 22) + "p50 \(ms(Self.quantile(delays, 0.5))), p99 \(ms(Self.quantile(delays, 0.99))) "
            + "(sample's ts to its firing event at the generator, queues included; n=\(delays.count))")
        if let peak = rss.map(\.kilobytes).max(), let first = rss.first, let last = rss.last {
            lines.append(cell("vigil RSS", 22) + String(format: "start %.1f MiB, end %.1f MiB, peak %.1f MiB", first.kilobytes / 1024,
                                                         last.kilobytes / 1024, peak / 1024))
        }
        lines.append("")
        lines.append(cell("kind", 16) + cell("injected", 10) + cell("detected", 10) + cell("recall", 8) + cell("ttd p50", 11) + "ttd p90")
        for kind in evaluation.kinds where kind.injected > 0 {
            lines.append(cell(kind.kind.rawValue, 16) + cell("\(kind.injected)", 10) + cell("\(kind.detected)", 10)
                + cell(String(format: "%.2f", kind.recall), 8) + cell(seconds(kind.timeToDetect(quantile: 0.5)), 11)
                + seconds(kind.timeToDetect(quantile: 0.9)))
        }
        let injected = evaluation.kinds.reduce(0) { $0 + $1.injected }
        let detected = evaluation.kinds.reduce(0) { $0 + $1.detected }
        lines.append(cell("all", 16) + cell("\(injected)", 10) + cell("\(detected)", 10)
            + cell(String(format: "%.2f", evaluation.recall), 8))
        lines.append(String(format: "firing events %d, false alarms %d = %.4f per device-hour (%.2f device-hours)",
                            evaluation.firingEvents, evaluation.falseAlarms,
                            deviceHours > 0 ? Double(evaluation.falseAlarms) / deviceHours : 0, deviceHours))
        if !evaluation.falseAlarmsByDetector.isEmpty {
            lines.append("false alarms by detector/metric: " + evaluation.falseAlarmsByDetector.sorted { $0.key < $1.key }
                .map { "\($0.key) \($0.value)" }.joined(separator: ", "))
        }
        if !byClass.isEmpty {
            lines.append("")
            lines.append(cell("class", 16) + cell("devices", 10) + cell("injected", 10) + cell("detected", 10) + cell("recall", 8)
                + cell("ttd p50", 11) + "false alarms (per device-hour; most by detector/metric)")
            for (name, devices, score) in byClass {
                let injected = score.kinds.reduce(0) { $0 + $1.injected }
                let detected = score.kinds.reduce(0) { $0 + $1.detected }
                let hours = Double(devices) * duration / 3600
                let most = score.falseAlarmsByDetector.max { ($0.value, $1.key) < ($1.value, $0.key) }
                lines.append(cell(name, 16) + cell("\(devices)", 10) + cell("\(injected)", 10) + cell("\(detected)", 10)
                    + cell(String(format: "%.2f", score.recall), 8)
                    + cell(seconds(Self.quantile(score.kinds.flatMap(\.timesToDetect).sorted(), 0.5)), 11)
                    + String(format: "%d (%.4f)", score.falseAlarms, hours > 0 ? Double(score.falseAlarms) / hours : 0)
                    + (most.map { "; \($0.key) \($0.value)" } ?? ""))
            }
        }
        return lines.joined(separator: "\n")
    }

    /// Per time bucket of the run: (bucket start, s after start; latency p50, p99 in ms; RSS MiB).
    func overTime(bucket: Double) -> [(start: Double, p50: Double?, p99: Double?, rssMiB: Double?, firing: Int)] {
        let start = number("start")
        let buckets = max(1, Int((number("duration_s") / bucket).rounded(.up)))
        return (0..<buckets).map { index in
            let from = start + Double(index) * bucket
            let latencies = events.filter { ($0.receivedMs ?? 0) / 1000 >= from && ($0.receivedMs ?? 0) / 1000 < from + bucket }
                .compactMap(\.latencyMs).sorted()
            let rssHere = rss.filter { $0.time >= from && $0.time < from + bucket }.map(\.kilobytes).max()
            let firing = events.filter { $0.state == "firing" && $0.detected >= from && $0.detected < from + bucket }.count
            return (Double(index) * bucket, Self.quantile(latencies, 0.5), Self.quantile(latencies, 0.99), rssHere.map { $0 / 1024 }, firing)
        }
    }

    func markdown(table: String) -> String {
        var text = "# Load test report\n\n"
        if !scenario.isEmpty { text += "Scenario `\(scenario)`: \(summary["scenario"] as? String ?? "")\n\n" }
        text += "```\n\(table)\n```\n\n![offered rate, latency and RSS over the run](report.svg)\n\n"
        let duration = number("duration_s")
        let bucket = duration >= 300 ? 60.0 : 10.0
        if !byClass.isEmpty {
            // Recall per kind and class, with the metric each kind goes into on that class.
            text += "## By device class\n\nDetected / injected per anomaly kind, and the metric the kind changes on that class.\n\n"
            text += "| kind | " + byClass.map { "\($0.name) (\($0.devices) devices)" }.joined(separator: " | ") + " |\n"
            text += "|---|" + String(repeating: "---|", count: byClass.count) + "\n"
            for (index, kind) in SyntheticFleet.Kind.allCases.enumerated() where byClass.contains(where: { $0.evaluation.kinds[index].injected > 0 }) {
                text += "| \(kind.rawValue) | " + byClass.map { entry in
                    let result = entry.evaluation.kinds[index]
                    let metric = DeviceClass.named(entry.name)?.metric(for: kind).map { " (`\($0)`)" } ?? ""
                    return result.injected > 0 ? "\(result.detected) / \(result.injected)\(metric)" : "-"
                }.joined(separator: " | ") + " |\n"
            }
            text += "| false alarms per device-hour | " + byClass.map { entry in
                String(format: "%.4f", Double(entry.evaluation.falseAlarms) / max(Double(entry.devices) * duration / 3600, 1e-9))
            }.joined(separator: " | ") + " |\n\n"
        }
        text += "## Over time (\(Int(bucket)) s buckets)\n\n| from (s) | latency p50 (ms) | latency p99 (ms) | vigil RSS (MiB) | firing events (by detection time) |\n|---|---|---|---|---|\n"
        for row in overTime(bucket: bucket) {
            func cell(_ value: Double?) -> String { value.map { String(format: "%.2f", $0) } ?? "-" }
            text += "| \(Int(row.start)) | \(cell(row.p50)) | \(cell(row.p99)) | \(cell(row.rssMiB)) | \(row.firing) |\n"
        }
        text += """

            Definitions: offered = messages the generator published / the time it took to publish them (the
            scenario's duration, or longer when it fell behind); achieved = messages vigil received / that same
            time; not delivered = sent - received by vigil (lost in the broker, or still queued when vigil was
            stopped after the settle time); latency = an anomaly event's `latency_ms` (vigil's receive of the sample that changed the
            state to the publish of the event); true time to detect = detection event time - injected onset; a
            firing event counts for an anomaly when it is on the same device within [onset, end + max(grace,
            duration)], else it is a false alarm.

            """
        return text
    }

    /// Three panels sharing the time axis: messages per second offered, event latency p50/p99 per 10 s (or
    /// minute), vigil's RSS.
    func svg() -> String {
        let duration = max(number("duration_s"), 1)
        let start = number("start")
        let offered = ((summary["sent_per_second"] as? [NSNumber]) ?? []).enumerated().map { (Double($0.offset), $0.element.doubleValue) }
        let bucket = duration >= 300 ? 60.0 : 10.0
        let rows = overTime(bucket: bucket)
        let p50 = rows.compactMap { row in row.p50.map { (row.start + bucket / 2, $0) } }
        let p99 = rows.compactMap { row in row.p99.map { (row.start + bucket / 2, $0) } }
        let rssSeries = rss.map { ($0.time - start, $0.kilobytes / 1024) }
        var chart = SVGChart(width: 760, panelHeight: 170, xMax: duration, xLabel: "seconds since start")
        chart.panel(title: "offered rate (msg/s)", series: [("offered", "#1f77b4", offered)])
        chart.panel(title: "event latency, receive to publish (ms)", series: [("p50", "#2ca02c", p50), ("p99", "#d62728", p99)])
        chart.panel(title: "vigil RSS (MiB)", series: [("rss", "#9467bd", rssSeries)])
        return chart.render()
    }
}
