import Foundation
import Testing
import TestSupport
import VigilIO

/// The fault suite in `make test`: a broker restarted mid-stream, vigil SIGKILLed and restarted from its
/// checkpoint, a corrupt checkpoint, SIGTERM under load. `make chaos` loops the same faults for longer.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct FaultTests {
    /// Publishes `count` QoS 1 messages numbered 0..<count, retrying a publish the client refuses while the
    /// broker is away; `pause(i)` runs before message i.
    static func publish(
        _ publisher: MQTTClient, count: Int, topic: (Int) -> String, pause: (Int) throws -> Void = { _ in },
        payload: (Int) -> String = { "\($0)" }
    ) throws {
        for index in 0..<count {
            try pause(index)
            var attempts = 0
            while true {
                do {
                    try publisher.publish(topic: topic(index), payload: payload(index), qos: 1)
                    break
                } catch {
                    attempts += 1
                    guard attempts < 3000 else { throw error }
                    usleep(5_000)
                }
            }
            // Keep the publisher's queue bounded: it must not race ahead of a broker that is away.
            if index % 1000 == 999 { _ = publisher.waitForPublishes(timeout: 30) }
        }
    }

    /// A client that keeps its session (clean start off, 10 minutes' expiry) and reconnects every second.
    static func persistentClient(port: Int, clientID: String) -> MQTTClientOptions {
        var options = MQTTClientOptions(host: "127.0.0.1", port: port, clientID: clientID)
        options.cleanStart = false
        options.sessionExpirySeconds = 600
        options.reconnectMinSeconds = 1
        options.reconnectMaxSeconds = 1
        return options
    }

    /// 100k QoS 1 messages to a subscriber slower than the publisher, so that the broker holds a backlog for its
    /// session. Half way the broker is stopped (SIGTERM: it saves sessions and queues) or killed (SIGKILL: it
    /// keeps what it last saved, every second here) and restarted on the same port from its persistence file.
    @Test(arguments: [SIGTERM, SIGKILL])
    func aBrokerRestartOrCrashMidStreamLosesNothing(signal: Int32) throws {
        let folder = try TemporaryDirectory("vigil-fault")
        let brokerFolder = folder.url.appendingPathComponent("broker")
        var broker = try Broker(directory: brokerFolder, persistence: true, autosaveSeconds: 1)
        let port = broker.port
        defer { broker.stop() }

        var options = Self.persistentClient(port: port, clientID: "fault-sub")
        options.receiveMaximum = 100
        options.subscriptions = [("fault/#", 1)]
        let subscriber = try MQTTClient(options: options)
        let handler = RecordingHandler(delayMicroseconds: 60)
        try subscriber.start(handler: handler)
        defer { subscriber.stop() }
        #expect(handler.subscribed.wait(timeout: 10) { $0 >= 1 }.satisfied)

        let publisher = try MQTTClient(options: Self.persistentClient(port: port, clientID: "fault-pub"))
        try publisher.start(handler: nil)
        defer { publisher.stop() }

        let count = 100_000
        try Self.publish(publisher, count: count, topic: { "fault/d-\($0 % 50)" }) { index in
            guard index == count / 2 else { return }
            // Mid-stream: the broker stops or dies, and comes back on the same port from its persistence file.
            if signal == SIGKILL {
                // What the broker acknowledged to the publisher but had not saved yet dies with it: that is the
                // broker's durability (autosave_interval), not Vigil's. So the kill comes after a save that
                // follows the publisher's last acknowledgement; Vigil's backlog and in-flight window are live.
                #expect(publisher.waitForPublishes(timeout: 30))
                let acknowledged = Date()
                let saved = eventually(timeout: 10) {
                    let attributes = try? FileManager.default.attributesOfItem(atPath: broker.persistenceFile.path)
                    return (attributes?[.modificationDate] as? Date).map { $0 > acknowledged } ?? false
                }
                #expect(saved, "mosquitto did not save within 10 s")
                #expect(handler.received.current.distinct < count / 2, "no backlog left to lose at the kill")
                broker.kill()
            } else {
                broker.stop()
            }
            broker = try Broker(port: port, directory: brokerFolder, persistence: true, autosaveSeconds: 1)
        }
        let (counts, complete) = handler.received.wait(timeout: 120) { $0.distinct >= count }
        print("broker \(signal == SIGKILL ? "SIGKILL" : "SIGTERM") mid-stream: sent \(count), received \(counts.distinct) distinct, \(counts.total) in all, \(subscriber.connectCount) connects")
        #expect(complete, "received \(counts.distinct) of \(count) distinct (\(counts.total) in all)")
        #expect(counts.distinct == count)
        // At least once: duplicates are allowed (a redelivered in-flight window), losses are not.
        #expect(counts.total >= count)
        #expect(subscriber.connectCount >= 2)
        #expect(subscriber.resumedSessionCount >= 1, "the broker did not keep the session")
    }

    static func writeConfig(broker: Broker, state: URL, metricsPort: Int = 0) throws -> String {
        try VigilRunTests.writeConfig(
            broker: broker,
            extra: """
                state:
                  dir: "\(state.path)"
                  checkpoint_interval_s: 1
                shutdown_timeout_s: 20
                """,
            metrics: "{listen: \"127.0.0.1:\(metricsPort)\"}"
        )
    }

    static func samples(device: String, count: Int, start: Double, offset: Int = 0) -> [String] {
        (0..<count).map { index in
            let i = index + offset
            let value = 20 + 0.5 * sin(Double(i) * 1.7) * cos(Double(i) * 0.31)
            return "{\"ts\": \(Int64((start + Double(i)) * 1000)), \"temperature\": \(value), \"meta\": {\"rssi\": -60}}"
        }
    }

    @Test func vigilKilledMidStreamRestartsWarmFromItsCheckpoint() throws {
        let broker = try Broker()
        defer { broker.stop() }
        let folder = try TemporaryDirectory("vigil-fault")
        let config = try Self.writeConfig(broker: broker, state: folder.url.appendingPathComponent("state"))
        let devices = (0..<20).map { "d-\($0)" }
        let start = Date().timeIntervalSince1970 - 10_000

        var vigil = try ChildProcess(product: "vigil", arguments: ["run", "--config", config])
        #expect(vigil.waitForOutput(containing: "subscribed"), "\(vigil.output.current)")
        let publisher = try MQTTClient(options: MQTTClientOptions(host: "127.0.0.1", port: broker.port, clientID: "fault-pub-2"))
        try publisher.start(handler: nil)
        defer { publisher.stop() }
        for device in devices {
            for payload in Self.samples(device: device, count: 100, start: start) {
                try publisher.publish(topic: "devices/\(device)/telemetry", payload: payload, qos: 1)
            }
        }
        #expect(publisher.waitForPublishes(timeout: 30))
        // A periodic checkpoint with every device, then SIGKILL: no shutdown path runs.
        #expect(vigil.output.wait(timeout: 20) { $0.contains("checkpoint written reason=periodic devices=20") }.satisfied, "\(vigil.output.current)")
        vigil.signal(SIGKILL)
        _ = vigil.waitForExit()

        vigil = try ChildProcess(product: "vigil", arguments: ["run", "--config", config])
        #expect(vigil.waitForOutput(containing: "loaded checkpoint"), "\(vigil.output.current)")
        #expect(vigil.output.current.contains("devices=20 skipped=0"), "\(vigil.output.current)")
        #expect(vigil.waitForOutput(containing: "subscribed"), "\(vigil.output.current)")
        #expect(vigil.output.current.contains("start=warm"))
        // Normal traffic after the restart, continuing each device's signal: no warm-up, no false alarms.
        for device in devices {
            for payload in Self.samples(device: device, count: 40, start: start, offset: 100) {
                try publisher.publish(topic: "devices/\(device)/telemetry", payload: payload, qos: 1)
            }
        }
        #expect(publisher.waitForPublishes(timeout: 30))
        #expect(vigil.output.wait(timeout: 20) { $0.contains("checkpoint written reason=periodic devices=20") }.satisfied)
        vigil.signal(SIGTERM)
        #expect(vigil.waitForExit(timeout: 30) == 0)
        let log = vigil.output.current
        #expect(log.contains("processed=800"), "\(log)")
        #expect(log.contains("devices=20 evictions=0 not_owned=0 warming=0 fired=0"), "\(log)")
        #expect(log.contains("checkpoint written reason=shutdown devices=20"), "\(log)")
    }

    @Test func aCorruptCheckpointIsReportedKeptAsideAndVigilStartsCold() throws {
        let broker = try Broker()
        defer { broker.stop() }
        let folder = try TemporaryDirectory("vigil-fault")
        let state = folder.url.appendingPathComponent("state")
        try FileManager.default.createDirectory(at: state, withIntermediateDirectories: true)
        try Data(repeating: 0x42, count: 4096).write(to: state.appendingPathComponent("state.vigilckpt"))
        let vigil = try ChildProcess(product: "vigil", arguments: ["run", "--config", try Self.writeConfig(broker: broker, state: state)])
        #expect(vigil.waitForOutput(containing: "cannot load the checkpoint; starting cold"), "\(vigil.output.current)")
        #expect(vigil.waitForOutput(containing: "subscribed"), "\(vigil.output.current)")
        let files = try FileManager.default.contentsOfDirectory(atPath: state.path)
        #expect(files.contains { $0.hasPrefix("state.vigilckpt.bad-") }, "\(files)")
        vigil.signal(SIGTERM)
        #expect(vigil.waitForExit(timeout: 30) == 0)
        // The clean stop wrote a fresh, loadable checkpoint in its place.
        #expect(try CheckpointFile.load(path: state.appendingPathComponent("state.vigilckpt").path) != nil)
    }

    /// The sum over a log's "stopped" lines of `field=N` (each vigil run logs one at its clean stop).
    static func stoppedTotal(_ field: String, in log: String) -> Int {
        log.split(separator: "\n").filter { $0.contains(" stopped ") }.reduce(0) { total, line in
            guard let range = line.range(of: " \(field)=") else { return total }
            return total + (Int(line[range.upperBound...].prefix { $0.isNumber }) ?? 0)
        }
    }

    @Test func sigtermUnderFullLoadExitsCleanlyWithinTheBoundAndLosesNothing() throws {
        let broker = try Broker()
        defer { broker.stop() }
        let folder = try TemporaryDirectory("vigil-fault")
        let state = folder.url.appendingPathComponent("state")
        // One config for both runs: its client id names the persistent session.
        let metricsPort = try FreePort.find()
        let config = try Self.writeConfig(broker: broker, state: state, metricsPort: metricsPort)
        var vigil = try ChildProcess(product: "vigil", arguments: ["run", "--config", config])
        #expect(vigil.waitForOutput(containing: "subscribed"), "\(vigil.output.current)")
        let publisher = try MQTTClient(options: MQTTClientOptions(host: "127.0.0.1", port: broker.port, clientID: "fault-load"))
        try publisher.start(handler: nil)
        defer { publisher.stop() }
        let start = Date().timeIntervalSince1970 - 100_000
        let count = 40_000
        // Full rate from a second thread while the signal comes, and on while vigil is down: its persistent
        // session makes the broker queue those for the next start.
        let done = Awaitable<Bool>(false)
        Thread.detachNewThread {
            try? Self.publish(publisher, count: count, topic: { "devices/l-\($0 % 200)/telemetry" }, payload: { index in
                "{\"ts\": \(Int64((start + Double(index / 200)) * 1000)), \"temperature\": \(20 + Double(index % 7) / 10)}"
            })
            done.update { $0 = true }
        }
        #expect(vigil.output.wait(timeout: 20) { $0.contains("checkpoint written reason=periodic") }.satisfied)
        vigil.signal(SIGTERM)
        // The bound is shutdown_timeout_s (20 here); a clean stop takes far less.
        #expect(vigil.waitForExit(timeout: 25) == 0, "\(vigil.output.current)")
        var log = vigil.output.current
        #expect(log.contains("checkpoint written reason=shutdown"), "\(log)")
        #expect(try CheckpointFile.load(path: state.appendingPathComponent("state.vigilckpt").path) != nil)
        #expect(Self.stoppedTotal("received", in: log) > 0, "\(log)")

        // The rest arrives at the next start: intake closed before the rings drained, so nothing was delivered
        // to a closed router (no dropped_shutdown), and received + received = sent (at least once).
        vigil = try ChildProcess(product: "vigil", arguments: ["run", "--config", config])
        #expect(vigil.waitForOutput(containing: "subscribed"), "\(vigil.output.current)")
        #expect(done.wait(timeout: 60) { $0 }.satisfied)
        #expect(publisher.waitForPublishes(timeout: 30))
        let firstRun = Self.stoppedTotal("received", in: log)
        let receivedNow = { Int(HTTPProbe.metric("vigil_messages_received_total", port: metricsPort) ?? 0) }
        #expect(eventually(timeout: 60) { firstRun + receivedNow() >= count }, "\(firstRun) + \(receivedNow()) of \(count)")
        vigil.signal(SIGTERM)
        #expect(vigil.waitForExit(timeout: 25) == 0, "\(vigil.output.current)")
        log += vigil.output.current
        let received = Self.stoppedTotal("received", in: log)
        #expect(received >= count, "\(log)")
        #expect(Self.stoppedTotal("processed", in: log) == received, "\(log)")
        #expect(Self.stoppedTotal("dropped", in: log) == 0, "\(log)")
    }

    /// A stop that would wait (here: an outbox that cannot deliver, with a long grace) ends at once, with status
    /// 130, on a second signal; the undelivered events stay in the outbox for the next start.
    @Test func aSecondSignalExitsAtOnce() throws {
        let broker = try Broker()
        defer { broker.stop() }
        let receiver = try HTTPReceiver { _ in .init(status: 503) }
        defer { receiver.stop() }
        let subscriber = try TestSubscriber(port: broker.port, filters: ["vigil/anomalies/#"])
        #expect(subscriber.waitUntilSubscribed())
        let config = try IncidentOutputRunTests.webhookConfig(
            broker: broker, receiver: receiver, outbox: "shutdown_grace_ms: 30000", extra: "shutdown_timeout_s: 60")
        let vigil = try ChildProcess(product: "vigil", arguments: ["run", "--config", config])
        #expect(vigil.waitForOutput(containing: "subscribed"), "\(vigil.output.current)")
        try IncidentOutputRunTests.publish(0..<205, port: broker.port, device: "sig-1", start: Date().timeIntervalSince1970 - 1000)
        #expect(subscriber.messages.wait(timeout: 15) { $0.count >= 2 }.satisfied, "\(vigil.output.current)")
        vigil.signal(SIGTERM)
        #expect(vigil.waitForOutput(containing: "stopping signal=SIGTERM"), "\(vigil.output.current)")
        // The first stop now waits up to 30 s for the webhook; the second signal does not.
        vigil.signal(SIGTERM)
        #expect(vigil.waitForExit(timeout: 10) == 130, "\(vigil.output.current)")
        #expect(vigil.output.current.contains("second signal: exiting now"), "\(vigil.output.current)")
        #expect(!vigil.output.current.contains(" stopped "), "\(vigil.output.current)")
    }

    @Test func trainWritesAModelThatRunLoads() throws {
        let broker = try Broker()
        defer { broker.stop() }
        let folder = try TemporaryDirectory("vigil-fault")
        let config = try VigilRunTests.writeConfig(broker: broker)
        var lines: [String] = []
        let start = 1_767_225_600.0
        for device in ["m-1", "m-2", "m-3"] {
            for (index, payload) in Self.samples(device: device, count: 100, start: start).enumerated() {
                let escaped = payload.replacingOccurrences(of: "\"", with: "\\\"")
                lines.append("{\"t\": \(Int64((start + Double(index)) * 1000)), \"topic\": \"devices/\(device)/telemetry\", \"payload\": \"\(escaped)\"}")
            }
        }
        let recording = try folder.write("history.jsonl", lines.joined(separator: "\n") + "\n")
        let model = folder.path("models/site.vigilmodel")
        let trained = try ChildProcess.run(product: "vigil", arguments: ["train", "--config", config, "--output", model, recording])
        #expect(trained.status == 0, "\(trained.output)")
        #expect(trained.output.contains("3 devices"), "\(trained.output)")

        let vigil = try ChildProcess(product: "vigil", arguments: ["run", "--config", config, "--model", model])
        #expect(vigil.waitForOutput(containing: "loaded model"), "\(vigil.output.current)")
        #expect(vigil.output.current.contains("devices=3 skipped=0"), "\(vigil.output.current)")
        #expect(vigil.waitForOutput(containing: "subscribed"), "\(vigil.output.current)")
        vigil.signal(SIGTERM)
        #expect(vigil.waitForExit(timeout: 30) == 0)
        #expect(vigil.output.current.contains("warming=0"), "\(vigil.output.current)")
    }
}
