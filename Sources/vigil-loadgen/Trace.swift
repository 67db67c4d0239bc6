import Foundation
import VigilCore
import VigilIO
import VigilSim

/// `vigil-loadgen trace --output FILE [--truth FILE] [--devices N] [--days D] [--interval S] [--seed N]`: a
/// recording of a ``SyntheticFleet`` (simulated time from 2026-01-01, no broker), as `vigil record` would
/// have written it, with its ground truth. The same flags give the same bytes (gzip included), so
/// `loadtest/trace.jsonl.gz` can be regenerated and checked.
func writeTrace(_ arguments: [String]) throws -> Int32 {
    var values: [String: String] = [:]
    var rest = arguments[...]
    while let flag = rest.popFirst() {
        guard ["--output", "--truth", "--devices", "--days", "--interval", "--seed"].contains(flag), let value = rest.popFirst() else {
            throw UsageError(message: "trace: unknown flag or missing value: '\(flag)'")
        }
        values[flag] = value
    }
    guard let output = values["--output"] else { throw UsageError(message: "trace: --output FILE is required") }
    func number(_ flag: String, _ fallback: Double) throws -> Double {
        guard let text = values[flag] else { return fallback }
        guard let value = Double(text), value > 0 else { throw UsageError(message: "trace: \(flag) needs a number above 0") }
        return value
    }
    let fleet = SyntheticFleet(
        devices: Int(try number("--devices", 12)), days: try number("--days", 3), interval: try number("--interval", 60),
        quietDays: 1, seed: UInt64(try number("--seed", 1)), anomaliesPerDevice: 2
    )
    let writer = try RecordingWriter(path: output)
    var failure: RecordingWriter.WriteError? = nil
    fleet.generate { message in
        guard failure == nil else { return }
        var topic = "devices/\(message.device)/telemetry"
        var payload = message.payload
        // Received 5 ms after the device's timestamp.
        let received = Int64((message.time * 1000).rounded()) * 1_000_000 + 5_000_000
        topic.withUTF8 { topicBytes in
            payload.withUTF8 { payloadBytes in
                do throws(RecordingWriter.WriteError) {
                    try writer.append(receivedAtNanos: received, topic: UnsafeRawBufferPointer(topicBytes), payload: UnsafeRawBufferPointer(payloadBytes))
                } catch {
                    failure = error
                }
            }
        }
    }
    if let failure { throw failure }
    try writer.finish()
    if let truth = values["--truth"] {
        let text = truthJSONL(fleet.injections())
        try text.write(toFile: truth, atomically: true, encoding: .utf8)
    }
    print("trace: \(writer.messages) messages of \(fleet.devices) devices over \(fleet.days) days to \(output)")
    return 0
}

/// The ground truth as JSONL: one `{"device","metric","kind","onset","end"}` line per injection (epoch s).
func truthJSONL(_ injections: [SyntheticFleet.Injection]) -> String {
    injections.map { injection -> String in
        var line = JSONWriter()
        line.field("device", injection.device)
        line.rawField("metric", injection.metric.map(JSONWriter.string) ?? "null")
        line.field("kind", injection.kind.rawValue)
        line.field("onset", (injection.onset * 1000).rounded() / 1000)
        line.field("end", (injection.end * 1000).rounded() / 1000)
        return line.finish() + "\n"
    }.joined()
}
