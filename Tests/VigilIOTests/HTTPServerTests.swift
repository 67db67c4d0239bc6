import Foundation
import Testing
import TestSupport
import VigilCore
import VigilIO

/// The HTTP responder and the endpoint's routes, on a loopback port, without the rest of the service.
@Suite(.timeLimit(.minutes(1)))
struct HTTPServerTests {
    static func endpoint(ready: Bool, token: String? = nil) -> ObservabilityEndpoint {
        let registry = MetricsRegistry()
        registry.register { $0.counter("vigil_test_total", help: "A test counter.", value: 7) }
        let readiness = Readiness()
        readiness.add("broker_connected") { true }
        readiness.add("checkpoint_loaded") { ready }
        return ObservabilityEndpoint(registry: registry, readiness: readiness, bearerToken: token) { _ in ([], 0) }
    }

    @Test func connectionsBeyondTheLimitAreClosedAndCounted() throws {
        var settings = HTTPServerSettings(host: "127.0.0.1", port: 0)
        settings.maxConnections = 2
        settings.timeoutSeconds = 5
        let endpoint = Self.endpoint(ready: true)
        let server = try HTTPServer(settings: settings) { endpoint.handle($0) }
        server.start()
        defer { server.stop() }
        // Two idle clients hold both places.
        let first = try HTTPProbe(port: server.port)
        let second = try HTTPProbe(port: server.port)
        first.send("GET /metrics HTTP/1.1\r\n")
        second.send("GET /metrics HTTP/1.1\r\n")
        let third = try HTTPProbe(port: server.port, timeout: 5)
        #expect(third.waitForClose())
        #expect(third.readAll().isEmpty)
        #expect(server.rejectionCounts[.tooManyConnections] == 1)
        // Finishing a request frees its place.
        first.send("\r\n")
        let answer = HTTPProbe.parse(first.readAll())
        #expect(answer?.status == 200)
        #expect(answer?.body.contains("vigil_test_total 7\n") == true)
        let freed = (0..<100).contains { _ in
            if server.openConnections < 2 { return true }
            usleep(10_000)
            return false
        }
        #expect(freed)
        #expect(try HTTPProbe.get(port: server.port, path: "/healthz").status == 200)
    }

    @Test func readinessIsServiceUnavailableUntilEveryConditionHolds() throws {
        let notReady = Self.endpoint(ready: false)
        let response = notReady.handle(HTTPRequest(path: "/readyz", query: [:], headers: [:]))
        #expect(response.status == 503)
        #expect(response.body.contains("checkpoint_loaded: no"))
        #expect(Self.endpoint(ready: true).handle(HTTPRequest(path: "/readyz", query: [:], headers: [:])).status == 200)
    }

    @Test func bearerTokenGuardsMetricsButNotProbes() {
        let endpoint = Self.endpoint(ready: true, token: "abc")
        func status(_ path: String, _ authorization: String?) -> Int {
            var headers: [String: String] = [:]
            if let authorization { headers["authorization"] = authorization }
            return endpoint.handle(HTTPRequest(path: path, query: [:], headers: headers)).status
        }
        #expect(status("/metrics", nil) == 401)
        #expect(status("/metrics", "Bearer ab") == 401)
        #expect(status("/metrics", "Bearer abcd") == 401)
        #expect(status("/metrics", "Basic abc") == 401)
        #expect(status("/metrics", "Bearer abc") == 200)
        #expect(status("/devices", nil) == 401)
        #expect(status("/healthz", nil) == 200)
        #expect(status("/readyz", nil) == 200)
    }

    @Test func anAddressInUseIsAnError() throws {
        let server = try HTTPServer(settings: HTTPServerSettings(host: "127.0.0.1", port: 0)) { _ in .init(status: 200, body: "") }
        #expect(throws: HTTPServerError.self) {
            _ = try HTTPServer(settings: HTTPServerSettings(host: "127.0.0.1", port: server.port)) { _ in .init(status: 200, body: "") }
        }
    }
}
