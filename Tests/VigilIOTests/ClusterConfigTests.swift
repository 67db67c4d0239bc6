import Testing
import VigilCore
import VigilIO

/// `cluster`: its keys, the errors of each, and where an instance's index comes from.
struct ClusterConfigTests {
    static func parse(_ cluster: String) throws -> VigilConfig {
        try VigilConfig.parse(yaml: cluster + "\n" + VigilConfigTests.subscriptionYAML)
    }

    @Test func defaultsToOneInstanceThatOwnsEverything() throws {
        let config = try VigilConfig.parse(yaml: VigilConfigTests.subscriptionYAML)
        #expect(config.cluster == ClusterConfig())
        #expect(try config.cluster.ownership() == .all)
        #expect(config.clientOptions(password: nil).subscriptions.map(\.filter) == ["devices/+/telemetry"])
    }

    @Test func sharedModeSubscribesThroughTheGroup() throws {
        let config = try Self.parse("cluster: {mode: shared, group: fleet-a}")
        #expect(config.clientOptions(password: nil).subscriptions.map(\.filter) == ["$share/fleet-a/devices/+/telemetry"])
        #expect(try config.cluster.ownership() == .all)
    }

    @Test func defaultsWrittenOutAreFineInAnyMode() throws {
        let config = try Self.parse("cluster: {mode: filters, group: vigil, instances: 1, index: null, index_from: null}")
        #expect(config.cluster == ClusterConfig(mode: .filters))
    }

    @Test func hashModeWithAWrittenIndex() throws {
        let config = try Self.parse("cluster: {mode: hash, instances: 3, index: 2}")
        #expect(try config.cluster.ownership() == DeviceOwnership(instances: 3, index: 2))
        #expect(config.clientOptions(password: nil).subscriptions.map(\.filter) == ["devices/+/telemetry"])
    }

    @Test func indexFromTheEnvironmentOrAStatefulSetHostName() throws {
        let fromEnvironment = try Self.parse("cluster: {mode: hash, instances: 4, index_from: \"env:VIGIL_INDEX\"}").cluster
        #expect(try fromEnvironment.ownership(environment: ["VIGIL_INDEX": "3"]) == DeviceOwnership(instances: 4, index: 3))
        #expect(throws: ConfigError.self) { try fromEnvironment.ownership(environment: [:]) }
        #expect(throws: ConfigError.self) { try fromEnvironment.ownership(environment: ["VIGIL_INDEX": "4"]) }
        #expect(throws: ConfigError.self) { try fromEnvironment.ownership(environment: ["VIGIL_INDEX": "two"]) }

        let fromHost = try Self.parse("cluster: {mode: hash, instances: 3, index_from: hostname}").cluster
        #expect(try fromHost.ownership(hostname: "vigil-1") == DeviceOwnership(instances: 3, index: 1))
        #expect(try fromHost.ownership(hostname: "vigil-0.vigil.monitoring.svc") == DeviceOwnership(instances: 3, index: 0))
        do {
            _ = try fromHost.ownership(hostname: "vigil-primary")
            Issue.record("a host name without an ordinal gave an index")
        } catch {
            #expect(error.description.contains("cluster.index_from"), "\(error)")
            #expect(error.description.contains("vigil-primary"), "\(error)")
        }
    }

    @Test(arguments: [
        ("cluster: {mode: hash, instances: 3, index: 3}", "1: cluster.index (out of range)"),
        ("cluster: {mode: hash, instances: 3}", "1: cluster.index (missing key)"),
        ("cluster: {mode: hash, instances: 0, index: 0}", "1: cluster.instances (out of range)"),
        ("cluster: {mode: hash, instances: 2, index: 0, index_from: hostname}", "1: cluster.index_from (invalid value)"),
        ("cluster: {mode: hash, instances: 2, index_from: \"VIGIL_INDEX\"}", "1: cluster.index_from (invalid value)"),
        ("cluster: {mode: filters, instances: 2}", "1: cluster.instances (invalid value)"),
        ("cluster: {mode: none, index_from: hostname}", "1: cluster.index_from (invalid value)"),
        ("cluster: {mode: shared, index: 0}", "1: cluster.index (invalid value)"),
        ("cluster: {mode: hash, instances: 2, index: 0, group: g}", "1: cluster.group (invalid value)"),
        ("cluster: {mode: shared, group: \"a/b\"}", "1: cluster.group (invalid value)"),
        ("cluster: {mode: sharded}", "1: cluster.mode (invalid value)"),
        ("cluster: {mode: hash, instance: 2}", "1: cluster.instance (unknown key)"),
    ])
    func problemsAreReportedWithKeyAndLine(yaml: String, expected: String) {
        let found = VigilConfigTests.located(VigilConfigTests.issues(yaml + "\n" + VigilConfigTests.subscriptionYAML))
        #expect(found.contains(expected), "\(found)")
    }
}
