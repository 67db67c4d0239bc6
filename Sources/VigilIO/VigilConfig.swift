/// Vigil's configuration: every setting, typed, with its default.
///
/// Load it from YAML with ``load(path:)`` or ``parse(yaml:source:)``; `config.yaml.example` at the
/// repository root lists every key with its default. Only `subscriptions` is required. Detector parameters
/// are not here: each subscription names a detector profile, a file in ``modelsDir`` (see
/// ``detectionSettings()``).
///
/// ```swift
/// let config = try VigilConfig.parse(yaml: """
///     subscriptions:
///       - filter: "devices/+/telemetry"
///         device: "devices/{device}/telemetry"
///     """)
/// // config.broker.port == 1883, config.pipeline.overflow == .block, ...
/// ```
package struct VigilConfig: Sendable, Equatable {
    /// The MQTT broker to read telemetry from (`broker`).
    package var broker: BrokerConfig
    /// The topics to subscribe to and how to find the device in each (`subscriptions`).
    package var subscriptions: [SubscriptionConfig]
    /// How to decode telemetry payloads (`payload`).
    package var payload: PayloadConfig
    /// Shards, rings and their limits (`pipeline`).
    package var pipeline: PipelineConfig
    /// The folder of detector profiles, `<name>.yaml` each; not empty (`models_dir`).
    ///
    /// As written: a relative path is relative to the config file's folder (see ``modelsDirectory``).
    package var modelsDir: String
    /// Where anomaly events go (`outputs`).
    package var outputs: OutputsConfig
    /// Logging (`log`).
    package var log: LogConfig
    /// Where state that survives a restart lives: checkpoints and the outbox (`state`).
    package var state: StateConfig = StateConfig()
    /// The HTTP outputs' durable queue (`outbox`).
    package var outbox: OutboxConfig = OutboxConfig()
    /// Maintenance windows: matching firing events are not delivered to the incident outputs (`silences`).
    package var silences: [Silence] = []
    /// Longest a graceful stop may take before Vigil exits anyway, in seconds, 1...3600 (`shutdown_timeout_s`).
    package var shutdownTimeoutSeconds: Int
    /// The HTTP endpoint: Prometheus metrics, health, readiness, inventory (`metrics`).
    package var metrics = MetricsConfig()
    /// The MQTT status topic and periodic metrics summary (`status`).
    package var status = StatusConfig()
    /// How several instances split the fleet (`cluster`).
    package var cluster: ClusterConfig
    /// Where the settings were read from; not a setting, and ignored by `==`.
    package var origin: ConfigOrigin

    /// Creates a configuration; every section but the subscriptions has a default.
    package init(
        broker: BrokerConfig = BrokerConfig(),
        subscriptions: [SubscriptionConfig],
        payload: PayloadConfig = PayloadConfig(),
        pipeline: PipelineConfig = PipelineConfig(),
        modelsDir: String = "models",
        outputs: OutputsConfig = OutputsConfig(),
        log: LogConfig = LogConfig(),
        cluster: ClusterConfig = ClusterConfig(),
        shutdownTimeoutSeconds: Int = 10,
        origin: ConfigOrigin = ConfigOrigin()
    ) {
        self.broker = broker
        self.subscriptions = subscriptions
        self.payload = payload
        self.pipeline = pipeline
        self.modelsDir = modelsDir
        self.outputs = outputs
        self.log = log
        self.cluster = cluster
        self.shutdownTimeoutSeconds = shutdownTimeoutSeconds
        self.origin = origin
    }
}

/// Where a configuration was read from: what its relative paths are relative to, and the lines of the keys
/// that are checked only after loading (a subscription's `profile`, whose file is read by
/// ``VigilConfig/detectionSettings()``).
///
/// Not part of the configuration's value: `==` is always true, so two configurations with the same settings
/// are equal wherever they came from.
package struct ConfigOrigin: Sendable, Equatable {
    /// The config file's path, or what ``VigilConfig/parse(yaml:source:)`` was told to call the text: the
    /// ``ConfigError/source`` of problems found after loading.
    package var source: String
    /// The config file's folder; nil for text, whose relative paths are relative to the working directory.
    package var directory: String?
    /// The line of each key checked after loading, by dotted key (`subscriptions[0].profile`).
    package var lines: [String: Int]

    /// Creates an origin; the defaults describe text that came from nowhere in particular.
    package init(source: String = "<string>", directory: String? = nil, lines: [String: Int] = [:]) {
        self.source = source
        self.directory = directory
        self.lines = lines
    }

    package static func == (lhs: ConfigOrigin, rhs: ConfigOrigin) -> Bool { true }
}

/// The MQTT protocol version used to talk to the broker (`broker.protocol`).
package enum MQTTProtocolVersion: String, Sendable, CaseIterable {
    /// MQTT 5.
    case v5 = "5"
    /// MQTT 3.1.1.
    case v311 = "3.1.1"
}

/// The broker connection (`broker`).
package struct BrokerConfig: Sendable, Equatable {
    /// Host name or address (`host`).
    package var host: String
    /// TCP port, 1...65535 (`port`).
    package var port: Int
    /// MQTT client identifier; not empty (`client_id`).
    package var clientID: String
    /// Protocol version (`protocol`).
    package var protocolVersion: MQTTProtocolVersion
    /// User name, if the broker wants one (`username`).
    package var username: String?
    /// Path of a file holding the password (`password_file`); the loader does not read it.
    package var passwordFile: String?
    /// The password written in the config itself (`password`): accepted with a warning at every start.
    package var password: String?
    /// TLS for the broker connection (`tls`); nil: plain TCP.
    package var tls: TLSConfig?
    /// How long the broker keeps the session (subscriptions, queued QoS 1 messages) after a disconnect, in
    /// seconds, 0...4294967295 (`session_expiry_s`; MQTT 5 only; 3.1.1 sessions never expire).
    package var sessionExpirySeconds: Int
    /// Most unacknowledged QoS 1 messages the broker may send at once, 1...65535 (`receive_maximum`).
    package var receiveMaximum: Int
    /// Keep-alive interval in seconds, 5...65535 (`keepalive_s`).
    package var keepaliveSeconds: Int
    /// Start a clean session on connect (`clean_start`).
    package var cleanStart: Bool
    /// First reconnect delay in seconds, at least 1 (`reconnect_min_s`).
    package var reconnectMinSeconds: Int
    /// Longest reconnect delay in seconds, at least ``reconnectMinSeconds`` (`reconnect_max_s`).
    package var reconnectMaxSeconds: Int

    /// Creates a broker configuration; every field has a default.
    package init(
        host: String = "127.0.0.1",
        port: Int = 1883,
        clientID: String = "vigil",
        protocolVersion: MQTTProtocolVersion = .v5,
        username: String? = nil,
        passwordFile: String? = nil,
        password: String? = nil,
        tls: TLSConfig? = nil,
        sessionExpirySeconds: Int = 3600,
        receiveMaximum: Int = 1000,
        keepaliveSeconds: Int = 30,
        cleanStart: Bool = false,
        reconnectMinSeconds: Int = 1,
        reconnectMaxSeconds: Int = 30
    ) {
        self.host = host
        self.port = port
        self.clientID = clientID
        self.protocolVersion = protocolVersion
        self.username = username
        self.passwordFile = passwordFile
        self.password = password
        self.tls = tls
        self.sessionExpirySeconds = sessionExpirySeconds
        self.receiveMaximum = receiveMaximum
        self.keepaliveSeconds = keepaliveSeconds
        self.cleanStart = cleanStart
        self.reconnectMinSeconds = reconnectMinSeconds
        self.reconnectMaxSeconds = reconnectMaxSeconds
    }
}

/// TLS for the broker connection (`broker.tls`): TLS 1.2 or later, the broker's certificate verified.
package struct TLSConfig: Sendable, Equatable {
    /// PEM file of the certificate authorities to trust (`ca_file`); nil: the system's (/etc/ssl/certs).
    package var caFile: String?
    /// PEM client certificate for mutual TLS (`cert_file`); needs ``keyFile``.
    package var certFile: String?
    /// PEM private key of ``certFile``, unencrypted (`key_file`).
    package var keyFile: String?
    /// The name the broker's certificate must carry (`server_name`); nil: ``BrokerConfig/host``.
    package var serverName: String?
    /// Skip certificate verification altogether (`insecure_skip_verify`): logged as a warning at every start.
    package var insecureSkipVerify: Bool

    /// Creates a TLS configuration; every field has a default.
    package init(
        caFile: String? = nil, certFile: String? = nil, keyFile: String? = nil, serverName: String? = nil,
        insecureSkipVerify: Bool = false
    ) {
        self.caFile = caFile
        self.certFile = certFile
        self.keyFile = keyFile
        self.serverName = serverName
        self.insecureSkipVerify = insecureSkipVerify
    }
}

/// What survives a restart (`state`): checkpoints of learned baselines, and the incident outputs' outbox.
package struct StateConfig: Sendable, Equatable {
    /// Where the outbox lives when `dir` is not set: `state` beside the config file.
    package static let defaultOutboxParent = "state"

    /// The state folder (`dir`); a relative path is relative to the config file's folder. Setting it turns on
    /// checkpoints; nil (the default): no checkpoints, every start is cold, and the HTTP outputs' outbox (if
    /// any) goes to ``defaultOutboxParent``.
    package var dir: String?
    /// Seconds between checkpoints while running, 1...86400 (`checkpoint_interval_s`); one is also written
    /// at every graceful stop.
    package var checkpointIntervalSeconds: Int

    /// Creates a state configuration; every field has a default.
    package init(dir: String? = nil, checkpointIntervalSeconds: Int = 60) {
        self.dir = dir
        self.checkpointIntervalSeconds = checkpointIntervalSeconds
    }
}

/// One subscription (an item of `subscriptions`).
package struct SubscriptionConfig: Sendable, Equatable {
    /// The MQTT topic filter to subscribe to, such as `devices/+/telemetry` (`filter`).
    package var filter: String
    /// The topic template that names the device, such as `devices/{device}/telemetry` (`device`).
    ///
    /// Exactly one level is `{device}`; the others are literals, `+`, or a final `#`.
    package var device: String
    /// Subscription QoS, 0 or 1 (`qos`).
    package var qos: Int
    /// The detector profile for the devices of this subscription: the file `<name>.yaml` in
    /// ``VigilConfig/modelsDir``; letters, digits, `.`, `_` and `-` (`profile`).
    package var profile: String

    /// Creates a subscription.
    package init(filter: String, device: String, qos: Int = 1, profile: String = "default") {
        self.filter = filter
        self.device = device
        self.qos = qos
        self.profile = profile
    }
}

/// The payload encoding (`payload.format`).
///
/// Named with a `Config` prefix so it does not clash with VigilCore's own payload format type.
package enum ConfigPayloadFormat: String, Sendable, CaseIterable {
    /// Per message, from its first byte: `{` a JSON object, `[` a SenML pack, `-` or a digit a number.
    case auto
    /// A JSON object per message, flattened to dotted names.
    case json
    /// A SenML JSON pack (RFC 8428) per message: a metric per record, each with its own time.
    case senml
    /// One bare JSON number per message, the metric `value`.
    case number
}

/// How the payload's timestamp field is written (`payload.timestamp_unit`).
///
/// Named with a `Config` prefix so it does not clash with VigilCore's own timestamp unit type.
package enum ConfigTimestampUnit: String, Sendable, CaseIterable {
    /// Guess from the value: ISO 8601 text, or a number in seconds or milliseconds by magnitude.
    case auto
    /// Seconds since the Unix epoch.
    case seconds = "s"
    /// Milliseconds since the Unix epoch.
    case milliseconds = "ms"
    /// ISO 8601 text.
    case iso8601
}

/// Payload decoding (`payload`).
package struct PayloadConfig: Sendable, Equatable {
    /// The payload encoding (`format`).
    package var format: ConfigPayloadFormat
    /// Dotted name of the event-time field of JSON objects, such as `ts` or `meta.time`; `nil` uses
    /// the receive time (`timestamp_field`). SenML records carry their own times.
    package var timestampField: String?
    /// How the timestamp field is written (`timestamp_unit`).
    package var timestampUnit: ConfigTimestampUnit
    /// Largest payload accepted, in bytes, 1...16777216 (`max_bytes`).
    package var maxBytes: Int
    /// Deepest nesting accepted, 1...64 (`max_depth`).
    package var maxDepth: Int
    /// Most fields read from one payload, 1...4096 (`max_fields`).
    package var maxFields: Int

    /// Creates a payload configuration; every field has a default.
    package init(
        format: ConfigPayloadFormat = .auto,
        timestampField: String? = nil,
        timestampUnit: ConfigTimestampUnit = .auto,
        maxBytes: Int = 65536,
        maxDepth: Int = 8,
        maxFields: Int = 64
    ) {
        self.format = format
        self.timestampField = timestampField
        self.timestampUnit = timestampUnit
        self.maxBytes = maxBytes
        self.maxDepth = maxDepth
        self.maxFields = maxFields
    }
}

/// What a shard's producer does when the shard's ring is full (`pipeline.overflow`).
///
/// Named with a `Config` prefix so it does not clash with VigilPipeline's own policy type.
package enum ConfigOverflowPolicy: String, Sendable, CaseIterable {
    /// Wait for room: back-pressure onto the broker connection.
    case block
    /// Drop the message and count it.
    case drop
}

/// Shards and rings (`pipeline`).
package struct PipelineConfig: Sendable, Equatable {
    /// Number of shards, 0...256; 0 means one per core (`shards`).
    package var shards: Int
    /// Bytes per shard ring: a power of two, at least 4096 and at least 4 × ``PayloadConfig/maxBytes``
    /// (`ring_capacity`).
    package var ringCapacity: Int
    /// What to do when a ring is full (`overflow`).
    package var overflow: ConfigOverflowPolicy
    /// Most devices tracked per shard, at least 1; a new device beyond it evicts (forgets) the idlest of a
    /// random sample of 16 tracked devices, counted as an eviction (`max_devices`).
    package var maxDevices: Int
    /// Most distinct metrics kept per device, at least 1; further metric names of that device are counted
    /// under `metric_limit` (`max_metrics_per_device`).
    package var maxMetricsPerDevice: Int
    /// Most distinct metric names per shard over all its devices, at least 1 (`max_metric_names`).
    package var maxMetricNames: Int

    /// Creates a pipeline configuration; every field has a default.
    package init(
        shards: Int = 0,
        ringCapacity: Int = 4_194_304,
        overflow: ConfigOverflowPolicy = .block,
        maxDevices: Int = 100_000,
        maxMetricsPerDevice: Int = 64,
        maxMetricNames: Int = 10_000
    ) {
        self.shards = shards
        self.ringCapacity = ringCapacity
        self.overflow = overflow
        self.maxDevices = maxDevices
        self.maxMetricsPerDevice = maxMetricsPerDevice
        self.maxMetricNames = maxMetricNames
    }
}

/// Where anomaly events go (`outputs`).
package struct OutputsConfig: Sendable, Equatable {
    /// Publishing anomaly events to the broker (`mqtt`).
    package var mqtt: MQTTOutputConfig
    /// The incident outputs; each is off unless its section is present (see `VigilConfig+Outputs.swift`).
    package var alertmanager: AlertmanagerOutputConfig?
    package var pagerduty: PagerDutyOutputConfig?
    package var webhook: WebhookOutputConfig?
    package var file: FileOutputConfig?
    /// Noise control of the incident outputs (`rate_limit`, `flapping`, `severity`).
    package var rateLimitPerDevice = 0
    package var rateLimitWindowSeconds = 60
    package var flappingMaxFires = 0
    package var flappingWindowSeconds = 600
    package var severity = SeverityScale()

    /// Whether any incident output (not `mqtt`) is configured.
    package var hasIncidentOutputs: Bool { alertmanager != nil || pagerduty != nil || webhook != nil || file != nil }

    /// Creates an outputs configuration.
    package init(mqtt: MQTTOutputConfig = MQTTOutputConfig()) {
        self.mqtt = mqtt
    }
}

/// Publishing anomaly events over MQTT (`outputs.mqtt`).
package struct MQTTOutputConfig: Sendable, Equatable {
    /// Topic to publish to; `{device}` is replaced by the device id; no `+` or `#` (`topic`).
    package var topic: String
    /// Publish QoS, 0...2 (`qos`).
    package var qos: Int
    /// Publish with the retain flag (`retain`).
    package var retain: Bool

    /// Creates an MQTT output configuration; every field has a default.
    package init(topic: String = "vigil/anomalies/{device}", qos: Int = 1, retain: Bool = false) {
        self.topic = topic
        self.qos = qos
        self.retain = retain
    }
}

/// Logging (`log`).
package struct LogConfig: Sendable, Equatable {
    /// The lowest level written (`log.level`).
    package enum Level: String, Sendable, CaseIterable {
        /// Everything, including per-message detail.
        case debug
        /// Normal operation.
        case info
        /// Problems Vigil works around.
        case warning
        /// Problems Vigil cannot work around.
        case error
    }

    /// How log lines are written (`log.format`).
    package enum Format: String, Sendable, CaseIterable {
        /// Human-readable lines.
        case text
        /// One JSON object per line.
        case json
    }

    /// The lowest level written (`level`).
    package var level: Level
    /// How log lines are written (`format`).
    package var format: Format

    /// Creates a log configuration; every field has a default.
    package init(level: Level = .info, format: Format = .text) {
        self.level = level
        self.format = format
    }
}
