import Foundation
package import VigilCore

/// How several Vigil instances split a fleet between them (`cluster`).
///
/// Each device's stream must reach exactly one instance so that its baselines stay whole. See
/// docs/deployment.md for the trade-offs of each mode.
package struct ClusterConfig: Sendable, Equatable {
    /// How the fleet is split (`cluster.mode`).
    package enum Mode: String, Sendable, CaseIterable {
        /// One instance sees everything.
        case none
        /// MQTT shared subscriptions (`$share/{group}/{filter}`): the broker spreads messages over the group.
        /// Device-affine only where the broker routes shared subscriptions by topic hash (EMQX `hash_topic`).
        case shared
        /// Each instance's own config subscribes to a disjoint set of filters (per site, region...).
        case filters
        /// Every instance subscribes to everything and keeps the devices whose stable hash falls on its index.
        case hash
    }

    /// How the fleet is split (`mode`).
    package var mode: Mode
    /// Shared-subscription group name (`group`, mode `shared`).
    package var group: String
    /// How many instances share the fleet, 1...1024 (`instances`, mode `hash`).
    package var instances: Int
    /// This instance's index, 0..<instances (`index`, mode `hash`); or see ``indexFrom``.
    package var index: Int?
    /// Where the index comes from when it is not written down (`index_from`, mode `hash`): `env:NAME` (an
    /// environment variable holding the index) or `hostname` (the number after the host name's last `-`, as a
    /// Kubernetes StatefulSet names its pods: `vigil-2` is index 2).
    package var indexFrom: String?

    package init(mode: Mode = .none, group: String = "vigil", instances: Int = 1, index: Int? = nil, indexFrom: String? = nil) {
        self.mode = mode
        self.group = group
        self.instances = instances
        self.index = index
        self.indexFrom = indexFrom
    }
}

extension ConfigDecoder {
    /// Keys that only mean something in one mode are errors in another unless they hold their defaults (as
    /// config.yaml.example writes them): `instances: 3` without `mode: hash` would leave every instance watching
    /// the whole fleet, believing it watched a third.
    mutating func decodeCluster(_ cluster: ConfigMapping, into config: inout ClusterConfig) {
        read(&config.mode, cluster["mode"])
        read(&config.group, cluster["group"], check: { group in
            group.isEmpty || group.contains(where: { "/+#".contains($0) }) ? "must be a non-empty name without '/', '+' or '#'" : nil
        })
        let instancesValid = read(&config.instances, cluster["instances"], range: 1...1024)
        let indexField = cluster["index"]
        if let indexField, case .scalar(let scalar) = indexField.node.content, scalar.value == .null {
            // `index: null`: not given.
        } else {
            var index = 0
            if read(&index, indexField, range: 0...1023), indexField != nil { config.index = index }
        }
        read(&config.indexFrom, cluster["index_from"], check: ClusterConfig.indexSourceProblem)
        if let indexField, let index = config.index, instancesValid, index >= config.instances {
            report(.outOfRange, indexField.key, indexField.line, "must be less than cluster.instances (\(config.instances)), got \(index)")
        }
        if config.index != nil, config.indexFrom != nil, let field = cluster["index_from"] {
            report(.invalidValue, field.key, field.line, "give cluster.index or cluster.index_from, not both")
        }
        let defaults = ClusterConfig()
        let misplaced: [(key: String, mode: ClusterConfig.Mode, isDefault: Bool)] = [
            ("group", .shared, config.group == defaults.group),
            ("instances", .hash, config.instances == defaults.instances),
            ("index", .hash, config.index == nil),
            ("index_from", .hash, config.indexFrom == nil),
        ]
        for (key, mode, isDefault) in misplaced where config.mode != mode && !isDefault {
            guard let field = cluster[key] else { continue }
            report(.invalidValue, field.key, field.line, "only means something with cluster.mode: \(mode.rawValue) (mode is \(config.mode.rawValue))")
        }
        if config.mode == .hash, config.instances > 1, config.index == nil, config.indexFrom == nil {
            report(.missingKey, "cluster.index", cluster["instances"]?.line, "cluster.mode: hash with \(config.instances) instances needs cluster.index or cluster.index_from")
        }
    }
}

extension ClusterConfig {
    /// What is wrong with an `index_from` value, or nil.
    static func indexSourceProblem(_ source: String) -> String? {
        if source == "hostname" { return nil }
        if source.hasPrefix("env:"), source.count > 4 { return nil }
        return "must be \"hostname\" or \"env:NAME\", got \"\(source)\""
    }

    /// The devices this instance keeps.
    ///
    /// - Throws: ``ConfigError`` when `index_from` names an unset variable, a value that is not an index in
    ///   range, or a host name without a trailing ordinal.
    package func ownership(
        environment: [String: String] = ProcessInfo.processInfo.environment,
        hostname: String = ProcessInfo.processInfo.hostName,
        source: String = "<config>"
    ) throws(ConfigError) -> DeviceOwnership {
        guard mode == .hash else { return .all }
        if let index { return DeviceOwnership(instances: instances, index: index) }
        guard let indexFrom else { return DeviceOwnership(instances: instances, index: 0) }
        let text: String
        let what: String
        if indexFrom == "hostname" {
            // A StatefulSet's pods are NAME-0, NAME-1, ...; a domain part is not part of the ordinal.
            let host = hostname.split(separator: ".").first.map(String.init) ?? hostname
            text = host.split(separator: "-").last.map(String.init) ?? ""
            what = "the host name '\(hostname)'"
        } else {
            let name = String(indexFrom.dropFirst(4))
            guard let value = environment[name] else {
                throw Self.indexError(source, "the environment variable \(name) is not set")
            }
            text = value.trimmingCharacters(in: .whitespaces)
            what = "\(name)='\(value)'"
        }
        guard let index = Int(text), (0..<instances).contains(index) else {
            throw Self.indexError(source, "\(what) does not give an index between 0 and \(instances - 1)")
        }
        return DeviceOwnership(instances: instances, index: index)
    }

    private static func indexError(_ source: String, _ message: String) -> ConfigError {
        ConfigError(source: source, issues: [.init(kind: .invalidValue, key: "cluster.index_from", line: nil, message: message)])
    }

    /// The filter to subscribe to for a configured filter: a shared subscription in mode `shared`.
    package func subscriptionFilter(_ filter: String) -> String {
        mode == .shared ? "$share/\(group)/\(filter)" : filter
    }
}
