package import Foundation
import FoundationNetworking
import Synchronization

/// One HTTP POST to make.
package struct OutgoingRequest: Sendable {
    package var url: URL
    package var headers: [(String, String)]
    package var body: Data

    package init(url: URL, headers: [(String, String)] = [], body: Data) {
        self.url = url
        self.headers = headers
        self.body = body
    }
}

/// What came of a request, sorted into what the outbox does next.
package enum HTTPOutcome: Sendable, Equatable {
    /// 2xx.
    case delivered(status: Int)
    /// 5xx, 408, 429, a timeout or a transport error: try again, after `retryAfter` seconds if the server said.
    case retry(reason: String, retryAfter: Double?)
    /// Any other status (a 4xx the server will not change its mind about): drop it, counted and logged.
    case rejected(status: Int, body: String)

    package static func classify(status: Int, body: Data, retryAfter: String?, now: Date = Date()) -> HTTPOutcome {
        switch status {
        case 200..<300:
            return .delivered(status: status)
        case 408, 429, 500...599:
            return .retry(reason: "HTTP \(status)", retryAfter: retryAfter.flatMap { parseRetryAfter($0, now: now) })
        default:
            return .rejected(status: status, body: String(decoding: body.prefix(300), as: UTF8.self))
        }
    }

    /// `Retry-After`: delay-seconds or an HTTP-date (RFC 9110 §10.2.3).
    package static func parseRetryAfter(_ text: String, now: Date = Date()) -> Double? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if let seconds = Int(trimmed) { return Double(max(0, seconds)) }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        guard let date = formatter.date(from: trimmed) else { return nil }
        return max(0, date.timeIntervalSince(now))
    }
}

/// A blocking HTTP client for the delivery queues, over FoundationNetworking's `URLSession` (libcurl on Linux:
/// keep-alive, TLS for real endpoints such as PagerDuty's). Each call blocks its delivery queue, never a shard.
package final class HTTPClient: Sendable {
    private let session: URLSession
    private let timeout: Double

    /// - Parameter timeout: seconds for one whole request.
    package init(timeout: Double) {
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = timeout
        configuration.timeoutIntervalForResource = timeout
        configuration.httpMaximumConnectionsPerHost = 1
        configuration.requestCachePolicy = .reloadIgnoringLocalCacheData
        session = URLSession(configuration: configuration)
        self.timeout = timeout
    }

    deinit { session.invalidateAndCancel() }

    /// POSTs `request` and waits for the answer (at most the timeout, plus a little).
    package func post(_ request: OutgoingRequest) -> HTTPOutcome {
        var urlRequest = URLRequest(url: request.url, timeoutInterval: timeout)
        urlRequest.httpMethod = "POST"
        urlRequest.httpBody = request.body
        urlRequest.setValue("application/json", forHTTPHeaderField: "Content-Type")
        urlRequest.setValue("vigil/\(BuildInfo.version)", forHTTPHeaderField: "User-Agent")
        for (name, value) in request.headers { urlRequest.setValue(value, forHTTPHeaderField: name) }
        let done = DispatchSemaphore(value: 0)
        let result = Mutex<HTTPOutcome?>(nil)
        let task = session.dataTask(with: urlRequest) { data, response, error in
            let outcome: HTTPOutcome
            if let http = response as? HTTPURLResponse {
                outcome = .classify(status: http.statusCode, body: data ?? Data(), retryAfter: http.value(forHTTPHeaderField: "Retry-After"))
            } else {
                outcome = .retry(reason: error.map { "\($0.localizedDescription)" } ?? "no response", retryAfter: nil)
            }
            result.withLock { $0 = outcome }
            done.signal()
        }
        task.resume()
        if done.wait(timeout: .now() + timeout + 5) == .timedOut {
            task.cancel()
            return .retry(reason: "timed out after \(timeout) s", retryAfter: nil)
        }
        return result.withLock { $0 } ?? .retry(reason: "no response", retryAfter: nil)
    }
}
