import VigilCore

/// What an offline replay did: ``OfflineReplay/run()`` returns it, `vigil replay` prints ``table()``.
package struct ReplaySummary: Sendable {
    package var inputs: [RecordingInputStats] = []
    package var shards = 0
    /// Messages read from the inputs and routed.
    package var messages = 0
    /// Messages the shard workers processed (routed minus router drops).
    package var processed = 0
    /// Messages of devices another instance owns (`cluster.mode: hash`), not processed here.
    package var notOwned = 0
    package var samples = 0
    package var devices = 0
    /// Wall time from the first message read to the last one processed, seconds.
    package var seconds = 0.0
    /// Wall time spent writing the output files after that (the scores' merge, the sorted events), seconds.
    package var outputSeconds = 0.0
    /// The recording's first and last receive times, ns since the epoch.
    package var recordingStart: Int64 = 0
    package var recordingEnd: Int64 = 0
    /// Silence sweeps run on the recording's clock, and gaps across which that clock jumped.
    package var sweeps = 0
    package var clockJumps = 0
    /// Events by detector.
    package var events: [(detector: String, firing: Int, resolved: Int)] = []
    /// Pipeline drops by reason label.
    package var drops: [(reason: String, count: Int)] = []
    package var scoresPath: String? = nil
    package var anomaliesPath: String? = nil

    package init() {}

    /// Lines or rows skipped over all inputs.
    package var invalid: Int { inputs.reduce(0) { $0 + $1.invalid } }

    /// Messages per second of wall time.
    package var rate: Double { seconds > 0 ? Double(messages) / seconds : 0 }

    /// The summary as an aligned table, one fact a line.
    package func table() -> String {
        var lines: [String] = ["replay summary"]
        func row(_ name: String, _ value: String) {
            lines.append("  " + name.padded(11) + value)
        }
        row("inputs", "\(inputs.count)")
        let width = inputs.map(\.path.count).max() ?? 0
        for input in inputs {
            var text = "    " + input.path.padded(width + 2)
                + input.format.rawValue.padded(7)
                + "\(input.messages) messages, \(input.invalid) invalid \(input.format == .csv ? "rows" : "lines")"
            if !input.issues.isEmpty {
                text += " (line \(input.issues.map { String($0.line) }.joined(separator: ", "))\(input.invalid > input.issues.count ? ", ..." : ""))"
            }
            lines.append(text)
            for issue in input.issues { lines.append("      line \(issue.line): \(issue.message)") }
        }
        let span = Double(recordingEnd - recordingStart) / 1e9
        row("recording", "\(TimeFormat.iso8601(Double(recordingStart) / 1e9)) to \(TimeFormat.iso8601(Double(recordingEnd) / 1e9)) (\(Self.decimal(span, 3)) s)")
        row("messages", "\(messages) read, \(processed) processed" + (notOwned > 0 ? ", \(notOwned) of devices other instances own" : ""))
        row("samples", "\(samples)")
        row("rate", "\(Int(rate.rounded())) msg/s (\(Self.decimal(seconds, 3)) s, \(shards) shard\(shards == 1 ? "" : "s"))")
        row("devices", "\(devices)")
        row("sweeps", "\(sweeps) on the recording's clock" + (clockJumps > 0 ? ", clock jumped over \(clockJumps) gap(s) longer than a day" : ""))
        if events.isEmpty {
            row("events", "none")
        } else {
            let detectorWidth = max(8, events.map(\.detector.count).max() ?? 0) + 2
            row("events", "detector".padded(detectorWidth) + "firing  resolved")
            for event in events {
                lines.append("             " + event.detector.padded(detectorWidth)
                    + String(event.firing).padded(8) + String(event.resolved))
            }
        }
        if drops.isEmpty {
            row("drops", "none")
        } else {
            let reasonWidth = max(6, drops.map(\.reason.count).max() ?? 0) + 2
            row("drops", "reason".padded(reasonWidth) + "messages")
            for drop in drops {
                lines.append("             " + drop.reason.padded(reasonWidth) + String(drop.count))
            }
        }
        if let scoresPath { row("scores", "\(scoresPath) (\(samples) rows)") }
        if let anomaliesPath { row("anomalies", "\(anomaliesPath) (\(events.reduce(0) { $0 + $1.firing + $1.resolved }) events)") }
        if scoresPath != nil || anomaliesPath != nil { row("written in", "\(Self.decimal(outputSeconds, 3)) s") }
        return lines.joined(separator: "\n")
    }

    /// `value` with `places` decimals.
    static func decimal(_ value: Double, _ places: Int) -> String {
        var scale = 1.0
        for _ in 0..<places { scale *= 10 }
        let scaled = Int64((value * scale).rounded())
        let whole = String(abs(scaled) / Int64(scale))
        var fraction = String(abs(scaled) % Int64(scale))
        fraction = String(repeating: "0", count: places - fraction.count) + fraction
        return (scaled < 0 ? "-" : "") + whole + (places > 0 ? "." + fraction : "")
    }
}

extension String {
    /// The string followed by spaces up to `width` characters (never cut).
    fileprivate func padded(_ width: Int) -> String {
        count >= width ? self + " " : self + String(repeating: " ", count: width - count)
    }
}
