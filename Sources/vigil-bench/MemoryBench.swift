import Foundation
import VigilCore

/// `memory`: resident memory of the detection state for many devices (1M by default), 4 metrics each.
///
/// One DetectionEngine with the default profile and `max_devices` raised to hold them all is fed one
/// ~90-byte JSON message per device, then a second, generated on the fly (no corpus in memory). The process's
/// RSS before the engine exists and after both passes gives the bytes per device-metric.
enum MemoryBench {
    /// The process's resident set, in bytes (/proc/self/statm).
    static func residentBytes() -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return nil }
        let fields = text.split(separator: " ")
        guard fields.count > 1, let pages = Int(fields[1]) else { return nil }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }

    /// Appends `value` in decimal, at least `width` digits.
    static func appendDecimal(_ value: Int, width: Int = 1, to buffer: inout [UInt8]) {
        var digits: [UInt8] = []
        var rest = value
        repeat {
            digits.append(UInt8(ascii: "0") + UInt8(rest % 10))
            rest /= 10
        } while rest > 0
        while digits.count < width { digits.append(UInt8(ascii: "0")) }
        buffer.append(contentsOf: digits.reversed())
    }

    static func run(options: BenchOptions, report: Report) {
        let devices = options.memoryDevices
        let metrics = Corpus.metricsPerMessage
        guard let before = residentBytes() else {
            report.add("memory", "memory.rss_before", "RSS before", nil, "MiB", note: "/proc/self/statm unreadable")
            return
        }
        progress("memory: \(Report.grouped(devices)) devices x \(metrics) metrics through one engine, 2 messages each ...")
        var engine = DetectionEngine(
            settings: DetectionSettings(maxDevices: devices), decoder: DecodeBench.makeDecoder())
        var device: [UInt8] = []
        var payload: [UInt8] = []
        device.reserveCapacity(32)
        payload.reserveCapacity(160)
        var samples = 0
        var rejected = 0
        let seconds = Measure.time {
            for pass in 0..<2 {
                for index in 0..<devices {
                    device.removeAll(keepingCapacity: true)
                    device.append(contentsOf: "dev-".utf8)
                    appendDecimal(index, width: 7, to: &device)
                    payload.removeAll(keepingCapacity: true)
                    payload.append(contentsOf: #"{"ts":"#.utf8)
                    appendDecimal(1_764_072_612_000 + pass * 60_000, to: &payload)
                    payload.append(contentsOf: #","temperature":2"#.utf8)
                    appendDecimal(index % 10, to: &payload)
                    payload.append(contentsOf: #".5,"humidity":4"#.utf8)
                    appendDecimal(pass, to: &payload)
                    payload.append(contentsOf: #".25,"pressure":1013.2,"battery":3.71}"#.utf8)
                    let result = device.withUnsafeBytes { id in
                        payload.withUnsafeBytes { bytes in
                            engine.process(device: id, payload: bytes, receivedAtNanos: Int64(pass) * 60_000_000_000) { _ in }
                        }
                    }
                    samples += result.samples
                    if result.rejection != nil { rejected += 1 }
                }
            }
        }
        let after = residentBytes() ?? before
        let tracked = engine.deviceCount
        withExtendedLifetime(engine) {}
        if tracked != devices || samples != 2 * devices * metrics || rejected != 0 {
            report.fail("memory: \(tracked) devices tracked, \(samples) samples, \(rejected) rejected")
        }
        let perMetric = Double(after - before) / Double(devices * metrics)
        let mib = 1024.0 * 1024.0
        let note = "\(Report.grouped(devices)) devices x \(metrics) metrics, one engine, \(String(format: "%.1f", seconds)) s"
        report.add("memory", "memory.rss_before_mib", "RSS before the engine", Double(before) / mib, "MiB", note: note)
        report.add("memory", "memory.rss_after_mib", "RSS with every device tracked", Double(after) / mib, "MiB")
        report.add("memory", "memory.bytes_per_device_metric", "RSS growth per device-metric", perMetric, "bytes")
        report.add(
            "memory", "memory.metric_state_bytes", "of which MetricState (detectors + episodes)",
            Double(DetectionEngine.metricStateBytes), "bytes", note: "MemoryLayout stride, one per device-metric")
        report.add(
            "memory", "memory.device_state_bytes", "DeviceState, per device", Double(DetectionEngine.deviceStateBytes),
            "bytes", note: "plus the metrics array (32-byte header + malloc) and the interned id")
        report.addTarget("memory, bytes per device-metric", value: perMetric, goal: "<= 256", met: perMetric <= 256)
        if devices >= 1_000_000 {
            let gib = Double(after) / (mib * 1024)
            report.addTarget("memory, RSS with 1M devices x 4 metrics", value: gib, goal: "< 2 GiB", met: gib < 2)
        }
    }
}
