/// A load-test scenario: the fleet `vigil-loadgen` simulates and the anomalies it injects on a schedule.
///
/// Read from YAML (`loadtest/scenarios/<name>.yaml`) by `LoadScenario.load` in VigilIO, strictly: unknown keys
/// are errors with their line. Command-line flags override the fleet's size, rate, duration and seed.
///
/// ```yaml
/// description: "10k devices for a minute, every anomaly kind on 0.5% of the fleet"
/// devices: 10000
/// rate: 20000          # messages per second over the fleet (each device reports every devices/rate s)
/// duration_s: 60
/// seed: 1
/// grace_s: 10          # a detection counts up to max(grace_s, duration) after an anomaly ends
/// classes: {environment: 0.5, power_meter: 0.3, controller: 0.2}   # default: all environment
/// anomalies:
///   - {kind: spike, fraction: 0.005, at_s: 25, spread_s: 20}
///   - {kind: level_shift, fraction: 0.005, at_s: 25, spread_s: 20, duration_s: 10}
/// ```
package struct LoadScenario: Sendable, Equatable {
    /// One line of the schedule: `kind` on `fraction` of the fleet, starting at `atSeconds` (each device's
    /// onset spread uniformly over `spreadSeconds`), lasting `durationSeconds`, again every `everySeconds`.
    package struct Anomaly: Sendable, Equatable {
        package var kind: SyntheticFleet.Kind
        package var fraction = 0.01
        package var atSeconds = 0.0
        package var spreadSeconds = 0.0
        /// nil: a kind's default (``defaultDuration(_:)``).
        package var durationSeconds: Double? = nil
        /// nil: once.
        package var everySeconds: Double? = nil

        package init(kind: SyntheticFleet.Kind) { self.kind = kind }
    }

    package var description = ""
    package var devices = 10_000
    package var rate = 20_000.0
    package var durationSeconds = 60.0
    package var seed: UInt64 = 1
    package var graceSeconds = 10.0
    /// The fleet's mix: a ``DeviceClass`` name to the fraction of the devices of that class (the fractions add
    /// up to 1).
    package var classes: [String: Double] = [DeviceClass.environment.name: 1]
    package var anomalies: [Anomaly] = []

    package init() {}

    /// Seconds an anomaly of `kind` lasts when the scenario does not say: long enough for a device reporting
    /// every second or so to show it, short enough for a one-minute test.
    package static func defaultDuration(_ kind: SyntheticFleet.Kind) -> Double {
        switch kind {
        case .spike, .dip: 0
        case .levelShift, .varianceBurst, .stuck, .silence: 10
        case .drift: 15
        case .flood, .payloadBurst: 5
        }
    }

    /// Each device's reporting interval, seconds.
    package var interval: Double { Double(devices) / rate }

    /// Each device's class, by device number: a seeded shuffle of the fleet, the first `round(fraction·devices)`
    /// of it the first class of ``DeviceClass/all`` in the mix, and so on; the last class takes the rest. The
    /// same seed, size and mix give the same classes (the report recomputes them from the run's summary).
    package func deviceClasses() -> [DeviceClass] {
        let shares = DeviceClass.all.compactMap { deviceClass in
            classes[deviceClass.name].flatMap { $0 > 0 ? (deviceClass, $0) : nil }
        }
        guard let last = shares.last else { return Array(repeating: .environment, count: devices) }
        var result = Array(repeating: last.0, count: devices)
        guard shares.count > 1 else { return result }
        var random = SimRandom(seed: seed ^ 0xC1A5_5E5)
        let order = Self.shuffledDevices(devices, &random)
        var cursor = 0
        for (deviceClass, fraction) in shares.dropLast() {
            for _ in 0..<Int((fraction * Double(devices)).rounded()) where cursor < devices {
                result[order[cursor]] = deviceClass
                cursor += 1
            }
        }
        return result
    }

    /// The device numbers `0..<devices` in a Fisher-Yates shuffle drawn from `random`.
    static func shuffledDevices(_ devices: Int, _ random: inout SimRandom) -> [Int] {
        var order = Array(0..<devices)
        for index in stride(from: order.count - 1, to: 0, by: -1) {
            order.swapAt(index, Int(random.next() % UInt64(index + 1)))
        }
        return order
    }

    /// The ground truth: which device gets which anomaly when, for a run that starts at `start` (epoch s).
    ///
    /// Devices are drawn from one seeded shuffle of the fleet, each schedule line (and repetition) taking the
    /// next unused ones, so that a device has at most one anomaly at a time while the fleet lasts. An
    /// instantaneous anomaly lasts one reporting interval, so that one sample carries it. Each names the metric
    /// it changes on its device's class (``DeviceClass/metric(for:)``).
    package func injections(start: Double) -> [SyntheticFleet.Injection] {
        let deviceClasses = deviceClasses()
        var random = SimRandom(seed: seed ^ 0x5EED)
        let order = Self.shuffledDevices(devices, &random)
        var cursor = 0
        var result: [SyntheticFleet.Injection] = []
        for anomaly in anomalies {
            let count = Int((anomaly.fraction * Double(devices)).rounded())
            let duration = max(anomaly.durationSeconds ?? Self.defaultDuration(anomaly.kind), interval)
            var at = anomaly.atSeconds
            while at < durationSeconds {
                for _ in 0..<count {
                    let device = order[cursor % max(order.count, 1)]
                    cursor += 1
                    let onset = start + at + random.uniform() * anomaly.spreadSeconds
                    result.append(SyntheticFleet.Injection(
                        device: "d-\(device)", kind: anomaly.kind, metric: deviceClasses[device].metric(for: anomaly.kind), onset: onset,
                        end: onset + duration
                    ))
                }
                guard let every = anomaly.everySeconds else { break }
                at += every
            }
        }
        return result.sorted { ($0.onset, $0.device) < ($1.onset, $1.device) }
    }
}
