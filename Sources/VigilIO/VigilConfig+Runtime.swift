import Foundation
package import VigilCore
package import VigilPipeline

/// Turning a validated configuration into the settings of the parts it configures.
extension VigilConfig {
    /// - Parameters:
    ///   - cores: used when `pipeline.shards` is 0 (one shard per core).
    ///   - ownership: the devices this instance keeps (``ClusterConfig/ownership(environment:hostname:source:)``).
    package func pipelineSettings(cores: Int, ownership: DeviceOwnership = .all) -> PipelineSettings {
        var settings = PipelineSettings(
            shards: pipeline.shards == 0 ? max(1, cores) : pipeline.shards,
            ringCapacity: pipeline.ringCapacity,
            overflow: pipeline.overflow == .block ? .block : .drop,
            maxPayloadBytes: payload.maxBytes,
            sweepInterval: 1
        )
        settings.ownership = ownership
        return settings
    }

    /// The detection settings, with each subscription's profile read from its file (see ``profiles()``).
    ///
    /// - Throws: ``ConfigError`` for a missing profile or a profile file with problems.
    package func detectionSettings() throws(ConfigError) -> DetectionSettings {
        DetectionSettings(
            profiles: try profiles(),
            maxDevices: pipeline.maxDevices,
            maxMetricsPerDevice: pipeline.maxMetricsPerDevice,
            maxMetricNames: pipeline.maxMetricNames
        )
    }

    /// `models_dir` resolved: a relative path is relative to the config file's folder (to the working
    /// directory for a config given as text).
    package var modelsDirectory: String {
        guard !modelsDir.hasPrefix("/"), let directory = origin.directory else { return modelsDir }
        return directory.hasSuffix("/") ? directory + modelsDir : directory + "/" + modelsDir
    }

    /// The file that holds profile `name`.
    package func profilePath(_ name: String) -> String {
        modelsDirectory + "/" + name + ".yaml"
    }

    /// Each subscription's detector profile, in subscription order: the file `<name>.yaml` in
    /// ``modelsDirectory``, each file read once however many subscriptions name it.
    ///
    /// A profile named `default` with no file is the built-in default, `DetectorProfile()`; any other profile
    /// without a file is an error.
    ///
    /// - Throws: ``ConfigError``: first every subscription whose profile has no file (on the config file, each
    ///   with its `subscriptions[i].profile` key and line); else the problems of the first profile file that has
    ///   any (on that file, every problem in it).
    package func profiles() throws(ConfigError) -> [DetectorProfile] {
        var missing: [ConfigError.Issue] = []
        var names: [String] = []
        for (index, subscription) in subscriptions.enumerated() {
            let name = subscription.profile
            if name != "default", !FileManager.default.fileExists(atPath: profilePath(name)) {
                let key = "subscriptions[\(index)].profile"
                let message = "no profile \"\(name)\": \(profilePath(name)) does not exist (\(availableProfiles()))"
                missing.append(.init(kind: .invalidValue, key: key, line: origin.lines[key], message: message))
            }
            if !names.contains(name) { names.append(name) }
        }
        guard missing.isEmpty else { throw ConfigError(source: origin.source, issues: missing) }
        var loaded: [String: DetectorProfile] = [:]
        for name in names {
            let path = profilePath(name)
            var profile = DetectorProfile()
            if FileManager.default.fileExists(atPath: path) {
                profile = try DetectorProfile.load(path: path, name: name)
            }
            loaded[name] = profile
        }
        return subscriptions.map { loaded[$0.profile]! }
    }

    /// What ``modelsDirectory`` offers, for the message about a missing profile.
    private func availableProfiles() -> String {
        let directory = modelsDirectory
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            return "models_dir \(directory) is not a folder"
        }
        let files = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        let stems = files.filter { $0.hasSuffix(".yaml") && !$0.hasPrefix(".") }.map { String($0.dropLast(5)) }.sorted()
        guard !stems.isEmpty else { return "\(directory) holds no profiles" }
        return "profiles in \(directory): " + stems.joined(separator: ", ")
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

    /// The broker password from `broker.password_file`, else `broker.password` (inline: see ``warnings``), else
    /// the environment variable `VIGIL_BROKER_PASSWORD`. Trailing newlines of the file are not part of it.
    package func brokerPassword(environment: [String: String] = ProcessInfo.processInfo.environment) throws(ConfigError) -> String? {
        if let path = broker.passwordFile {
            guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
                throw ConfigError(source: path, issues: [.init(kind: .unreadableFile, key: "broker.password_file", line: nil, message: "cannot read the password file '\(path)'")])
            }
            return String(text.reversed().drop(while: { $0 == "\n" || $0 == "\r" }).reversed())
        }
        return broker.password ?? environment["VIGIL_BROKER_PASSWORD"]
    }

    /// Settings that work but weaken security, one sentence each: logged at every start and printed by
    /// `vigil check-config`.
    package var warnings: [String] {
        var warnings: [String] = []
        if broker.password != nil {
            warnings.append("broker.password is written in the config file; prefer broker.password_file or VIGIL_BROKER_PASSWORD")
        }
        if broker.tls?.insecureSkipVerify == true {
            warnings.append("broker.tls.insecure_skip_verify is true: the broker's certificate is NOT verified (anyone on the path can impersonate it)")
        }
        if broker.tls == nil, broker.password != nil || broker.passwordFile != nil,
            !["127.0.0.1", "::1", "localhost"].contains(broker.host)
        {
            warnings.append("the broker password is sent without TLS to \(broker.host); configure broker.tls")
        }
        return warnings
    }

    /// `state.dir` resolved like ``modelsDirectory``; nil when checkpoints are off.
    package var stateDirectory: String? {
        guard let dir = state.dir else { return nil }
        guard !dir.hasPrefix("/"), let directory = origin.directory else { return dir }
        return directory.hasSuffix("/") ? directory + dir : directory + "/" + dir
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
        options.subscriptions = subscriptions.map { (cluster.subscriptionFilter($0.filter), $0.qos) }
        options.sessionExpirySeconds = broker.sessionExpirySeconds
        options.receiveMaximum = broker.receiveMaximum
        if let tls = broker.tls {
            options.tls = MQTTClientOptions.TLS(
                caFile: tls.caFile, certFile: tls.certFile, keyFile: tls.keyFile, serverName: tls.serverName,
                verify: !tls.insecureSkipVerify
            )
        }
        return options
    }

    /// The outbound connection's options (anomaly events, status, metrics summary): the broker settings of
    /// ``clientOptions(password:)`` under client id `{client_id}-pub`, a clean session, no subscriptions. Kept
    /// apart from the subscribing connection so that a graceful stop can close intake first and still publish
    /// what draining the rings produces.
    package func outboundClientOptions(password: String?) -> MQTTClientOptions {
        var options = clientOptions(password: password)
        options.clientID = broker.clientID + "-pub"
        options.subscriptions = []
        options.cleanStart = true
        options.sessionExpirySeconds = 0
        return options
    }

    /// `vigil record`'s options: a tap beside the service, never in its place. Its own client id
    /// (`{client_id}-record-{pid}`: the service's would take over its session), a clean session (a recording
    /// leaves nothing queued at the broker), and the plain filters (a shared subscription would take a share of
    /// the service's messages instead of a copy of all of them).
    package func recordClientOptions(password: String?, processID: Int32) -> MQTTClientOptions {
        var options = outboundClientOptions(password: password)
        options.clientID = "\(broker.clientID)-record-\(processID)"
        options.subscriptions = subscriptions.map { ($0.filter, $0.qos) }
        return options
    }
}
