import Foundation
import Synchronization
import VigilCore
import VigilIO
import VigilSim

/// Listens to Vigil's anomaly events: keeps them (with the time they arrived) and, for a small run, prints
/// each against the ground truth as it arrives.
final class EventCollector: MQTTClientHandler {
    let injections: [SyntheticFleet.Injection]
    let printsLive: Bool
    let lines = Mutex<[String]>([])
    let detectedInjections = Mutex<Set<Int>>([])
    let subscribed = Atomic<Bool>(false)
    /// Firing events on no injected anomaly (printed: the first few).
    let unexpected = Atomic<Int>(0)
    static let unexpectedPrinted = 3

    init(injections: [SyntheticFleet.Injection], printsLive: Bool) {
        self.injections = injections
        self.printsLive = printsLive
    }

    func mqttMessage(topic: UnsafeRawBufferPointer, payload: UnsafeRawBufferPointer) {
        let received = Date().timeIntervalSince1970
        var text = String(decoding: payload, as: UTF8.self)
        // Keep the event as published, with the arrival time added as its last field.
        if text.hasSuffix("}") {
            text.removeLast()
            text += ",\"received_ms\":\(Int64((received * 1000).rounded()))}"
        }
        lines.withLock { $0.append(text) }
        guard printsLive, let event = PublishedEvent(json: payload) else { return }
        let match = injections.indices.first { index in
            let injection = injections[index]
            return injection.device == event.device && event.detected >= injection.onset
                && event.detected <= injection.end + 10
        }
        guard event.state == "firing" else {
            if match != nil { say("  resolved  \(event.device) \(event.metric): \(event.explanation)") }
            return
        }
        guard let match else {
            let count = unexpected.add(1, ordering: .relaxed).newValue
            if count <= Self.unexpectedPrinted {
                say("  unexpected \(event.device) \(event.metric): \(event.explanation)"
                    + (count == Self.unexpectedPrinted ? " (further ones are counted, not printed)" : ""))
            }
            return
        }
        detectedInjections.withLock { _ = $0.insert(match) }
        let onset = injections[match].onset
        say("  DETECTED  \(event.device) \(event.metric): \(event.explanation)")
        say("            true time to detect \(format((event.detected - onset) * 1000)) ms (event time), "
            + "injection to alert received \(format((received - onset) * 1000)) ms (wall clock)")
    }

    func mqttConnected(code: Int32, description: String) {}
    func mqttDisconnected(code: Int32, description: String) {}
    func mqttSubscribed(granted: [Int32]) { subscribed.store(true, ordering: .relaxed) }
}

/// The fields of a published anomaly event the load test uses.
struct PublishedEvent {
    var device: String
    var metric: String
    var detector: String
    var state: String
    var detected: Double
    var latencyMs: Double?
    var receivedMs: Double?
    var explanation: String

    init?(json: UnsafeRawBufferPointer) {
        guard let object = try? JSONSerialization.jsonObject(with: Data(json)) as? [String: Any],
            let device = object["device"] as? String, let metric = object["metric"] as? String,
            let state = object["state"] as? String, var detectedText = object["detected"] as? String,
            let detected = detectedText.withUTF8({ TimestampParser.parseISO8601(UnsafeRawBufferPointer($0)) })
        else { return nil }
        self.device = device
        self.metric = metric
        self.detector = object["detector"] as? String ?? ""
        self.state = state
        self.detected = detected
        self.latencyMs = (object["latency_ms"] as? NSNumber)?.doubleValue
        self.receivedMs = (object["received_ms"] as? NSNumber)?.doubleValue
        self.explanation = object["explanation"] as? String ?? ""
    }
}

/// One publisher connection and the devices it owns (device i belongs to connection i mod N), published on
/// its own thread at their own pace: every device its ``DeviceSignal``, its next report in a min-heap.
final class FleetPublisher: Sendable {
    let client: MQTTClient
    let sent = Atomic<Int>(0)
    let errors = Atomic<Int>(0)
    /// Largest lateness behind the schedule seen, microseconds.
    let maxLagMicros = Atomic<Int>(0)
    /// Messages per second of the run, filled in when the thread ends.
    let perSecond = Mutex<[Int]>([])

    init(client: MQTTClient) { self.client = client }

    /// Publishes its devices' reports from `start` for `duration` seconds; blocks until done.
    func run(
        devices: [Int], classes: [DeviceClass], scenario: LoadScenario, start: Double,
        injections: [Int: [SyntheticFleet.Injection]]
    ) {
        let interval = scenario.interval
        var signals = devices.map {
            DeviceSignal(seed: scenario.seed, index: $0, interval: interval, start: start, deviceClass: classes[$0])
        }
        let topics = devices.map { "devices/d-\($0)/telemetry" }
        // Min-heap of (next report time, slot in `devices`).
        var heap: [(time: Double, slot: Int)] = signals.indices.map { (signals[$0].next, $0) }
        heap.sort { $0.time < $1.time }
        let end = start + scenario.durationSeconds
        var counts = [Int](repeating: 0, count: Int(scenario.durationSeconds.rounded(.up)) + 1)
        var lag = 0.0
        while let top = heap.first, top.time < end {
            let now = Date().timeIntervalSince1970
            if top.time > now + 0.0005 {
                usleep(UInt32(min(top.time - now, 0.05) * 1e6))
                continue
            }
            lag = max(lag, now - top.time)
            let slot = top.slot
            let device = devices[slot]
            let active = injections[device]?.first { top.time >= $0.onset && top.time < $0.end }
            let sample = signals[slot].sample(at: top.time, active: active, interval: interval)
            if let payload = sample.payload {
                do {
                    try client.publish(topic: topics[slot], payload: payload, qos: 0)
                    sent.add(1, ordering: .relaxed)
                    counts[min(counts.count - 1, max(0, Int(top.time - start)))] += 1
                } catch {
                    errors.add(1, ordering: .relaxed)
                }
            }
            heap[0].time = top.time + sample.step
            siftDown(&heap)
        }
        perSecond.withLock { $0 = counts }
        maxLagMicros.store(Int(lag * 1e6), ordering: .relaxed)
    }

    private func siftDown(_ heap: inout [(time: Double, slot: Int)]) {
        var parent = 0
        while true {
            let left = 2 * parent + 1
            guard left < heap.count else { return }
            var smallest = left
            if left + 1 < heap.count && heap[left + 1].time < heap[left].time { smallest = left + 1 }
            guard heap[smallest].time < heap[parent].time else { return }
            heap.swapAt(smallest, parent)
            parent = smallest
        }
    }
}

/// Runs the fleet: connects, writes the truth, publishes from every connection, listens, summarises.
func runFleet(_ options: LoadgenOptions) throws -> Int32 {
    let scenario = try options.scenario()
    let connections = options.connections ?? max(1, Int((scenario.rate / 10_000).rounded(.up)))
    // The first reports fall a moment after the connections are up; onsets are relative to this start.
    let start = (Date().timeIntervalSince1970 + 0.5).rounded(.up)
    var injections = scenario.injections(start: start)
    let isDemo = options.scenarioPath == nil
    if isDemo {
        let onset = start + options.spikeAt
        injections = [SyntheticFleet.Injection(
            device: options.spikeDevice, kind: .spike, metric: "temperature", onset: onset, end: onset + scenario.interval
        )]
    }
    if let path = options.truth {
        let text = truthJSONL(injections)
        try text.write(toFile: path, atomically: true, encoding: .utf8)
    }

    let collector = EventCollector(injections: injections, printsLive: injections.count <= 20)
    var listenOptions = MQTTClientOptions(host: options.host, port: options.port, clientID: "vigil-loadgen-listen-\(getpid())")
    listenOptions.subscriptions = [(options.anomalies, 1)]
    let listener = try MQTTClient(options: listenOptions)
    try listener.start(handler: collector)
    var publishers: [FleetPublisher] = []
    for index in 0..<connections {
        let client = try MQTTClient(options: MQTTClientOptions(host: options.host, port: options.port, clientID: "vigil-loadgen-\(getpid())-\(index)"))
        try client.start(handler: nil)
        publishers.append(FleetPublisher(client: client))
    }
    defer {
        for publisher in publishers { publisher.client.stop() }
        listener.stop()
    }
    let waitStart = Date()
    while !(publishers.allSatisfy(\.client.isConnected) && collector.subscribed.load(ordering: .relaxed)) {
        guard Date().timeIntervalSince(waitStart) < 10 else {
            FileHandle.standardError.write(Data("vigil-loadgen: cannot reach the broker at \(options.host):\(options.port)\n".utf8))
            return 1
        }
        usleep(10_000)
    }

    let kinds = Dictionary(grouping: injections, by: \.kind).map { "\($0.key.rawValue) \($0.value.count)" }.sorted()
    let mix = DeviceClass.all.compactMap { deviceClass in
        scenario.classes[deviceClass.name].flatMap { $0 > 0 ? "\(deviceClass.name) \(format(100 * $0, 0))%" : nil }
    }
    say("fleet: \(scenario.devices) devices (\(mix.joined(separator: ", "))), \(format(scenario.rate, 0)) msg/s for \(format(scenario.durationSeconds, 0)) s "
        + "over \(connections) connection\(connections == 1 ? "" : "s"); injecting \(injections.count): \(kinds.joined(separator: ", "))")
    if isDemo {
        say("  injected  spike in \(options.spikeDevice) temperature at \(TimeFormat.iso8601(injections[0].onset))")
    }
    let byDevice = Dictionary(grouping: injections) { Int($0.device.dropFirst(2)) ?? -1 }
    let classes = scenario.deviceClasses()
    let group = DispatchGroup()
    for (index, publisher) in publishers.enumerated() {
        let devices = Array(stride(from: index, to: scenario.devices, by: connections))
        let mine = byDevice.filter { $0.key % connections == index }
        DispatchQueue.global().async(group: group) {
            publisher.run(devices: devices, classes: classes, scenario: scenario, start: start, injections: mine)
        }
    }
    // Progress every 10 s on a long run.
    while group.wait(timeout: .now() + 10) == .timedOut {
        let sent = publishers.reduce(0) { $0 + $1.sent.load(ordering: .relaxed) }
        let elapsed = Date().timeIntervalSince1970 - start
        say("  \(Int(elapsed)) s: sent \(sent) (\(format(Double(sent) / max(elapsed, 0.001), 0)) msg/s)")
    }
    let finished = Date().timeIntervalSince1970
    for publisher in publishers { _ = publisher.client.waitForPublishes(timeout: 10) }
    // Let the last events arrive.
    let settleStart = Date()
    while Date().timeIntervalSince(settleStart) < options.settle {
        if isDemo && !collector.detectedInjections.withLock({ $0.isEmpty }) { break }
        usleep(20_000)
    }

    let sent = publishers.reduce(0) { $0 + $1.sent.load(ordering: .relaxed) }
    let errors = publishers.reduce(0) { $0 + $1.errors.load(ordering: .relaxed) }
    let lag = Double(publishers.map { $0.maxLagMicros.load(ordering: .relaxed) }.max() ?? 0) / 1e6
    let eventLines = collector.lines.withLock { $0 }
    if let path = options.events {
        try eventLines.map { $0 + "\n" }.joined().write(toFile: path, atomically: true, encoding: .utf8)
    }
    if let path = options.summary {
        var perSecond = [Int](repeating: 0, count: Int(scenario.durationSeconds.rounded(.up)) + 1)
        for publisher in publishers {
            for (second, count) in publisher.perSecond.withLock({ $0 }).enumerated() { perSecond[second] += count }
        }
        var line = JSONWriter()
        line.field("scenario", scenario.description)
        line.field("devices", Double(scenario.devices))
        line.field("seed", Double(scenario.seed))
        line.rawField("classes", "{" + scenario.classes.sorted { $0.key < $1.key }.map { JSONWriter.string($0.key) + ":" + JSONWriter.number($0.value) }.joined(separator: ",") + "}")
        line.field("rate", scenario.rate)
        line.field("duration_s", scenario.durationSeconds)
        line.field("grace_s", scenario.graceSeconds)
        line.field("connections", Double(connections))
        line.field("start", start)
        line.field("finished", finished)
        line.field("sent", Double(sent))
        line.field("publish_errors", Double(errors))
        line.field("max_lag_s", lag)
        line.rawField("sent_per_second", "[" + perSecond.map(String.init).joined(separator: ",") + "]")
        try (line.finish() + "\n").write(toFile: path, atomically: true, encoding: .utf8)
    }
    let detected = collector.detectedInjections.withLock { $0.count }
    say("summary: sent \(sent) messages in \(format(finished - start)) s (\(format(Double(sent) / max(finished - start, 0.001), 0)) msg/s), "
        + "publish errors \(errors), most behind schedule \(format(lag * 1000)) ms; events received \(eventLines.count)"
        + (collector.printsLive ? "; injected \(injections.count), detected \(detected), "
            + "firing events on no injected anomaly \(collector.unexpected.load(ordering: .relaxed))" : ""))
    return isDemo && detected == 0 ? 2 : 0
}

/// A line on stdout at once (unbuffered), so that progress and events show as they happen through a pipe too.
func say(_ text: String) {
    FileHandle.standardOutput.write(Data((text + "\n").utf8))
}
