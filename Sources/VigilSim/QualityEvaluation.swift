import Foundation
package import VigilCore

/// Runs a labelled fleet through a detection engine and scores the events against the ground truth.
///
/// A firing event on a device inside one of its anomaly windows `[onset, end + grace]` detects that anomaly
/// (whatever the detector: as in NAB, a window is caught or not); the first one gives the time to detect
/// (its detection event time minus the onset). A firing event outside every window of its device is a false
/// alarm. Grace is `max(30 min, the anomaly's duration)`, which covers the return to normal that a long
/// anomaly's end can look like.
package struct QualityEvaluation {
    package struct KindResult: Sendable {
        package var kind: SyntheticFleet.Kind
        package var injected = 0
        package var detected = 0
        package var timesToDetect: [Double] = []

        package var recall: Double { injected > 0 ? Double(detected) / Double(injected) : 0 }
        package func timeToDetect(quantile q: Double) -> Double? {
            guard !timesToDetect.isEmpty else { return nil }
            let sorted = timesToDetect.sorted()
            return sorted[min(sorted.count - 1, Int((q * Double(sorted.count)).rounded(.down)))]
        }
    }

    package var kinds: [KindResult] = []
    package var firingEvents = 0
    package var falseAlarms = 0
    package var falseAlarmsByDetector: [String: Int] = [:]
    package var deviceDays = 0.0
    package var messages = 0
    /// Messages the engine refused, by reason (a corpus bug if not empty).
    package var rejected: [String: Int] = [:]

    package var falseAlarmsPerDeviceDay: Double { deviceDays > 0 ? Double(falseAlarms) / deviceDays : 0 }
    package var precision: Double { firingEvents > 0 ? Double(firingEvents - falseAlarms) / Double(firingEvents) : 1 }
    package var recall: Double {
        let injected = kinds.reduce(0) { $0 + $1.injected }
        return injected > 0 ? Double(kinds.reduce(0) { $0 + $1.detected }) / Double(injected) : 0
    }

    /// Generates `fleet`, runs it through an engine built from `settings`, and scores the events.
    package static func run(_ fleet: SyntheticFleet, settings: DetectionSettings) -> QualityEvaluation {
        var engine = DetectionEngine(
            settings: settings, decoder: PayloadDecoder(limits: PayloadLimits(), timestampField: "ts", timestampUnit: .milliseconds)
        )
        var events: [AnomalyEvent] = []
        var messages = 0
        var rejected: [String: Int] = [:]
        var nextSweep = SyntheticFleet.start + 60
        fleet.generate { message in
            while message.time >= nextSweep {
                _ = engine.sweep(now: nextSweep) { events.append($0) }
                nextSweep += 60
            }
            var device = message.device
            var payload = message.payload
            let result = device.withUTF8 { d in
                payload.withUTF8 { p in
                    engine.process(
                        device: UnsafeRawBufferPointer(d), payload: UnsafeRawBufferPointer(p),
                        receivedAtNanos: Int64((message.time * 1e9).rounded())
                    ) { events.append($0) }
                }
            }
            messages += 1
            if let rejection = result.rejection {
                rejected[rejection.reason, default: 0] += 1
            }
        }
        var evaluation = score(events: events, injections: fleet.injections())
        evaluation.messages = messages
        evaluation.rejected = rejected
        evaluation.deviceDays = Double(fleet.devices) * fleet.days
        return evaluation
    }

    /// Scores firing events against the injections.
    package static func score(events: [AnomalyEvent], injections: [SyntheticFleet.Injection]) -> QualityEvaluation {
        score(
            firings: events.filter { $0.state == .firing }.map {
                Firing(device: $0.device, metric: $0.metric, detector: $0.detector, detected: $0.detected)
            },
            injections: injections
        )
    }

    /// A firing event, as far as scoring needs it (from an ``AnomalyEvent`` or its published JSON).
    package struct Firing: Sendable, Equatable {
        package var device: String
        package var metric: String
        package var detector: String
        /// Detection event time, epoch seconds.
        package var detected: Double

        package init(device: String, metric: String, detector: String, detected: Double) {
            self.device = device
            self.metric = metric
            self.detector = detector
            self.detected = detected
        }
    }

    /// Scores firings against the injections; an anomaly's window is `[onset, end + max(minimumGrace,
    /// duration)]` (30 minutes for the day-scale fleet; a load test of a minute uses seconds).
    package static func score(
        firings: [Firing], injections: [SyntheticFleet.Injection], minimumGrace: Double = 1800
    ) -> QualityEvaluation {
        var evaluation = QualityEvaluation()
        let byDevice = Dictionary(grouping: injections.enumerated(), by: \.element.device)
        var firstDetection: [Int: Double] = [:]  // index into injections → detection time
        for event in firings {
            evaluation.firingEvents += 1
            let window = byDevice[event.device]?.first { _, injection in
                let grace = max(minimumGrace, injection.end - injection.onset)
                return event.detected >= injection.onset && event.detected <= injection.end + grace
            }
            guard let index = window?.offset else {
                evaluation.falseAlarms += 1
                evaluation.falseAlarmsByDetector["\(event.detector)/\(event.metric)", default: 0] += 1
                continue
            }
            if firstDetection[index].map({ event.detected < $0 }) ?? true { firstDetection[index] = event.detected }
        }
        evaluation.kinds = SyntheticFleet.Kind.allCases.map { kind in
            var result = KindResult(kind: kind)
            for (index, injection) in injections.enumerated() where injection.kind == kind {
                result.injected += 1
                if let detected = firstDetection[index] {
                    result.detected += 1
                    result.timesToDetect.append(detected - injection.onset)
                }
            }
            return result
        }
        return evaluation
    }

    /// A table a person can read.
    package var table: String {
        func cell(_ text: String, _ width: Int) -> String { text.padding(toLength: width, withPad: " ", startingAt: 0) }
        func seconds(_ value: Double?) -> String { value.map { String(format: "%.0f s", $0) } ?? "-" }
        var lines = [
            cell("kind", 16) + cell("injected", 10) + cell("detected", 10) + cell("recall", 8) + cell("ttd p50", 10) + "ttd p90",
        ]
        for kind in kinds {
            lines.append(
                cell(kind.kind.rawValue, 16) + cell("\(kind.injected)", 10) + cell("\(kind.detected)", 10)
                    + cell(String(format: "%.2f", kind.recall), 8) + cell(seconds(kind.timeToDetect(quantile: 0.5)), 10)
                    + seconds(kind.timeToDetect(quantile: 0.9))
            )
        }
        lines.append(
            String(format: "messages %d, device-days %.0f; recall %.2f; firing events %d, false alarms %d (%.3f per device-day), precision %.2f",
                   messages, deviceDays, recall, firingEvents, falseAlarms, falseAlarmsPerDeviceDay, precision)
        )
        if !rejected.isEmpty { lines.append("rejected: \(rejected.sorted { $0.key < $1.key })") }
        if !falseAlarmsByDetector.isEmpty {
            lines.append("false alarms by detector: " + falseAlarmsByDetector.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
        }
        return lines.joined(separator: "\n")
    }
}
