import Foundation
package import VigilCore

/// The routes of the HTTP endpoint: `/metrics`, `/healthz`, `/readyz`, `/devices?limit=N`.
///
/// `/metrics` and `/devices` need the bearer token when one is configured (401 otherwise); `/healthz` and
/// `/readyz` answer anyone, so that probes need no secret and learn nothing but up/ready.
package struct ObservabilityEndpoint: Sendable {
    package var registry: MetricsRegistry
    package var readiness: Readiness
    /// Up to `limit` devices (merged over shards) and how many are tracked in all.
    package var inventory: @Sendable (Int) -> (devices: [DeviceInventory], total: Int)
    package var bearerToken: String?
    /// `/devices` without `limit` lists this many; larger limits are cut to ``maxDevicesListed``.
    package var defaultDevicesListed = 100
    package var maxDevicesListed = 10000

    package init(
        registry: MetricsRegistry, readiness: Readiness, bearerToken: String?,
        inventory: @escaping @Sendable (Int) -> (devices: [DeviceInventory], total: Int)
    ) {
        self.registry = registry
        self.readiness = readiness
        self.bearerToken = bearerToken
        self.inventory = inventory
    }

    package func handle(_ request: HTTPRequest) -> HTTPResponse {
        switch request.path {
        case "/healthz":
            return .text(200, "ok")
        case "/readyz":
            let conditions = readiness.evaluate()
            let body = conditions.map { "\($0.name): \($0.ready ? "yes" : "no")" }.joined(separator: "\n")
            return .text(conditions.allSatisfy(\.ready) ? 200 : 503, body)
        case "/metrics":
            if let denied = authorize(request) { return denied }
            return HTTPResponse(status: 200, contentType: "text/plain; version=0.0.4; charset=utf-8", body: registry.render())
        case "/devices":
            if let denied = authorize(request) { return denied }
            var limit = defaultDevicesListed
            if let text = request.query["limit"] {
                guard let value = Int(text), value >= 0 else {
                    return .text(400, "limit must be a whole number of at least 0, got '\(text)'")
                }
                limit = min(value, maxDevicesListed)
            }
            return HTTPResponse(status: 200, contentType: "application/json", body: Self.devicesJSON(inventory(limit), limit: limit))
        default:
            return .text(404, "not found; try /metrics, /healthz, /readyz or /devices?limit=N")
        }
    }

    /// nil when allowed; a 401 otherwise.
    private func authorize(_ request: HTTPRequest) -> HTTPResponse? {
        guard let bearerToken else { return nil }
        let given = request.headers["authorization"] ?? ""
        if Self.constantTimeEqual(given, "Bearer " + bearerToken) { return nil }
        return .text(401, "unauthorized", headers: [("WWW-Authenticate", "Bearer realm=\"vigil\"")])
    }

    /// Compares without an early exit, so the time taken says nothing about how much of a guess was right.
    static func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8)
        let y = Array(b.utf8)
        var difference = UInt8(x.count == y.count ? 0 : 1)
        for index in 0..<max(x.count, y.count) {
            difference |= (index < x.count ? x[index] : 0) ^ (index < y.count ? y[index] : 0)
        }
        return difference == 0
    }

    /// Written by hand with ``JSONWriter``: `JSONSerialization` took seconds for 10,000 devices.
    static func devicesJSON(_ inventory: (devices: [DeviceInventory], total: Int), limit: Int) -> String {
        var text = "{\"tracked\":\(inventory.total),\"limit\":\(limit),\"listed\":\(inventory.devices.count),\"devices\":["
        for (index, device) in inventory.devices.enumerated() {
            var item = JSONWriter()
            item.field("device", device.device)
            item.field("last_seen", TimeFormat.iso8601(device.lastSeen))
            item.field("last_event_time", TimeFormat.iso8601(device.lastEventTime))
            item.field("messages", Double(device.messages))
            item.rawField("warming", device.warming ? "true" : "false")
            item.field("profile", device.profile)
            item.rawField("open_episodes", "[" + device.openEpisodes.map(JSONWriter.string).joined(separator: ",") + "]")
            if index > 0 { text += ",\n" }
            text += item.finish()
        }
        return text + "]}\n"
    }
}
