import VigilIO
import VigilPipeline

/// The incident outputs' part of the service (kept out of RunCommand.swift, which other work also changes).
extension Service {
    /// The pipeline's observer: the incident outputs wrapping the MQTT publisher when any is configured.
    static func makeObserver(config: VigilConfig, secrets: OutputSecrets, publisher: AnomalyPublisher, logger: Logger) throws -> (any PipelineObserver, IncidentOutputs?) {
        guard let outputs = try IncidentOutputs.make(config: config, secrets: secrets, publisher: publisher, logger: logger) else {
            return (publisher, nil)
        }
        var names: [String] = []
        if config.outputs.alertmanager != nil { names.append("alertmanager") }
        if config.outputs.pagerduty != nil { names.append("pagerduty") }
        if config.outputs.webhook != nil { names.append("webhook") }
        if config.outputs.file != nil { names.append("file") }
        logger.info("incident outputs", [
            ("outputs", names.joined(separator: ",")), ("outbox_dir", config.outboxDirectory("<output>")),
            ("silences", String(config.silences.count)),
        ])
        return (outputs, outputs)
    }

    /// Starts delivery (what an earlier run queued first) and adds the outputs' families to `/metrics`.
    func startOutputs() {
        guard let outputs else { return }
        outputs.start()
        observability.registry.registerOutputs(outputs)
    }

    /// At shutdown, after the rings drained: delivers what it can within the grace period, then logs the counts.
    func stopOutputs() {
        guard let outputs else { return }
        outputs.stop(grace: Double(config.outbox.shutdownGraceMs) / 1000)
        logger.info("outputs stopped", outputs.logFields())
    }
}
