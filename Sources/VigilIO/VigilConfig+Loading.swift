import Glibc

extension VigilConfig {
    /// Reads and checks the config file at `path`.
    ///
    /// - Parameter path: The file to read; it is also the ``ConfigError/source`` of any error.
    /// - Returns: The configuration, with defaults for every key the file leaves out.
    /// - Throws: ``ConfigError`` listing every problem: an unreadable file, a YAML syntax error,
    ///   or each unknown, duplicate, missing, mistyped or out-of-range key.
    package static func load(path: String) throws(ConfigError) -> VigilConfig {
        try decode(bytes: readFile(path: path), source: path)
    }

    /// The bytes of the file at `path`.
    ///
    /// Plain POSIX calls rather than Foundation, so that the error says what the system said
    /// ("No such file or directory", "Is a directory", "Permission denied").
    static func readFile(path: String) throws(ConfigError) -> [UInt8] {
        func failure(_ errorNumber: Int32) -> ConfigError {
            let reason = String(cString: strerror(errorNumber))
            let issue = ConfigError.Issue(
                kind: .unreadableFile,
                key: "",
                line: nil,
                message: "cannot read the file: \(reason)"
            )
            return ConfigError(source: path, issues: [issue])
        }
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw failure(errno) }
        defer { close(descriptor) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count == 0 { return bytes }
            if count < 0 {
                if errno == EINTR { continue }
                throw failure(errno)
            }
            bytes.append(contentsOf: chunk[..<count])
        }
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
    /// - Parameters:
    ///   - yaml: The config text.
    ///   - source: What to call the text in error messages.
    /// - Returns: The configuration, with defaults for every key the text leaves out.
    /// - Throws: ``ConfigError`` listing every problem found, each with its key and line.
    package static func parse(yaml: String, source: String = "<string>") throws(ConfigError) -> VigilConfig {
        try decode(bytes: Array(yaml.utf8), source: source)
    }

    private static func decode(bytes: [UInt8], source: String) throws(ConfigError) -> VigilConfig {
        let root = try loadYAMLRoot(bytes: bytes, source: source, needs: "at least a `subscriptions` list")
        var decoder = ConfigDecoder()
        let config = decoder.decodeConfig(root)
        guard let config, decoder.issues.isEmpty else {
            throw ConfigError(source: source, issues: decoder.issues)
        }
        return config
    }
}

/// The root node of a YAML document, with syntax errors, extra documents and empty files reported as
/// ``ConfigError``s. `needs` completes "the file is empty; it needs ...".
func loadYAMLRoot(bytes: [UInt8], source: String, needs: String) throws(ConfigError) -> YAMLNode {
    let document: YAMLDocument?
    do {
        document = try YAMLDocument.load(bytes: bytes)
    } catch {
        let kind: ConfigError.Kind =
            switch error.kind {
            case .syntax, .unsupported: .syntax
            case .multipleDocuments: .multipleDocuments
            }
        throw ConfigError(
            source: source,
            issues: [.init(kind: kind, key: "", line: error.line, message: error.message)]
        )
    }
    guard let document else {
        let issue = ConfigError.Issue(
            kind: .emptyDocument,
            key: "",
            line: nil,
            message: "the file is empty; it needs \(needs)"
        )
        throw ConfigError(source: source, issues: [issue])
    }
    if case .scalar(let scalar) = document.root.content, scalar.value == .null {
        // A bare `---`, or `~`: a document with nothing in it.
        let issue = ConfigError.Issue(
            kind: .emptyDocument,
            key: "",
            line: nil,
            message: "the document is empty; it needs \(needs)"
        )
        throw ConfigError(source: source, issues: [issue])
    }
    return document.root
}

/// A value found in the document, with what is needed to report a problem with it.
struct ConfigField {
    /// Dotted path, such as `broker.port` or `subscriptions[0]`.
    var key: String
    /// The line to report: the key's line for a mapping value, the node's own line otherwise.
    var line: Int
    /// The value.
    var node: YAMLNode
}

/// The keys of one YAML mapping, checked for duplicates and unknown names.
struct ConfigMapping {
    /// The mapping's own field (its key, and the line reported for a missing child).
    var field: ConfigField
    private var fields: [String: ConfigField] = [:]

    init(field: ConfigField, pairs: [YAMLNode.Pair], known: [String], decoder: inout ConfigDecoder) {
        self.field = field
        var firstLines: [String: Int] = [:]
        for pair in pairs {
            guard case .scalar(let keyScalar) = pair.key.content else {
                decoder.report(
                    .typeMismatch,
                    field.key,
                    pair.key.line,
                    "keys must be strings, found \(describe(pair.key))"
                )
                continue
            }
            let name = keyScalar.text
            let key = field.key.isEmpty ? name : "\(field.key).\(name)"
            if let firstLine = firstLines[name] {
                decoder.report(
                    .duplicateKey,
                    key,
                    pair.key.line,
                    "duplicate key; it is already set on line \(firstLine)"
                )
                continue
            }
            firstLines[name] = pair.key.line
            guard known.contains(name) else {
                decoder.report(.unknownKey, key, pair.key.line, unknownKeyMessage(name, known: known))
                continue
            }
            fields[name] = ConfigField(key: key, line: pair.key.line, node: pair.value)
        }
    }

    subscript(name: String) -> ConfigField? { fields[name] }
}

/// Walks the document, filling in a ``VigilConfig`` and collecting every issue on the way.
///
/// Each reader leaves its target at the default when the key is absent or its value is wrong, and
/// returns whether the value it holds afterwards can be trusted for cross-key checks.
struct ConfigDecoder {
    private(set) var issues: [ConfigError.Issue] = []

    mutating func report(_ kind: ConfigError.Kind, _ key: String, _ line: Int?, _ message: String) {
        issues.append(ConfigError.Issue(kind: kind, key: key, line: line, message: message))
    }

    // MARK: Sections

    mutating func decodeConfig(_ root: YAMLNode) -> VigilConfig? {
        guard case .mapping(let pairs) = root.content else {
            report(.typeMismatch, "", root.line, "the top level must be a mapping of settings, found \(describe(root))")
            return nil
        }
        let known = ["broker", "subscriptions", "payload", "pipeline", "detectors", "episodes", "outputs", "log"]
        let top = ConfigMapping(
            field: ConfigField(key: "", line: root.line, node: root),
            pairs: pairs,
            known: known,
            decoder: &self
        )

        var config = VigilConfig(subscriptions: [])
        if let broker = section(top["broker"], known: BrokerKeys.all) {
            decodeBroker(broker, into: &config.broker)
        }
        config.subscriptions = decodeSubscriptions(top)
        let payload = section(top["payload"], known: PayloadKeys.all)
        let maxBytesValid = payload.map { decodePayload($0, into: &config.payload) } ?? true
        let pipeline = section(top["pipeline"], known: ["shards", "ring_capacity", "overflow", "max_devices", "max_metrics_per_device", "max_metric_names"])
        let ringCapacityValid = pipeline.map { decodePipeline($0, into: &config.pipeline) } ?? true
        if ringCapacityValid, maxBytesValid {
            checkRingCapacity(config, ringField: pipeline?["ring_capacity"], maxBytesField: payload?["max_bytes"])
        }
        if let detectors = section(top["detectors"], known: ["ewma"]),
            let ewma = section(detectors["ewma"], known: ["half_life", "warmup", "threshold", "min_std"])
        {
            decodeEWMA(ewma, into: &config.detectors.ewma)
        }
        if let episodes = section(top["episodes"], known: ["fire_after", "resolve_after"]) {
            read(&config.episodes.fireAfter, episodes["fire_after"], range: 1...)
            read(&config.episodes.resolveAfter, episodes["resolve_after"], range: 1...)
        }
        if let outputs = section(top["outputs"], known: ["mqtt"]),
            let mqtt = section(outputs["mqtt"], known: ["topic", "qos", "retain"])
        {
            read(&config.outputs.mqtt.topic, mqtt["topic"], check: MQTTTopicCheck.publishTopic)
            read(&config.outputs.mqtt.qos, mqtt["qos"], range: 0...2)
            read(&config.outputs.mqtt.retain, mqtt["retain"])
        }
        if let log = section(top["log"], known: ["level", "format"]) {
            read(&config.log.level, log["level"])
            read(&config.log.format, log["format"])
        }
        return config
    }

    private enum BrokerKeys {
        static let all = [
            "host", "port", "client_id", "protocol", "username", "password_file", "keepalive_s", "clean_start",
            "reconnect_min_s", "reconnect_max_s",
        ]
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

    private mutating func decodeSubscriptions(_ top: ConfigMapping) -> [SubscriptionConfig] {
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
                known: ["filter", "device", "qos"],
                decoder: &self
            )
            var subscription = SubscriptionConfig(filter: "", device: "")
            for name in ["filter", "device"] where mapping[name] == nil {
                report(.missingKey, "\(itemField.key).\(name)", itemField.line, "required key is missing")
            }
            read(&subscription.filter, mapping["filter"], check: MQTTTopicCheck.filter)
            read(&subscription.device, mapping["device"], check: MQTTTopicCheck.deviceTemplate)
            read(&subscription.qos, mapping["qos"], range: 0...1)
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

    private mutating func decodeEWMA(_ ewma: ConfigMapping, into config: inout EWMADetectorConfig) {
        read(&config.halfLife, ewma["half_life"], requirement: "must be greater than 0") { $0 > 0 && $0.isFinite }
        read(&config.warmup, ewma["warmup"], range: 2...)
        read(&config.threshold, ewma["threshold"], requirement: "must be greater than 0 and less than 1") {
            $0 > 0 && $0 < 1
        }
        read(&config.minStd, ewma["min_std"], requirement: "must be at least 0") { $0 >= 0 && $0.isFinite }
    }

    // MARK: Values

    /// The mapping for a section, or `nil` when the section is absent, `null`, or not a mapping
    /// (reported here).
    mutating func section(_ field: ConfigField?, known: [String]) -> ConfigMapping? {
        guard let field else { return nil }
        switch field.node.content {
        case .mapping(let pairs):
            return ConfigMapping(field: field, pairs: pairs, known: known, decoder: &self)
        case .scalar(let scalar) where scalar.value == .null:
            // `broker:` with every key commented out: the section's defaults.
            return nil
        default:
            report(.typeMismatch, field.key, field.line, "expected a mapping, found \(describe(field.node))")
            return nil
        }
    }

    /// The scalar in `field`, or `nil` after reporting why there is none: a collection, a
    /// malformed tagged scalar, or (unless `allowNull`) `null`.
    mutating func scalarValue(
        _ field: ConfigField,
        expected: String,
        allowNull: Bool = false
    ) -> YAMLScalar.Value? {
        guard case .scalar(let scalar) = field.node.content else {
            report(.typeMismatch, field.key, field.line, "expected \(expected), found \(describe(field.node))")
            return nil
        }
        let value = scalar.value
        switch value {
        case .invalid(let message):
            report(.invalidValue, field.key, field.line, message)
            return nil
        case .null where !allowNull:
            report(
                .typeMismatch,
                field.key,
                field.line,
                "expected \(expected), found null; give a value or leave the key out"
            )
            return nil
        default:
            return value
        }
    }

    mutating func mismatch(_ field: ConfigField, expected: String, hint: String? = nil) {
        var message = "expected \(expected), found \(describe(field.node))"
        if let hint { message += " (\(hint))" }
        report(.typeMismatch, field.key, field.line, message)
    }

    /// The integer in `field`, type-checked only.
    mutating func integer(_ field: ConfigField) -> Int? {
        switch scalarValue(field, expected: "an integer") {
        case .int(let value)?:
            return value
        case .string(let text)? where Int(text) != nil:
            mismatch(field, expected: "an integer", hint: "quoted values are strings; remove the quotes")
        case .float(let value)? where value.isFinite && value.rounded() == value:
            mismatch(field, expected: "an integer", hint: "write it without a decimal point or exponent")
        case nil:
            break
        default:
            mismatch(field, expected: "an integer")
        }
        return nil
    }

    @discardableResult
    mutating func read(_ target: inout Int, _ field: ConfigField?, range: ClosedRange<Int>) -> Bool {
        read(&target, field, requirement: "must be between \(range.lowerBound) and \(range.upperBound)", range.contains)
    }

    @discardableResult
    mutating func read(_ target: inout Int, _ field: ConfigField?, range: PartialRangeFrom<Int>) -> Bool {
        read(&target, field, requirement: "must be at least \(range.lowerBound)", range.contains)
    }

    mutating func read(
        _ target: inout Int,
        _ field: ConfigField?,
        requirement: String,
        _ isAllowed: (Int) -> Bool
    ) -> Bool {
        guard let field else { return true }
        guard let value = integer(field) else { return false }
        guard isAllowed(value) else {
            report(.outOfRange, field.key, field.line, "\(requirement), got \(value)")
            return false
        }
        target = value
        return true
    }

    @discardableResult
    mutating func read(
        _ target: inout Double,
        _ field: ConfigField?,
        requirement: String,
        _ isAllowed: (Double) -> Bool
    ) -> Bool {
        guard let field else { return true }
        let number: Double
        switch scalarValue(field, expected: "a number") {
        case .int(let value)?:
            number = Double(value)
        case .float(let value)?:
            number = value
        case .string(let text)? where YAMLScalar.resolvePlain(text).isNumber:
            mismatch(field, expected: "a number", hint: "quoted values are strings; remove the quotes")
            return false
        case nil:
            return false
        default:
            mismatch(field, expected: "a number")
            return false
        }
        guard isAllowed(number) else {
            report(.outOfRange, field.key, field.line, "\(requirement), got \(number)")
            return false
        }
        target = number
        return true
    }

    @discardableResult
    mutating func read(_ target: inout Bool, _ field: ConfigField?) -> Bool {
        guard let field else { return true }
        switch scalarValue(field, expected: "true or false") {
        case .bool(let value)?:
            target = value
            return true
        case .string(let text)?:
            let quoted = YAMLScalar.resolvePlain(text) == .bool(text.lowercased() == "true")
            let hint = quoted ? "quoted values are strings; remove the quotes" : "only true and false are booleans"
            mismatch(field, expected: "true or false", hint: hint)
        case nil:
            break
        default:
            mismatch(field, expected: "true or false")
        }
        return false
    }

    /// The string in `field`, type-checked only; `null` gives `.some(nil)` when `allowNull`.
    mutating func string(_ field: ConfigField, allowNull: Bool) -> String?? {
        switch scalarValue(field, expected: "a string", allowNull: allowNull) {
        case .string(let text)?:
            return .some(text)
        case .null?:
            return .some(nil)
        case nil:
            return nil
        default:
            mismatch(field, expected: "a string", hint: "quote it to make it a string")
            return nil
        }
    }

    /// Reads a string; `check` returns what is wrong with it, or `nil`.
    @discardableResult
    mutating func read(_ target: inout String, _ field: ConfigField?, check: (String) -> String?) -> Bool {
        guard let field, let text = string(field, allowNull: false) ?? nil else { return field == nil }
        if let problem = check(text) {
            report(.invalidValue, field.key, field.line, problem)
            return false
        }
        target = text
        return true
    }

    /// Reads an optional string: `null` leaves it unset.
    @discardableResult
    mutating func read(_ target: inout String?, _ field: ConfigField?, check: (String) -> String?) -> Bool {
        guard let field else { return true }
        guard let value = string(field, allowNull: true) else { return false }
        guard let text = value else {
            target = nil
            return true
        }
        if let problem = check(text) {
            report(.invalidValue, field.key, field.line, problem)
            return false
        }
        target = text
        return true
    }

    /// Reads one of an enum's raw values.
    @discardableResult
    mutating func read<Value: RawRepresentable & CaseIterable>(
        _ target: inout Value,
        _ field: ConfigField?
    ) -> Bool where Value.RawValue == String {
        guard let field, let text = string(field, allowNull: false) ?? nil else { return field == nil }
        guard let value = Value(rawValue: text) else {
            report(.invalidValue, field.key, field.line, "must be \(Self.choices(Value.self)), got \"\(text)\"")
            return false
        }
        target = value
        return true
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

    static func choices<Value: RawRepresentable & CaseIterable>(_: Value.Type) -> String
    where Value.RawValue == String {
        let names = Value.allCases.map { "\"\($0.rawValue)\"" }
        return names.count <= 2 ? names.joined(separator: " or ") : "one of " + names.joined(separator: ", ")
    }

    /// A dotted field name such as `ts` or `meta.time`: non-empty parts separated by dots.
    static func checkDottedName(_ name: String) -> String? {
        if name.isEmpty { return "must not be empty" }
        if name.split(separator: ".", omittingEmptySubsequences: false).contains(where: \.isEmpty) {
            return "must be a dotted field name such as `ts` or `meta.time`, with no empty part, got \"\(name)\""
        }
        return nil
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

extension YAMLScalar.Value {
    fileprivate var isNumber: Bool {
        switch self {
        case .int, .float: true
        default: false
        }
    }
}

/// Names what a node holds, for "expected X, found Y" messages.
func describe(_ node: YAMLNode) -> String {
    switch node.content {
    case .mapping: return "a mapping"
    case .sequence: return "a list"
    case .scalar(let scalar):
        switch scalar.value {
        case .null: return "null"
        case .bool(let value): return "the boolean \(value)"
        case .int(let value): return "the integer \(value)"
        case .float: return "the float \(scalar.text)"
        case .string(let text): return "the string \"\(text)\""
        case .invalid: return "`\(scalar.text)`"
        }
    }
}

/// "unknown key", with the closest known key when one is a likely typo, else the list of keys.
func unknownKeyMessage(_ name: String, known: [String]) -> String {
    let distances = known.map { (key: $0, distance: editDistance($0, name)) }
    if let best = distances.min(by: { $0.distance < $1.distance }), best.distance < name.count,
        best.distance <= max(2, name.count / 3)
    {
        return "unknown key; did you mean `\(best.key)`?"
    }
    return "unknown key; expected one of: " + known.joined(separator: ", ")
}

/// Levenshtein distance over characters.
func editDistance(_ lhs: String, _ rhs: String) -> Int {
    let left = Array(lhs)
    let right = Array(rhs)
    var previous = Array(0...right.count)
    for (i, leftCharacter) in left.enumerated() {
        var current = [i + 1] + Array(repeating: 0, count: right.count)
        for (j, rightCharacter) in right.enumerated() {
            let substitution = previous[j] + (leftCharacter == rightCharacter ? 0 : 1)
            current[j + 1] = min(previous[j + 1] + 1, current[j] + 1, substitution)
        }
        previous = current
    }
    return previous[right.count]
}
