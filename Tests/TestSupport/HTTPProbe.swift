package import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A raw HTTP client on a loopback socket, for tests that need control over every byte (partial requests,
/// oversized requests, odd methods) and for plain GETs against Vigil and Prometheus.
package final class HTTPProbe: @unchecked Sendable {
    // @unchecked: `fd` is set in init and only used by the thread that owns the probe.
    package let fd: Int32

    package struct Failure: Error, CustomStringConvertible {
        package var description: String
    }

    /// A parsed response: status code, headers (names lower-cased) and body.
    package struct Response: Sendable {
        package var status: Int
        package var headers: [String: String]
        package var body: String
    }

    /// Connects to 127.0.0.1:`port`; reads give up after `timeout` seconds.
    package init(port: Int, timeout: Double = 10) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket() failed") }
        var tv = timeval(tv_sec: Int(timeout), tv_usec: Int((timeout - timeout.rounded(.down)) * 1e6))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
        guard connected else {
            close(fd)
            throw Failure(description: "cannot connect to 127.0.0.1:\(port): \(String(cString: strerror(errno)))")
        }
    }

    deinit { close(fd) }

    /// Sends `text` as is; returns whether all of it was sent.
    @discardableResult
    package func send(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        var sent = 0
        while sent < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + sent, $0.count - sent, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return false }
            sent += n
        }
        return true
    }

    /// Reads until the server closes the connection (or the read timeout passes); returns what arrived.
    package func readAll() -> String {
        var data = [UInt8]()
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            data += chunk[0..<n]
        }
        return String(decoding: data, as: UTF8.self)
    }

    /// Whether the server has closed the connection (a read returns end of file or a reset) within the timeout.
    package func waitForClose() -> Bool {
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n == 0 { return true }
            if n < 0 { return errno == ECONNRESET }
        }
    }

    package static func parse(_ raw: String) -> Response? {
        guard let split = raw.range(of: "\r\n\r\n") else { return nil }
        let head = raw[..<split.lowerBound].components(separatedBy: "\r\n")
        let statusParts = head.first?.split(separator: " ") ?? []
        guard statusParts.count >= 2, let status = Int(statusParts[1]) else { return nil }
        var headers: [String: String] = [:]
        for line in head.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        return Response(status: status, headers: headers, body: String(raw[split.upperBound...]))
    }

    /// One GET (HTTP/1.0, so the answer is never chunked) with optional extra headers.
    package static func get(port: Int, path: String, headers: [String: String] = [:], timeout: Double = 10) throws -> Response {
        let probe = try HTTPProbe(port: port, timeout: timeout)
        var request = "GET \(path) HTTP/1.0\r\nHost: 127.0.0.1:\(port)\r\n"
        for (name, value) in headers { request += "\(name): \(value)\r\n" }
        probe.send(request + "\r\n")
        let raw = probe.readAll()
        guard let response = parse(raw) else { throw Failure(description: "no HTTP response from :\(port)\(path): '\(raw.prefix(200))'") }
        return response
    }

    /// The value of an unlabelled sample (`name value`) in a /metrics scrape, or nil (no answer, no such line).
    package static func metric(_ name: String, port: Int) -> Double? {
        guard let body = try? get(port: port, path: "/metrics").body else { return nil }
        let line = body.split(separator: "\n").first { $0.hasPrefix(name + " ") }
        return line.flatMap { Double($0.dropFirst(name.count + 1)) }
    }
}

/// A real Prometheus server on a free loopback port, scraping the given targets every `interval`; its data in a
/// temporary folder removed by ``stop()``.
package final class PrometheusServer: @unchecked Sendable {
    // @unchecked: set once in init.
    package let port: Int
    package let directory: URL
    private let process: SpawnedProcess

    package init(targets: [String], jobName: String = "vigil", interval: String = "1s", timeout: Double = 30) throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/prometheus") else {
            throw Broker.StartError(description: "prometheus is not installed (run `make test`, which installs it)")
        }
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-prometheus-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        port = try FreePort.find()
        let config = """
            global:
              scrape_interval: \(interval)
              evaluation_interval: \(interval)
            scrape_configs:
              - job_name: \(jobName)
                scrape_interval: \(interval)
                scrape_timeout: \(interval)
                static_configs:
                  - targets: [\(targets.map { "\"\($0)\"" }.joined(separator: ", "))]
            """
        let configURL = directory.appendingPathComponent("prometheus.yml")
        try config.write(to: configURL, atomically: true, encoding: .utf8)
        process = try SpawnedProcess(executable: "/usr/bin/prometheus", arguments: [
            "--config.file=\(configURL.path)",
            "--storage.tsdb.path=\(directory.appendingPathComponent("data").path)",
            "--web.listen-address=127.0.0.1:\(port)",
        ])
        let deadline = Date().addingTimeInterval(timeout)
        while (try? HTTPProbe.get(port: port, path: "/-/ready", timeout: 2))?.status != 200 {
            guard process.isRunning, Date() < deadline else {
                stop()
                throw Broker.StartError(description: "prometheus did not become ready on port \(port)")
            }
            usleep(100_000)
        }
    }

    deinit { stop() }

    package func stop() {
        process.stop(signal: SIGTERM)
        try? FileManager.default.removeItem(at: directory)
    }

    /// The single value of an instant query (nil when the result is empty or not a number).
    package func query(_ expression: String) throws -> Double? {
        let encoded = expression.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? expression
        let response = try HTTPProbe.get(port: port, path: "/api/v1/query?query=\(encoded)")
        guard let object = try JSONSerialization.jsonObject(with: Data(response.body.utf8)) as? [String: Any],
            let data = object["data"] as? [String: Any], let result = data["result"] as? [[String: Any]],
            let first = result.first, let value = first["value"] as? [Any], value.count == 2, let text = value[1] as? String
        else { return nil }
        return Double(text)
    }
}
