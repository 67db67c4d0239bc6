import Foundation
import Testing
import VigilCore
import VigilIO
import VigilSim

/// `make loadtest`'s profile (loadtest/models/fleet.yaml) on vigil-loadgen's mixed fleet, at the load test's
/// pace (a report every 0.5 s): every class's payload is read, clean traffic raises nothing (counters and
/// setpoints are not judged), and a spike on each class is found on the metric the ground truth names.
@Suite struct LoadTestProfileTests {
    @Test func theFleetProfileIsQuietOnCleanTrafficOfEveryClassAndFindsASpikeInEach() throws {
        let path = DetectorProfileTests.models.deletingLastPathComponent().appendingPathComponent("loadtest/models/fleet.yaml").path
        let profile = try DetectorProfile.load(path: path, name: "fleet")
        let start = SyntheticFleet.start + 12 * 3600
        let interval = 0.5
        var messages: [ShippedProfileTests.Message] = []
        var spikes: [String: String] = [:]  // device -> metric
        for (number, deviceClass) in DeviceClass.all.flatMap({ Array(repeating: $0, count: 3) }).enumerated() {
            let device = "d-\(number)"
            var signal = DeviceSignal(seed: 2, index: number, interval: interval, start: start, deviceClass: deviceClass)
            // The first device of each class gets a spike after five minutes.
            let onset = start + 300
            let spike = number % 3 == 0
                ? SyntheticFleet.Injection(device: device, kind: .spike, metric: deviceClass.metric(for: .spike), onset: onset, end: onset + interval)
                : nil
            if let spike { spikes[device] = spike.metric }
            while signal.next < start + 600 {
                let time = signal.next
                let active = spike.flatMap { time >= $0.onset && time < $0.end ? $0 : nil }
                let sample = signal.sample(at: time, active: active, interval: interval)
                signal.next = time + sample.step
                if let payload = sample.payload { messages.append(.init(device: device, time: time, payload: payload)) }
            }
        }
        messages.sort { $0.time < $1.time }
        let fired = ShippedProfileTests.firing(profile, messages)
        // detector:metric@device. Never a counter or a setpoint: the profile leaves them out.
        let metrics = Set(fired.map { String($0.split(separator: ":")[1].split(separator: "@")[0]) })
        #expect(metrics.isSubset(of: ["temperature", "load", "count", "power", "voltage", "zone_temp", "valve"]), "\(fired)")
        for (device, metric) in spikes {
            #expect(fired.contains { $0.hasSuffix(":\(metric)@\(device)") }, "no spike found on \(device) \(metric): \(fired)")
        }
        // Ten minutes of six clean devices: at most the odd heavy-tailed `load` shock (none with this seed).
        let falseAlarms = fired.filter { event in !spikes.keys.contains { event.hasSuffix("@\($0)") } }
        #expect(falseAlarms.count <= 1, "\(falseAlarms)")
    }
}
