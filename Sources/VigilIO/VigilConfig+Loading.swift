extension VigilConfig {
    /// Reads and checks the config file at `path`.
    ///
    /// Detector profiles are not read here; ``detectionSettings()`` reads them, from ``modelsDir`` relative to
    /// this file's folder.
    ///
    /// - Parameter path: The file to read; it is also the ``ConfigError/source`` of any error.
    /// - Returns: The configuration, with defaults for every key the file leaves out.
    /// - Throws: ``ConfigError`` listing every problem: an unreadable file, a YAML syntax error,
    ///   or each unknown, duplicate, missing, mistyped or out-of-range key.
    package static func load(path: String) throws(ConfigError) -> VigilConfig {
        let directory: String =
            switch path.lastIndex(of: "/") {
            case nil: "."
            case path.startIndex?: "/"
            case let slash?: String(path[..<slash])
            }
        return try decode(bytes: readConfigFile(path: path), source: path, directory: directory)
    }

    /// Checks the config given as YAML text.
    ///
    /// The rules are strict, so that a typo never silently becomes a default:
    /// - every key is optional except `subscriptions` and each subscription's `filter` and `device`;
    /// - an unknown or duplicated key is an error;
    /// - plain scalars are typed by the YAML 1.2 core schema, so `"1883"` (quoted) is a string and
    ///   not a port, `1.5` is not an integer, and `yes` is not a boolean (only `true` and `false`);
    /// - `null` (or no value) means "not set" only for keys without a default of their own
    ///   (`broker.username`, `broker.password_file`, `payload.timestamp_field`) and for whole
    ///   sections such as `broker:`; any other key needs a value or must be left out.
    ///
    /// A relative `models_dir` in text is relative to the working directory.
    ///
    /// - Parameters:
    ///   - yaml: The config text.
    ///   - source: What to call the text in error messages.
    /// - Returns: The configuration, with defaults for every key the text leaves out.
    /// - Throws: ``ConfigError`` listing every problem found, each with its key and line.
    package static func parse(yaml: String, source: String = "<string>") throws(ConfigError) -> VigilConfig {
        try decode(bytes: Array(yaml.utf8), source: source, directory: nil)
    }

    private static func decode(bytes: [UInt8], source: String, directory: String?) throws(ConfigError) -> VigilConfig {
        let root = try loadYAMLRoot(bytes: bytes, source: source, needs: "at least a `subscriptions` list")
        var decoder = ConfigDecoder()
        let config = decoder.decodeConfig(root)
        guard var config, decoder.issues.isEmpty else {
            throw ConfigError(source: source, issues: decoder.issues)
        }
        config.origin.source = source
        config.origin.directory = directory
        return config
    }
}

/// The sections of the config file.
extension ConfigDecoder {
    mutating func decodeConfig(_ root: YAMLNode) -> VigilConfig? {
        guard case .mapping(let pairs) = root.content else {
            report(.typeMismatch, "", root.line, "the top level must be a mapping of settings, found \(describe(root))")
            return nil
        }
        let known = [
            "broker", "subscriptions", "payload", "pipeline", "models_dir", "outputs", "log", "metrics", "status", "cluster",
            "state", "outbox", "silences", "shutdown_timeout_s",
        ]
        // The sections that set detector parameters before profiles existed.
        let moved = "detector parameters and episodes are set in detector profiles now: files in `models_dir` "
            + "(models/default.yaml lists every key), chosen per subscription with `profile`"
        let top = ConfigMapping(
            field: ConfigField(key: "", line: root.line, node: root),
            pairs: pairs,
            known: known,
            rejected: ["detectors": moved, "episodes": moved],
            decoder: &self
        )

        var config = VigilConfig(subscriptions: [])
        if let broker = section(top["broker"], known: BrokerKeys.all) {
            decodeBroker(broker, into: &config.broker)
        }
        config.subscriptions = decodeSubscriptions(top, lines: &config.origin.lines)
        let payload = section(top["payload"], known: PayloadKeys.all)
        let maxBytesValid = payload.map { decodePayload($0, into: &config.payload) } ?? true
        let pipeline = section(top["pipeline"], known: ["shards", "ring_capacity", "overflow", "max_devices", "max_metrics_per_device", "max_metric_names"])
        let ringCapacityValid = pipeline.map { decodePipeline($0, into: &config.pipeline) } ?? true
        if ringCapacityValid, maxBytesValid {
            checkRingCapacity(config, ringField: pipeline?["ring_capacity"], maxBytesField: payload?["max_bytes"])
        }
        read(&config.modelsDir, top["models_dir"], check: { $0.isEmpty ? "must not be empty" : nil })
        let outputs = section(top["outputs"], known: Self.outputKeys)
        if let outputs, let mqtt = section(outputs["mqtt"], known: ["topic", "qos", "retain"]) {
            read(&config.outputs.mqtt.topic, mqtt["topic"], check: MQTTTopicCheck.publishTopic)
            read(&config.outputs.mqtt.qos, mqtt["qos"], range: 0...2)
            read(&config.outputs.mqtt.retain, mqtt["retain"])
        }
        if let outputs { decodeIncidentOutputs(outputs, into: &config) }
        decodeState(top, into: &config)
        config.silences = decodeSilences(top)
        if let log = section(top["log"], known: ["level", "format"]) {
            read(&config.log.level, log["level"])
            read(&config.log.format, log["format"])
        }
        read(&config.shutdownTimeoutSeconds, top["shutdown_timeout_s"], range: 1...3600)
        decodeObservability(top, into: &config)
        if let cluster = section(top["cluster"], known: ["mode", "group", "instances", "index", "index_from"]) {
            decodeCluster(cluster, into: &config.cluster)
        }
        return config
    }

    private enum BrokerKeys {
        static let all = [
            "host", "port", "client_id", "protocol", "username", "password_file", "password", "tls",
            "session_expiry_s", "receive_maximum", "keepalive_s", "clean_start", "reconnect_min_s", "reconnect_max_s",
        ]
        static let tls = ["ca_file", "cert_file", "key_file", "server_name", "insecure_skip_verify"]
    }

    private enum PayloadKeys {
        static let all = ["format", "timestamp_field", "timestamp_unit", "max_bytes", "max_depth", "max_fields"]
    }

    private mutating func decodeBroker(_ broker: ConfigMapping, into config: inout BrokerConfig) {
        read(&config.host, broker["host"], check: { $0.isEmpty ? "must not be empty" : nil })
        read(&config.port, broker["port"], range: 1...65535)
        read(&config.clientID, broker["client_id"], check: { $0.isEmpty ? "must not be empty" : nil })
        readProtocol(&config.protocolVersion, broker["protocol"])
        read(&config.username, broker["username"], check: { _ in nil })
        read(&config.passwordFile, broker["password_file"], check: { $0.isEmpty ? "must not be empty" : nil })
        read(&config.password, broker["password"], check: { _ in nil })
        if let field = broker["password"], config.passwordFile != nil, config.password != nil {
            report(.invalidValue, field.key, field.line, "give either broker.password or broker.password_file, not both")
        }
        if let tls = section(broker["tls"], known: BrokerKeys.tls) {
            var settings = TLSConfig()
            let notEmpty: (String) -> String? = { $0.isEmpty ? "must not be empty" : nil }
            read(&settings.caFile, tls["ca_file"], check: notEmpty)
            read(&settings.certFile, tls["cert_file"], check: notEmpty)
            read(&settings.keyFile, tls["key_file"], check: notEmpty)
            read(&settings.serverName, tls["server_name"], check: notEmpty)
            read(&settings.insecureSkipVerify, tls["insecure_skip_verify"])
            if (settings.certFile == nil) != (settings.keyFile == nil) {
                let field = tls["cert_file"] ?? tls["key_file"]!
                report(.invalidValue, field.key, field.line, "cert_file and key_file go together (mutual TLS needs both)")
            }
            config.tls = settings
        }
        read(&config.sessionExpirySeconds, broker["session_expiry_s"], range: 0...4_294_967_295)
        read(&config.receiveMaximum, broker["receive_maximum"], range: 1...65535)
        read(&config.keepaliveSeconds, broker["keepalive_s"], range: 5...65535)
        read(&config.cleanStart, broker["clean_start"])
        let minValid = read(&config.reconnectMinSeconds, broker["reconnect_min_s"], range: 1...)
        let maxValid = read(&config.reconnectMaxSeconds, broker["reconnect_max_s"], range: 1...)
        let minimum = config.reconnectMinSeconds
        let maximum = config.reconnectMaxSeconds
        if minValid, maxValid, minimum > maximum {
            // Blame the key the file sets: the maximum if given, else the minimum that outgrew the default maximum.
            if let maxField = broker["reconnect_max_s"] {
                let message = "must be at least broker.reconnect_min_s (\(minimum)), got \(maximum)"
                report(.outOfRange, maxField.key, maxField.line, message)
            } else if let minField = broker["reconnect_min_s"] {
                let message = "must be at most broker.reconnect_max_s (\(maximum), the default), got \(minimum)"
                report(.outOfRange, minField.key, minField.line, message)
            }
        }
    }

    /// Also notes the line of each `profile` key in `lines`: a profile's file is looked for after loading.
    private mutating func decodeSubscriptions(
        _ top: ConfigMapping,
        lines: inout [String: Int]
    ) -> [SubscriptionConfig] {
        guard let field = top["subscriptions"] else {
            report(
                .missingKey,
                "subscriptions",
                top.field.line,
                "required key is missing; list at least one subscription"
            )
            return []
        }
        guard case .sequence(let items) = field.node.content else {
            report(
                .typeMismatch,
                field.key,
                field.line,
                "expected a list of subscriptions, found \(describe(field.node))"
            )
            return []
        }
        if items.isEmpty {
            report(.outOfRange, field.key, field.line, "must list at least one subscription")
        }
        var subscriptions: [SubscriptionConfig] = []
        for (index, item) in items.enumerated() {
            let itemField = ConfigField(key: "\(field.key)[\(index)]", line: item.line, node: item)
            guard case .mapping(let pairs) = item.content else {
                report(
                    .typeMismatch,
                    itemField.key,
                    item.line,
                    "expected a mapping with filter and device, found \(describe(item))"
                )
                continue
            }
            let mapping = ConfigMapping(
                field: itemField,
                pairs: pairs,
                known: ["filter", "device", "qos", "profile"],
                decoder: &self
            )
            var subscription = SubscriptionConfig(filter: "", device: "")
            for name in ["filter", "device"] where mapping[name] == nil {
                report(.missingKey, "\(itemField.key).\(name)", itemField.line, "required key is missing")
            }
            read(&subscription.filter, mapping["filter"], check: MQTTTopicCheck.filter)
            read(&subscription.device, mapping["device"], check: MQTTTopicCheck.deviceTemplate)
            read(&subscription.qos, mapping["qos"], range: 0...1)
            read(&subscription.profile, mapping["profile"], check: Self.checkProfileName)
            if let field = mapping["profile"] { lines[field.key] = field.line }
            subscriptions.append(subscription)
        }
        return subscriptions
    }

    /// Returns whether `max_bytes` holds a trusted value.
    private mutating func decodePayload(_ payload: ConfigMapping, into config: inout PayloadConfig) -> Bool {
        read(&config.format, payload["format"])
        read(&config.timestampField, payload["timestamp_field"], check: Self.checkDottedName)
        read(&config.timestampUnit, payload["timestamp_unit"])
        let maxBytesValid = read(&config.maxBytes, payload["max_bytes"], range: 1...16_777_216)
        read(&config.maxDepth, payload["max_depth"], range: 1...64)
        read(&config.maxFields, payload["max_fields"], range: 1...4096)
        return maxBytesValid
    }

    /// Returns whether `ring_capacity` holds a trusted value.
    private mutating func decodePipeline(_ pipeline: ConfigMapping, into config: inout PipelineConfig) -> Bool {
        read(&config.shards, pipeline["shards"], range: 0...256)
        var ringValid = read(&config.ringCapacity, pipeline["ring_capacity"], range: 4096...)
        if ringValid, let field = pipeline["ring_capacity"], config.ringCapacity.nonzeroBitCount != 1 {
            let below = 1 << (Int.bitWidth - 1 - config.ringCapacity.leadingZeroBitCount)
            let (above, overflow) = below.multipliedReportingOverflow(by: 2)
            let nearest = overflow ? "\(below)" : "\(below) or \(above)"
            let message = "must be a power of two, got \(config.ringCapacity) (nearest: \(nearest))"
            report(.invalidValue, field.key, field.line, message)
            config.ringCapacity = PipelineConfig().ringCapacity
            ringValid = false
        }
        read(&config.overflow, pipeline["overflow"])
        read(&config.maxDevices, pipeline["max_devices"], range: 1...)
        read(&config.maxMetricsPerDevice, pipeline["max_metrics_per_device"], range: 1...)
        read(&config.maxMetricNames, pipeline["max_metric_names"], range: 1...)
        return ringValid
    }

    /// The ring must hold at least four of the largest payloads.
    private mutating func checkRingCapacity(
        _ config: VigilConfig,
        ringField: ConfigField?,
        maxBytesField: ConfigField?
    ) {
        let needed = 4 * config.payload.maxBytes
        guard config.pipeline.ringCapacity < needed else { return }
        let got =
            ringField == nil ? "the default \(config.pipeline.ringCapacity)" : String(config.pipeline.ringCapacity)
        report(
            .outOfRange,
            "pipeline.ring_capacity",
            ringField?.line ?? maxBytesField?.line,
            "must be at least 4 * payload.max_bytes (\(needed)), got \(got)"
        )
    }

    /// A profile name: the stem of a file in `models_dir`, so no path separators and no leading dot.
    static func checkProfileName(_ name: String) -> String? {
        if name.isEmpty { return "must not be empty" }
        let allowed = name.unicodeScalars.allSatisfy { scalar in
            ("a"..."z").contains(scalar) || ("A"..."Z").contains(scalar) || ("0"..."9").contains(scalar)
                || "._-".unicodeScalars.contains(scalar)
        }
        guard allowed, !name.hasPrefix(".") else {
            return "must be a profile name (letters, digits, `.`, `_` and `-`, not starting with `.`), "
                + "the stem of a file in models_dir such as `smart-meter` for smart-meter.yaml; got \"\(name)\""
        }
        return nil
    }

    /// `broker.protocol` takes the string "5" or "3.1.1", and also the plain integer `5`.
    mutating func readProtocol(_ target: inout MQTTProtocolVersion, _ field: ConfigField?) {
        guard let field else { return }
        let text: String
        switch scalarValue(field, expected: "a protocol version") {
        case .int(let value)?: text = String(value)
        case .string(let value)?: text = value
        case nil: return
        default:
            mismatch(field, expected: Self.choices(MQTTProtocolVersion.self))
            return
        }
        guard let version = MQTTProtocolVersion(rawValue: text) else {
            report(
                .invalidValue,
                field.key,
                field.line,
                "must be \(Self.choices(MQTTProtocolVersion.self)), got \"\(text)\""
            )
            return
        }
        target = version
    }
}

/// Checks on MQTT topic names, filters and device templates; each returns what is wrong, or `nil`.
enum MQTTTopicCheck {
    /// A subscription filter: `+` and `#` only as whole levels, `#` only last.
    static func filter(_ filter: String) -> String? {
        if let problem = basic(filter) { return problem }
        let levels = filter.split(separator: "/", omittingEmptySubsequences: false)
        for (index, level) in levels.enumerated() {
            if let problem = wildcard(level, isLast: index == levels.count - 1) {
                return "invalid topic filter \"\(filter)\": \(problem)"
            }
        }
        return nil
    }

    /// A device template: exactly one whole `{device}` level; the others literals, `+`, or a final `#`.
    static func deviceTemplate(_ template: String) -> String? {
        if let problem = basic(template) { return problem }
        let levels = template.split(separator: "/", omittingEmptySubsequences: false)
        var placeholders = 0
        for (index, level) in levels.enumerated() {
            if level == "{device}" {
                placeholders += 1
                continue
            }
            let problem: String?
            if level.contains("{device}") {
                problem = "`{device}` must be a whole topic level, as in `devices/{device}/telemetry`"
            } else if level.contains("{") || level.contains("}") {
                problem = "the level `\(level)` has a brace; the only placeholder is `{device}`"
            } else {
                problem = wildcard(level, isLast: index == levels.count - 1)
            }
            if let problem { return "invalid device template \"\(template)\": \(problem)" }
        }
        switch placeholders {
        case 0:
            let example = "`devices/{device}/telemetry`"
            return "invalid device template \"\(template)\": it must have a `{device}` level, as in \(example)"
        case 1:
            return nil
        default:
            return "invalid device template \"\(template)\": `{device}` must appear exactly once"
        }
    }

    /// A topic to publish to: no wildcards.
    static func publishTopic(_ topic: String) -> String? {
        if let problem = basic(topic) { return problem }
        if topic.contains("+") || topic.contains("#") {
            return "a topic to publish to must not contain the wildcards `+` or `#`, got \"\(topic)\""
        }
        return nil
    }

    private static func basic(_ topic: String) -> String? {
        if topic.isEmpty { return "must not be empty" }
        if topic.utf8.count > 65535 { return "must be at most 65535 bytes long" }
        if topic.unicodeScalars.contains("\u{0}") { return "must not contain a NUL character" }
        return nil
    }

    private static func wildcard(_ level: Substring, isLast: Bool) -> String? {
        if level.contains("#") {
            if level != "#" { return "`#` must be a whole topic level, as in `devices/#`" }
            if !isLast { return "`#` must be the last level" }
        }
        if level.contains("+"), level != "+" {
            return "`+` must be a whole topic level, as in `devices/+/telemetry`"
        }
        return nil
    }
}
