package import Foundation
import Glibc
import Synchronization

/// A small HTTP/1.1 server on a free loopback port, for tests of the HTTP outputs: it records every request and
/// answers with what `respond` says (a status, extra headers). Plain POSIX sockets, one thread per connection,
/// keep-alive honoured (libcurl reuses connections).
package final class HTTPReceiver: @unchecked Sendable {
    // @unchecked: `listener` is set in init and only read after; mutable state is in Mutex/Awaitable.
    package struct Request: Sendable {
        package var method: String
        package var path: String
        /// Header names lower-cased.
        package var headers: [String: String]
        package var body: Data
        /// What the receiver answered.
        package var status: Int

        package var json: Any? { try? JSONSerialization.jsonObject(with: body) }
    }

    package struct Response: Sendable {
        package var status: Int
        package var headers: [(String, String)]

        package init(status: Int, headers: [(String, String)] = []) {
            self.status = status
            self.headers = headers
        }
    }

    package let port: Int
    /// Every request received, in arrival order (with the status it got).
    package let requests = Awaitable<[Request]>([])
    private let respond: Mutex<@Sendable (Request) -> Response>
    private let listener: Int32
    private let closed = Atomic<Bool>(false)

    package struct StartError: Error, CustomStringConvertible {
        package var description: String
    }

    /// Listens on `127.0.0.1` (on `port`, or a free one).
    package init(port requested: Int = 0, respond: @escaping @Sendable (Request) -> Response = { _ in Response(status: 200) }) throws {
        self.respond = Mutex(respond)
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        self.listener = listener
        guard listener >= 0 else { throw StartError(description: "socket: \(String(cString: strerror(errno)))") }
        var yes: Int32 = 1
        setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(requested).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(listener, 64) == 0 else {
            let reason = String(cString: strerror(errno))
            Glibc.close(listener)
            throw StartError(description: "bind/listen on port \(requested): \(reason)")
        }
        var actual = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &actual) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &length) }
        }
        port = Int(UInt16(bigEndian: actual.sin_port))
        let thread = Thread { [self] in acceptLoop() }
        thread.start()
    }

    deinit { stop() }

    package var url: String { "http://127.0.0.1:\(port)" }

    /// Changes how later requests are answered.
    package func setResponse(_ respond: @escaping @Sendable (Request) -> Response) {
        self.respond.withLock { $0 = respond }
    }

    /// Stops listening (open connections end at their next request).
    package func stop() {
        guard !closed.exchange(true, ordering: .relaxed) else { return }
        shutdown(listener, Int32(SHUT_RDWR))
        Glibc.close(listener)
    }

    private func acceptLoop() {
        while !closed.load(ordering: .relaxed) {
            let connection = accept(listener, nil, nil)
            if connection < 0 {
                if errno == EINTR { continue }
                return
            }
            let thread = Thread { [self] in serve(connection) }
            thread.start()
        }
    }

    private func serve(_ connection: Int32) {
        defer { Glibc.close(connection) }
        var buffer: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        func fill() -> Bool {
            let count = chunk.withUnsafeMutableBytes { recv(connection, $0.baseAddress, $0.count, 0) }
            guard count > 0 else { return false }
            buffer.append(contentsOf: chunk[..<count])
            return true
        }
        let separator: [UInt8] = Array("\r\n\r\n".utf8)
        while !closed.load(ordering: .relaxed) {
            var headerEnd: Int?
            while headerEnd == nil {
                if buffer.count >= 4 {
                    headerEnd = (0...(buffer.count - 4)).first { buffer[$0..<($0 + 4)].elementsEqual(separator) }
                }
                if headerEnd == nil, !fill() { return }
            }
            let head = String(decoding: buffer[..<headerEnd!], as: UTF8.self)
            var lines = head.components(separatedBy: "\r\n")
            let requestLine = lines.removeFirst().split(separator: " ")
            guard requestLine.count >= 2 else { return }
            var headers: [String: String] = [:]
            for line in lines {
                guard let colon = line.firstIndex(of: ":") else { continue }
                headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            }
            let length = Int(headers["content-length"] ?? "0") ?? 0
            let bodyStart = headerEnd! + 4
            if headers["expect"]?.lowercased() == "100-continue", buffer.count < bodyStart + length {
                // libcurl asks before sending a larger body, and would wait a second for this.
                let proceed = Array("HTTP/1.1 100 Continue\r\n\r\n".utf8)
                _ = proceed.withUnsafeBytes { send(connection, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            }
            while buffer.count < bodyStart + length {
                if !fill() { return }
            }
            var request = Request(
                method: String(requestLine[0]), path: String(requestLine[1]), headers: headers,
                body: Data(buffer[bodyStart..<(bodyStart + length)]), status: 0
            )
            buffer.removeFirst(bodyStart + length)
            let response = respond.withLock { $0 }(request)
            request.status = response.status
            requests.update { $0.append(request) }
            var text = "HTTP/1.1 \(response.status) \(response.status < 300 ? "OK" : "Error")\r\nContent-Length: 0\r\n"
            for (name, value) in response.headers { text += "\(name): \(value)\r\n" }
            text += "\r\n"
            let bytes = Array(text.utf8)
            _ = bytes.withUnsafeBytes { send(connection, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        }
    }
}
