import Dispatch
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A request as the handler sees it: a GET with its path, query and headers (names lower-cased).
package struct HTTPRequest: Sendable {
    package var path: String
    package var query: [String: String]
    package var headers: [String: String]

    package init(path: String, query: [String: String], headers: [String: String]) {
        self.path = path
        self.query = query
        self.headers = headers
    }
}

/// A response: status, content type, body. Every response closes the connection.
package struct HTTPResponse: Sendable {
    package var status: Int
    package var contentType: String
    package var body: String
    package var headers: [(String, String)]

    package init(status: Int, contentType: String = "text/plain; charset=utf-8", body: String, headers: [(String, String)] = []) {
        self.status = status
        self.contentType = contentType
        self.body = body
        self.headers = headers
    }

    static func text(_ status: Int, _ body: String, headers: [(String, String)] = []) -> HTTPResponse {
        HTTPResponse(status: status, body: body + "\n", headers: headers)
    }
}

/// The limits of ``HTTPServer``.
package struct HTTPServerSettings: Sendable {
    /// Address to listen on: an IPv4 or IPv6 literal, or a host name.
    package var host: String
    /// Port; 0 picks a free one (see ``HTTPServer/port``).
    package var port: Int
    /// Largest request (request line and headers) accepted; larger ones get 431.
    package var maxRequestBytes = 8192
    /// Seconds a client has to send its request, and again to take the response; slower ones are cut off.
    package var timeoutSeconds = 5.0
    /// Connections open at once; more are closed on accept (and counted).
    package var maxConnections = 16

    package init(host: String, port: Int) {
        self.host = host
        self.port = port
    }
}

/// A small HTTP/1.1 responder on POSIX sockets and Dispatch: GET only, one request per connection
/// (`Connection: close`), bounded request size, bounded time per client, bounded connections.
///
/// Sockets are non-blocking and read by `DispatchSource`s on one serial I/O queue; the handler runs on a
/// separate concurrent queue, so a slow request or a slow client never holds up another, and nothing here
/// shares a thread with ingestion (the MQTT network thread and the shard workers).
package final class HTTPServer: Sendable {
    /// Why a connection was refused or cut off, as counted in `vigil_http_rejected_total{reason}`.
    package enum Rejection: Int, CaseIterable, Sendable {
        case tooLarge, timeout, method, badRequest, unauthorized, tooManyConnections

        package var label: String {
            switch self {
            case .tooLarge: "too_large"
            case .timeout: "timeout"
            case .method: "method"
            case .badRequest: "bad_request"
            case .unauthorized: "unauthorized"
            case .tooManyConnections: "too_many_connections"
            }
        }
    }

    package let settings: HTTPServerSettings
    private let handler: @Sendable (HTTPRequest) -> HTTPResponse
    private let listener: Int32
    /// The port bound (the configured one, or the one the kernel picked for 0).
    package let port: Int
    private let ioQueue = DispatchQueue(label: "vigil.http.io")
    private let handlerQueue = DispatchQueue(label: "vigil.http.handler", qos: .utility, attributes: .concurrent)
    // Dispatch sources are thread-safe; the protocol is not annotated Sendable (the only reason).
    nonisolated(unsafe) private let acceptSource: any DispatchSourceRead
    private let open = Atomic<Int>(0)
    private let started = Atomic<Bool>(false)
    private let requests = Atomic<Int>(0)
    private let rejections = Mutex([Int](repeating: 0, count: Rejection.allCases.count))

    /// Binds and listens; call ``start()`` to accept.
    package init(settings: HTTPServerSettings, handler: @escaping @Sendable (HTTPRequest) -> HTTPResponse) throws(HTTPServerError) {
        self.settings = settings
        self.handler = handler
        (listener, port) = try Self.listen(host: settings.host, port: settings.port)
        acceptSource = DispatchSource.makeReadSource(fileDescriptor: listener, queue: ioQueue)
        let listener = self.listener
        acceptSource.setCancelHandler { close(listener) }
    }

    deinit {
        // Dispatch traps when an inactive source is released: activate it (with no handler) to cancel it.
        if !started.exchange(true, ordering: .relaxed) { acceptSource.activate() }
        acceptSource.cancel()
    }

    /// Requests answered (any status).
    package var requestCount: Int { requests.load(ordering: .relaxed) }

    /// Connections refused or cut off, per reason.
    package var rejectionCounts: [Rejection: Int] {
        let counts = rejections.withLock { $0 }
        return Dictionary(uniqueKeysWithValues: Rejection.allCases.map { ($0, counts[$0.rawValue]) })
    }

    /// Connections open now.
    package var openConnections: Int { open.load(ordering: .relaxed) }

    package func start() {
        guard !started.exchange(true, ordering: .relaxed) else { return }
        acceptSource.setEventHandler { [weak self] in self?.acceptAll() }
        acceptSource.activate()
    }

    /// Stops accepting; connections in progress finish or time out.
    package func stop() {
        acceptSource.cancel()
    }

    func count(_ rejection: Rejection) {
        rejections.withLock { $0[rejection.rawValue] += 1 }
    }

    private func acceptAll() {
        while true {
            let fd = accept(listener, nil, nil)
            if fd < 0 { return }  // EAGAIN: no more for now (other errors: try again on the next event)
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            guard open.add(1, ordering: .relaxed).newValue <= settings.maxConnections else {
                open.subtract(1, ordering: .relaxed)
                count(.tooManyConnections)
                close(fd)
                continue
            }
            let connection = HTTPConnection(fd: fd, server: self, queue: ioQueue)
            connection.start()
        }
    }

    /// Called by a connection once it has closed its socket.
    func closed() {
        open.subtract(1, ordering: .relaxed)
    }

    /// Answers a parsed request off the I/O queue, then hands the bytes back to `write`.
    func respond(to request: HTTPRequest, write: @escaping @Sendable (HTTPResponse) -> Void) {
        handlerQueue.async { [handler] in
            write(handler(request))
        }
    }

    func answered() {
        requests.add(1, ordering: .relaxed)
    }

    private static func listen(host: String, port: Int) throws(HTTPServerError) -> (Int32, Int) {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV
        var result: UnsafeMutablePointer<addrinfo>? = nil
        let status = getaddrinfo(host, String(port), &hints, &result)
        guard status == 0, let first = result else {
            throw HTTPServerError("cannot resolve metrics.listen host '\(host)': \(String(cString: gai_strerror(status)))")
        }
        defer { freeaddrinfo(result) }
        let fd = socket(first.pointee.ai_family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw HTTPServerError("socket: \(String(cString: strerror(errno)))") }
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        guard bind(fd, first.pointee.ai_addr, first.pointee.ai_addrlen) == 0 else {
            let message = String(cString: strerror(errno))
            close(fd)
            throw HTTPServerError("cannot listen on \(host):\(port) (metrics.listen): \(message)")
        }
        guard Glibc.listen(fd, 64) == 0 else {
            let message = String(cString: strerror(errno))
            close(fd)
            throw HTTPServerError("listen on \(host):\(port): \(message)")
        }
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let bound = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        var actualPort = port
        if bound == 0 {
            let family = storage.ss_family
            actualPort = withUnsafePointer(to: &storage) { pointer in
                if family == sa_family_t(AF_INET6) {
                    return pointer.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { Int(UInt16(bigEndian: $0.pointee.sin6_port)) }
                }
                return pointer.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { Int(UInt16(bigEndian: $0.pointee.sin_port)) }
            }
        }
        return (fd, actualPort)
    }
}

/// Why the HTTP endpoint could not start.
package struct HTTPServerError: Error, CustomStringConvertible {
    package var description: String
    init(_ description: String) { self.description = description }
}

/// One client connection: reads the request within the limits, answers it, closes.
///
/// All state is touched on the server's serial I/O queue only (the read source, the timer and the write
/// source all run there), which is the safety argument for `@unchecked Sendable`.
private final class HTTPConnection: @unchecked Sendable {
    private let fd: Int32
    private let server: HTTPServer
    private let queue: DispatchQueue
    private let readSource: any DispatchSourceRead
    private let timer: any DispatchSourceTimer
    private var writeSource: (any DispatchSourceWrite)? = nil
    private var buffer: [UInt8] = []
    private var pending: [UInt8] = []
    private var sent = 0
    private var finished = false

    init(fd: Int32, server: HTTPServer, queue: DispatchQueue) {
        self.fd = fd
        self.server = server
        self.queue = queue
        readSource = DispatchSource.makeReadSource(fileDescriptor: fd, queue: queue)
        timer = DispatchSource.makeTimerSource(queue: queue)
    }

    func start() {
        // The source handlers keep the connection alive until `finish` cancels them.
        readSource.setEventHandler { self.readAvailable() }
        readSource.activate()
        timer.setEventHandler { self.timedOut() }
        timer.schedule(deadline: .now() + server.settings.timeoutSeconds)
        timer.activate()
    }

    private func readAvailable() {
        guard !finished else { return }
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n > 0 {
                buffer.append(contentsOf: chunk[0..<n])
                if let end = headerEnd() {
                    stopReading()
                    handle(Array(buffer[0..<end]))
                    return
                }
                if buffer.count > server.settings.maxRequestBytes {
                    server.count(.tooLarge)
                    reply(.text(431, "request too large (limit \(server.settings.maxRequestBytes) bytes)"))
                    return
                }
                continue
            }
            if n == 0 {  // the client closed before finishing its request
                finish()
                return
            }
            if errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR { return }
            finish()
            return
        }
    }

    /// The offset just past the blank line that ends the headers, if it has arrived within the size limit.
    private func headerEnd() -> Int? {
        let limit = min(buffer.count, server.settings.maxRequestBytes)
        guard limit >= 2 else { return nil }
        for index in 1..<limit where buffer[index] == 10 {
            if buffer[index - 1] == 10 { return index + 1 }
            if index >= 3, buffer[index - 1] == 13, buffer[index - 2] == 10, buffer[index - 3] == 13 { return index + 1 }
        }
        return nil
    }

    private func handle(_ head: [UInt8]) {
        let text = String(decoding: head, as: UTF8.self)
        let lines = text.split(omittingEmptySubsequences: true, whereSeparator: { $0 == "\n" || $0 == "\r\n" })
            .map { $0.hasSuffix("\r") ? String($0.dropLast()) : String($0) }
        let parts = lines.first?.split(separator: " ", omittingEmptySubsequences: false) ?? []
        guard parts.count == 3, parts[2].hasPrefix("HTTP/1."), parts[1].hasPrefix("/") else {
            server.count(.badRequest)
            reply(.text(400, "bad request"))
            return
        }
        guard parts[0] == "GET" else {
            server.count(.method)
            reply(.text(405, "only GET is supported", headers: [("Allow", "GET")]))
            return
        }
        var headers: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let name = line[..<colon].lowercased()
            headers[name] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        let target = parts[1]
        let pathEnd = target.firstIndex(of: "?") ?? target.endIndex
        var query: [String: String] = [:]
        if pathEnd < target.endIndex {
            for pair in target[target.index(after: pathEnd)...].split(separator: "&") {
                let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                let key = String(kv[0]).removingPercentEncoding ?? String(kv[0])
                let value = kv.count > 1 ? (String(kv[1]).removingPercentEncoding ?? String(kv[1])) : ""
                query[key] = value
            }
        }
        let request = HTTPRequest(path: String(target[..<pathEnd]), query: query, headers: headers)
        server.respond(to: request) { response in
            self.queue.async { self.reply(response) }
        }
    }

    private func stopReading() {
        guard !readSuspended else { return }
        readSource.suspend()
        readSuspended = true
    }

    private func reply(_ response: HTTPResponse) {
        guard !finished, writeSource == nil else { return }
        stopReading()
        if response.status == 401 { server.count(.unauthorized) }
        server.answered()
        var head = "HTTP/1.1 \(response.status) \(Self.reason(response.status))\r\n"
        head += "Content-Type: \(response.contentType)\r\nContent-Length: \(response.body.utf8.count)\r\nConnection: close\r\n"
        for (name, value) in response.headers { head += "\(name): \(value)\r\n" }
        head += "\r\n"
        pending = Array(head.utf8) + Array(response.body.utf8)
        sent = 0
        // The client has the same time again to take the response.
        timer.schedule(deadline: .now() + server.settings.timeoutSeconds)
        let source = DispatchSource.makeWriteSource(fileDescriptor: fd, queue: queue)
        writeSource = source
        source.setEventHandler { self.writeAvailable() }
        source.activate()
    }

    private func writeAvailable() {
        guard !finished else { return }
        while sent < pending.count {
            let n = pending.withUnsafeBytes { send(fd, $0.baseAddress! + sent, $0.count - sent, Int32(MSG_NOSIGNAL)) }
            if n > 0 {
                sent += n
                continue
            }
            if n < 0, errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR { return }
            finish()
            return
        }
        // All written: say we are done sending, then close.
        shutdown(fd, Int32(SHUT_WR))
        finish()
    }

    private func timedOut() {
        guard !finished else { return }
        server.count(.timeout)
        if writeSource == nil {
            // Still reading: tell the slow client why (best effort, one non-blocking send), then cut it off.
            let message = Array("HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".utf8)
            _ = message.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL | MSG_DONTWAIT)) }
        }
        finish()
    }

    private func finish() {
        guard !finished else { return }
        finished = true
        timer.cancel()
        writeSource?.cancel()
        // Read what the client already sent (bounded), so that closing does not reset the connection before
        // it has read our answer.
        let fd = self.fd
        var scratch = [UInt8](repeating: 0, count: 4096)
        for _ in 0..<16 {
            let n = scratch.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n <= 0 { break }
        }
        readSource.setCancelHandler { close(fd) }
        readSource.cancel()
        // A suspended source must be resumed before it can run its cancel handler.
        if readSuspended { readSource.resume() }
        // Break the cycles (the handler closures hold self) so the connection is freed.
        timer.setEventHandler(handler: nil)
        writeSource?.setEventHandler(handler: nil)
        readSource.setEventHandler(handler: nil)
        server.closed()
    }

    private var readSuspended = false

    private static func reason(_ status: Int) -> String {
        switch status {
        case 200: "OK"
        case 400: "Bad Request"
        case 401: "Unauthorized"
        case 404: "Not Found"
        case 405: "Method Not Allowed"
        case 408: "Request Timeout"
        case 431: "Request Header Fields Too Large"
        case 503: "Service Unavailable"
        default: "Status"
        }
    }
}
