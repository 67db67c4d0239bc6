import Foundation
import Testing
import VigilCore
import VigilSim

/// The simulated fleet's device classes: what each reports, that Vigil's decoder reads it, that every anomaly
/// kind lands on a metric the class has, and that the signals look like their devices.
@Suite struct DeviceClassTests {
    /// A device's reports every `interval` seconds for `days` days from the fleet's start (a Thursday), with
    /// `injection` active where it says; each as (time, the payload's fields).
    static func reports(
        _ deviceClass: DeviceClass, days: Double, interval: Double = 60, seed: UInt64 = 11, index: Int = 3,
        injection: SyntheticFleet.Injection? = nil
    ) throws -> [(time: Double, fields: [String: Double])] {
        var signal = DeviceSignal(seed: seed, index: index, interval: interval, deviceClass: deviceClass)
        var decoder = PayloadDecoder(limits: PayloadLimits(), timestampField: "ts", timestampUnit: .milliseconds)
        var result: [(Double, [String: Double])] = []
        while signal.next < SyntheticFleet.start + days * 86_400 {
            let time = signal.next
            let active = injection.flatMap { time >= $0.onset && time < $0.end ? $0 : nil }
            let sample = signal.sample(at: time, active: active, interval: interval)
            signal.next = time + sample.step
            guard var payload = sample.payload else { continue }
            try payload.withUTF8 { try decoder.decode(UnsafeRawBufferPointer($0)) }
            #expect(decoder.eventTime.map { abs($0 - time) < 0.001 } == true, "\(payload)")
            var fields: [String: Double] = [:]
            for index in 0..<decoder.fieldCount {
                fields[decoder.withFieldName(index) { String(decoding: $0, as: UTF8.self) }] = decoder.fieldValue(index)
            }
            result.append((time, fields))
        }
        return result
    }

    @Test(arguments: DeviceClass.all.map(\.name))
    func everyReportDecodesToExactlyTheClassMetrics(_ name: String) throws {
        let deviceClass = try #require(DeviceClass.named(name))
        let reports = try Self.reports(deviceClass, days: 2)
        #expect(reports.count > 2800)
        let names = Set(deviceClass.metrics.map(\.name))
        #expect(reports.allSatisfy { Set($0.fields.keys) == names })
    }

    @Test func everyAnomalyKindLandsOnAMetricOfItsClassOrOnTheDevice() throws {
        let perMetric: [SyntheticFleet.Kind] = [.spike, .dip, .levelShift, .drift, .stuck, .varianceBurst]
        for deviceClass in DeviceClass.all {
            for kind in SyntheticFleet.Kind.allCases {
                let metric = deviceClass.metric(for: kind)
                if perMetric.contains(kind) {
                    let spec = try #require(deviceClass.metrics.first { $0.name == metric }, "\(deviceClass.name) \(kind)")
                    #expect(spec.scale > 0, "\(deviceClass.name) \(kind) goes into \(spec.name), which has no noise scale")
                } else {
                    #expect(metric == nil, "\(deviceClass.name) \(kind)")
                }
            }
        }
        // The classes' names are distinct, and the original fleet's mapping is environment's.
        #expect(Set(DeviceClass.all.map(\.name)).count == DeviceClass.all.count)
        #expect(SyntheticFleet.Kind.spike.metric == "temperature" && SyntheticFleet.Kind.varianceBurst.metric == "load")
        #expect(DeviceClass.powerMeter.metric(for: .drift) == "voltage" && DeviceClass.controller.metric(for: .stuck) == "valve")
    }

    /// The same device with and without each anomaly (the random draws do not depend on it): the named metric
    /// moves by the kind's size in its scale, the rows above it do not move at all, and outside the anomaly
    /// nothing differs but a counter (which keeps what it added up).
    @Test(arguments: DeviceClass.all.map(\.name))
    func eachAnomalyChangesTheMetricItNames(_ name: String) throws {
        let deviceClass = try #require(DeviceClass.named(name))
        let clean = try Self.reports(deviceClass, days: 0.5)
        for kind in [SyntheticFleet.Kind.spike, .dip, .levelShift, .drift, .stuck, .varianceBurst] {
            let metric = try #require(deviceClass.metric(for: kind))
            let row = try #require(deviceClass.metrics.firstIndex { $0.name == metric })
            let spec = deviceClass.metrics[row]
            let onset = SyntheticFleet.start + 3 * 3600
            let injection = SyntheticFleet.Injection(device: "d-3", kind: kind, metric: metric, onset: onset, end: onset + 3600)
            let faulty = try Self.reports(deviceClass, days: 0.5, injection: injection)
            try #require(faulty.count == clean.count)
            let window = faulty.indices.filter { faulty[$0].time >= onset && faulty[$0].time < onset + 3600 }
            #expect(window.count >= 59)
            let measured = deviceClass.metrics.filter { $0.scale > 0 }.map(\.name)
            // (After a variance burst an AR term still carries its large shocks for a while.)
            for index in faulty.indices where faulty[index].time < onset || (faulty[index].time >= onset + 3600 && kind != .varianceBurst) {
                #expect(measured.allSatisfy { faulty[index].fields[$0] == clean[index].fields[$0] }, "\(name) \(kind) outside its window")
            }
            let quantum = pow(10, -Double(spec.decimals))
            let moves = window.map { faulty[$0].fields[metric]! - clean[$0].fields[metric]! }
            switch kind {
            case .spike: #expect(moves.allSatisfy { abs($0 - 32 * spec.scale) <= quantum * 1.01 }, "\(name) \(kind) \(moves.prefix(3))")
            case .dip: #expect(moves.allSatisfy { abs($0 + 32 * spec.scale) <= quantum * 1.01 }, "\(name) \(kind) \(moves.prefix(3))")
            case .levelShift: #expect(moves.allSatisfy { abs($0 - 4 * spec.scale) <= quantum * 1.01 }, "\(name) \(kind) \(moves.prefix(3))")
            case .drift: #expect(moves.last! > 7 * spec.scale && moves.first! < spec.scale, "\(name) \(kind) \(moves)")
            case .stuck: #expect(Set(window.map { faulty[$0].fields[metric]! }).count == 1, "\(name) \(kind)")
            default:
                func spread(_ values: [Double]) -> Double {
                    let mean = values.reduce(0, +) / Double(values.count)
                    return (values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(values.count)).squareRoot()
                }
                let steps = { (reports: [(time: Double, fields: [String: Double])]) in
                    window.dropFirst().map { reports[$0].fields[metric]! - reports[$0 - 1].fields[metric]! }
                }
                #expect(spread(steps(faulty)) > 2 * spread(steps(clean)), "\(name) \(kind)")
            }
            for above in deviceClass.metrics[..<row] {
                #expect(window.allSatisfy { faulty[$0].fields[above.name] == clean[$0].fields[above.name] }, "\(name) \(kind) moved \(above.name)")
            }
        }
    }

    /// Hours of local time (the device's offset is at most an hour) and weekday of a report.
    static func clock(_ time: Double) -> (hour: Double, weekend: Bool) {
        let hours = (time - SyntheticFleet.start) / 3600
        let day = Int(hours / 24)
        return (hours - Double(day) * 24, (day + 3) % 7 >= 5)
    }

    static func mean(_ values: [Double]) -> Double { values.reduce(0, +) / Double(max(values.count, 1)) }

    @Test func aPowerMeterFollowsTheDayAndTheWeek() throws {
        let reports = try Self.reports(.powerMeter, days: 14)
        func power(_ hours: ClosedRange<Double>, weekend: Bool) -> Double {
            Self.mean(reports.filter { hours.contains(Self.clock($0.time).hour) && Self.clock($0.time).weekend == weekend }.map { $0.fields["power"]! })
        }
        // Evening peak against the small hours; a weekend morning against a weekday one.
        #expect(power(19...20, weekend: false) > 2.5 * power(2...4, weekend: false))
        #expect(power(10...11, weekend: true) > 1.5 * power(10...11, weekend: false))
        let voltage = reports.map { $0.fields["voltage"]! }
        #expect(voltage.allSatisfy { (222...238).contains($0) } && abs(Self.mean(voltage) - 230) < 1.5)
        // The energy register never goes back, and adds up the power.
        let energy = reports.map { $0.fields["energy"]! }
        #expect(zip(energy, energy.dropFirst()).allSatisfy { $0 <= $1 })
        let kilowattHours = Self.mean(reports.map { $0.fields["power"]! }) * 14 * 24 / 1000
        #expect(abs((energy.last! - energy.first!) / kilowattHours - 1) < 0.02)
    }

    @Test func aControllerKeepsItsScheduleAndItsZoneFollows() throws {
        let reports = try Self.reports(.controller, days: 7)
        for report in reports {
            let (hour, weekend) = Self.clock(report.time)
            let setpoint = report.fields["setpoint"]!
            if (weekend ? 9.6...21.9 : 7.6...20.9).contains(hour) { #expect(setpoint == 21, "\(hour)") }
            if hour >= 0.6 && hour <= 4.9 { #expect(setpoint == 17, "\(hour)") }
            // Hours after a change the zone has settled close to its setpoint.
            if (weekend ? 12...21.9 : 10...20.9).contains(hour) || (3...4.9).contains(hour) {
                #expect(abs(report.fields["zone_temp"]! - setpoint) < 1, "\(hour)")
            }
            #expect((0...100).contains(report.fields["valve"]!))
        }
        let cycles = reports.map { $0.fields["cycles"]! }
        #expect(zip(cycles, cycles.dropFirst()).allSatisfy { $0 <= $1 })
        // One burner start every ten minutes on average: 1008 in a week.
        #expect((800...1200).contains(cycles.last! - cycles.first!))
    }
}
