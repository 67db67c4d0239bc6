import Foundation
package import VigilCore
package import VigilPipeline

/// Turning a validated configuration into the settings of the parts it configures.
extension VigilConfig {
    /// - Parameter cores: used when `pipeline.shards` is 0 (one shard per core).
    package func pipelineSettings(cores: Int) -> PipelineSettings {
        PipelineSettings(
            shards: pipeline.shards == 0 ? max(1, cores) : pipeline.shards,
            ringCapacity: pipeline.ringCapacity,
            overflow: pipeline.overflow == .block ? .block : .drop,
            maxPayloadBytes: payload.maxBytes,
            sweepInterval: 1
        )
    }

    package func detectionSettings() -> DetectionSettings {
        var profile = DetectorProfile()
        profile.threshold = detectors.ewma.threshold
        profile.ewma = EWMADetector.Parameters(halfLife: detectors.ewma.halfLife, warmup: detectors.ewma.warmup, minStd: detectors.ewma.minStd)
        profile.episodes = EpisodeTracker.Policy(fireAfter: episodes.fireAfter, resolveAfter: episodes.resolveAfter)
        return DetectionSettings(
            profile: profile,
            maxDevices: pipeline.maxDevices,
            maxMetricsPerDevice: pipeline.maxMetricsPerDevice,
            maxMetricNames: pipeline.maxMetricNames
        )
    }

    /// A fresh decoder for one shard.
    package func payloadDecoder() -> PayloadDecoder {
        let unit: TimestampUnit =
            switch payload.timestampUnit {
            case .auto: .auto
            case .seconds: .seconds
            case .milliseconds: .milliseconds
            case .iso8601: .iso8601
            }
        let format: PayloadFormat =
            switch payload.format {
            case .auto: .auto
            case .json: .json
            case .senml: .senml
            case .number: .number
            }
        var limits = PayloadLimits()
        limits.maxBytes = payload.maxBytes
        limits.maxDepth = payload.maxDepth
        limits.maxFields = payload.maxFields
        return PayloadDecoder(
            format: format, limits: limits, timestampField: payload.timestampField, timestampUnit: unit
        )
    }

    /// The subscriptions' device templates, in order (validated when the config was loaded).
    package func topicTemplates() throws(TopicTemplate.ParseError) -> [TopicTemplate] {
        var templates: [TopicTemplate] = []
        for subscription in subscriptions { templates.append(try TopicTemplate(subscription.device)) }
        return templates
    }

    /// The broker password from `broker.password_file`, or from the environment variable `VIGIL_BROKER_PASSWORD`;
    /// a file wins. Trailing newlines are not part of it.
    package func brokerPassword(environment: [String: String] = ProcessInfo.processInfo.environment) throws(ConfigError) -> String? {
        if let path = broker.passwordFile {
            guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
                throw ConfigError(source: path, issues: [.init(kind: .unreadableFile, key: "broker.password_file", line: nil, message: "cannot read the password file '\(path)'")])
            }
            return String(text.reversed().drop(while: { $0 == "\n" || $0 == "\r" }).reversed())
        }
        return environment["VIGIL_BROKER_PASSWORD"]
    }

    package func clientOptions(password: String?) -> MQTTClientOptions {
        var options = MQTTClientOptions(host: broker.host, port: broker.port, clientID: broker.clientID)
        options.protocolVersion = broker.protocolVersion == .v5 ? .v5 : .v311
        options.username = broker.username
        options.password = password
        options.keepAliveSeconds = broker.keepaliveSeconds
        options.cleanStart = broker.cleanStart
        options.reconnectMinSeconds = broker.reconnectMinSeconds
        options.reconnectMaxSeconds = broker.reconnectMaxSeconds
        options.subscriptions = subscriptions.map { ($0.filter, $0.qos) }
        return options
    }
}
