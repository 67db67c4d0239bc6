import Foundation
package import VigilSim

extension LoadScenario {
    /// Reads and checks the scenario file at `path` (see ``LoadScenario`` for the format), as strictly as the
    /// config: unknown keys, duplicates, wrong types and out-of-range values are errors with their lines.
    ///
    /// - Throws: ``ConfigError`` listing every problem.
    package static func load(path: String) throws(ConfigError) -> LoadScenario {
        try decode(bytes: readConfigFile(path: path), source: path)
    }

    /// Checks a scenario given as YAML text.
    package static func parse(yaml: String, source: String = "<string>") throws(ConfigError) -> LoadScenario {
        try decode(bytes: Array(yaml.utf8), source: source)
    }

    private static func decode(bytes: [UInt8], source: String) throws(ConfigError) -> LoadScenario {
        let root = try loadYAMLRoot(bytes: bytes, source: source, needs: "a mapping of scenario settings")
        var decoder = ConfigDecoder()
        let scenario = decoder.decodeScenario(root)
        guard let scenario, decoder.issues.isEmpty else { throw ConfigError(source: source, issues: decoder.issues) }
        return scenario
    }
}

extension ConfigDecoder {
    mutating func decodeScenario(_ root: YAMLNode) -> LoadScenario? {
        guard case .mapping(let pairs) = root.content else {
            report(.typeMismatch, "", root.line, "the top level must be a mapping of scenario settings, found \(describe(root))")
            return nil
        }
        let top = ConfigMapping(
            field: ConfigField(key: "", line: root.line, node: root), pairs: pairs,
            known: ["description", "devices", "rate", "duration_s", "seed", "grace_s", "classes", "anomalies"], decoder: &self
        )
        var scenario = LoadScenario()
        read(&scenario.description, top["description"], check: { _ in nil })
        read(&scenario.devices, top["devices"], range: 1...10_000_000)
        read(&scenario.rate, top["rate"], requirement: "must be greater than 0") { $0 > 0 && $0.isFinite }
        read(&scenario.durationSeconds, top["duration_s"], requirement: "must be greater than 0") { $0 > 0 && $0.isFinite }
        var seed = Int(scenario.seed)
        read(&seed, top["seed"], range: 0...)
        scenario.seed = UInt64(seed)
        read(&scenario.graceSeconds, top["grace_s"], requirement: "must be at least 0") { $0 >= 0 && $0.isFinite }
        if let classes = decodeClasses(top["classes"]) { scenario.classes = classes }
        guard let field = top["anomalies"] else { return scenario }
        guard case .sequence(let items) = field.node.content else {
            report(.typeMismatch, field.key, field.line, "expected a list of anomalies, found \(describe(field.node))")
            return scenario
        }
        for (index, item) in items.enumerated() {
            let itemField = ConfigField(key: "\(field.key)[\(index)]", line: item.line, node: item)
            guard case .mapping(let pairs) = item.content else {
                report(.typeMismatch, itemField.key, item.line, "expected a mapping with kind and fraction, found \(describe(item))")
                continue
            }
            let mapping = ConfigMapping(
                field: itemField, pairs: pairs,
                known: ["kind", "fraction", "at_s", "spread_s", "duration_s", "every_s"], decoder: &self
            )
            guard mapping["kind"] != nil else {
                report(.missingKey, "\(itemField.key).kind", itemField.line, "required key is missing; one of \(Self.choices(SyntheticFleet.Kind.self))")
                continue
            }
            var anomaly = LoadScenario.Anomaly(kind: .spike)
            read(&anomaly.kind, mapping["kind"])
            read(&anomaly.fraction, mapping["fraction"], requirement: "must be between 0 and 1") { (0...1).contains($0) }
            read(&anomaly.atSeconds, mapping["at_s"], requirement: "must be at least 0") { $0 >= 0 && $0.isFinite }
            read(&anomaly.spreadSeconds, mapping["spread_s"], requirement: "must be at least 0") { $0 >= 0 && $0.isFinite }
            var duration = 0.0
            if read(&duration, mapping["duration_s"], requirement: "must be at least 0", { $0 >= 0 && $0.isFinite }),
                mapping["duration_s"] != nil
            {
                anomaly.durationSeconds = duration
            }
            var every = 0.0
            if read(&every, mapping["every_s"], requirement: "must be greater than 0", { $0 > 0 && $0.isFinite }),
                mapping["every_s"] != nil
            {
                anomaly.everySeconds = every
            }
            scenario.anomalies.append(anomaly)
        }
        return scenario
    }
}

extension ConfigDecoder {
    /// `classes:`: a mapping of ``DeviceClass`` names to fractions of the fleet that add up to 1; nil when
    /// absent or wrong (reported).
    mutating func decodeClasses(_ field: ConfigField?) -> [String: Double]? {
        guard let field else { return nil }
        let names = DeviceClass.all.map(\.name)
        guard case .mapping(let pairs) = field.node.content, !pairs.isEmpty else {
            report(.typeMismatch, field.key, field.line, "expected a mapping of device classes (\(names.joined(separator: ", "))) to fractions of the fleet, found \(describe(field.node))")
            return nil
        }
        let issuesBefore = issues.count
        let mapping = ConfigMapping(field: field, pairs: pairs, known: names, decoder: &self)
        var classes: [String: Double] = [:]
        for name in names {
            guard let share = mapping[name] else { continue }
            var fraction = 0.0
            if read(&fraction, share, requirement: "must be between 0 and 1", { (0...1).contains($0) }) { classes[name] = fraction }
        }
        guard issues.count == issuesBefore else { return nil }
        let total = classes.values.reduce(0, +)
        guard abs(total - 1) <= 1e-9 else {
            report(.invalidValue, field.key, field.line, "the fractions must add up to 1, they add up to \(String(format: "%g", total))")
            return nil
        }
        return classes
    }
}
