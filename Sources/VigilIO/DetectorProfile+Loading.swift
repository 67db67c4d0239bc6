package import VigilCore

extension DetectorProfile {
    /// Reads and checks the profile file at `path`: `models/<name>.yaml`.
    ///
    /// The format, with every key optional (`models/default.yaml` writes out every key with its default):
    ///
    /// ```yaml
    /// description: "Room sensors: temperature, humidity and CO2 with a daily cycle"
    /// metrics: [temperature, humidity, co2]   # or `all` (the default): every numeric field
    /// threshold: 0.999999
    /// episodes: {fire_after: 2, resolve_after: 3}
    /// detectors:
    ///   ewma: {half_life: 30, min_std: 0.05}  # always runs; `alerts: false` silences its own events
    ///   seasonal: {period_s: 86400, buckets: 24}
    ///   flatline: {metrics: [co2]}            # a metric detector can judge fewer metrics than the profile
    ///   change: {enabled: false}
    /// ```
    ///
    /// A detector's section turns it on unless it says `enabled: false`; a detector left out (or whose
    /// section is null, `seasonal:` with every key commented out) keeps the built-in default: every detector on
    /// but `seasonal`.
    ///
    /// - Parameters:
    ///   - path: The file to read; it is also the ``ConfigError/source`` of any error.
    ///   - name: The profile's name: the file's stem, which events carry.
    /// - Throws: ``ConfigError`` listing every problem, each with its key and line, as for the config.
    package static func load(path: String, name: String) throws(ConfigError) -> DetectorProfile {
        try decode(bytes: readConfigFile(path: path), name: name, source: path)
    }

    /// Checks a profile given as YAML text; see ``load(path:name:)``.
    package static func parse(
        yaml: String,
        name: String,
        source: String = "<string>"
    ) throws(ConfigError) -> DetectorProfile {
        try decode(bytes: Array(yaml.utf8), name: name, source: source)
    }

    private static func decode(bytes: [UInt8], name: String, source: String) throws(ConfigError) -> DetectorProfile {
        let needs = "a mapping of profile settings (`{}` for every default)"
        let root = try loadYAMLRoot(bytes: bytes, source: source, needs: needs)
        var decoder = ConfigDecoder()
        let profile = decoder.decodeProfile(root, name: name)
        guard let profile, decoder.issues.isEmpty else {
            throw ConfigError(source: source, issues: decoder.issues)
        }
        return profile
    }
}

/// The sections of a profile file.
extension ConfigDecoder {
    /// Detectors count samples and windows in `Int32` and stop counting there: a warm-up or run longer than
    /// this would never end.
    private static let maxCount = Int(Int32.max)

    /// Episode trackers count runs in `UInt16`: a longer run to fire or resolve would never be reached.
    private static let maxRun = Int(UInt16.max)

    /// Seasonal buckets cost 16 bytes each per (device, metric); a week of minutes is plenty.
    private static let maxBuckets = 10_080

    mutating func decodeProfile(_ root: YAMLNode, name: String) -> DetectorProfile? {
        guard case .mapping(let pairs) = root.content else {
            let message = "the top level must be a mapping of profile settings, found \(describe(root))"
            report(.typeMismatch, "", root.line, message)
            return nil
        }
        let top = ConfigMapping(
            field: ConfigField(key: "", line: root.line, node: root),
            pairs: pairs,
            known: ["description", "metrics", "threshold", "episodes", "detectors"],
            rejected: ["name": "a profile is named by its file: models/<name>.yaml"],
            decoder: &self
        )
        var profile = DetectorProfile(name: name)
        read(&profile.description, top["description"], check: { _ in nil })
        readMetrics(&profile.metrics, top["metrics"])
        read(&profile.threshold, top["threshold"], requirement: "must be greater than 0 and less than 1") {
            $0 > 0 && $0 < 1
        }
        if let episodes = section(top["episodes"], known: ["fire_after", "resolve_after"]) {
            read(&profile.episodes.fireAfter, episodes["fire_after"], range: 1...Self.maxRun)
            read(&profile.episodes.resolveAfter, episodes["resolve_after"], range: 1...Self.maxRun)
        }
        let detectorKeys = ["ewma", "change", "seasonal", "flatline", "rate", "silence", "payload_size"]
        if let detectors = section(top["detectors"], known: detectorKeys) {
            decodeDetectors(detectors, into: &profile, metricsLine: top["metrics"]?.line)
        }
        return profile
    }

    /// - Parameter metricsLine: the line of the profile's `metrics`, which a detector's `metrics` must be among.
    private mutating func decodeDetectors(
        _ detectors: ConfigMapping,
        into profile: inout DetectorProfile,
        metricsLine: Int?
    ) {
        let ewmaKeys = ["metrics", "half_life", "warmup", "min_std", "clip", "alerts"]
        let always = "the EWMA baseline always runs (the change detector reads it); `alerts: false` stops its events"
        if let ewma = section(detectors["ewma"], known: ewmaKeys, rejected: ["enabled": always]) {
            readMetrics(of: .ewma, ewma, into: &profile, metricsLine: metricsLine)
            readBaseline(&profile.ewma, ewma)
            read(&profile.ewmaAlerts, ewma["alerts"])
        }
        if case let (change, enabled)? = detector(detectors["change"], known: ["metrics", "k", "clip"]) {
            readMetrics(of: .change, change, into: &profile, metricsLine: metricsLine)
            var p = profile.change ?? .init()
            readPositive(&p.k, change["k"])
            readPositive(&p.clip, change["clip"])
            profile.change = enabled ? p : nil
        }
        let seasonalKeys = ["metrics", "period_s", "buckets", "half_life_periods", "min_samples", "min_std"]
        if case let (seasonal, enabled)? = detector(detectors["seasonal"], known: seasonalKeys) {
            readMetrics(of: .seasonal, seasonal, into: &profile, metricsLine: metricsLine)
            var p = profile.seasonal ?? .init()
            readPositive(&p.period, seasonal["period_s"])
            read(&p.buckets, seasonal["buckets"], range: 1...Self.maxBuckets)
            readPositive(&p.halfLifePeriods, seasonal["half_life_periods"])
            read(&p.minSamples, seasonal["min_samples"], range: 1...Self.maxCount)
            readNonNegative(&p.minStd, seasonal["min_std"])
            profile.seasonal = enabled ? p : nil
        }
        let flatlineKeys = ["metrics", "min_run", "half_life", "warmup"]
        if case let (flatline, enabled)? = detector(detectors["flatline"], known: flatlineKeys) {
            readMetrics(of: .flatline, flatline, into: &profile, metricsLine: metricsLine)
            var p = profile.flatline ?? .init()
            read(&p.minRun, flatline["min_run"], range: 2...Self.maxCount)
            readPositive(&p.halfLife, flatline["half_life"])
            read(&p.warmup, flatline["warmup"], range: 1...Self.maxCount)
            profile.flatline = enabled ? p : nil
        }
        if case let (rate, enabled)? = detector(detectors["rate"], known: ["window_s", "half_life", "warmup"]) {
            var p = profile.rate ?? .init()
            readPositive(&p.window, rate["window_s"])
            readPositive(&p.halfLife, rate["half_life"])
            read(&p.warmup, rate["warmup"], range: 1...Self.maxCount)
            profile.rate = enabled ? p : nil
        }
        let silenceKeys = ["factor", "min_s", "max_s", "half_life", "warmup"]
        if case let (silence, enabled)? = detector(detectors["silence"], known: silenceKeys) {
            var p = profile.silence ?? .init()
            decodeSilence(silence, into: &p)
            profile.silence = enabled ? p : nil
        }
        let sizeKeys = ["half_life", "warmup", "min_std", "clip", "max_bytes"]
        if case let (size, enabled)? = detector(detectors["payload_size"], known: sizeKeys) {
            var p = profile.payloadSize ?? .init()
            readBaseline(&p.baseline, size)
            read(&p.maxBytes, size["max_bytes"], range: 0...)
            profile.payloadSize = enabled ? p : nil
        }
    }

    /// The `half_life`, `warmup`, `min_std` and `clip` of an exponentially weighted baseline.
    private mutating func readBaseline(_ p: inout EWMADetector.Parameters, _ mapping: ConfigMapping) {
        readPositive(&p.halfLife, mapping["half_life"])
        // A variance needs two samples.
        read(&p.warmup, mapping["warmup"], range: 2...Self.maxCount)
        readNonNegative(&p.minStd, mapping["min_std"])
        readPositive(&p.clip, mapping["clip"])
    }

    private mutating func decodeSilence(_ silence: ConfigMapping, into p: inout SilenceDetector.Parameters) {
        // Silence shorter than the learned interval is every gap between two messages.
        read(&p.factor, silence["factor"], requirement: "must be at least 1") { $0 >= 1 && $0.isFinite }
        let minValid = readPositive(&p.minSilence, silence["min_s"])
        let maxValid = readPositive(&p.maxSilence, silence["max_s"])
        readPositive(&p.halfLife, silence["half_life"])
        read(&p.warmup, silence["warmup"], range: 1...Self.maxCount)
        guard minValid, maxValid, p.minSilence > p.maxSilence else { return }
        // As for broker.reconnect_*: blame the key the file sets, the maximum if given.
        if let maxField = silence["max_s"] {
            let message = "must be at least \(silence.field.key).min_s (\(p.minSilence)), got \(p.maxSilence)"
            report(.outOfRange, maxField.key, maxField.line, message)
        } else if let minField = silence["min_s"] {
            let maximum = "\(silence.field.key).max_s (\(p.maxSilence), the default)"
            let message = "must be at most \(maximum), got \(p.minSilence)"
            report(.outOfRange, minField.key, minField.line, message)
        }
    }

    // MARK: Values

    /// A detector's section and whether it is on (`enabled`, true unless it says false); nil when the section
    /// is absent or null (the built-in default stands) or not a mapping (reported).
    private mutating func detector(_ field: ConfigField?, known: [String]) -> (ConfigMapping, Bool)? {
        guard let field else { return nil }
        if case .scalar(let scalar) = field.node.content, case .bool(let on) = scalar.value {
            mismatch(field, expected: "a mapping", hint: "write `{enabled: \(on)}` to turn it \(on ? "on" : "off")")
            return nil
        }
        guard let mapping = section(field, known: ["enabled"] + known) else { return nil }
        var enabled = true
        read(&enabled, mapping["enabled"])
        return (mapping, enabled)
    }

    /// A metric detector's `metrics`, which must be among the profile's.
    private mutating func readMetrics(
        of kind: DetectorKind,
        _ mapping: ConfigMapping,
        into profile: inout DetectorProfile,
        metricsLine: Int?
    ) {
        var metrics: Set<String>? = nil
        let names = readMetrics(&metrics, mapping["metrics"])
        profile.detectorMetrics[kind] = metrics
        guard let own = profile.metrics, let metricsLine else { return }
        for (name, field) in names where !own.contains(name) {
            let message =
                "\"\(name)\" is not one of the profile's metrics (line \(metricsLine)); a detector judges only those"
            report(.invalidValue, field.key, field.line, message)
        }
    }

    /// Reads `all` (nil: every metric) or a list of dotted metric names; returns each name read with its field.
    @discardableResult
    private mutating func readMetrics(_ target: inout Set<String>?, _ field: ConfigField?) -> [(String, ConfigField)] {
        guard let field else { return [] }
        let expected = "`all` or a list of metric names"
        switch field.node.content {
        case .sequence(let items):
            guard !items.isEmpty else {
                let message = "must list at least one metric, or be `all` for every metric"
                report(.outOfRange, field.key, field.line, message)
                return []
            }
            var names: [(String, ConfigField)] = []
            for (index, item) in items.enumerated() {
                let itemField = ConfigField(key: "\(field.key)[\(index)]", line: item.line, node: item)
                var name = ""
                guard read(&name, itemField, check: Self.checkDottedName) else { continue }
                if let first = names.first(where: { $0.0 == name }) {
                    let message = "\"\(name)\" is already listed on line \(first.1.line)"
                    report(.invalidValue, itemField.key, item.line, message)
                    continue
                }
                names.append((name, itemField))
            }
            target = Set(names.map(\.0))
            return names
        case .scalar:
            switch scalarValue(field, expected: expected) {
            case .string("all")?:
                target = nil
            case .string(let text)?:
                let message = "must be \(expected), got \"\(text)\" (a list of one is `[\(text)]`)"
                report(.invalidValue, field.key, field.line, message)
            case nil:
                break
            default:
                mismatch(field, expected: expected)
            }
        case .mapping:
            mismatch(field, expected: expected)
        }
        return []
    }

    @discardableResult
    private mutating func readPositive(_ target: inout Double, _ field: ConfigField?) -> Bool {
        read(&target, field, requirement: "must be greater than 0") { $0 > 0 && $0.isFinite }
    }

    @discardableResult
    private mutating func readNonNegative(_ target: inout Double, _ field: ConfigField?) -> Bool {
        read(&target, field, requirement: "must be at least 0") { $0 >= 0 && $0.isFinite }
    }
}
