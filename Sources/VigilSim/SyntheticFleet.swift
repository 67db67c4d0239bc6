import Foundation

/// A labelled synthetic fleet: realistic-looking telemetry with injected anomalies whose ground truth is
/// known, for quality measurements (`vigil-bench quality`), tests and the load generator.
///
/// Each device reports every `interval` seconds (with jitter) three metrics of different characters:
/// - `temperature`: a daily cycle plus Gaussian noise;
/// - `load`: an AR(1) process with heavy-tailed (Student-t, 3 degrees of freedom) shocks;
/// - `count`: small Poisson counts (quantised, many repeats).
/// Anomalies are injected after `quietDays` of clean history, at most one at a time per device.
package struct SyntheticFleet {
    package enum Kind: String, CaseIterable, Sendable {
        case spike, dip, levelShift = "level_shift", drift, varianceBurst = "variance_burst", stuck, flood, silence
        case payloadBurst = "payload_burst"

        /// The metric the anomaly is injected into (nil: the device's traffic as a whole).
        package var metric: String? {
            switch self {
            case .spike, .dip, .levelShift, .drift, .stuck: "temperature"
            case .varianceBurst: "load"
            case .flood, .silence, .payloadBurst: nil
            }
        }

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
/// Three metrics of different characters: `temperature` (a daily cycle plus Gaussian noise), `load` (an AR(1)
/// process with heavy-tailed shocks) and `count` (small Poisson counts). An active ``SyntheticFleet/Injection``
/// changes the sample as its kind says: the metric's value, the pace (flood, silence) or the payload's size.
package struct DeviceSignal {
    package var random: SimRandom
    /// When the device reports next (the caller's clock).
    package var next: Double
    package var phase: Double
    package var load = 0.0
    package var stuckValue: Double? = nil

    /// - Parameters:
    ///   - seed: the fleet's seed; `index` the device's number: together they fix its noise and phase.
    ///   - interval: its reporting interval; the first report falls at a random point of the first one.
    package init(seed: UInt64, index: Int, interval: Double, start: Double = SyntheticFleet.start) {
        random = SimRandom(seed: seed &+ UInt64(index) &* 7919)
        next = start + random.uniform() * interval
        phase = random.uniform() * 2 * .pi
    }

    /// One report at `time`.
    ///
    /// - Returns: the JSON payload (`ts` in epoch ms), or nil when the device is silent; and the time to its
    ///   next report (a tenth of the interval in a flood, past the end of a silence).
    package mutating func sample(
        at time: Double, active: SyntheticFleet.Injection?, interval: Double
    ) -> (payload: String?, step: Double) {
        let hour = (time - SyntheticFleet.start) / 3600
        let noise = random.normal()
        var temperature = 21 + 3 * sin(2 * .pi * hour / 24 + phase) + 0.4 * noise
        let shockScale = active?.kind == .varianceBurst ? 6.0 : 1.0
        load = 0.9 * load + 0.5 * shockScale * random.studentT3()
        let loadValue = 40 + load
        let count = Double(random.poisson(3))
        var padding = 0
        var step = interval * (0.9 + 0.2 * random.uniform())
        if let active {
            let progress = active.end > active.onset ? (time - active.onset) / (active.end - active.onset) : 1
            switch active.kind {
            case .spike: temperature += 8 * 0.4 * 4
            case .dip: temperature -= 8 * 0.4 * 4
            case .levelShift: temperature += 4 * 0.4
            case .drift: temperature += 8 * 0.4 * progress
            case .stuck:
                if stuckValue == nil { stuckValue = (temperature * 10).rounded() / 10 }
                temperature = stuckValue!
            case .flood: step = interval / 10
            case .silence: step = active.end - time + interval
            case .payloadBurst: padding = 400
            case .varianceBurst: break
            }
        } else {
            stuckValue = nil
        }
        if active?.kind == .silence && time > active!.onset { return (nil, step) }
        var payload = "{\"ts\":\(Int64((time * 1000).rounded())),\"temperature\":\(Self.fixed(temperature, 2)),"
            + "\"load\":\(Self.fixed(loadValue, 3)),\"count\":\(Int(count))"
        if padding > 0 { payload += ",\"debug\":\"" + String(repeating: "x", count: padding) + "\"" }
        return (payload + "}", step)
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
