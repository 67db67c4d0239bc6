import Foundation
import Testing
import VigilCore
import VigilIO

/// The profiles in `models/` on synthetic traffic of their device class: quiet on days of clean readings, where
/// the built-in default is not, and each catches the faults it is set up for.
///
/// The traffic is deterministic (a seeded generator), so the counts are too; the bounds leave room for tuning.
@Suite struct ShippedProfileTests {
    static func profile(_ name: String) throws -> DetectorProfile {
        try DetectorProfile.load(path: DetectorProfileTests.models.appendingPathComponent("\(name).yaml").path, name: name)
    }

    /// A small deterministic generator (PCG-style LCG) with normal deviates.
    struct Random {
        var state: UInt64
        mutating func uniform() -> Double {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Double(state >> 11) / Double(1 << 53)
        }
        mutating func normal() -> Double {
            let u = max(uniform(), 1e-12)
            return (-2 * log(u)).squareRoot() * cos(2 * .pi * uniform())
        }
    }

    struct Message {
        var device: String
        var time: Double
        var payload: String
    }

    /// Runs `messages` (in time order) through one engine with `profile`, sweeping for silence every second of
    /// receive time; returns the firing events as `detector:metric@device`.
    static func firing(_ profile: DetectorProfile, _ messages: [Message]) -> [String] {
        var engine = DetectionEngine(
            settings: DetectionSettings(profile: profile),
            decoder: PayloadDecoder(limits: PayloadLimits(), timestampField: "ts", timestampUnit: .auto)
        )
        var fired: [String] = []
        func note(_ event: AnomalyEvent) {
            if event.state == .firing { fired.append("\(event.detector):\(event.metric)@\(event.device)") }
        }
        var lastSweep = -Double.infinity
        for message in messages {
            var device = message.device
            var payload = message.payload
            _ = device.withUTF8 { d in
                payload.withUTF8 { p in
                    engine.process(
                        device: UnsafeRawBufferPointer(d), payload: UnsafeRawBufferPointer(p),
                        receivedAtNanos: Int64(message.time * 1e9), emit: note
                    )
                }
            }
            if message.time - lastSweep >= 1 {
                _ = engine.sweep(now: message.time, emit: note)
                lastSweep = message.time
            }
        }
        return fired
    }

    static let start = 1_700_006_400.0  // a midnight (UTC)

    static func hourOfDay(_ time: Double) -> Double { time.truncatingRemainder(dividingBy: 86_400) / 3600 }

    // MARK: Environment sensors

    /// Three room sensors, one reading a minute for `days` days: temperature and humidity on a daily cycle,
    /// quantised to 0.1; CO2 climbing with occupancy from 09:00 and decaying after 17:00.
    static func rooms(days: Int, seed: UInt64, fault: (_ device: Int, _ time: Double, _ reading: inout [String: Double]) -> Bool = { _, _, _ in true }) -> [Message] {
        var random = Random(state: seed)
        var messages: [Message] = []
        for minute in 0..<(days * 1440) {
            for device in 0..<3 {
                let time = start + Double(minute) * 60 + Double(device) * 7 + random.uniform() * 3
                let hour = hourOfDay(time)
                let occupied = hour < 9 ? 0 : hour < 17 ? 1 - exp(-(hour - 9) / 0.7) : (1 - exp(-8 / 0.7)) * exp(-(hour - 17))
                var reading = [
                    "temperature": ((21 + 1.5 * sin(2 * .pi * (hour - 9) / 24) + 0.8 * occupied + 0.08 * random.normal()) * 10).rounded() / 10,
                    "humidity": ((45 + 5 * cos(2 * .pi * hour / 24) + 0.3 * random.normal()) * 10).rounded() / 10,
                    "co2": (450 + 450 * occupied + 15 * random.normal()).rounded(),
                ]
                let rssi = Int(-70 + 5 * random.normal())
                guard fault(device, time, &reading) else { continue }
                let fields = reading.keys.sorted().map { "\"\($0)\": \(reading[$0]!)" }.joined(separator: ", ")
                messages.append(Message(device: "room-\(device)", time: time, payload: "{\"ts\": \(Int64(time * 1000)), \(fields), \"rssi\": \(rssi)}"))
            }
        }
        return messages
    }

    @Test func environmentSensorIsQuietOnCleanDaysWhereTheDefaultIsNot() throws {
        let messages = Self.rooms(days: 10, seed: 42)
        let tuned = Self.firing(try Self.profile("environment-sensor"), messages)
        let builtIn = Self.firing(DetectorProfile(), messages)
        // 30 sensor-days: a handful of events at most, against dozens from the default (every morning's CO2 rise).
        #expect(tuned.count <= 6, "\(tuned)")
        #expect(builtIn.count >= 10 * max(tuned.count, 1), "\(builtIn.count) vs \(tuned)")
    }

    @Test func environmentSensorCatchesItsFaults() throws {
        let day = 86_400.0
        let faultDay = Self.start + 8 * day
        let messages = Self.rooms(days: 9, seed: 43) { device, time, reading in
            switch device {
            case 0 where time >= faultDay + 3 * 3600 && time < faultDay + 4 * 3600:
                reading["co2"] = 1500  // the ventilation failed at 03:00, or somebody is there who should not be
            case 1 where time >= faultDay + 12 * 3600 && time < faultDay + 15 * 3600:
                reading["temperature"] = 22.3  // stuck
            case 2 where time >= faultDay + 20 * 3600 && time < faultDay + 22 * 3600:
                return false  // the battery died for two hours
            default: break
            }
            return true
        }
        let fired = Set(Self.firing(try Self.profile("environment-sensor"), messages))
        for expected in ["seasonal:co2@room-0", "flatline:temperature@room-1", "silence:silence_s@room-2"] {
            #expect(fired.contains(expected), "\(fired.sorted())")
        }
    }

    // MARK: Smart meters

    /// Three meters, one reading every 10 s for `days` days: a base load that follows the day, a 2 kW kettle now
    /// and then (more often by day), the supply voltage on a daily swing, and a cumulative energy counter.
    static func meters(days: Int, seed: UInt64, fault: (_ device: Int, _ time: Double, _ reading: inout [String: Double], _ padding: inout Int) -> Bool = { _, _, _, _ in true }) -> [Message] {
        var random = Random(state: seed)
        var messages: [Message] = []
        var kettleUntil = [0.0, 0.0, 0.0]
        var energy = [0.0, 0.0, 0.0]
        for step in 0..<(days * 8640) {
            for device in 0..<3 {
                let time = start + Double(step) * 10 + Double(device) + random.uniform()
                let hour = hourOfDay(time)
                if random.uniform() < (hour > 6 && hour < 22 ? 0.0004 : 0.00002) { kettleUntil[device] = time + 180 }
                let base = 250 + 150 * max(0, sin(2 * .pi * (hour - 12) / 24)) + 25 * random.normal()
                var reading = [
                    "power": (base + (time < kettleUntil[device] ? 2000 : 0)).rounded(),
                    "voltage": ((231 + 1.5 * sin(2 * .pi * hour / 24) + 0.6 * random.normal()) * 10).rounded() / 10,
                ]
                var padding = 0
                guard fault(device, time, &reading, &padding) else { continue }
                reading["current"] = (reading["power"]! / reading["voltage"]! * 100).rounded() / 100
                energy[device] += reading["power"]! * 10 / 3_600_000
                reading["energy_kwh"] = (energy[device] * 1000).rounded() / 1000
                var fields = reading.keys.sorted().map { "\"\($0)\": \(reading[$0]!)" }.joined(separator: ", ")
                if padding > 0 { fields += ", \"debug\": \"" + String(repeating: "x", count: padding) + "\"" }
                messages.append(Message(device: "meter-\(device)", time: time, payload: "{\"ts\": \(Int64(time * 1000)), \(fields)}"))
            }
        }
        return messages
    }

    @Test func smartMeterIsQuietOnCleanDaysWhereTheDefaultIsNot() throws {
        let messages = Self.meters(days: 4, seed: 7)
        let tuned = Self.firing(try Self.profile("smart-meter"), messages)
        let builtIn = Self.firing(DetectorProfile(), messages)
        // 12 meter-days with kettles, idle nights and a growing energy counter.
        #expect(tuned.count <= 3, "\(tuned)")
        #expect(builtIn.count >= 10 * max(tuned.count, 1), "\(builtIn.count) vs \(tuned)")
    }

    @Test func smartMeterCatchesItsFaults() throws {
        let faultDay = Self.start + 3 * 86_400
        let messages = Self.meters(days: 4, seed: 8) { device, time, reading, padding in
            let at = time - faultDay
            switch device {
            case 0 where at >= 3 * 3600 && at < 4 * 3600:
                reading["power"]! += 3000  // a 3 kW heater left on at 03:00
            case 0 where at >= 10 * 3600 && at < 10 * 3600 + 120:
                reading["voltage"] = 212  // a sag for two minutes
            case 1 where at >= 12 * 3600 && at < 12 * 3600 + 900:
                reading["voltage"] = 231.2  // the meter froze
                reading["power"] = 310
            case 1 where at >= 16 * 3600 && at < 16 * 3600 + 30:
                padding = 1500  // a firmware fault: debug output in the reading
            case 2 where at >= 18 * 3600 && at < 18 * 3600 + 300:
                return false  // offline for five minutes
            default: break
            }
            return true
        }
        let fired = Set(Self.firing(try Self.profile("smart-meter"), messages))
        for expected in [
            "seasonal:power@meter-0", "ewma:voltage@meter-0", "flatline:voltage@meter-1",
            "payload_size:payload_bytes@meter-1", "silence:silence_s@meter-2",
        ] {
            #expect(fired.contains(expected), "\(fired.sorted())")
        }
    }
}
