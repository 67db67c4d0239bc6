import Foundation

/// A labelled synthetic fleet: realistic-looking telemetry with injected anomalies whose ground truth is
/// known, for quality measurements (`vigil-bench quality`), tests and the load generator.
///
/// Each device, an `environment` one (``DeviceClass``), reports every `interval` seconds (with jitter) three
/// metrics of different characters:
/// - `temperature`: a daily cycle plus Gaussian noise;
/// - `load`: an AR(1) process with heavy-tailed (Student-t, 3 degrees of freedom) shocks;
/// - `count`: small Poisson counts (quantised, many repeats).
/// Anomalies are injected after `quietDays` of clean history, at most one at a time per device.
package struct SyntheticFleet {
    package enum Kind: String, CaseIterable, Sendable {
        case spike, dip, levelShift = "level_shift", drift, varianceBurst = "variance_burst", stuck, flood, silence
        case payloadBurst = "payload_burst"

        /// The metric the anomaly is injected into on an `environment` device (nil: the device's traffic as a
        /// whole); ``DeviceClass/metric(for:)`` for the others.
        package var metric: String? { DeviceClass.environment.metric(for: self) }

        /// How long the anomaly lasts, seconds.
        package var duration: Double {
            switch self {
            case .spike, .dip: 0
            case .levelShift: 6 * 3600
            case .drift: 3 * 3600
            case .varianceBurst: 3600
            case .stuck: 2 * 3600
            case .flood: 1800
            case .silence: 2 * 3600
            case .payloadBurst: 1800
            }
        }
    }

    /// One injected anomaly: the ground truth.
    package struct Injection: Sendable, Equatable {
        package var device: String
        package var kind: Kind
        package var metric: String?
        package var onset: Double
        package var end: Double

        package init(device: String, kind: Kind, metric: String?, onset: Double, end: Double) {
            self.device = device
            self.kind = kind
            self.metric = metric
            self.onset = onset
            self.end = end
        }
    }

    /// One message.
    package struct Message {
        package var device: String
        package var time: Double
        package var payload: String
    }

    package var devices: Int
    package var days: Double
    package var interval: Double
    package var quietDays: Double
    package var seed: UInt64
    /// Anomalies per device after the quiet days.
    package var anomaliesPerDevice: Int

    package init(devices: Int = 40, days: Double = 7, interval: Double = 60, quietDays: Double = 2, seed: UInt64 = 1, anomaliesPerDevice: Int = 3) {
        self.devices = devices
        self.days = days
        self.interval = interval
        self.quietDays = quietDays
        self.seed = seed
        self.anomaliesPerDevice = anomaliesPerDevice
    }

    /// The start of the corpus: a fixed date, so that seasonal buckets line up between runs.
    package static let start = 1_767_225_600.0  // 2026-01-01T00:00:00Z

    /// The anomalies to inject, each device's spaced out and cycling through the kinds.
    package func injections() -> [Injection] {
        var random = SimRandom(seed: seed ^ 0xA5A5)
        var injections: [Injection] = []
        let begin = Self.start + quietDays * 86_400
        let span = (days - quietDays) * 86_400
        for device in 0..<devices {
            let slot = span / Double(anomaliesPerDevice)
            for index in 0..<anomaliesPerDevice {
                let kind = Kind.allCases[(device * anomaliesPerDevice + index) % Kind.allCases.count]
                // Somewhere in the first half of its slot, leaving the rest of the slot for recovery.
                let onset = begin + Double(index) * slot + random.uniform() * (slot / 2 - kind.duration).clamped(to: 0...)
                // An instantaneous anomaly lasts one reporting interval, so that exactly one sample carries it.
                let end = onset + max(kind.duration, interval)
                injections.append(Injection(device: "d-\(device)", kind: kind, metric: kind.metric, onset: onset, end: end))
            }
        }
        return injections
    }

    /// Calls `body` with every message in time order.
    package func generate(_ body: (Message) -> Void) {
        let injections = Dictionary(grouping: injections(), by: \.device)
        var states = (0..<devices).map { index in DeviceSignal(seed: seed, index: index, interval: interval) }
        let end = Self.start + days * 86_400
        // Merge the devices' streams in time order (a simple scan: the fleet is small).
        while true {
            var device = -1
            var earliest = Double.infinity
            for (index, state) in states.enumerated() where state.next < earliest {
                earliest = state.next
                device = index
            }
            guard device >= 0, earliest < end else { return }
            let name = "d-\(device)"
            let time = earliest
            let active = injections[name]?.first { time >= $0.onset && time < $0.end }
            let sample = states[device].sample(at: time, active: active, interval: interval)
            states[device].next = time + sample.step
            if let payload = sample.payload { body(Message(device: name, time: time, payload: payload)) }
        }
    }
}

/// One simulated device's signals: what ``SyntheticFleet`` and `vigil-loadgen` publish for it.
///
/// The metrics are its ``DeviceClass``'s table, made row by row at every report (the default class,
/// `environment`: `temperature`, a daily cycle plus Gaussian noise; `load`, an AR(1) process with heavy-tailed
/// shocks; `count`, small Poisson counts). An active ``SyntheticFleet/Injection`` changes the sample as its kind
/// says: the value of the class's metric for that kind, the pace (flood, silence) or the payload's size.
package struct DeviceSignal {
    package var random: SimRandom
    /// When the device reports next (the caller's clock).
    package var next: Double
    package var phase: Double
    package let deviceClass: DeviceClass
    /// Per row of the class's table: the state its signal carries (an AR term, a counter, a lagging value).
    package var state: [Double]
    package var stuckValue: Double? = nil
    /// The device's size (a meter's load scales with it) and its local time's offset from the fleet's, hours.
    var size = 1.0
    var offsetHours = 0.0
    var lastTime: Double? = nil
    /// This report's values, per row (kept to save an allocation per sample).
    var values: [Double]

    /// - Parameters:
    ///   - seed: the fleet's seed; `index` the device's number: together they fix its noise and phase.
    ///   - interval: its reporting interval; the first report falls at a random point of the first one.
    ///   - deviceClass: what it measures. `environment` draws nothing more than the original fleet did, so
    ///     its streams are unchanged; other classes draw their size, offset and counter readings after.
    package init(
        seed: UInt64, index: Int, interval: Double, start: Double = SyntheticFleet.start,
        deviceClass: DeviceClass = .environment
    ) {
        random = SimRandom(seed: seed &+ UInt64(index) &* 7919)
        next = start + random.uniform() * interval
        phase = random.uniform() * 2 * .pi
        self.deviceClass = deviceClass
        state = Array(repeating: 0, count: deviceClass.metrics.count)
        values = state
        guard deviceClass != .environment else { return }
        size = 0.6 + random.uniform()
        offsetHours = 2 * random.uniform() - 1
        for (row, metric) in deviceClass.metrics.enumerated() {
            switch metric.signal {
            case .energy: state[row] = (1000 + 19_000 * random.uniform()).rounded()
            case .events: state[row] = (50_000 * random.uniform()).rounded()
            case .lag: state[row] = .nan  // starts at its target, at the first report
            default: break
            }
        }
    }

    /// One report at `time`.
    ///
    /// - Returns: the JSON payload (`ts` in epoch ms, then the class's metrics in table order), or nil when the
    ///   device is silent; and the time to its next report (a tenth of the interval in a flood, past the end of
    ///   a silence).
    package mutating func sample(
        at time: Double, active: SyntheticFleet.Injection?, interval: Double
    ) -> (payload: String?, step: Double) {
        let hour = (time - SyntheticFleet.start) / 3600
        let elapsed = lastTime.map { time - $0 } ?? interval
        lastTime = time
        let target = active.flatMap { deviceClass.targets[$0.kind] }
        let metrics = deviceClass.metrics
        for row in metrics.indices {
            let burst = active?.kind == .varianceBurst && target == row ? 6.0 : 1.0
            var value = signal(row, metrics[row].signal, hour: hour, elapsed: elapsed, burst: burst)
            if let active, target == row {
                let scale = metrics[row].scale
                let progress = active.end > active.onset ? (time - active.onset) / (active.end - active.onset) : 1
                switch active.kind {
                // (8 * scale * 4 is 32 * scale exactly: powers of two scale without rounding.)
                case .spike: value += 8 * scale * 4
                case .dip: value -= 8 * scale * 4
                case .levelShift: value += 4 * scale
                case .drift: value += 8 * scale * progress
                case .stuck:
                    if stuckValue == nil { stuckValue = (value * 10).rounded() / 10 }
                    value = stuckValue!
                case .varianceBurst, .flood, .silence, .payloadBurst: break
                }
            }
            if let range = metrics[row].range { value = min(max(value, range.lowerBound), range.upperBound) }
            values[row] = value
        }
        var padding = 0
        var step = interval * (0.9 + 0.2 * random.uniform())
        if let active {
            switch active.kind {
            case .flood: step = interval / 10
            case .silence: step = active.end - time + interval
            case .payloadBurst: padding = 400
            default: break
            }
        } else {
            stuckValue = nil
        }
        if active?.kind == .silence && time > active!.onset { return (nil, step) }
        var payload = "{\"ts\":\(Int64((time * 1000).rounded()))"
        for row in metrics.indices {
            let decimals = metrics[row].decimals
            payload += ",\"" + metrics[row].name + "\":"
                + (decimals == 0 ? String(Int(values[row].rounded())) : Self.fixed(values[row], decimals))
        }
        if padding > 0 { payload += ",\"debug\":\"" + String(repeating: "x", count: padding) + "\"" }
        return (payload + "}", step)
    }

    /// Row `row`'s clean value (before any anomaly), advancing its state; `burst` multiplies its noise.
    private mutating func signal(
        _ row: Int, _ signal: MetricSpec.Signal, hour: Double, elapsed: Double, burst: Double
    ) -> Double {
        // Local time of day and whether it is a weekend (2026-01-01, the fleet's start, was a Thursday).
        var local: (hour: Double, weekend: Bool) {
            let localHour = hour + offsetHours
            let day = (localHour / 24).rounded(.down)
            let weekday = ((Int(day) + 3) % 7 + 7) % 7  // Monday 0
            return (localHour - 24 * day, weekday >= 5)
        }
        switch signal {
        case .daily(let mean, let amplitude, let noise):
            return mean + amplitude * sin(2 * .pi * hour / 24 + phase) + noise * burst * random.normal()
        case .heavyTailedAR(let mean, let phi, let shock):
            state[row] = phi * state[row] + shock * burst * random.studentT3()
            return mean + state[row]
        case .poisson(let mean):
            return Double(random.poisson(mean))
        case .loadCurve(let phi, let shock):
            state[row] = phi * state[row] + shock * burst * random.normal()
            let (clock, weekend) = local
            func peak(_ at: Double, _ width: Double) -> Double { exp(-0.5 * ((clock - at) / width) * ((clock - at) / width)) }
            let curve = weekend
                ? 300 + 600 * peak(10, 2) + 350 * peak(13.5, 2.5) + 1000 * peak(19, 2.2)
                : 250 + 450 * peak(7.5, 1.2) + 150 * peak(13, 3) + 900 * peak(19.5, 2)
            return size * curve + state[row]
        case .supplyVoltage(let nominal, let droopPerWatt, let power, let noise):
            let nightRise = 1.5 * cos(2 * .pi * (local.hour - 3) / 24)
            return nominal + nightRise - droopPerWatt * max(values[power] - 500, 0) + noise * burst * random.normal()
        case .energy(let power):
            state[row] += max(values[power], 0) * elapsed / 3_600_000
            return state[row]
        case .schedule(let comfort, let setback):
            // Ramps of half an hour up from the start of the day and down from its end (a soft start, so the
            // loop is not kicked), weekdays 06-22, weekends 08-23.
            let (clock, weekend) = local
            let (on, off) = weekend ? (8.0, 23.0) : (6.0, 22.0)
            let up = min(max((clock - on) / 0.5, 0), 1)
            let down = min(max(1 - (clock - off) / 0.5, 0), 1)
            return setback + (comfort - setback) * up * down
        case .lag(let target, let tau, let noise):
            if state[row].isNaN { state[row] = values[target] }
            state[row] += (values[target] - state[row]) * (1 - exp(-elapsed / tau))
            return state[row] + noise * burst * random.normal()
        case .actuator(let setpoint, let process, let gain, let phi, let shock):
            state[row] = phi * state[row] + shock * burst * random.normal()
            let demand = 35 + 15 * cos(2 * .pi * (local.hour - 4) / 24)
            return demand + gain * (values[setpoint] - values[process]) + state[row]
        case .events(let perSecond):
            if random.uniform() < perSecond * elapsed { state[row] += 1 }
            return state[row]
        }
    }

    /// `value` with `decimals` digits after the point, as `%.Nf` writes it (but for exact binary ties, which
    /// round away from zero here): several times faster than `String(format:)`, which the load generator
    /// would otherwise spend most of its time in.
    static func fixed(_ value: Double, _ decimals: Int) -> String {
        var scale: Int64 = 1
        for _ in 0..<decimals { scale *= 10 }
        let scaled = Int64((abs(value) * Double(scale)).rounded())
        var fraction = String(scaled % scale)
        if fraction.count < decimals { fraction = String(repeating: "0", count: decimals - fraction.count) + fraction }
        return (value < 0 && scaled != 0 ? "-" : "") + String(scaled / scale) + "." + fraction
    }
}

/// SplitMix64 with the distributions the fleet needs.
package struct SimRandom {
    var state: UInt64
    package init(seed: UInt64) { state = seed }
    package mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    package mutating func uniform() -> Double { Double(next() >> 11) / Double(1 << 53) }
    package mutating func normal() -> Double {
        (-2 * log(max(uniform(), 1e-300))).squareRoot() * cos(2 * .pi * uniform())
    }
    /// Student's t with 3 degrees of freedom, scaled to unit variance.
    package mutating func studentT3() -> Double {
        let z = normal()
        var chiSquare = 0.0
        for _ in 0..<3 {
            let n = normal()
            chiSquare += n * n
        }
        return z / max(chiSquare / 3, 1e-12).squareRoot() / 3.0.squareRoot()
    }
    package mutating func poisson(_ mean: Double) -> Int {
        let limit = exp(-mean)
        var product = uniform()
        var count = 0
        while product > limit {
            product *= uniform()
            count += 1
        }
        return count
    }
}

extension Comparable {
    func clamped(to range: PartialRangeFrom<Self>) -> Self { max(self, range.lowerBound) }
}
