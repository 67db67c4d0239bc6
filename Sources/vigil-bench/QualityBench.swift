import Foundation
import VigilCore
import VigilSim

/// `vigil-bench quality`: the default profile on a labelled synthetic fleet, scored against its ground truth.
enum QualityBench {
    static func run(options: BenchOptions, report: Report) {
        let fleet = options.quick
            ? SyntheticFleet(devices: 18, days: 5, interval: 60, quietDays: 2, seed: options.seed, anomaliesPerDevice: 2)
            : SyntheticFleet(devices: 60, days: 10, interval: 60, quietDays: 2, seed: options.seed, anomaliesPerDevice: 4)
        progress("quality: \(fleet.devices) devices x \(Int(fleet.days)) days, \(fleet.anomaliesPerDevice) anomalies each")
        let evaluation = QualityEvaluation.run(fleet, settings: DetectionSettings())
        print(evaluation.table + "\n")
        report.add("quality", "recall", "recall, all kinds", evaluation.recall, "")
        report.add("quality", "precision", "precision (firing events in a window)", evaluation.precision, "")
        report.add("quality", "false_alarms_per_device_day", "false alarms per device-day", evaluation.falseAlarmsPerDeviceDay, "")
        for kind in evaluation.kinds {
            report.add(
                "quality", "ttd_p50_\(kind.kind.rawValue)", "time to detect p50, \(kind.kind.rawValue)",
                kind.timeToDetect(quantile: 0.5), "s", note: "recall \(String(format: "%.2f", kind.recall))"
            )
        }
    }
}
