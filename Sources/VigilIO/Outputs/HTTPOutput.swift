import Dispatch
import Foundation
import Synchronization

/// Counts of one output, shared by the threads that touch it (events are rare: plain relaxed atomics).
package final class OutputCounters: Sendable {
    /// Accepted by the endpoint (2xx), or written to the file.
    let delivered = Atomic<Int>(0)
    /// Attempts that failed in a way worth retrying (5xx, 408, 429, timeout, connection error).
    let retried = Atomic<Int>(0)
    /// Rejected for good by the endpoint (another 4xx), or a write error for the file output.
    let failed = Atomic<Int>(0)
    /// Dropped without delivery: the oldest entries when the outbox was full, or an append that failed.
    let dropped = Atomic<Int>(0)

    init() {}
}

/// One output's counts and queue at a moment: what `/metrics` and the shutdown log show.
package struct OutputSnapshot: Sendable, Equatable {
    /// `alertmanager`, `pagerduty`, `webhook` or `file`.
    package var name: String
    package var delivered: Int
    package var retried: Int
    package var failed: Int
    package var dropped: Int
    /// Entries waiting in the outbox (0 for the file output), their bytes, and the oldest one's age in seconds.
    package var outboxEntries: Int
    package var outboxBytes: Int
    package var outboxOldestAgeSeconds: Double
}

/// Exponential backoff with jitter, capped; a server's `Retry-After` wins (still capped).
package struct RetryPolicy: Sendable, Equatable {
    package var minDelay: Double
    package var maxDelay: Double

    package init(minDelay: Double, maxDelay: Double) {
        self.minDelay = minDelay
        self.maxDelay = maxDelay
    }

    /// The delay before attempt `attempt + 1` (`attempt` ≥ 1 failures so far): min·2^(attempt−1), capped,
    /// then "equal jitter" (a random point in its upper half) so that many outputs do not retry in step.
    package func delay(attempt: Int, retryAfter: Double?, random: Double = Double.random(in: 0...1)) -> Double {
        if let retryAfter { return min(maxDelay, max(retryAfter, minDelay)) }
        let exponent = Double(min(max(attempt - 1, 0), 40))
        let base = min(maxDelay, minDelay * pow(2, exponent))
        return base / 2 + base / 2 * random
    }
}

/// An HTTP output: delivers its ``Outbox`` in order on its own serial queue, one request at a time, retrying
/// with backoff. Nothing here runs on a shard worker.
package final class HTTPOutput: Sendable {
    package let name: String
    package let outbox: Outbox
    let counters = OutputCounters()
    private let client: HTTPClient
    private let policy: RetryPolicy
    private let logger: Logger
    private let makeRequest: @Sendable (OutboxEntry) -> OutgoingRequest
    private let onDelivered: (@Sendable (OutboxEntry) -> Void)?
    private let refresh: (@Sendable () -> OutgoingRequest?)?
    private let refreshInterval: Double
    private let queue: DispatchQueue
    private let loop = Mutex(Loop())
    // nonisolated(unsafe): set once in init; DispatchSource's methods are thread-safe (libdispatch).
    nonisolated(unsafe) private let refreshTimer: (any DispatchSourceTimer)?

    private struct Loop {
        /// A pump is queued, running, or waiting out a backoff: a kick need not queue another.
        var busy = false
        var attempt = 0
        var stopping = false
        var lastRefresh = Date().timeIntervalSince1970
    }

    /// - Parameters:
    ///   - makeRequest: the request for an entry, made at each attempt (so a signature carries a fresh time).
    ///   - onDelivered: told of each delivered entry, on the delivery queue.
    ///   - refresh: a request to send when the queue is idle and `refreshInterval` has passed since the last
    ///     (Alertmanager wants firing alerts re-sent); nil when there is nothing to refresh.
    package init(
        name: String, outbox: Outbox, client: HTTPClient, policy: RetryPolicy, logger: Logger,
        makeRequest: @escaping @Sendable (OutboxEntry) -> OutgoingRequest,
        onDelivered: (@Sendable (OutboxEntry) -> Void)? = nil,
        refresh: (@Sendable () -> OutgoingRequest?)? = nil, refreshInterval: Double = 0
    ) {
        self.name = name
        self.outbox = outbox
        self.client = client
        self.policy = policy
        self.logger = logger
        self.makeRequest = makeRequest
        self.onDelivered = onDelivered
        self.refresh = refresh
        self.refreshInterval = refreshInterval
        queue = DispatchQueue(label: "vigil.output.\(name)")
        if refresh != nil, refreshInterval > 0 {
            let timer = DispatchSource.makeTimerSource(queue: DispatchQueue.global())
            timer.schedule(deadline: .now() + refreshInterval, repeating: refreshInterval)
            refreshTimer = timer
        } else {
            refreshTimer = nil
        }
    }

    /// Starts delivering what the outbox holds (an earlier run's entries first).
    package func start() {
        if let refreshTimer {
            refreshTimer.setEventHandler { [weak self] in self?.kick() }
            refreshTimer.activate()
        }
        kick()
    }

    /// Queues `entries` durably (append + fsync) and wakes delivery. Called on the outputs queue.
    package func enqueue(_ entries: [OutboxEntry]) {
        do {
            let dropped = try outbox.append(entries)
            noteDropped(dropped, reason: "outbox_full")
        } catch {
            counters.dropped.add(entries.count, ordering: .relaxed)
            logger.error("could not queue events for delivery", [("output", name), ("error", error.description)], limitKey: "outbox_append.\(name)")
        }
        kick()
    }

    private func noteDropped(_ dropped: [OutboxEntry], reason: String) {
        guard !dropped.isEmpty else { return }
        counters.dropped.add(dropped.count, ordering: .relaxed)
        logger.warning("outbox full: dropped the oldest events", [
            ("output", name), ("reason", reason), ("count", String(dropped.count)), ("max_bytes", String(outbox.maxBytes)),
            ("oldest_key", dropped[0].key),
        ], limitKey: "outbox_full.\(name)")
    }

    /// Wakes the delivery loop unless it is already running or backing off.
    package func kick() {
        let go = loop.withLock { loop -> Bool in
            guard !loop.busy, !loop.stopping else { return false }
            loop.busy = true
            return true
        }
        if go { queue.async { self.pump() } }
    }

    /// Delivers entries until the outbox is empty or an attempt must wait.
    private func pump() {
        while true {
            if loop.withLock({ $0.stopping }) { break }
            guard let entry = outbox.next() else {
                refreshIfDue()
                break
            }
            switch client.post(makeRequest(entry)) {
            case .delivered:
                noteDropped(outbox.finish(remove: true), reason: "outbox_full")
                counters.delivered.add(1, ordering: .relaxed)
                loop.withLock { $0.attempt = 0 }
                onDelivered?(entry)
            case .rejected(let status, let body):
                noteDropped(outbox.finish(remove: true), reason: "outbox_full")
                counters.failed.add(1, ordering: .relaxed)
                loop.withLock { $0.attempt = 0 }
                logger.error("endpoint rejected an event; dropped", [
                    ("output", name), ("status", String(status)), ("key", entry.key), ("state", entry.state), ("response", body),
                ], limitKey: "rejected.\(name)")
            case .retry(let reason, let retryAfter):
                noteDropped(outbox.finish(remove: false), reason: "outbox_full")
                counters.retried.add(1, ordering: .relaxed)
                let attempt = loop.withLock { loop -> Int in
                    loop.attempt += 1
                    return loop.attempt
                }
                let delay = policy.delay(attempt: attempt, retryAfter: retryAfter)
                logger.warning("delivery failed; will retry", [
                    ("output", name), ("reason", reason), ("attempt", String(attempt)),
                    ("retry_in_s", String(format2: delay)), ("queued", String(outbox.depth().entries)),
                ], limitKey: "retry.\(name)")
                // Still busy: kicks wait for this timer rather than hammering a struggling endpoint.
                queue.asyncAfter(deadline: .now() + delay) { self.pump() }
                return
            }
        }
        loop.withLock { $0.busy = false }
    }

    private func refreshIfDue() {
        guard let refresh else { return }
        let now = Date().timeIntervalSince1970
        let due = loop.withLock { loop -> Bool in
            guard now - loop.lastRefresh >= refreshInterval * 0.99 else { return false }
            loop.lastRefresh = now
            return true
        }
        guard due, let request = refresh() else { return }
        if case .retry(let reason, _) = client.post(request) {
            logger.warning("refresh of firing alerts failed", [("output", name), ("reason", reason)], limitKey: "refresh.\(name)")
        }
    }

    /// At shutdown: lets delivery run for up to `timeout` seconds while entries are queued, then stops it after
    /// the request in flight (what is left stays in the outbox for the next start).
    package func stop(timeout: Double) {
        let deadline = Date().addingTimeInterval(timeout)
        while outbox.depth().entries > 0, Date() < deadline {
            usleep(20_000)
        }
        loop.withLock { $0.stopping = true }
        refreshTimer?.cancel()
        queue.sync {}
    }

    package func snapshot() -> OutputSnapshot {
        let depth = outbox.depth()
        return OutputSnapshot(
            name: name, delivered: counters.delivered.load(ordering: .relaxed),
            retried: counters.retried.load(ordering: .relaxed), failed: counters.failed.load(ordering: .relaxed),
            dropped: counters.dropped.load(ordering: .relaxed), outboxEntries: depth.entries, outboxBytes: depth.bytes,
            outboxOldestAgeSeconds: depth.oldestAgeSeconds
        )
    }
}
