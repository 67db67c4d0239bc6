package import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// A real Alertmanager (Debian's `prometheus-alertmanager`) on a free loopback port with a generated config and
/// its own storage folder, for one test; stopped by ``stop()``. Fails loudly when it is not installed
/// (`make test` installs it).
package final class Alertmanager: @unchecked Sendable {
    // @unchecked: everything is set once in init.
    package let port: Int
    package let directory: URL
    private let process: SpawnedProcess

    package init(timeout: Double = 20) throws {
        let executable = ["/usr/bin/prometheus-alertmanager", "/usr/sbin/prometheus-alertmanager"].first { FileManager.default.isExecutableFile(atPath: $0) }
        guard let executable else {
            throw Broker.StartError(description: "prometheus-alertmanager is not installed (run `make test`, which installs it)")
        }
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-alertmanager-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory.appendingPathComponent("data"), withIntermediateDirectories: true)
        let port = try FreePort.find()
        self.port = port
        // One receiver that sends nowhere: the test reads the alerts through the API.
        let config = """
            global:
              resolve_timeout: 5m
            route:
              receiver: "none"
              group_wait: 1s
            receivers:
              - name: "none"
            """
        let configURL = directory.appendingPathComponent("alertmanager.yml")
        try config.write(to: configURL, atomically: true, encoding: .utf8)
        process = try SpawnedProcess(executable: executable, arguments: [
            "--config.file=\(configURL.path)", "--storage.path=\(directory.appendingPathComponent("data").path)",
            "--web.listen-address=127.0.0.1:\(port)", "--cluster.listen-address=",
        ])
        let deadline = Date().addingTimeInterval(timeout)
        while (try? get("/-/ready")) == nil {
            guard process.isRunning, Date() < deadline else {
                stop()
                throw Broker.StartError(description: "alertmanager did not become ready on port \(port)")
            }
            usleep(50_000)
        }
    }

    deinit { stop() }

    package var url: String { "http://127.0.0.1:\(port)" }

    package func stop() {
        process.stop(signal: SIGTERM)
        try? FileManager.default.removeItem(at: directory)
    }

    /// GET `path`; the body of a 2xx answer, or throws.
    package func get(_ path: String) throws -> Data {
        let done = DispatchSemaphore(value: 0)
        let result = Awaitable<Result<Data, Broker.StartError>?>(nil)
        var request = URLRequest(url: URL(string: url + path)!, timeoutInterval: 5)
        request.httpMethod = "GET"
        URLSession.shared.dataTask(with: request) { data, response, error in
            let status = (response as? HTTPURLResponse)?.statusCode ?? 0
            result.update {
                $0 = (200..<300).contains(status) ? .success(data ?? Data()) : .failure(.init(description: "GET \(path): \(status) \(error.map { "\($0)" } ?? "")"))
            }
            done.signal()
        }.resume()
        _ = done.wait(timeout: .now() + 6)
        guard let outcome = result.current else { throw Broker.StartError(description: "GET \(path): no answer") }
        return try outcome.get()
    }

    /// The alerts Alertmanager holds (`GET /api/v2/alerts`): active ones; a resolved alert drops out.
    package func alerts() throws -> [[String: Any]] {
        (try JSONSerialization.jsonObject(with: try get("/api/v2/alerts")) as? [[String: Any]]) ?? []
    }
}
