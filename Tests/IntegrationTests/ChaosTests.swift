import Foundation
import Testing
import TestSupport
import VigilCore
import VigilIO
import VigilPipeline

/// `make chaos` (VIGIL_CHAOS_MINUTES=N): loops faults for N minutes and prints, per fault, what was injected,
/// messages sent, processed and lost. Not part of `make test` (disabled without the variable).
@Suite(.serialized, .enabled(if: ProcessInfo.processInfo.environment["VIGIL_CHAOS_MINUTES"] != nil))
struct ChaosTests {
    struct Row {
        var fault: String
        var injected: String
        var rounds = 0
        var sent = 0
        var processed = 0
        var lost: Int { max(0, sent - processed) }
    }

    @Test func chaos() throws {
        let minutes = Double(ProcessInfo.processInfo.environment["VIGIL_CHAOS_MINUTES"] ?? "") ?? 1
        let perRound = Int(ProcessInfo.processInfo.environment["VIGIL_CHAOS_MESSAGES"] ?? "") ?? 20_000
        let deadline = Date().addingTimeInterval(minutes * 60)
        var rows = [
            Row(fault: "broker restart", injected: "SIGTERM mosquitto mid-stream, restart on the same port (persistence on)"),
            Row(fault: "broker crash", injected: "SIGKILL mosquitto mid-stream, restart (autosave after every change)"),
            Row(fault: "vigil restart", injected: "SIGTERM vigil mid-stream, restart (persistent session, checkpoint)"),
            Row(fault: "endpoint outage", injected: "webhook answers 503 while 40 events fire, then recovers (counts: distinct event ids)"),
            Row(fault: "endpoint outage + vigil restart", injected: "webhook 503, vigil SIGTERMed with events in its outbox, restarted after recovery (distinct event ids)"),
        ]
        var round = 0
        while Date() < deadline {
            let kind = round % rows.count
            round += 1
            if kind >= 3 {
                let (sent, delivered) = try Self.endpointOutageRound(restartVigil: kind == 4)
                rows[kind].rounds += 1
                rows[kind].sent += sent
                rows[kind].processed += delivered
                continue
            }
            let folder = try TemporaryDirectory("vigil-chaos")
            let brokerFolder = folder.url.appendingPathComponent("broker")
            var broker = try Broker(directory: brokerFolder, persistence: true, autosaveEveryChange: kind == 1)
            let port = broker.port
            let config = try FaultTests.writeConfig(broker: broker, state: folder.url.appendingPathComponent("state"))
            var vigil = try ChildProcess(product: "vigil", arguments: ["run", "--config", config])
            #expect(vigil.waitForOutput(containing: "subscribed"), "\(vigil.output.current)")
            var log = ""
            let publisher = try MQTTClient(options: FaultTests.persistentClient(port: port, clientID: "chaos-pub"))
            try publisher.start(handler: nil)
            try FaultTests.publish(publisher, count: perRound, topic: { "devices/c-\($0 % 100)/telemetry" }) { index in
                guard index == perRound / 2 else { return }
                switch kind {
                case 0:
                    broker.stop()
                    broker = try Broker(port: port, directory: brokerFolder, persistence: true)
                case 1:
                    broker.kill()
                    broker = try Broker(port: port, directory: brokerFolder, persistence: true, autosaveEveryChange: true)
                default:
                    vigil.signal(SIGTERM)
                    _ = vigil.waitForExit(timeout: 30)
                    log += vigil.output.current
                    vigil = try ChildProcess(product: "vigil", arguments: ["run", "--config", config])
                    _ = vigil.waitForOutput(containing: "subscribed")
                }
            }
            _ = publisher.waitForPublishes(timeout: 60)
            Thread.sleep(forTimeInterval: 2)
            vigil.signal(SIGTERM)
            _ = vigil.waitForExit(timeout: 30)
            log += vigil.output.current
            // What the broker still holds for vigil's session (a slow broker, a reconnect backoff) is not lost:
            // collect it with further short runs until one receives nothing more (at most five).
            for _ in 0..<5 {
                let collector = try ChildProcess(product: "vigil", arguments: ["run", "--config", config])
                _ = collector.waitForOutput(containing: "subscribed")
                Thread.sleep(forTimeInterval: 2)
                collector.signal(SIGTERM)
                _ = collector.waitForExit(timeout: 30)
                let more = FaultTests.stoppedTotal("received", in: collector.output.current)
                log += collector.output.current
                if more == 0 { break }
            }
            publisher.stop()
            broker.stop()
            rows[kind].rounds += 1
            rows[kind].sent += perRound
            rows[kind].processed += FaultTests.stoppedTotal("received", in: log)
        }
        var table = "\n| fault | injected | rounds | sent | processed | lost |\n|---|---|---|---|---|---|\n"
        for row in rows {
            table += "| \(row.fault) | \(row.injected) | \(row.rounds) | \(row.sent) | \(row.processed) | \(row.lost) |\n"
        }
        print(table)
        try? table.write(toFile: ProcessInfo.processInfo.environment["VIGIL_CHAOS_REPORT"] ?? "/dev/null", atomically: false, encoding: .utf8)
        for row in rows where row.fault != "broker crash" { #expect(row.lost == 0, "\(row.fault): lost \(row.lost)") }
    }

    /// One endpoint outage: 20 devices each fire and resolve once (40 events) while the webhook answers 503;
    /// then it recovers, with vigil running on or (`restartVigil`) stopped with the events in its outbox and
    /// started again. Returns the events published on MQTT and those the webhook accepted, by distinct id.
    static func endpointOutageRound(restartVigil: Bool) throws -> (sent: Int, delivered: Int) {
        let broker = try Broker()
        defer { broker.stop() }
        let failing = Awaitable(true)
        let receiver = try HTTPReceiver { _ in failing.current ? .init(status: 503) : .init(status: 200) }
        defer { receiver.stop() }
        let subscriber = try TestSubscriber(port: broker.port, filters: ["vigil/anomalies/#"])
        defer { subscriber.client.stop() }
        #expect(subscriber.waitUntilSubscribed())
        let config = try IncidentOutputRunTests.webhookConfig(
            broker: broker, receiver: receiver, outbox: "retry_min_ms: 50, retry_max_ms: 400, shutdown_grace_ms: 200")
        let devices = (0..<20).map { "eo-\($0)" }
        let start = Date().timeIntervalSince1970 - 1000
        var vigil = try ChildProcess(product: "vigil", arguments: ["run", "--config", config])
        #expect(vigil.waitForOutput(containing: "subscribed"), "\(vigil.output.current)")
        for device in devices { try IncidentOutputRunTests.publish(0..<205, port: broker.port, device: device, start: start) }
        let expected = devices.count * 2
        #expect(subscriber.messages.wait(timeout: 30) { $0.count >= expected }.satisfied, "\(vigil.output.current)")
        #expect(receiver.requests.wait(timeout: 10) { $0.count >= 3 }.satisfied, "the webhook was not tried")
        if restartVigil {
            vigil.signal(SIGTERM)
            #expect(vigil.waitForExit(timeout: 30) == 0)
            failing.update { $0 = false }
            vigil = try ChildProcess(product: "vigil", arguments: ["run", "--config", config])
        } else {
            failing.update { $0 = false }
        }
        let sentIDs = Set(IncidentOutputRunTests.ids(subscriber.messages.current.map(\.payload)))
        let accepted = { (requests: [HTTPReceiver.Request]) in Set(requests.filter { $0.status == 200 }.compactMap { $0.headers["webhook-id"] }) }
        _ = receiver.requests.wait(timeout: 30) { accepted($0).isSuperset(of: sentIDs) }
        vigil.signal(SIGTERM)
        _ = vigil.waitForExit(timeout: 30)
        return (sentIDs.count, accepted(receiver.requests.current).intersection(sentIDs).count)
    }
}

/// Device-id cardinality attack (`make chaos`, VIGIL_CARDINALITY_DEVICES, default 2,000,000): distinct ids at
/// full rate through the real router, rings and engines (no broker: the broker would be the bottleneck). The
/// device table stays at `max_devices` per shard, every id beyond it is an eviction, and RSS stays bounded.
@Suite(.serialized, .enabled(if: ProcessInfo.processInfo.environment["VIGIL_CHAOS_MINUTES"] != nil))
struct CardinalityAttackTests {
    final class Quiet: PipelineObserver {
        func anomaly(_ event: AnomalyEvent) {}
        func dropped(_ reason: DropReason, shard: Int, device: UnsafeRawBufferPointer, offset: Int?) {}
    }

    static func residentMegabytes() -> Double {
        let statm = (try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8)) ?? "0 0"
        let pages = Double(statm.split(separator: " ")[1]) ?? 0
        return pages * Double(sysconf(Int32(_SC_PAGESIZE))) / 1_048_576
    }

    @Test func distinctDeviceIdsKeepMemoryBounded() throws {
        let total = Int(ProcessInfo.processInfo.environment["VIGIL_CARDINALITY_DEVICES"] ?? "") ?? 2_000_000
        let maxDevices = 50_000
        let shards = 2
        // RSS is sampled once the tables are full (twice the cap): fewer ids measure nothing.
        try #require(total > maxDevices * shards * 2, "VIGIL_CARDINALITY_DEVICES must exceed \(maxDevices * shards * 2)")
        let detection = DetectionSettings(profile: DetectorProfile(), maxDevices: maxDevices)
        let settings = PipelineSettings(shards: shards, ringCapacity: 1 << 22, overflow: .block, maxPayloadBytes: 65536)
        let pipeline = Pipeline(settings: settings, templates: [try TopicTemplate("d/{device}")], observer: Quiet()) { _ in
            DetectionEngine(settings: detection, decoder: PayloadDecoder(format: .auto, limits: PayloadLimits(), timestampField: nil, timestampUnit: .auto))
        }
        let payload = Array("{\"temperature\": 21.5, \"humidity\": 40}".utf8)
        let start = Date()
        var rssAtCap = 0.0
        var peak = 0.0
        for index in 0..<total {
            var id = "attacker-\(index)"
            id.withUTF8 { device in
                payload.withUnsafeBytes { bytes in
                    pipeline.router.route(device: UnsafeRawBufferPointer(device), payload: bytes, receivedAtNanos: Int64(index) * 1000)
                }
            }
            // Not drained here: drain() closes the router. The rings hold at most 4 MB each.
            if index == maxDevices * shards * 2 { rssAtCap = Self.residentMegabytes() }
            if index % 200_000 == 0 { peak = max(peak, Self.residentMegabytes()) }
        }
        pipeline.drain()
        let seconds = Date().timeIntervalSince(start)
        let snapshot = pipeline.snapshot()
        peak = max(peak, Self.residentMegabytes())
        print("cardinality attack: \(total) distinct ids in \(String(format: "%.1f", seconds)) s (\(Int(Double(total) / seconds)) msg/s), processed \(snapshot.processed), devices tracked \(snapshot.devices) (cap \(maxDevices * shards)), evictions \(snapshot.evictions), RSS at the cap \(Int(rssAtCap)) MB, peak \(Int(peak)) MB")
        #expect(snapshot.devices <= maxDevices * shards)
        #expect(snapshot.processed == total)
        #expect(snapshot.evictions == total - snapshot.devices)
        // Bounded: past the cap, memory grows by at most a small fraction, not by the attacker's id count.
        #expect(peak < rssAtCap * 1.5 + 64, "RSS grew from \(rssAtCap) MB at the cap to \(peak) MB")
    }
}
