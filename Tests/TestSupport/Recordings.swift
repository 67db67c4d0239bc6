package import Foundation

/// A folder under the system's temporary directory, removed with everything in it when released.
package final class TemporaryDirectory: Sendable {
    package let url: URL

    package init(_ prefix: String = "vigil-test") throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(at: url) }

    /// The path of `name` in this folder.
    package func path(_ name: String) -> String { url.appendingPathComponent(name).path }

    /// Writes `text` to `name` and returns its path.
    @discardableResult
    package func write(_ name: String, _ text: String) throws -> String {
        let path = self.path(name)
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }
}

/// Synthetic JSONL recordings with known anomalies, for replay tests.
package enum SyntheticRecording {
    /// 2026-01-01T00:00:00Z in epoch milliseconds.
    package static let start: Int64 = 1_767_225_600_000

    /// One message a second per device for `seconds` seconds, topic `devices/d-N/telemetry`, payload
    /// `{"ts": <ms>, "temperature": ..., "humidity": ...}` with `ts` 3 ms before the receive time `t`.
    ///
    /// - Parameters:
    ///   - spikes: (device, second): temperature jumps by 40 at that second.
    ///   - silent: (device, from, to): the device sends nothing for seconds `from..<to`.
    package static func jsonl(
        devices: Int, seconds: Int, spikes: [(device: Int, second: Int)] = [], silent: [(device: Int, from: Int, to: Int)] = []
    ) -> String {
        var lines: [String] = []
        lines.reserveCapacity(devices * seconds)
        for second in 0..<seconds {
            for device in 0..<devices {
                if silent.contains(where: { $0.device == device && (($0.from)..<($0.to)).contains(second) }) { continue }
                // Deterministic noise: a few sines of incommensurate periods.
                let x = Double(second * 31 + device * 17)
                var temperature = 20 + 0.4 * sin(x * 0.37) * cos(x * 0.11) + 0.1 * sin(x * 1.3)
                if spikes.contains(where: { $0.device == device && $0.second == second }) { temperature += 40 }
                let humidity = 40 + 2 * sin(x * 0.23)
                let t = start + Int64(second) * 1000 + Int64(device * 7)
                let payload = "{\\\"ts\\\":\(t - 3),\\\"temperature\\\":\(round3(temperature)),\\\"humidity\\\":\(round3(humidity))}"
                lines.append("{\"t\":\(t),\"topic\":\"devices/d-\(device)/telemetry\",\"payload\":\"\(payload)\"}")
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    private static func round3(_ value: Double) -> Double { (value * 1000).rounded() / 1000 }
}
