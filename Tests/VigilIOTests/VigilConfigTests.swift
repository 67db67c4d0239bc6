import Foundation
import Testing
import VigilCore
import VigilIO

/// The config loader: defaults, every key, and every kind of error with its key and line.
@Suite struct VigilConfigTests {
    /// The one required section, as the last lines of most test documents.
    static let subscriptionYAML = """
        subscriptions:
          - filter: "devices/+/telemetry"
            device: "devices/{device}/telemetry"
        """

    /// The subscription that ``subscriptionYAML`` describes.
    static let subscription = SubscriptionConfig(filter: "devices/+/telemetry", device: "devices/{device}/telemetry")

    // MARK: Helpers

    /// The issues `parse` throws for `yaml`; records a test issue when it does not throw.
    static func issues(_ yaml: String, sourceLocation: SourceLocation = #_sourceLocation) -> [ConfigError.Issue] {
        do {
            let config = try VigilConfig.parse(yaml: yaml)
            Issue.record("expected a ConfigError, got \(config)", sourceLocation: sourceLocation)
            return []
        } catch {
            return error.issues
        }
    }

    /// `line: key (kind)` for each issue, which compares (and prints) well.
    static func located(_ issues: [ConfigError.Issue]) -> [String] {
        issues.map { "\($0.line.map(String.init) ?? "-"): \($0.key.isEmpty ? "-" : $0.key) (\($0.kind))" }
    }

    /// The single issue `yaml` has; records a test issue when there is not exactly one.
    static func onlyIssue(_ yaml: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> ConfigError.Issue
    {
        let found = issues(yaml, sourceLocation: sourceLocation)
        try #require(found.count == 1, "expected one issue, got \(located(found))", sourceLocation: sourceLocation)
        return found[0]
    }

    /// A fresh file under the temporary directory holding `contents`.
    static func temporaryFile(_ contents: [UInt8]) throws -> String {
        let path = FileManager.default.temporaryDirectory
            .appendingPathComponent("vigil-config-\(UUID().uuidString).yaml").path
        try Data(contents).write(to: URL(fileURLWithPath: path))
        return path
    }

    // MARK: Defaults and values

    @Test func minimalConfigGetsEveryDefault() throws {
        let config = try VigilConfig.parse(yaml: Self.subscriptionYAML)
        #expect(config == VigilConfig(subscriptions: [Self.subscription]))

        // The defaults, spelled out, so that a changed default in an initialiser shows up here.
        #expect(config.broker.host == "127.0.0.1")
        #expect(config.broker.port == 1883)
        #expect(config.broker.clientID == "vigil")
        #expect(config.broker.protocolVersion == .v5)
        #expect(config.broker.username == nil)
        #expect(config.broker.passwordFile == nil)
        #expect(config.broker.keepaliveSeconds == 30)
        #expect(config.broker.cleanStart == false)
        #expect(config.broker.sessionExpirySeconds == 3600)
        #expect(config.broker.receiveMaximum == 1000)
        #expect(config.broker.tls == nil)
        #expect(config.state == StateConfig(dir: nil, checkpointIntervalSeconds: 60))
        #expect(config.shutdownTimeoutSeconds == 10)
        #expect(config.broker.reconnectMinSeconds == 1)
        #expect(config.broker.reconnectMaxSeconds == 30)
        #expect(
            config.subscriptions == [
                SubscriptionConfig(
                    filter: "devices/+/telemetry", device: "devices/{device}/telemetry", qos: 1, profile: "default"
                )
            ]
        )
        #expect(config.payload.format == .auto)
        #expect(config.payload.timestampField == nil)
        #expect(config.payload.timestampUnit == .auto)
        #expect(config.payload.maxBytes == 65536)
        #expect(config.payload.maxDepth == 8)
        #expect(config.payload.maxFields == 64)
        #expect(config.pipeline.shards == 0)
        #expect(config.pipeline.ringCapacity == 4_194_304)
        #expect(config.pipeline.overflow == .block)
        #expect(config.pipeline.maxDevices == 100_000)
        #expect(config.modelsDir == "models")
        #expect(config.outputs.mqtt.topic == "vigil/anomalies/{device}")
        #expect(config.outputs.mqtt.qos == 1)
        #expect(config.outputs.mqtt.retain == false)
        #expect(config.log.level == .info)
        #expect(config.log.format == .text)
    }

    @Test func everyKeyIsParsed() throws {
        let yaml = """
            broker:
              host: broker.example.net
              port: 8883
              client_id: vigil-7
              protocol: 3.1.1
              username: watcher
              password_file: /run/secrets/mqtt
              keepalive_s: 60
              clean_start: false
              reconnect_min_s: 2
              reconnect_max_s: 120
            subscriptions:
              - filter: "site/+/dev/#"
                device: "site/+/{device}/#"
                qos: 0
                profile: smart-meter
              - filter: sensors/+
                device: "sensors/{device}"
            payload:
              format: senml
              timestamp_field: meta.time
              timestamp_unit: ms
              max_bytes: 4096
              max_depth: 4
              max_fields: 16
            pipeline:
              shards: 4
              ring_capacity: 65536
              overflow: drop
              max_devices: 5000
              max_metrics_per_device: 8
              max_metric_names: 300
            models_dir: /etc/vigil/models
            outputs:
              mqtt:
                topic: "alerts/{device}"
                qos: 2
                retain: true
            log:
              level: debug
              format: json
            """
        let expected = VigilConfig(
            broker: BrokerConfig(
                host: "broker.example.net",
                port: 8883,
                clientID: "vigil-7",
                protocolVersion: .v311,
                username: "watcher",
                passwordFile: "/run/secrets/mqtt",
                keepaliveSeconds: 60,
                cleanStart: false,
                reconnectMinSeconds: 2,
                reconnectMaxSeconds: 120
            ),
            subscriptions: [
                SubscriptionConfig(filter: "site/+/dev/#", device: "site/+/{device}/#", qos: 0, profile: "smart-meter"),
                SubscriptionConfig(filter: "sensors/+", device: "sensors/{device}", qos: 1),
            ],
            payload: PayloadConfig(
                format: .senml,
                timestampField: "meta.time",
                timestampUnit: .milliseconds,
                maxBytes: 4096,
                maxDepth: 4,
                maxFields: 16
            ),
            pipeline: PipelineConfig(
                shards: 4, ringCapacity: 65536, overflow: .drop, maxDevices: 5000, maxMetricsPerDevice: 8, maxMetricNames: 300
            ),
            modelsDir: "/etc/vigil/models",
            outputs: OutputsConfig(mqtt: MQTTOutputConfig(topic: "alerts/{device}", qos: 2, retain: true)),
            log: LogConfig(level: .debug, format: .json)
        )
        #expect(try VigilConfig.parse(yaml: yaml) == expected)
    }

    @Test(arguments: [
        ("5", MQTTProtocolVersion.v5),
        ("\"5\"", .v5),
        ("'5'", .v5),
        ("3.1.1", .v311),
        ("\"3.1.1\"", .v311),
    ])
    func protocolAcceptsIntegerAndStringSpellings(written: String, expected: MQTTProtocolVersion) throws {
        let config = try VigilConfig.parse(yaml: "broker:\n  protocol: \(written)\n" + Self.subscriptionYAML)
        #expect(config.broker.protocolVersion == expected)
    }

    @Test(arguments: [
        ("auto", ConfigPayloadFormat.auto), ("json", .json), ("senml", .senml), ("number", .number),
        ("\"senml\"", .senml),
    ])
    func payloadFormats(written: String, expected: ConfigPayloadFormat) throws {
        let config = try VigilConfig.parse(yaml: "payload:\n  format: \(written)\n" + Self.subscriptionYAML)
        #expect(config.payload.format == expected)
    }

    /// The decoder built from the config reads the configured format (and only it).
    @Test(arguments: [
        // format, payload, accepted (or the rejection reason)
        ("auto", #"{"a":1}"#, "ok"), ("auto", #"[{"n":"a","v":1}]"#, "ok"), ("auto", " 42 ", "ok"),
        ("json", #"{"a":1}"#, "ok"), ("json", #"[{"n":"a","v":1}]"#, "not_json"), ("json", "42", "not_json"),
        ("senml", #"[{"n":"a","v":1}]"#, "ok"), ("senml", #"{"a":1}"#, "not_json"), ("senml", "42", "not_json"),
        ("number", "42", "ok"), ("number", #"{"a":1}"#, "not_json"), ("number", #"[{"n":"a","v":1}]"#, "not_json"),
    ])
    func payloadDecoderReadsTheConfiguredFormat(format: String, payload: String, outcome: String) throws {
        let config = try VigilConfig.parse(yaml: "payload:\n  format: \(format)\n" + Self.subscriptionYAML)
        var decoder = config.payloadDecoder()
        let result: String = Array(payload.utf8).withUnsafeBytes { bytes in
            do throws(PayloadError) {
                try decoder.decode(bytes)
                return "ok"
            } catch {
                return error.reason
            }
        }
        #expect(result == outcome)
        if outcome == "ok" {
            #expect(decoder.fieldCount == 1)
            #expect(decoder.fieldValue(0) == (payload.contains("42") ? 42 : 1))
        }
    }

    @Test(arguments: [
        ("auto", ConfigTimestampUnit.auto), ("s", .seconds), ("ms", .milliseconds), ("iso8601", .iso8601),
    ])
    func timestampUnits(written: String, expected: ConfigTimestampUnit) throws {
        let config = try VigilConfig.parse(yaml: "payload:\n  timestamp_unit: \(written)\n" + Self.subscriptionYAML)
        #expect(config.payload.timestampUnit == expected)
    }

    @Test(arguments: [
        // Plain scalars follow the YAML 1.2 core schema: decimal (signs and leading zeros allowed),
        // 0o octal, 0x hexadecimal.
        "0x75B", "0o3533", "+1883", "01883",
        // An explicit standard tag decides the type, even of a quoted scalar.
        "!!int \"1883\"",
    ])
    func integersFollowTheCoreSchema(written: String) throws {
        let config = try VigilConfig.parse(yaml: "broker:\n  port: \(written)\n" + Self.subscriptionYAML)
        #expect(config.broker.port == 1883)
    }

    @Test func nullUnsetsOptionalKeysAndEmptySectionsTakeDefaults() throws {
        let yaml = """
            broker:
              username: ~
              password_file: null
            payload:
              timestamp_field:
            pipeline:
            log: {}
            """
        let config = try VigilConfig.parse(yaml: yaml + "\n" + Self.subscriptionYAML)
        #expect(config == VigilConfig(subscriptions: [Self.subscription]))
    }

    @Test func aliasesResolveToTheirAnchors() throws {
        let yaml = """
            subscriptions:
              - &telemetry
                filter: "devices/+/telemetry"
                device: "devices/{device}/telemetry"
              - *telemetry
            """
        let config = try VigilConfig.parse(yaml: yaml)
        #expect(config.subscriptions == [Self.subscription, Self.subscription])
    }

    @Test(arguments: ["#", "+", "+/+", "a//b", "devices/+/telemetry/#", "/leading"])
    func validTopicFilters(filter: String) throws {
        let yaml = "subscriptions:\n  - filter: \"\(filter)\"\n    device: \"{device}\"\n"
        #expect(try VigilConfig.parse(yaml: yaml).subscriptions[0].filter == filter)
    }

    @Test(arguments: ["{device}", "devices/{device}/#", "+/{device}/+", "a/b/{device}"])
    func validDeviceTemplates(template: String) throws {
        let yaml = "subscriptions:\n  - filter: \"#\"\n    device: \"\(template)\"\n"
        #expect(try VigilConfig.parse(yaml: yaml).subscriptions[0].device == template)
    }

    // MARK: The example file

    @Test func exampleFileLoadsAsTheDefaults() throws {
        // Tests/VigilIOTests/VigilConfigTests.swift -> the repository root.
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let path = root.appendingPathComponent("config.yaml.example").path
        let config = try VigilConfig.load(path: path)
        #expect(config == VigilConfig(subscriptions: [Self.subscription]))

        // Every key the loader knows is written out in the example (optional ones as null).
        let text = try String(contentsOfFile: path, encoding: .utf8)
        let keys = [
            "host", "port", "client_id", "protocol", "username", "password_file", "keepalive_s", "clean_start",
            "reconnect_min_s", "reconnect_max_s", "filter", "device", "qos", "format", "timestamp_field",
            "timestamp_unit", "max_bytes", "max_depth", "max_fields", "shards", "ring_capacity", "overflow",
            "max_devices", "max_metrics_per_device", "max_metric_names", "profile", "models_dir", "topic",
            "retain", "level", "enabled", "listen", "bearer_token_file", "max_request_bytes", "timeout_s",
            "max_connections", "max_devices_listed", "metrics_topic", "metrics_interval_s",
            "mode", "group", "instances", "index", "index_from", "dir", "retry_min_ms",
            "retry_max_ms", "timeout_ms", "shutdown_grace_ms", "per_device", "window_s", "max_fires", "error_score",
            "critical_score", "silences",
            "password", "session_expiry_s", "receive_maximum", "checkpoint_interval_s", "shutdown_timeout_s",
        ]
        let lines = text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        for key in keys {
            #expect(lines.contains { $0.hasPrefix("\(key): ") || $0.hasPrefix("- \(key): ") }, "no line sets \(key)")
        }
    }

    // MARK: Unknown and duplicate keys

    @Test func unknownKeysAtEveryLevelAreReportedWithTheirLines() {
        let yaml = """
            brokers:
              host: x
            broker:
              prot: 1883
            subscriptions:
              - filter: "a/+"
                device: "a/{device}"
                retain: true
            log:
              level: info
              colour: red
            outputs:
              mqtt:
                topic: t
              slack: /tmp/x
            """
        let found = Self.issues(yaml)
        #expect(
            Self.located(found) == [
                "1: brokers (unknown key)",
                "4: broker.prot (unknown key)",
                "8: subscriptions[0].retain (unknown key)",
                "11: log.colour (unknown key)",
                "15: outputs.slack (unknown key)",
            ]
        )
        #expect(found[0].message == "unknown key; did you mean `broker`?")
        #expect(found[1].message == "unknown key; did you mean `port`?")
        #expect(found[2].message == "unknown key; expected one of: filter, device, qos, profile")
    }

    @Test func duplicateKeysAreErrorsAtTheSecondOccurrence() {
        let yaml = """
            broker:
              port: 1883
              host: a
              port: 1884
            subscriptions:
              - filter: "a/+"
                device: "a/{device}"
            broker: {}
            """
        let found = Self.issues(yaml)
        #expect(Self.located(found) == ["4: broker.port (duplicate key)", "8: broker (duplicate key)"])
        #expect(found[0].message == "duplicate key; it is already set on line 2")
        #expect(found[1].message == "duplicate key; it is already set on line 1")
    }

    // MARK: Types

    struct TypeCase: Sendable, CustomTestStringConvertible {
        var yaml: String
        var key: String
        var line: Int
        var message: String
        var testDescription: String { key + ": " + yaml.split(separator: "\n").last.map(String.init)! }
    }

    @Test(arguments: [
        TypeCase(
            yaml: "broker:\n  host:\n    name: x",
            key: "broker.host",
            line: 2,
            message: "expected a string, found a mapping"
        ),
        TypeCase(
            yaml: "broker:\n  port: abc",
            key: "broker.port",
            line: 2,
            message: "expected an integer, found the string \"abc\""
        ),
        TypeCase(
            yaml: "broker:\n  port: \"1883\"",
            key: "broker.port",
            line: 2,
            message: "expected an integer, found the string \"1883\" (quoted values are strings; remove the quotes)"
        ),
        TypeCase(
            yaml: "broker:\n  port: 1.5",
            key: "broker.port",
            line: 2,
            message: "expected an integer, found the float 1.5"
        ),
        TypeCase(
            yaml: "broker:\n  port: 1883.0",
            key: "broker.port",
            line: 2,
            message: "expected an integer, found the float 1883.0 (write it without a decimal point or exponent)"
        ),
        TypeCase(
            yaml: "broker:\n  port: [1883]",
            key: "broker.port",
            line: 2,
            message: "expected an integer, found a list"
        ),
        TypeCase(
            yaml: "broker:\n  port:",
            key: "broker.port",
            line: 2,
            message: "expected an integer, found null; give a value or leave the key out"
        ),
        TypeCase(
            yaml: "broker:\n  clean_start: yes",
            key: "broker.clean_start",
            line: 2,
            message: "expected true or false, found the string \"yes\" (only true and false are booleans)"
        ),
        TypeCase(
            yaml: "broker:\n  clean_start: \"true\"",
            key: "broker.clean_start",
            line: 2,
            message: "expected true or false, found the string \"true\" (quoted values are strings; remove the quotes)"
        ),
        TypeCase(
            yaml: "broker:\n  clean_start: 1",
            key: "broker.clean_start",
            line: 2,
            message: "expected true or false, found the integer 1"
        ),
        TypeCase(
            yaml: "broker:\n  client_id: 42",
            key: "broker.client_id",
            line: 2,
            message: "expected a string, found the integer 42 (quote it to make it a string)"
        ),
        TypeCase(
            yaml: "broker:\n  protocol: true",
            key: "broker.protocol",
            line: 2,
            message: "expected \"5\" or \"3.1.1\", found the boolean true"
        ),
        TypeCase(
            yaml: "broker: 5",
            key: "broker",
            line: 1,
            message: "expected a mapping, found the integer 5"
        ),
        TypeCase(
            yaml: "log:\n  level:\n    - info",
            key: "log.level",
            line: 2,
            message: "expected a string, found a list"
        ),
        TypeCase(
            yaml: "outputs:\n  mqtt: on",
            key: "outputs.mqtt",
            line: 2,
            message: "expected a mapping, found the string \"on\""
        ),
    ])
    func wrongTypesNameTheKeyAndLine(_ testCase: TypeCase) throws {
        let issue = try Self.onlyIssue(testCase.yaml + "\n" + Self.subscriptionYAML)
        #expect(
            issue
                == ConfigError.Issue(
                    kind: .typeMismatch,
                    key: testCase.key,
                    line: testCase.line,
                    message: testCase.message
                )
        )
    }

    @Test func wrongTypesInsideSubscriptions() {
        let yaml = """
            subscriptions:
              - filter: [a]
                device: "a/{device}"
              - "devices/+/telemetry"
              - filter: "b/+"
                device: "b/{device}"
                qos: high
            """
        let found = Self.issues(yaml)
        #expect(
            Self.located(found) == [
                "2: subscriptions[0].filter (type mismatch)",
                "4: subscriptions[1] (type mismatch)",
                "7: subscriptions[2].qos (type mismatch)",
            ]
        )
        #expect(
            found[1].message == "expected a mapping with filter and device, found the string \"devices/+/telemetry\""
        )
    }

    @Test func unsupportedAndMismatchedTagsAreInvalidValues() {
        let yaml = """
            broker:
              host: !hostname broker
              port: !!int abc
            """
        let found = Self.issues(yaml + "\n" + Self.subscriptionYAML)
        #expect(
            found == [
                ConfigError.Issue(
                    kind: .invalidValue,
                    key: "broker.host",
                    line: 2,
                    message: "the tag !hostname is not supported"
                ),
                ConfigError.Issue(
                    kind: .invalidValue,
                    key: "broker.port",
                    line: 3,
                    message: "`abc` is not an integer, as its !!int tag requires"
                ),
            ]
        )
    }

    @Test func integersTooLargeForIntAreReported() throws {
        let issue = try Self.onlyIssue("broker:\n  port: 99999999999999999999\n" + Self.subscriptionYAML)
        #expect(
            issue
                == ConfigError.Issue(
                    kind: .invalidValue,
                    key: "broker.port",
                    line: 2,
                    message: "the integer 99999999999999999999 is too large"
                )
        )
    }

    // MARK: Missing keys

    @Test func missingSubscriptionsNamesTheRootLine() throws {
        let issue = try Self.onlyIssue("# Vigil\n\nbroker:\n  port: 1883\n")
        #expect(
            issue
                == ConfigError.Issue(
                    kind: .missingKey,
                    key: "subscriptions",
                    line: 3,
                    message: "required key is missing; list at least one subscription"
                )
        )
    }

    @Test func missingSubscriptionKeysNameTheItemLine() {
        let yaml = """
            subscriptions:
              - filter: "a/+"
                device: "a/{device}"
              - filter: "b/+"
              -
                qos: 0
            """
        let found = Self.issues(yaml)
        #expect(
            found == [
                ConfigError.Issue(
                    kind: .missingKey,
                    key: "subscriptions[1].device",
                    line: 4,
                    message: "required key is missing"
                ),
                ConfigError.Issue(
                    kind: .missingKey,
                    key: "subscriptions[2].filter",
                    line: 6,
                    message: "required key is missing"
                ),
                ConfigError.Issue(
                    kind: .missingKey,
                    key: "subscriptions[2].device",
                    line: 6,
                    message: "required key is missing"
                ),
            ]
        )
    }

    @Test func emptySubscriptionListIsAnError() throws {
        let issue = try Self.onlyIssue("log:\n  level: info\nsubscriptions: []\n")
        #expect(
            issue
                == ConfigError.Issue(
                    kind: .outOfRange,
                    key: "subscriptions",
                    line: 3,
                    message: "must list at least one subscription"
                )
        )
    }

    @Test func nullRequiredKeyIsATypeError() throws {
        let issue = try Self.onlyIssue("subscriptions:\n  - filter: \"a/+\"\n    device:\n")
        #expect(
            issue
                == ConfigError.Issue(
                    kind: .typeMismatch,
                    key: "subscriptions[0].device",
                    line: 3,
                    message: "expected a string, found null; give a value or leave the key out"
                )
        )
    }

    // MARK: Ranges

    struct RangeCase: Sendable, CustomTestStringConvertible {
        var section: String
        var key: String
        var value: String
        var message: String
        var testDescription: String { "\(section).\(key): \(value)" }
    }

    @Test(arguments: [
        RangeCase(section: "broker", key: "port", value: "0", message: "must be between 1 and 65535, got 0"),
        RangeCase(section: "broker", key: "port", value: "65536", message: "must be between 1 and 65535, got 65536"),
        RangeCase(section: "broker", key: "keepalive_s", value: "4", message: "must be between 5 and 65535, got 4"),
        RangeCase(section: "broker", key: "reconnect_min_s", value: "0", message: "must be at least 1, got 0"),
        RangeCase(section: "payload", key: "max_bytes", value: "0", message: "must be between 1 and 16777216, got 0"),
        RangeCase(
            section: "payload",
            key: "max_bytes",
            value: "16777217",
            message: "must be between 1 and 16777216, got 16777217"
        ),
        RangeCase(section: "payload", key: "max_depth", value: "65", message: "must be between 1 and 64, got 65"),
        RangeCase(section: "payload", key: "max_fields", value: "0", message: "must be between 1 and 4096, got 0"),
        RangeCase(
            section: "payload",
            key: "max_fields",
            value: "4097",
            message: "must be between 1 and 4096, got 4097"
        ),
        RangeCase(section: "pipeline", key: "shards", value: "-1", message: "must be between 0 and 256, got -1"),
        RangeCase(section: "pipeline", key: "shards", value: "257", message: "must be between 0 and 256, got 257"),
        RangeCase(section: "pipeline", key: "ring_capacity", value: "2048", message: "must be at least 4096, got 2048"),
        RangeCase(section: "pipeline", key: "max_devices", value: "0", message: "must be at least 1, got 0"),
        RangeCase(section: "pipeline", key: "max_metrics_per_device", value: "0", message: "must be at least 1, got 0"),
        RangeCase(section: "pipeline", key: "max_metric_names", value: "0", message: "must be at least 1, got 0"),
    ])
    func outOfRangeValuesSayTheAllowedRange(_ testCase: RangeCase) throws {
        let yaml = "\(Self.subscriptionYAML)\n\(testCase.section):\n  \(testCase.key): \(testCase.value)\n"
        let issue = try Self.onlyIssue(yaml)
        let expected = ConfigError.Issue(
            kind: .outOfRange,
            key: "\(testCase.section).\(testCase.key)",
            line: 5,
            message: testCase.message
        )
        #expect(issue == expected)
    }

    @Test(arguments: [
        ("qos: 2", "subscriptions[0].qos", "must be between 0 and 1, got 2"),
        ("qos: -1", "subscriptions[0].qos", "must be between 0 and 1, got -1"),
    ])
    func subscriptionQoSRange(line: String, key: String, message: String) throws {
        let issue = try Self.onlyIssue(Self.subscriptionYAML + "\n    \(line)\n")
        #expect(issue == ConfigError.Issue(kind: .outOfRange, key: key, line: 4, message: message))
    }

    @Test func outputQoSRange() throws {
        let issue = try Self.onlyIssue("outputs:\n  mqtt:\n    qos: 3\n" + Self.subscriptionYAML)
        #expect(
            issue
                == ConfigError.Issue(
                    kind: .outOfRange,
                    key: "outputs.mqtt.qos",
                    line: 3,
                    message: "must be between 0 and 2, got 3"
                )
        )
    }

    @Test func ringCapacityMustBeAPowerOfTwo() throws {
        let issue = try Self.onlyIssue("pipeline:\n  ring_capacity: 100000\n" + Self.subscriptionYAML)
        #expect(
            issue
                == ConfigError.Issue(
                    kind: .invalidValue,
                    key: "pipeline.ring_capacity",
                    line: 2,
                    message: "must be a power of two, got 100000 (nearest: 65536 or 131072)"
                )
        )
    }

    @Test func ringCapacityMustHoldFourLargestPayloads() throws {
        let yaml = """
            payload:
              max_bytes: 65536
            pipeline:
              ring_capacity: 131072
            """
        let issue = try Self.onlyIssue(yaml + "\n" + Self.subscriptionYAML)
        #expect(
            issue
                == ConfigError.Issue(
                    kind: .outOfRange,
                    key: "pipeline.ring_capacity",
                    line: 4,
                    message: "must be at least 4 * payload.max_bytes (262144), got 131072"
                )
        )
    }

    @Test func defaultRingCapacityTooSmallForMaxBytesIsReportedOnRingCapacity() throws {
        let issue = try Self.onlyIssue("payload:\n  max_bytes: 2097152\n" + Self.subscriptionYAML)
        #expect(
            issue
                == ConfigError.Issue(
                    kind: .outOfRange,
                    key: "pipeline.ring_capacity",
                    line: 2,
                    message: "must be at least 4 * payload.max_bytes (8388608), got the default 4194304"
                )
        )
    }

    @Test func reconnectMinimumMustNotExceedMaximum() throws {
        let both = try Self.onlyIssue("broker:\n  reconnect_min_s: 20\n  reconnect_max_s: 10\n" + Self.subscriptionYAML)
        #expect(
            both
                == ConfigError.Issue(
                    kind: .outOfRange,
                    key: "broker.reconnect_max_s",
                    line: 3,
                    message: "must be at least broker.reconnect_min_s (20), got 10"
                )
        )
        let minimumOnly = try Self.onlyIssue("broker:\n  reconnect_min_s: 60\n" + Self.subscriptionYAML)
        #expect(
            minimumOnly
                == ConfigError.Issue(
                    kind: .outOfRange,
                    key: "broker.reconnect_min_s",
                    line: 2,
                    message: "must be at most broker.reconnect_max_s (30, the default), got 60"
                )
        )
    }

    // MARK: Invalid values

    @Test(arguments: [
        ("", "must not be empty"),
        (
            "devices/+x/telemetry",
            "invalid topic filter \"devices/+x/telemetry\": "
                + "`+` must be a whole topic level, as in `devices/+/telemetry`"
        ),
        ("devices/#/telemetry", "invalid topic filter \"devices/#/telemetry\": `#` must be the last level"),
        ("devices#", "invalid topic filter \"devices#\": `#` must be a whole topic level, as in `devices/#`"),
    ])
    func invalidTopicFilters(filter: String, message: String) throws {
        let issue = try Self.onlyIssue("subscriptions:\n  - device: \"{device}\"\n    filter: \"\(filter)\"\n")
        #expect(
            issue == ConfigError.Issue(kind: .invalidValue, key: "subscriptions[0].filter", line: 3, message: message)
        )
    }

    @Test(arguments: [
        ("devices/telemetry", "it must have a `{device}` level, as in `devices/{device}/telemetry`"),
        ("{device}/{device}", "`{device}` must appear exactly once"),
        ("devices/dev-{device}/t", "`{device}` must be a whole topic level, as in `devices/{device}/telemetry`"),
        ("devices/{devic}/t", "the level `{devic}` has a brace; the only placeholder is `{device}`"),
        ("devices/#/{device}", "`#` must be the last level"),
        ("devices/+x/{device}", "`+` must be a whole topic level, as in `devices/+/telemetry`"),
    ])
    func invalidDeviceTemplates(template: String, problem: String) throws {
        let issue = try Self.onlyIssue("subscriptions:\n  - filter: \"#\"\n    device: \"\(template)\"\n")
        let message = "invalid device template \"\(template)\": \(problem)"
        #expect(
            issue == ConfigError.Issue(kind: .invalidValue, key: "subscriptions[0].device", line: 3, message: message)
        )
    }

    @Test(arguments: [
        (
            "outputs:\n  mqtt:\n    topic: \"alerts/+\"", "outputs.mqtt.topic", 3,
            "a topic to publish to must not contain the wildcards `+` or `#`, got \"alerts/+\""
        ),
        ("outputs:\n  mqtt:\n    topic: \"\"", "outputs.mqtt.topic", 3, "must not be empty"),
        ("broker:\n  client_id: ''", "broker.client_id", 2, "must not be empty"),
        ("pipeline:\n  overflow: spill", "pipeline.overflow", 2, "must be \"block\" or \"drop\", got \"spill\""),
        (
            "payload:\n  format: msgpack", "payload.format", 2,
            "must be one of \"auto\", \"json\", \"senml\", \"number\", got \"msgpack\""
        ),
        (
            "payload:\n  format: SenML", "payload.format", 2,
            "must be one of \"auto\", \"json\", \"senml\", \"number\", got \"SenML\""
        ),
        (
            "payload:\n  timestamp_unit: us", "payload.timestamp_unit", 2,
            "must be one of \"auto\", \"s\", \"ms\", \"iso8601\", got \"us\""
        ),
        (
            "payload:\n  timestamp_field: meta..time", "payload.timestamp_field", 2,
            "must be a dotted field name such as `ts` or `meta.time`, with no empty part, got \"meta..time\""
        ),
        (
            "log:\n  level: verbose", "log.level", 2,
            "must be one of \"debug\", \"info\", \"warning\", \"error\", got \"verbose\""
        ),
        ("log:\n  format: xml", "log.format", 2, "must be \"text\" or \"json\", got \"xml\""),
        ("broker:\n  protocol: 4", "broker.protocol", 2, "must be \"5\" or \"3.1.1\", got \"4\""),
        ("broker:\n  protocol: \"3.1\"", "broker.protocol", 2, "must be \"5\" or \"3.1.1\", got \"3.1\""),
    ])
    func invalidValues(yaml: String, key: String, line: Int, message: String) throws {
        let issue = try Self.onlyIssue(yaml + "\n" + Self.subscriptionYAML)
        #expect(issue == ConfigError.Issue(kind: .invalidValue, key: key, line: line, message: message))
    }

    // MARK: Documents

    @Test(arguments: ["", "\n\n", "# nothing but a comment\n", "---\n", "~\n"])
    func emptyDocumentsAreErrors(yaml: String) throws {
        let issue = try Self.onlyIssue(yaml)
        #expect(issue.kind == .emptyDocument)
        #expect(issue.key == "")
        #expect(issue.line == nil)
    }

    @Test(arguments: [
        ("- broker", 1, "the top level must be a mapping of settings, found a list"),
        (
            "# config\n\"subscriptions\"\n", 2,
            "the top level must be a mapping of settings, found the string \"subscriptions\""
        ),
    ])
    func nonMappingRootIsAnError(yaml: String, line: Int, message: String) throws {
        let issue = try Self.onlyIssue(yaml)
        #expect(issue == ConfigError.Issue(kind: .typeMismatch, key: "", line: line, message: message))
    }

    @Test(arguments: [
        ("broker:\n  host: a: b\n", 2, "invalid YAML: mapping values are not allowed in this context"),
        (
            "broker:\n  host: [a\n  port: 1\n", 3,
            "invalid YAML: did not find expected ',' or ']' (while parsing a flow sequence at line 2)"
        ),
        (
            "broker:\n\thost: a\n", 2,
            "invalid YAML: found character that cannot start any token (while scanning for the next token at line 2)"
        ),
        ("subscriptions: *missing\n", 1, "invalid YAML: found undefined alias"),
    ])
    func syntaxErrorsReportLibyamlsProblemAndLine(yaml: String, line: Int, message: String) throws {
        let issue = try Self.onlyIssue(yaml)
        #expect(issue == ConfigError.Issue(kind: .syntax, key: "", line: line, message: message))
    }

    @Test func invalidUTF8IsASyntaxErrorOnItsLine() throws {
        let bytes = Array("log:\n  level: info\n  format: ".utf8) + [0xFF, 0xFE, 0x0A]
        let path = try Self.temporaryFile(bytes)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let error = try #require(throws: ConfigError.self) { try VigilConfig.load(path: path) }
        #expect(Self.located(error.issues) == ["3: - (YAML syntax)"])
        #expect(error.issues.first?.message.hasPrefix("invalid YAML: invalid leading UTF-8 octet") == true)
    }

    @Test func recursiveAliasesAreRejected() throws {
        // libyaml builds the cycle; a node's line is where its anchor is written.
        let issue = try Self.onlyIssue("log: &loop\n  level: *loop\n")
        #expect(
            issue
                == ConfigError.Issue(
                    kind: .syntax,
                    key: "",
                    line: 1,
                    message: "an alias refers to a node that contains it"
                )
        )
    }

    @Test func deeplyNestedDocumentsAreRejected() throws {
        let depth = 100
        let yaml = "log: " + String(repeating: "[", count: depth) + String(repeating: "]", count: depth) + "\n"
        let issue = try Self.onlyIssue(yaml)
        #expect(
            issue
                == ConfigError.Issue(
                    kind: .syntax,
                    key: "",
                    line: 1,
                    message: "the document is nested more than 64 levels deep"
                )
        )
    }

    @Test func multipleDocumentsAreAnError() throws {
        let yaml = Self.subscriptionYAML + "\n---\nlog:\n  level: debug\n"
        let issue = try Self.onlyIssue(yaml)
        #expect(
            issue
                == ConfigError.Issue(
                    kind: .multipleDocuments,
                    key: "",
                    line: 4,
                    message: "the file holds more than one YAML document; use a single document"
                )
        )
    }

    // MARK: Collecting and reporting

    @Test func allIssuesAreCollectedInLineOrder() {
        let yaml = """
            broker:
              port: 0
              clean_start: yes
              colour: blue
            subscriptions:
              - filter: "a/#/b"
            payload:
              max_depth: 100
            log:
              level: loud
            """
        let found = Self.issues(yaml)
        #expect(
            Self.located(found) == [
                "2: broker.port (out of range)",
                "3: broker.clean_start (type mismatch)",
                "4: broker.colour (unknown key)",
                "6: subscriptions[0].device (missing key)",
                "6: subscriptions[0].filter (invalid value)",
                "8: payload.max_depth (out of range)",
                "10: log.level (invalid value)",
            ]
        )
    }

    @Test func descriptionHasOneLinePerIssue() throws {
        let path = try Self.temporaryFile(Array("broker:\n  port: 0\n  keepalive: 5\n".utf8))
        defer { try? FileManager.default.removeItem(atPath: path) }
        do {
            _ = try VigilConfig.load(path: path)
            Issue.record("expected a ConfigError")
        } catch {
            #expect(error.source == path)
            #expect(
                error.description == """
                    \(path):1: subscriptions: required key is missing; list at least one subscription
                    \(path):2: broker.port: must be between 1 and 65535, got 0
                    \(path):3: broker.keepalive: unknown key; did you mean `keepalive_s`?
                    """
            )
        }
    }

    @Test func unreadableFileIsAConfigError() throws {
        let path = "/nonexistent/vigil/config.yaml"
        do {
            _ = try VigilConfig.load(path: path)
            Issue.record("expected a ConfigError")
        } catch {
            #expect(
                error.issues == [
                    ConfigError.Issue(
                        kind: .unreadableFile,
                        key: "",
                        line: nil,
                        message: "cannot read the file: No such file or directory"
                    )
                ]
            )
            #expect(error.description == "\(path): cannot read the file: No such file or directory")
        }
    }

    @Test func loadReadsAFile() throws {
        let path = try Self.temporaryFile(Array((Self.subscriptionYAML + "\nbroker:\n  port: 1884\n").utf8))
        defer { try? FileManager.default.removeItem(atPath: path) }
        var expected = VigilConfig(subscriptions: [Self.subscription])
        expected.broker.port = 1884
        #expect(try VigilConfig.load(path: path) == expected)
    }

    @Test func parseNamesItsSource() throws {
        do {
            _ = try VigilConfig.parse(yaml: "log: {}\n", source: "inline")
            Issue.record("expected a ConfigError")
        } catch {
            #expect(
                error.description == "inline:1: subscriptions: required key is missing; list at least one subscription"
            )
        }
    }

    // MARK: Profiles

    /// A fresh folder under the temporary directory holding `files` (relative paths, created with their folders).
    static func temporaryFolder(_ files: [String: String]) throws -> URL {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-profiles-\(UUID().uuidString)")
        for (path, contents) in files {
            let url = folder.appendingPathComponent(path)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try contents.write(to: url, atomically: true, encoding: .utf8)
        }
        return folder
    }

    @Test func profileNamesAndModelsDirAreParsed() throws {
        let yaml = """
            models_dir: "../shared models"
            subscriptions:
              - filter: "meters/+"
                device: "meters/{device}"
                profile: smart-meter
              - filter: "rooms/+"
                device: "rooms/{device}"
                profile: env_v2.1
            """
        let config = try VigilConfig.parse(yaml: yaml)
        #expect(config.modelsDir == "../shared models")
        #expect(config.subscriptions.map(\.profile) == ["smart-meter", "env_v2.1"])
        // Text has no folder of its own: a relative models_dir is relative to the working directory.
        #expect(config.modelsDirectory == "../shared models")
        #expect(config.profilePath("smart-meter") == "../shared models/smart-meter.yaml")
    }

    @Test(arguments: [
        ("profile: \"\"", "subscriptions[0].profile", 4, "must not be empty"),
        (
            "profile: ../secrets", "subscriptions[0].profile", 4,
            "must be a profile name (letters, digits, `.`, `_` and `-`, not starting with `.`), "
                + "the stem of a file in models_dir such as `smart-meter` for smart-meter.yaml; got \"../secrets\""
        ),
        (
            "profile: .hidden", "subscriptions[0].profile", 4,
            "must be a profile name (letters, digits, `.`, `_` and `-`, not starting with `.`), "
                + "the stem of a file in models_dir such as `smart-meter` for smart-meter.yaml; got \".hidden\""
        ),
    ])
    func invalidProfileNames(line: String, key: String, lineNumber: Int, message: String) throws {
        let issue = try Self.onlyIssue(Self.subscriptionYAML + "\n    \(line)\n")
        #expect(issue == ConfigError.Issue(kind: .invalidValue, key: key, line: lineNumber, message: message))
    }

    @Test func emptyModelsDirIsAnError() throws {
        let issue = try Self.onlyIssue("models_dir: \"\"\n" + Self.subscriptionYAML)
        #expect(issue == ConfigError.Issue(kind: .invalidValue, key: "models_dir", line: 1, message: "must not be empty"))
    }

    @Test func detectorSettingsInTheConfigPointToProfiles() {
        let yaml = """
            detectors:
              ewma:
                threshold: 0.999
            episodes:
              fire_after: 3
            """
        let found = Self.issues(yaml + "\n" + Self.subscriptionYAML)
        #expect(Self.located(found) == ["1: detectors (unknown key)", "4: episodes (unknown key)"])
        let message = "unknown key; detector parameters and episodes are set in detector profiles now: files in "
            + "`models_dir` (models/default.yaml lists every key), chosen per subscription with `profile`"
        #expect(found.map(\.message) == [message, message])
    }

    @Test func withoutAProfileFileDefaultIsTheBuiltInDefault() throws {
        // No models folder at all next to the config.
        let folder = try Self.temporaryFolder(["vigil.yaml": Self.subscriptionYAML])
        defer { try? FileManager.default.removeItem(at: folder) }
        let config = try VigilConfig.load(path: folder.appendingPathComponent("vigil.yaml").path)
        #expect(config.subscriptions[0].profile == "default")
        let settings = try config.detectionSettings()
        #expect(settings.profiles == [DetectorProfile()])
    }

    @Test func aDefaultFileReplacesTheBuiltInDefault() throws {
        let folder = try Self.temporaryFolder([
            "vigil.yaml": Self.subscriptionYAML,
            "models/default.yaml": "threshold: 0.9999\n",
        ])
        defer { try? FileManager.default.removeItem(at: folder) }
        let config = try VigilConfig.load(path: folder.appendingPathComponent("vigil.yaml").path)
        #expect(try config.profiles() == [DetectorProfile(threshold: 0.9999)])
    }

    @Test func aRelativeModelsDirIsRelativeToTheConfigFile() throws {
        let yaml = """
            models_dir: ../profiles
            subscriptions:
              - filter: "rooms/+"
                device: "rooms/{device}"
                profile: lab
              - filter: "meters/+"
                device: "meters/{device}"
              - filter: "halls/+"
                device: "halls/{device}"
                profile: lab
            """
        let folder = try Self.temporaryFolder([
            "etc/vigil.yaml": yaml,
            "profiles/lab.yaml": "description: \"The lab\"\nthreshold: 0.99\n",
        ])
        defer { try? FileManager.default.removeItem(at: folder) }
        // The tests run in the package's folder, not next to the config.
        #expect(FileManager.default.currentDirectoryPath != folder.appendingPathComponent("etc").path)
        let config = try VigilConfig.load(path: folder.appendingPathComponent("etc/vigil.yaml").path)
        #expect(config.modelsDirectory == folder.appendingPathComponent("etc").path + "/../profiles")
        let lab = DetectorProfile(name: "lab", description: "The lab", threshold: 0.99)
        // In subscription order, one per subscription.
        #expect(try config.detectionSettings().profiles == [lab, DetectorProfile(), lab])
    }

    @Test func anAbsoluteModelsDirIsUsedAsWritten() throws {
        let models = try Self.temporaryFolder(["meter.yaml": "threshold: 0.99\n"])
        defer { try? FileManager.default.removeItem(at: models) }
        let folder = try Self.temporaryFolder([
            "vigil.yaml": "models_dir: \"\(models.path)\"\n" + Self.subscriptionYAML + "\n    profile: meter\n"
        ])
        defer { try? FileManager.default.removeItem(at: folder) }
        let config = try VigilConfig.load(path: folder.appendingPathComponent("vigil.yaml").path)
        #expect(config.modelsDirectory == models.path)
        #expect(try config.profiles().map(\.threshold) == [0.99])
    }

    @Test func aMissingProfileIsNamedWithItsSubscriptionKeyAndLine() throws {
        let yaml = """
            subscriptions:
              - filter: "rooms/+"
                device: "rooms/{device}"
                profile: lab
              - filter: "meters/+"
                device: "meters/{device}"
                profile: meter
              - filter: "halls/+"
                device: "halls/{device}"
                profile: meter
            """
        let folder = try Self.temporaryFolder(["vigil.yaml": yaml, "models/lab.yaml": "{}\n", "models/room.yaml": "{}\n"])
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("vigil.yaml").path
        // Loading the config does not look for profiles; the detection settings do.
        let config = try VigilConfig.load(path: path)
        let error = try #require(throws: ConfigError.self) { try config.detectionSettings() }
        #expect(error.source == path)
        let models = folder.path + "/models"
        let message = "no profile \"meter\": \(models)/meter.yaml does not exist (profiles in \(models): lab, room)"
        #expect(
            error.issues == [
                ConfigError.Issue(kind: .invalidValue, key: "subscriptions[1].profile", line: 7, message: message),
                ConfigError.Issue(kind: .invalidValue, key: "subscriptions[2].profile", line: 10, message: message),
            ]
        )
        #expect(error.description.hasPrefix("\(path):7: subscriptions[1].profile: no profile \"meter\""))
    }

    @Test func aMissingProfileInAMissingFolderSaysSo() throws {
        let config = try VigilConfig.parse(yaml: "models_dir: /nonexistent/vigil\n" + Self.subscriptionYAML + "\n    profile: lab\n")
        let error = try #require(throws: ConfigError.self) { try config.profiles() }
        #expect(error.source == "<string>")
        #expect(
            error.issues.map(\.message) == [
                "no profile \"lab\": /nonexistent/vigil/lab.yaml does not exist (models_dir /nonexistent/vigil is not a folder)"
            ]
        )
        #expect(error.issues.map(\.line) == [5])
    }

    @Test func aProfileFileWithProblemsIsReportedOnThatFile() throws {
        let folder = try Self.temporaryFolder([
            "vigil.yaml": Self.subscriptionYAML + "\n    profile: lab\n",
            "models/lab.yaml": "threshold: 2\nepisodes:\n  fire_afer: 2\n",
        ])
        defer { try? FileManager.default.removeItem(at: folder) }
        let config = try VigilConfig.load(path: folder.appendingPathComponent("vigil.yaml").path)
        let error = try #require(throws: ConfigError.self) { try config.detectionSettings() }
        #expect(error.source == folder.path + "/models/lab.yaml")
        #expect(Self.located(error.issues) == ["1: threshold (out of range)", "3: episodes.fire_afer (unknown key)"])
    }
}
