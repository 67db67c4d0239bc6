import Foundation
import Synchronization
import TestSupport
import VigilCore
import VigilIO
import VigilPipeline

/// `e2e` and `latency`: Vigil behind a real mosquitto on a loopback port.
///
/// Two C libmosquitto clients (`loadtest/bench/mqtt_peer.c`, built with `cc -O2` at run time) do the rest: a
/// publisher that floods (or paces) ~90-byte JSON telemetry, and a raw subscriber that only counts what it
/// receives, the ceiling a subscriber can reach through this broker on this machine. Vigil is what `vigil run`
/// builds, in this process: the configuration's MQTTClient, RouterHandler, Pipeline (default profile, one shard
/// per core) and AnomalyPublisher, publishing its events back to the broker.
enum E2EBench {
    /// What the broker is given beyond Broker's defaults: no queue limit, so that a subscriber that falls
    /// behind finds its messages queued at the broker rather than dropped (mosquitto's default of 1000 queued
    /// messages drops about half of a QoS 0 flood); 1000 QoS 1 messages in flight to a subscriber, not 20
    /// (an MQTT 5 subscriber's receive maximum still applies; mosquitto searches the in-flight list on every
    /// PUBACK, so "unlimited" is slower); and TCP_NODELAY, without which Nagle's algorithm and delayed ACKs
    /// hold QoS 1 deliveries back by tens of milliseconds (about 1,000 messages a second here).
    static let brokerConfig = ["max_queued_messages 0", "max_inflight_messages 1000", "set_tcp_nodelay true"]
    static let filter = "devices/+/telemetry"

    struct Peer {
        let binary: String

        static func prepare(root: String, directory: String) -> Swift.Result<Peer, CReference.Failure> {
            guard let cc = CReference.findExecutable("cc") else { return .failure(.init(message: "cc not found")) }
            let source = root + "/loadtest/bench/mqtt_peer.c"
            let binary = directory + "/mqtt_peer"
            progress("MQTT peers: \(cc) -O2 \(source) -lmosquitto")
            let compile = CReference.runProcess(cc, ["-O2", "-o", binary, source, "-lmosquitto"])
            guard compile.status == 0 else {
                return .failure(.init(message: "cc -O2 mqtt_peer.c failed: \(compile.output.prefix(300))"))
            }
            return .success(Peer(binary: binary))
        }

        /// Publishes `count` messages and returns the publisher's own rate (every message out, QoS 1: acked).
        func publish(port: Int, qos: Int, count: Int, devices: Int, rate: Double = 0, spikeEvery: Int = 0, warmup: Int = 0)
            -> Swift.Result<Double, CReference.Failure>
        {
            let outcome = CReference.runProcess(
                binary,
                ["pub", "127.0.0.1", "\(port)", "\(qos)", "\(count)", "\(devices)", "\(rate)", "\(spikeEvery)", "\(warmup)"])
            let fields = Self.fields(outcome.output)
            guard outcome.status == 0, fields["sent"].flatMap({ Int($0) }) == count, let rate = fields["rate"].flatMap({ Double($0) })
            else {
                return .failure(.init(message: "publisher: exit \(outcome.status): \(outcome.output.prefix(300))"))
            }
            return .success(rate)
        }

        /// The raw subscriber beside the publisher: returns the messages it received, its rate and its CPU time
        /// over all but the first `skip` (the untimed warm-up).
        func rawSubscriber(port: Int, qos: Int, count: Int, devices: Int, skip: Int = 0) -> Swift.Result<Run, CReference.Failure> {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: binary)
            process.arguments = ["sub", "127.0.0.1", "\(port)", "\(qos)", E2EBench.filter, "\(count)", "3", "\(skip)"]
            let pipe = Pipe()
            process.standardOutput = pipe
            do { try process.run() } catch { return .failure(.init(message: "raw subscriber: \(error)")) }
            let reader = pipe.fileHandleForReading
            // Wait for `ready` (subscribed) before publishing.
            var output = Data()
            while !String(decoding: output, as: UTF8.self).contains("ready\n") {
                let chunk = reader.availableData
                if chunk.isEmpty { break }
                output.append(chunk)
            }
            let published = publish(port: port, qos: qos, count: count, devices: devices)
            output.append(reader.readDataToEndOfFile())
            process.waitUntilExit()
            if case .failure(let failure) = published { return .failure(failure) }
            let fields = Self.fields(String(decoding: output, as: UTF8.self))
            guard let received = fields["received"].flatMap({ Int($0) }), let rate = fields["rate"].flatMap({ Double($0) }),
                let cpu = fields["cpu_seconds"].flatMap({ Double($0) })
            else {
                return .failure(.init(message: "raw subscriber: \(String(decoding: output, as: UTF8.self).prefix(300))"))
            }
            return .success(Run(received: received, rate: rate, cpuSeconds: cpu))
        }

        static func fields(_ output: String) -> [String: String] {
            var fields: [String: String] = [:]
            for pair in output.split(whereSeparator: { $0 == " " || $0 == "\n" }) {
                let parts = pair.split(separator: "=", maxSplits: 1)
                if parts.count == 2 { fields[String(parts[0])] = String(parts[1]) }
            }
            return fields
        }
    }

    /// RouterHandler as the service installs it, plus the time of message `skip + 1` and the SUBACK.
    final class TimingHandler: MQTTClientHandler {
        let inner: RouterHandler
        let skip: Int
        let firstNanos = Atomic<Int64>(0)
        /// The process's CPU time, in ns, when message `skip + 1` arrived.
        let firstCPUNanos = Atomic<Int64>(0)
        let subscribed = Atomic<Bool>(false)
        /// Messages so far (the network thread's own count).
        private let seen = Atomic<Int>(0)

        init(inner: RouterHandler, skip: Int) {
            self.inner = inner
            self.skip = skip
        }

        func mqttMessage(topic: UnsafeRawBufferPointer, payload: UnsafeRawBufferPointer) {
            if seen.wrappingAdd(1, ordering: .relaxed).newValue == skip + 1 {
                firstNanos.store(WallClock.nowNanos(), ordering: .relaxed)
                firstCPUNanos.store(Int64(Measure.cpuSeconds() * 1e9), ordering: .relaxed)
            }
            inner.mqttMessage(topic: topic, payload: payload)
        }
        func mqttConnected(code: Int32, description: String) { inner.mqttConnected(code: code, description: description) }
        func mqttDisconnected(code: Int32, description: String) { inner.mqttDisconnected(code: code, description: description) }
        func mqttSubscribed(granted: [Int32]) {
            inner.mqttSubscribed(granted: granted)
            subscribed.store(true, ordering: .releasing)
        }
    }

    /// The service's AnomalyPublisher, timing receive → event handed to the MQTT client for each event.
    final class LatencyObserver: PipelineObserver {
        let publisher: AnomalyPublisher
        let latencies = Mutex<[Int64]>([])

        init(publisher: AnomalyPublisher) {
            self.publisher = publisher
            latencies.withLock { $0.reserveCapacity(1 << 20) }
        }

        func anomaly(_ event: AnomalyEvent) {
            publisher.anomaly(event)
            let nanos = WallClock.nowNanos() - event.receivedAtNanos
            latencies.withLock { if $0.count < 1 << 20 { $0.append(nanos) } }
        }

        func dropped(_ reason: DropReason, shard: Int, device: UnsafeRawBufferPointer, offset: Int?) {
            publisher.dropped(reason, shard: shard, device: device, offset: offset)
        }
    }

    /// Vigil as `vigil run` builds it, connected to the broker on `port`.
    final class Service {
        let client: MQTTClient
        let pipeline: Pipeline
        let handler: TimingHandler
        let observer: LatencyObserver

        /// - Parameter spinNanos: the workers' spin before parking; nil for the default.
        init(port: Int, qos: Int, devices: Int, root: String, spinNanos: Int? = nil, skip: Int = 0) throws {
            let yaml = """
                broker:
                  host: "127.0.0.1"
                  port: \(port)
                  client_id: "vigil-bench"
                subscriptions:
                  - filter: "\(E2EBench.filter)"
                    device: "\(Corpus.template)"
                    qos: \(qos)
                    profile: "default"
                pipeline:
                  max_devices: \(max(100_000, devices))
                models_dir: "\(root)/models"
                """
            let config = try VigilConfig.parse(yaml: yaml, source: "vigil-bench")
            let detection = try config.detectionSettings()
            // Log lines are formatted and written as the service does, to /dev/null.
            let null = FileHandle(forWritingAtPath: "/dev/null")!
            let logger = Logger(level: .info, format: .text) { null.write(Data($0.utf8)) }
            client = try MQTTClient(options: config.clientOptions(password: nil))
            let publisher = AnomalyPublisher(
                client: client, topic: config.outputs.mqtt.topic, qos: config.outputs.mqtt.qos,
                retain: config.outputs.mqtt.retain, logger: logger)
            observer = LatencyObserver(publisher: publisher)
            var settings = config.pipelineSettings(cores: ProcessInfo.processInfo.activeProcessorCount)
            if let spinNanos { settings.spinNanos = spinNanos }
            let decoder = config.payloadDecoder()
            pipeline = Pipeline(settings: settings, templates: try config.topicTemplates(), observer: observer) { _ in
                DetectionEngine(settings: detection, decoder: decoder)
            }
            handler = TimingHandler(
                inner: RouterHandler(router: pipeline.router, logger: logger, broker: "127.0.0.1:\(port)"), skip: skip)
            try client.start(handler: handler)
            let deadline = Date().addingTimeInterval(10)
            while !handler.subscribed.load(ordering: .acquiring) {
                guard Date() < deadline else { throw CReference.Failure(message: "vigil did not subscribe within 10 s") }
                usleep(1000)
            }
        }

        /// Waits until the workers have processed `count` messages (or nothing moved for `idle` seconds);
        /// returns the processed count and the wall time of the last one, polled every millisecond (on runs of
        /// seconds, an error under 0.1%).
        func awaitProcessed(_ count: Int, idle: Double = 3) -> (processed: Int, atNanos: Int64) {
            var last = -1
            var lastChange = WallClock.nowNanos()
            while true {
                let processed = pipeline.workers.reduce(0) { $0 + $1.counters[ShardWorker.Counter.messages.rawValue] }
                let now = WallClock.nowNanos()
                if processed >= count { return (processed, now) }
                if processed != last {
                    last = processed
                    lastChange = now
                } else if Double(now - lastChange) / 1e9 > idle {
                    return (processed, lastChange)
                }
                usleep(1000)
            }
        }

        func stop() {
            client.unsubscribeAll()
            pipeline.drain()
            _ = client.waitForPublishes(timeout: 5)
            client.stop()
        }
    }

    struct Run {
        var received: Int
        var rate: Double
        /// CPU seconds of the subscriber's process over the run (all its threads); waiting for a core is not
        /// counted, so this is the steadier figure on a busy machine.
        var cpuSeconds: Double
    }

    /// Vigil's consumed rate: message `skip + 1` received → the `count`-th message processed by a worker.
    static func vigilRun(peer: Peer, port: Int, qos: Int, count: Int, devices: Int, root: String, spinNanos: Int?, skip: Int)
        -> Swift.Result<Run, CReference.Failure>
    {
        let service: Service
        do { service = try Service(port: port, qos: qos, devices: devices, root: root, spinNanos: spinNanos, skip: skip) } catch {
            return .failure(.init(message: "vigil: \(error)"))
        }
        defer { service.stop() }
        if case .failure(let failure) = peer.publish(port: port, qos: qos, count: count, devices: devices) {
            return .failure(failure)
        }
        let done = service.awaitProcessed(count)
        let cpu = Measure.cpuSeconds() - Double(service.handler.firstCPUNanos.load(ordering: .relaxed)) / 1e9
        let first = service.handler.firstNanos.load(ordering: .relaxed)
        let seconds = Double(done.atNanos - first) / 1e9
        return .success(
            Run(received: done.processed, rate: seconds > 0 ? Double(done.processed - skip) / seconds : 0, cpuSeconds: cpu))
    }

    static func withBroker<R>(_ body: (Int) -> Swift.Result<R, CReference.Failure>) -> Swift.Result<R, CReference.Failure> {
        let broker: Broker
        do { broker = try Broker(extraConfig: brokerConfig) } catch { return .failure(.init(message: "mosquitto: \(error)")) }
        defer { broker.stop() }
        return body(broker.port)
    }

    // MARK: e2e

    /// Runs `e2e`; returns the raw subscriber's QoS 0 rate (the broker ceiling) for `latency`.
    @discardableResult
    static func run(peer: Peer, options: BenchOptions, report: Report, root: String) -> Double? {
        let devices = options.devices
        // The first pass over the devices (one message each) is published in the same flood but not timed:
        // a device's first message interns it and allocates its state, which steady traffic does not do.
        let skip = devices
        let count = skip + options.e2eMessages
        var ceiling: Double?
        for qos in [0, 1] {
            var raw: [Double] = []
            var vigil: [Double] = []
            var ratios: [Double] = []
            var rawCPU: [Double] = []
            var vigilCPU: [Double] = []
            var lost = 0
            for round in 1...options.e2eRounds {
                let tag = "e2e QoS \(qos) round \(round)/\(options.e2eRounds)"
                progress(
                    "\(tag): raw C subscriber, \(Report.grouped(count)) messages (the first \(Report.grouped(skip)) untimed), \(Report.grouped(devices)) devices ..."
                )
                let rawOutcome = withBroker { peer.rawSubscriber(port: $0, qos: qos, count: count, devices: devices, skip: skip) }
                progress("\(tag): Vigil ...")
                let vigilOutcome = withBroker {
                    vigilRun(peer: peer, port: $0, qos: qos, count: count, devices: devices, root: root, spinNanos: options.e2eSpin,
                        skip: skip)
                }
                switch (rawOutcome, vigilOutcome) {
                case (.success(let r), .success(let v)):
                    progress(
                        "\(tag): raw \(Report.format(r.rate, unit: "msg/s")) msg/s (\(r.received) received), Vigil \(Report.format(v.rate, unit: "msg/s")) msg/s (\(v.received) processed)"
                    )
                    raw.append(r.rate)
                    vigil.append(v.rate)
                    ratios.append(v.rate / r.rate)
                    rawCPU.append(r.cpuSeconds * 1e6 / Double(max(1, r.received - skip)))
                    vigilCPU.append(v.cpuSeconds * 1e6 / Double(max(1, v.received - skip)))
                    if qos == 1 { lost += count - v.received }
                    if qos == 1 && r.received != count { report.fail("e2e QoS 1: the raw subscriber received \(r.received) of \(count)") }
                case (.failure(let failure), _), (_, .failure(let failure)):
                    report.fail("e2e QoS \(qos): \(failure.message)")
                }
            }
            guard !raw.isEmpty else { continue }
            let note =
                "median of \(raw.count); \(Report.grouped(options.e2eMessages)) timed messages after 1 per device, \(Report.grouped(devices)) devices"
            report.add("e2e", "e2e.qos\(qos).raw.msgs_per_s", "QoS \(qos): raw C libmosquitto subscriber", Measure.median(raw), "msg/s", note: note)
            report.add("e2e", "e2e.qos\(qos).vigil.msgs_per_s", "QoS \(qos): Vigil (MQTT -> router -> shards)", Measure.median(vigil), "msg/s")
            let ratio = Measure.median(ratios)
            report.add("e2e", "e2e.qos\(qos).ratio", "QoS \(qos): Vigil / raw subscriber", ratio, "x", note: "median of per-round ratios")
            report.addTarget("e2e QoS \(qos), Vigil / raw subscriber", value: ratio, goal: ">= 0.95x", met: ratio >= 0.95)
            report.add(
                "e2e", "e2e.qos\(qos).raw.cpu_us_per_msg", "QoS \(qos): raw subscriber, CPU per message", Measure.median(rawCPU),
                "us/msg", note: "its process, all threads")
            report.add(
                "e2e", "e2e.qos\(qos).vigil.cpu_us_per_msg", "QoS \(qos): Vigil, CPU per message", Measure.median(vigilCPU),
                "us/msg", note: "the bench process: network thread, router, workers, polling")
            if qos == 0 { ceiling = Measure.median(raw) }
            if qos == 1 {
                report.add("e2e", "e2e.qos1.lost", "QoS 1: messages lost by Vigil", Double(lost), "messages", note: "sent - processed, all rounds")
                report.addTarget("e2e QoS 1, messages lost", value: Double(lost), goal: "0", met: lost == 0)
                if lost != 0 { report.fail("e2e QoS 1: Vigil lost \(lost) messages") }
            }
        }
        return ceiling
    }

    // MARK: latency

    /// Receive → anomaly event handed to the MQTT client, at a fixed publish rate of half `ceiling`.
    static func latency(peer: Peer, ceiling: Double?, options: BenchOptions, report: Report, root: String) {
        var ceiling = ceiling ?? options.latencyRate.map { $0 * 2 }
        if ceiling == nil {
            progress("latency: measuring the broker ceiling (raw subscriber, QoS 0) ...")
            switch withBroker({ peer.rawSubscriber(port: $0, qos: 0, count: options.e2eMessages, devices: options.devices) }) {
            case .success(let r): ceiling = r.rate
            case .failure(let failure): report.fail("latency: ceiling: \(failure.message)")
            }
        }
        guard let ceiling else { return }
        let rate = (ceiling / 2).rounded()
        let devices = options.latencyDevices
        let count = Int(rate * options.latencySeconds)
        let warmup = 40
        let spikeEvery = 25
        progress(
            "latency: \(Report.grouped(count)) messages at \(Int(rate)) msg/s (half of \(Int(ceiling))), \(devices) devices, spike every \(spikeEvery) messages a device after \(warmup) ..."
        )
        var rows: [(spin: Int, p50: Double, p99: Double, p999: Double, max: Double, events: Int)] = []
        for spin in options.latencySpins {
            let spinLabel = spin == 0 ? "no spin" : "spin \(spin / 1000) us"
            progress("latency: \(spinLabel) ...")
            let outcome: Swift.Result<([Int64], Int), CReference.Failure> = withBroker { port in
                let service: Service
                do { service = try Service(port: port, qos: 0, devices: devices, root: root, spinNanos: spin) } catch {
                    return .failure(.init(message: "vigil: \(error)"))
                }
                defer { service.stop() }
                if case .failure(let failure) = peer.publish(
                    port: port, qos: 0, count: count, devices: devices, rate: rate, spikeEvery: spikeEvery, warmup: warmup)
                {
                    return .failure(failure)
                }
                let done = service.awaitProcessed(count)
                return .success((service.observer.latencies.withLock { $0 }, done.processed))
            }
            switch outcome {
            case .failure(let failure):
                report.fail("latency (\(spinLabel)): \(failure.message)")
            case .success(let (samples, processed)):
                if samples.count < 100 { report.fail("latency (\(spinLabel)): only \(samples.count) events") }
                if processed != count { report.fail("latency (\(spinLabel)): processed \(processed) of \(count)") }
                guard !samples.isEmpty else { continue }
                let ms = samples.map { Double($0) / 1e6 }
                let tenth = max(1, ms.count / 10)
                progress(
                    "latency (\(spinLabel)): p50 of the first tenth of events \(Measure.percentile(Array(ms.prefix(tenth)), 0.5)) ms, of the last \(Measure.percentile(Array(ms.suffix(tenth)), 0.5)) ms"
                )
                rows.append(
                    (spin, Measure.percentile(ms, 0.5), Measure.percentile(ms, 0.99), Measure.percentile(ms, 0.999),
                     ms.max()!, samples.count))
                progress("latency (\(spinLabel)): p50 \(rows.last!.p50) ms, p99 \(rows.last!.p99) ms, \(samples.count) events")
            }
        }
        guard !rows.isEmpty else { return }
        report.add(
            "latency", "latency.rate", "publish rate (half the QoS 0 ceiling)", rate, "msg/s",
            note: "\(devices) devices, QoS 0, a spike every \(spikeEvery) messages a device")
        for row in rows {
            let key = "latency.spin\(row.spin / 1000)us"
            let label = row.spin == 0 ? "worker parks at once" : "worker spins \(row.spin / 1000) us, then parks"
            let note = "\(Report.grouped(row.events)) events"
            report.add("latency", key + ".p50_ms", "\(label): p50", row.p50, "ms", note: note)
            report.add("latency", key + ".p99_ms", "\(label): p99", row.p99, "ms")
            report.add("latency", key + ".p999_ms", "\(label): p99.9", row.p999, "ms")
            report.add("latency", key + ".max_ms", "\(label): max", row.max, "ms")
        }
        // The target is judged on the configuration Vigil ships with (the default spin).
        if let shipped = rows.first(where: { $0.spin == PipelineSettings.defaultSpinNanos }) ?? rows.last {
            report.addTarget("latency p99, receive -> anomaly published", value: shipped.p99, goal: "< 1 ms", met: shipped.p99 < 1)
        }
    }
}
