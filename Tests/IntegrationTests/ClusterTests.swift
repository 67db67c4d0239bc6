import Foundation
import Testing
import TestSupport
import VigilCore
import VigilIO

/// Several `vigil` instances sharing one fleet (`cluster`): every device is watched by exactly one of them, and
/// together they raise exactly the events one instance raises alone.
@Suite(.timeLimit(.minutes(3)))
struct ClusterTests {
    static let devices = 30
    static let spiked = [1, 4, 7, 10, 13, 16, 19, 22, 25, 28]

    /// The fleet: `devices` devices, 200 s, a spike on each of ``spiked`` at +150 s; even devices under
    /// `site-a/`, odd ones under `site-b/` (for the `filters` mode).
    static func messages() throws -> [(topic: String, payload: String)] {
        let jsonl = SyntheticRecording.jsonl(devices: devices, seconds: 200, spikes: spiked.map { (device: $0, second: 150) })
        return try jsonl.split(separator: "\n").map { line in
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            let topic = try #require(object["topic"] as? String)
            let name = topic.split(separator: "/")[1]  // devices/d-N/telemetry
            let device = try #require(Int(name.dropFirst(2)))
            return ((device % 2 == 0 ? "site-a/" : "site-b/") + topic, try #require(object["payload"] as? String))
        }
    }

    /// A config with only event-time detectors (the EWMA baseline and the change detector), so that the events
    /// do not depend on how fast the broker delivers.
    static func writeConfig(
        in folder: TemporaryDirectory, name: String, port: Int = 1883, filter: String = "+/devices/+/telemetry", cluster: String, extra: String = ""
    ) throws -> String {
        let models = folder.path("models")
        try FileManager.default.createDirectory(atPath: models, withIntermediateDirectories: true)
        try folder.write("models/cluster.yaml", """
            threshold: 0.9999
            detectors:
              flatline: {enabled: false}
              rate: {enabled: false}
              silence: {enabled: false}
              payload_size: {enabled: false}
            """)
        return try folder.write("\(name).yaml", """
            broker:
              host: "127.0.0.1"
              port: \(port)
              client_id: "vigil-\(name)-\(UUID().uuidString.prefix(6))"
            subscriptions:
              - filter: "\(filter)"
                device: "\(filter.replacingOccurrences(of: "devices/+", with: "devices/{device}"))"
                profile: cluster
            models_dir: models
            payload:
              timestamp_field: "ts"
            pipeline:
              shards: 2
            outputs:
              mqtt:
                topic: "vigil/anomalies/\(name)/{device}"
            metrics:
              listen: "127.0.0.1:0"
            \(cluster)
            \(extra)
            """)
    }

    struct Event: Hashable, CustomStringConvertible {
        var device, metric, detector, state, onset, detected: String
        var description: String { "\(device) \(metric) \(detector) \(state) \(onset)" }

        init?(_ object: [String: Any]) {
            guard let device = object["device"] as? String, let metric = object["metric"] as? String,
                let detector = object["detector"] as? String, let state = object["state"] as? String,
                let onset = object["onset"] as? String, let detected = object["detected"] as? String
            else { return nil }
            (self.device, self.metric, self.detector, self.state, self.onset, self.detected) = (device, metric, detector, state, onset, detected)
        }
    }

    static func owner(_ device: String, of instances: Int) -> Int {
        StableHash.instance(of: StableHash.hash(device), count: instances)
    }

    @Test func hashModeBacktestsSplitTheFleetAndTogetherEqualOneInstance() throws {
        let folder = try TemporaryDirectory("vigil-cluster")
        let input = try folder.write("fleet.jsonl", SyntheticRecording.jsonl(devices: Self.devices, seconds: 200, spikes: Self.spiked.map { (device: $0, second: 150) }))
        func replay(_ name: String, cluster: String) throws -> [Event] {
            let config = try Self.writeConfig(in: folder, name: name, filter: "devices/+/telemetry", cluster: cluster)
            let output = folder.path("\(name).jsonl")
            let result = try ChildProcess.run(product: "vigil", arguments: ["replay", "--offline", "--config", config, "--anomalies", output, input], timeout: 60)
            #expect(result.status == 0, "\(result.output)")
            if cluster.contains("hash") { #expect(result.output.contains("of devices other instances own"), "\(result.output)") }
            let text = try String(contentsOfFile: output, encoding: .utf8)
            return text.split(separator: "\n").compactMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]).flatMap(Event.init) }
        }
        let single = try replay("single", cluster: "")
        #expect(Set(single.filter { $0.state == "firing" && $0.detector == "ewma" }.map(\.device)) == Set(Self.spiked.map { "d-\($0)" }))
        var union: [Event] = []
        for index in 0..<3 {
            let events = try replay("i\(index)", cluster: "cluster: {mode: hash, instances: 3, index: \(index)}")
            for event in events { #expect(Self.owner(event.device, of: 3) == index, "\(event) raised by instance \(index)") }
            union += events
        }
        #expect(Set(union) == Set(single), "only in the cluster: \(Set(union).subtracting(single)); only alone: \(Set(single).subtracting(union))")
        #expect(union.count == single.count)
    }

    /// Three instances in `hash` mode, two in `filters` mode and one alone, all live on one broker at once.
    @Test func liveInstancesEachWatchTheirOwnDevicesAndTogetherEqualOneInstance() throws {
        let broker = try Broker()
        defer { broker.stop() }
        let folder = try TemporaryDirectory("vigil-cluster")
        let subscriber = try TestSubscriber(port: broker.port, filters: ["vigil/anomalies/#"])
        #expect(subscriber.waitUntilSubscribed())
        var instances: [(name: String, process: ChildProcess)] = []
        func start(_ name: String, filter: String = "+/devices/+/telemetry", cluster: String) throws {
            let config = try Self.writeConfig(in: folder, name: name, port: broker.port, filter: filter, cluster: cluster)
            instances.append((name, try ChildProcess(product: "vigil", arguments: ["run", "--config", config])))
        }
        try start("single", cluster: "")
        for index in 0..<3 { try start("hash\(index)", cluster: "cluster: {mode: hash, instances: 3, index: \(index)}") }
        try start("filters-a", filter: "site-a/devices/+/telemetry", cluster: "cluster: {mode: filters}")
        try start("filters-b", filter: "site-b/devices/+/telemetry", cluster: "cluster: {mode: filters}")
        for instance in instances {
            #expect(instance.process.waitForOutput(containing: "subscribed"), "\(instance.name): \(instance.process.output.current)")
        }

        let publisher = try MQTTClient(options: MQTTClientOptions(host: "127.0.0.1", port: broker.port, clientID: "cluster-pub"))
        try publisher.start(handler: nil)
        let messages = try Self.messages()
        for message in messages { try publisher.publish(topic: message.topic, payload: message.payload, qos: 1) }
        #expect(publisher.waitForPublishes(timeout: 30))

        func events(_ messages: [TestSubscriber.Message], prefix: String) -> [Event] {
            messages.filter { $0.topic.hasPrefix("vigil/anomalies/\(prefix)") }
                .compactMap { (try? JSONSerialization.jsonObject(with: Data($0.payload.utf8)) as? [String: Any]).flatMap(Event.init) }
        }
        // Done when every instance has stopped: SIGTERM drains each one's rings and publishes what is pending.
        var received: [String: Int] = [:]
        var processed: [String: Int] = [:]
        var notOwned: [String: Int] = [:]
        for instance in instances {
            instance.process.signal(SIGTERM)
            #expect(instance.process.waitForExit(timeout: 30) == 0, "\(instance.name): \(instance.process.output.current)")
            let log = instance.process.output.current
            received[instance.name] = Self.field("received", in: log)
            processed[instance.name] = Self.field("processed", in: log)
            notOwned[instance.name] = Self.field("not_owned", in: log)
        }
        let all = subscriber.messages.current
        let single = events(all, prefix: "single/")
        #expect(Set(single.filter { $0.state == "firing" && $0.detector == "ewma" }.map(\.device)) == Set(Self.spiked.map { "d-\($0)" }))

        // hash: each message processed by exactly one instance, each device's events from its owner only.
        let hashNames = (0..<3).map { "hash\($0)" }
        #expect(hashNames.map { processed[$0] ?? 0 }.reduce(0, +) == messages.count, "\(processed)")
        for name in hashNames {
            #expect(received[name] == messages.count && (processed[name] ?? 0) + (notOwned[name] ?? 0) == messages.count, "\(name): \(received) \(processed) \(notOwned)")
        }
        var hashUnion: [Event] = []
        for (index, name) in hashNames.enumerated() {
            let mine = events(all, prefix: "\(name)/")
            for event in mine { #expect(Self.owner(event.device, of: 3) == index, "\(event) raised by \(name)") }
            hashUnion += mine
        }
        #expect(Set(hashUnion) == Set(single), "hash only: \(Set(hashUnion).subtracting(single)); single only: \(Set(single).subtracting(hashUnion))")
        #expect(hashUnion.count == single.count)

        // filters: site-a's instance raises only even devices' events, site-b's only odd ones.
        let siteA = events(all, prefix: "filters-a/")
        let siteB = events(all, prefix: "filters-b/")
        #expect(siteA.allSatisfy { Int($0.device.dropFirst(2))! % 2 == 0 })
        #expect(siteB.allSatisfy { Int($0.device.dropFirst(2))! % 2 == 1 })
        #expect(Set(siteA + siteB) == Set(single))
        #expect(siteA.count + siteB.count == single.count)
    }

    /// `shared` subscribes through `$share/{group}/`: the broker hands each message to one member of the group.
    /// (mosquitto picks members round-robin, which is why docs/deployment.md keeps this mode for brokers that
    /// route by topic hash; here it shows the subscription is shared, not affinity.)
    @Test func sharedModeSplitsTheStreamBetweenTheGroup() throws {
        let broker = try Broker()
        defer { broker.stop() }
        let folder = try TemporaryDirectory("vigil-cluster")
        let members = try (0..<2).map { index in
            let config = try Self.writeConfig(in: folder, name: "shared\(index)", port: broker.port, cluster: "cluster: {mode: shared, group: fleet}")
            return try ChildProcess(product: "vigil", arguments: ["run", "--config", config])
        }
        for member in members { #expect(member.waitForOutput(containing: "subscribed"), "\(member.output.current)") }
        #expect(members.allSatisfy { $0.output.current.contains("$share/fleet/+/devices/+/telemetry") })

        let publisher = try MQTTClient(options: MQTTClientOptions(host: "127.0.0.1", port: broker.port, clientID: "shared-pub"))
        try publisher.start(handler: nil)
        let messages = try Self.messages().prefix(1000)
        for message in messages { try publisher.publish(topic: message.topic, payload: message.payload, qos: 1) }
        #expect(publisher.waitForPublishes(timeout: 30))
        // Every message delivered to some member before they stop: a member stopping first would leave its
        // share queued in its persistent session (delivered at its next start, not counted here).
        let ports = members.compactMap { $0.metricsPort() }
        #expect(ports.count == members.count)
        let delivered = { ports.reduce(0) { $0 + Int(HTTPProbe.metric("vigil_messages_received_total", port: $1) ?? 0) } }
        #expect(eventually(timeout: 30) { delivered() >= messages.count }, "\(delivered()) of \(messages.count)")
        var received: [Int] = []
        for member in members {
            member.signal(SIGTERM)
            #expect(member.waitForExit(timeout: 30) == 0, "\(member.output.current)")
            received.append(Self.field("received", in: member.output.current) ?? -1)
        }
        #expect(received.reduce(0, +) == messages.count, "\(received)")
        #expect(received.allSatisfy { $0 > 0 }, "\(received)")
    }

    /// An integer field of the last `name=N` in a log.
    static func field(_ name: String, in log: String) -> Int? {
        guard let range = log.range(of: " \(name)=[0-9]+", options: [.regularExpression, .backwards]) else { return nil }
        return Int(log[range].split(separator: "=")[1])
    }

    /// Three instances learn the fleet and stop (each writes its checkpoint); `vigil reshard` splits the three
    /// checkpoints for two; two instances start from them with every device warm, each with exactly its own.
    @Test func threeInstancesHandTheirDevicesToTwoThroughTheCheckpoints() throws {
        let broker = try Broker()
        defer { broker.stop() }
        let folder = try TemporaryDirectory("vigil-cluster")
        func start(_ name: String, instances: Int, index: Int, state: String) throws -> ChildProcess {
            let config = try Self.writeConfig(
                in: folder, name: name, port: broker.port, cluster: "cluster: {mode: hash, instances: \(instances), index: \(index)}",
                extra: "state: {dir: \"\(state)\"}")
            return try ChildProcess(product: "vigil", arguments: ["run", "--config", config])
        }
        func stop(_ process: ChildProcess) -> String {
            process.signal(SIGTERM)
            #expect(process.waitForExit(timeout: 30) == 0, "\(process.output.current)")
            return process.output.current
        }

        let old = try (0..<3).map { try start("old\($0)", instances: 3, index: $0, state: folder.path("state-\($0)")) }
        for process in old { #expect(process.waitForOutput(containing: "subscribed"), "\(process.output.current)") }
        let publisher = try MQTTClient(options: MQTTClientOptions(host: "127.0.0.1", port: broker.port, clientID: "reshard-pub"))
        try publisher.start(handler: nil)
        for message in try Self.messages() { try publisher.publish(topic: message.topic, payload: message.payload, qos: 1) }
        #expect(publisher.waitForPublishes(timeout: 30))
        var written = 0
        for process in old {
            let log = stop(process)
            #expect(log.contains("checkpoint written reason=shutdown"), "\(log)")
            written += Self.field("devices", in: log) ?? 0
        }
        #expect(written == Self.devices)

        let inputs = (0..<3).map { folder.path("state-\($0)/state.vigilckpt") }
        let reshard = try ChildProcess.run(product: "vigil", arguments: ["reshard", "--instances", "2", "--output-dir", folder.path("new")] + inputs)
        #expect(reshard.status == 0, "\(reshard.output)")
        #expect(reshard.output.contains("3 inputs, \(Self.devices) devices -> 2 instances"), "\(reshard.output)")

        let owned = (0..<2).map { index in (0..<Self.devices).filter { Self.owner("d-\($0)", of: 2) == index }.count }
        for index in 0..<2 {
            let process = try start("new\(index)", instances: 2, index: index, state: folder.path("new/\(index)"))
            #expect(process.waitForOutput(containing: "loaded checkpoint"), "\(process.output.current)")
            #expect(process.output.current.contains("devices=\(owned[index]) skipped=0 metrics_dropped=0 not_owned=0"), "\(process.output.current)")
            let log = stop(process)
            // Every device it took over is as warm as it was: none is learning its baselines again.
            #expect(log.contains("devices=\(owned[index]) evictions=0 not_owned=0 warming=0"), "\(log)")
        }

        // Without reshard, an instance given another split's checkpoint keeps only the devices it owns now. (Old
        // instance 1 of 3 holds the middle third of the hash range, which new instances 0 and 1 of 2 share.)
        let stale = try start("stale", instances: 2, index: 0, state: folder.path("state-1"))
        #expect(stale.waitForOutput(containing: "loaded checkpoint"), "\(stale.output.current)")
        let inOld1 = (0..<Self.devices).filter { Self.owner("d-\($0)", of: 3) == 1 }
        let kept = inOld1.filter { Self.owner("d-\($0)", of: 2) == 0 }.count
        #expect(kept > 0 && kept < inOld1.count, "the fleet no longer exercises a split checkpoint")
        #expect(stale.output.current.contains("devices=\(kept) skipped=0 metrics_dropped=0 not_owned=\(inOld1.count - kept)"), "\(stale.output.current)")
        _ = stop(stale)
    }
}
