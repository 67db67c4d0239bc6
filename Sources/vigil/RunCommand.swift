import Dispatch
import Foundation
import Synchronization
import VigilCore
import VigilIO
import VigilPipeline

/// `vigil run --config PATH`: the service.
struct RunCommand {
    static let flags = [
        Flag(name: "--config", valueName: "PATH", required: true),
        Flag(name: "--log-level", valueName: "LEVEL", required: false),
        Flag(name: "--model", valueName: "FILE", required: false),
    ]
    static let help = """
        USAGE: vigil run --config PATH [--log-level LEVEL] [--model FILE]

        Reads the configuration and every detector profile it names (any problem: exit 1 before connecting),
        connects to the configured MQTT broker (reconnecting with exponential backoff while it is away),
        subscribes to the configured filters, scores every message per device and metric, and publishes each
        anomaly event (firing, resolved) as JSON to the anomalies topic. One log line per event on stderr.
        Serves /metrics (Prometheus), /healthz, /readyz and /devices on metrics.listen (127.0.0.1:9464), keeps a
        retained online/offline status on vigil/status/{client_id} (offline is the Last Will), and publishes a
        metrics summary with MTTD per detector on vigil/metrics/{client_id} (docs/observability.md).
        With state.dir set, learned baselines are loaded from its checkpoint at start and written back every
        state.checkpoint_interval_s and at a clean stop (docs/reliability.md).
        SIGINT or SIGTERM stops it cleanly within shutdown_timeout_s: intake stops, the rings drain, pending
        events are published, a checkpoint is written. A second signal exits at once.

        FLAGS:
          --config PATH       The YAML configuration file (see config.yaml.example).
          --log-level LEVEL   debug | info | warning | error; overrides log.level.
          --model FILE        Start from a model written by `vigil train` when state.dir has no checkpoint.

        EXIT STATUS: 0 after a clean stop, 1 on a configuration or start-up error, 64 bad command line.
        """

    var options: Options

    func run() -> Int32 {
        let config: VigilConfig
        let password: String?
        let detection: DetectionSettings
        let secrets: OutputSecrets
        let ownership: DeviceOwnership
        do {
            config = try VigilConfig.load(path: options["--config"]!)
            password = try config.brokerPassword()
            ownership = try config.cluster.ownership(source: config.origin.source)
            // Every profile is read and checked here, before anything connects.
            detection = try config.detectionSettings()
            secrets = try config.outputSecrets()
        } catch {
            printError(error.description)
            return 1
        }
        var level = Logger.Level(name: config.log.level.rawValue) ?? .info
        if let name = options["--log-level"] {
            guard let override = Logger.Level(name: name) else {
                printError("vigil: --log-level must be debug, info, warning or error (got '\(name)')")
                return VigilCommand.usageError
            }
            level = override
        }
        let logger = Logger(level: level, format: config.log.format == .json ? .json : .text)
        do {
            for warning in config.warnings { logger.warning(warning) }
            let service = try Service(
                config: config, password: password, detection: detection, ownership: ownership, secrets: secrets, logger: logger
            )
            let start = service.checkpoints.load(model: options["--model"], detection: detection, config: config)
            logger.info("baselines", [("start", start)])
            return service.runUntilSignalled()
        } catch {
            logger.error("could not start", [("error", "\(error)")])
            return 1
        }
    }
}

/// The running service: MQTT ingest connection → router → shard workers → anomaly publisher (on its own
/// outbound connection).
final class Service: Sendable {
    let config: VigilConfig
    let logger: Logger
    /// The subscribing connection (`client_id`, the persistent session): nothing else goes over it, so a graceful
    /// stop can close intake first and the broker queues what arrives from then on for the next start.
    let ingest: MQTTClient
    /// What Vigil publishes (anomaly events, status, metrics summary): `{client_id}-pub`, a clean session.
    let outbound: MQTTClient
    let pipeline: Pipeline
    let publisher: AnomalyPublisher
    /// The incident outputs (Alertmanager, PagerDuty, webhook, file), when any is configured.
    let outputs: IncidentOutputs?
    let checkpoints: CheckpointKeeper
    let observability: Observability
    private let stopping = Atomic<Bool>(false)

    init(
        config: VigilConfig, password: String?, detection: DetectionSettings, ownership: DeviceOwnership, secrets: OutputSecrets,
        logger: Logger
    ) throws {
        self.config = config
        self.logger = logger
        ingest = try MQTTClient(options: config.clientOptions(password: password))
        var outboundOptions = config.outboundClientOptions(password: password)
        Observability.addStatusMessages(config: config, to: &outboundOptions)
        outbound = try MQTTClient(options: outboundOptions)
        publisher = AnomalyPublisher(
            client: outbound, topic: config.outputs.mqtt.topic, qos: config.outputs.mqtt.qos,
            retain: config.outputs.mqtt.retain, logger: logger
        )
        let observer: any PipelineObserver
        (observer, outputs) = try Self.makeObserver(config: config, secrets: secrets, publisher: publisher, logger: logger)
        let settings = config.pipelineSettings(cores: ProcessInfo.processInfo.activeProcessorCount, ownership: ownership)
        observability = try Observability(config: config, logger: logger, anomalies: AnomalyMetrics(observer))
        pipeline = Pipeline(settings: settings, templates: try config.topicTemplates(), observer: observability.anomalies) { _ in
            DetectionEngine(settings: detection, decoder: config.payloadDecoder())
        }
        checkpoints = CheckpointKeeper(config: config, pipeline: pipeline, logger: logger)
        logger.info("vigil \(BuildInfo.version) starting", [
            ("broker", "\(config.broker.host):\(config.broker.port)"),
            ("protocol", config.broker.protocolVersion.rawValue),
            ("client_id", config.broker.clientID),
            ("shards", String(settings.shards)),
            ("ring_bytes", String(settings.ringCapacity)),
            ("overflow", settings.overflow.rawValue),
            ("payload_format", config.payload.format.rawValue),
            ("filters", config.subscriptions.map { config.cluster.subscriptionFilter($0.filter) }.joined(separator: ",")),
            ("cluster", config.cluster.mode == .hash ? "hash \(ownership)" : config.cluster.mode.rawValue),
            ("profiles", detection.profiles.map(\.name).joined(separator: ",")),
        ])
    }

    /// Starts, then blocks the main thread serving signals until SIGINT/SIGTERM; returns the exit code.
    func runUntilSignalled() -> Int32 {
        let broker = "\(config.broker.host):\(config.broker.port)"
        startOutputs()
        do {
            try outbound.start(handler: ConnectionLog(logger: logger, broker: broker, connection: "outbound"))
            try ingest.start(handler: RouterHandler(router: pipeline.router, logger: logger, broker: broker))
        } catch {
            logger.error("could not start the MQTT client", [("error", error.description)])
            return 1
        }
        do {
            try observability.start(ingest: ingest, outbound: outbound, pipeline: pipeline, publisher: publisher)
        } catch {
            logger.error("could not start the metrics endpoint", [("error", "\(error)")])
            return 1
        }
        checkpoints.start()
        serveSignals()
    }

    /// The main thread from here on: takes SIGINT and SIGTERM with `sigwait`. They have been blocked in every
    /// thread since main.swift's first line, so this is the only way they arrive, and one sent during start-up
    /// is pending here. (Not a dispatch signal source with `dispatchMain()`: that parks the main thread in
    /// `sigsuspend` with an empty mask, and a SIGTERM arriving before libdispatch installed its handler took the
    /// default action: status 15, no checkpoint. Seen about once in 25 runs of ClusterTests under load.)
    private func serveSignals() -> Never {
        var stopSignals = sigset_t()
        sigemptyset(&stopSignals)
        sigaddset(&stopSignals, SIGINT)
        sigaddset(&stopSignals, SIGTERM)
        while true {
            var number: Int32 = 0
            if sigwait(&stopSignals, &number) == 0 { signalled(number) }
        }
    }

    private func signalled(_ signalNumber: Int32) {
        guard !stopping.exchange(true, ordering: .relaxed) else {
            logger.warning("second signal: exiting now")
            exit(130)
        }
        logger.info("stopping", [("signal", signalNumber == SIGTERM ? "SIGTERM" : "SIGINT")])
        armShutdownDeadline()
        // Off the main thread, so that a second signal is still served while we drain.
        DispatchQueue.global().async { [self] in
            exit(self.shutdown())
        }
    }

    /// Stops intake, drains the rings, waits for pending publishes, disconnects. Returns the exit code.
    func shutdown() -> Int32 {
        // Intake first: once the ingest connection is closed nothing more is delivered (and acknowledged) to a
        // router that no longer accepts it. A persistent session keeps its subscriptions, so the broker queues
        // what arrives from here on for the next start; every message delivered so far is in a ring.
        ingest.stop()
        pipeline.drain()
        stopOutputs()
        let checkpointed = checkpoints.finish()
        observability.stop(client: outbound)
        let flushed = outbound.waitForPublishes(timeout: 5)
        outbound.stop()
        let snapshot = pipeline.snapshot()
        var fields: [(String, String)] = [
            ("received", String(snapshot.received)), ("processed", String(snapshot.processed)),
            ("samples", String(snapshot.samples)), ("devices", String(snapshot.devices)),
            ("evictions", String(snapshot.evictions)), ("not_owned", String(snapshot.notOwned)),
            // Devices whose baselines are not trustworthy yet (no event can fire from them).
            ("warming", String(pipeline.workers.reduce(0) { $0 + $1.withEngine { $0.warmingDeviceCount } })),
            ("fired", String(snapshot.fired)), ("resolved", String(snapshot.resolved)),
            ("published", String(publisher.publishedCount)), ("dropped", String(snapshot.droppedTotal)),
        ]
        for (reason, count) in snapshot.dropped.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
            fields.append(("dropped_\(reason.label)", String(count)))
        }
        for kind in DetectorKind.allCases {
            guard let ttd = snapshot.timeToDetect[kind], ttd.count > 0 else { continue }
            func ms(_ seconds: Double?) -> String { seconds.map { String(format: "%.1fms", $0 * 1000) } ?? "-" }
            fields.append(("mttd_\(kind.label)", "n=\(ttd.count) mean=\(ms(ttd.mean)) p50=\(ms(ttd.quantile(0.5))) p90=\(ms(ttd.quantile(0.9))) p99=\(ms(ttd.quantile(0.99)))"))
        }
        if !flushed { logger.warning("stopped with anomaly events not acknowledged by the broker", [("pending", String(outbound.unacknowledgedPublishes))]) }
        logger.info("stopped", fields)
        return checkpointed ? 0 : 1
    }
}
