import Foundation
import Testing
import TestSupport
import VigilCore
import VigilIO

/// The incident outputs in process against a real loopback HTTP server (TestSupport's `HTTPReceiver`).
@Suite(.timeLimit(.minutes(1)))
struct IncidentOutputsTests {
    static let secret = "whsec_" + Data("a test secret of 32 bytes, okay!".utf8).base64EncodedString()

    /// A config with `outputs` (YAML lines under `outputs:`), fast retries, the state in `folder`.
    static func config(_ folder: TemporaryDirectory, outputs: String, extra: String = "") throws -> VigilConfig {
        let secretFile = try folder.write("secret", secret + "\n")
        let keyFile = try folder.write("routing-key", "R0UT1NGKEY\n")
        let yaml = """
            subscriptions:
              - {filter: "devices/+/telemetry", device: "devices/{device}/telemetry"}
            state:
              dir: "\(folder.path("state"))"
            outbox:
              retry_min_ms: 20
              retry_max_ms: 200
              timeout_ms: 2000
              shutdown_grace_ms: 0
            \(extra)
            outputs:
            \(outputs.replacingOccurrences(of: "SECRET_FILE", with: secretFile).replacingOccurrences(of: "KEY_FILE", with: keyFile))
            """
        return try VigilConfig.parse(yaml: yaml)
    }

    static func make(_ config: VigilConfig, log: Awaitable<[String]>? = nil) throws -> IncidentOutputs {
        let logger = Logger(level: .debug, write: { line in log?.update { $0.append(line) } })
        let publisher = AnomalyPublisher(client: nil, topic: "vigil/anomalies/{device}", qos: 1, retain: false, logger: logger)
        let outputs = try #require(try IncidentOutputs.make(config: config, secrets: try config.outputSecrets(), publisher: publisher, logger: logger))
        outputs.start()
        return outputs
    }

    /// Firing then resolved, for `episodes` episodes on distinct metrics of d-1.
    static func events(_ episodes: Int, device: String = "d-1") -> [AnomalyEvent] {
        (0..<episodes).flatMap { episode in
            [AnomalyEvent.State.firing, .resolved].map { state in
                AnomalyEvent(
                    eventID: "evt-\(device)-\(episode)-\(state.rawValue)", dedupKey: "vigil:\(device):m\(episode):ewma:\(episode)", device: device,
                    metric: "m\(episode)", detector: "ewma", state: state, score: 0.99999999, value: 80, expected: 20, band: 19...21,
                    onset: 1_767_225_600 + Double(episode), detected: 1_767_225_601 + Double(episode),
                    resolvedAt: state == .resolved ? 1_767_225_660 + Double(episode) : nil, receivedAtNanos: Int64(Date().timeIntervalSince1970 * 1e9),
                    explanation: "m\(episode) 80 on \(device) is far above 20", profile: "default"
                )
            }
        }
    }

    /// The first output's snapshot once `condition` holds (checked every 10 ms, for at most 5 s).
    static func awaitSnapshot(_ outputs: IncidentOutputs, _ condition: (OutputSnapshot) -> Bool) -> OutputSnapshot? {
        let deadline = Date().addingTimeInterval(5)
        while Date() < deadline {
            if let snapshot = outputs.snapshot().outputs.first, condition(snapshot) { return snapshot }
            usleep(10_000)
        }
        return outputs.snapshot().outputs.first
    }

    static func delivered(_ requests: [HTTPReceiver.Request]) -> [HTTPReceiver.Request] { requests.filter { $0.status == 202 || $0.status == 200 } }

    /// Checks every request's Standard Webhooks signature with Python's hmac (an implementation independent of
    /// Vigil's libcrypto path); returns Python's verdict per request.
    static func verifyWithPython(_ requests: [HTTPReceiver.Request], folder: TemporaryDirectory) throws -> String {
        let items = requests.map { request -> [String: String] in
            ["id": request.headers["webhook-id"] ?? "", "ts": request.headers["webhook-timestamp"] ?? "",
             "sig": request.headers["webhook-signature"] ?? "", "body": request.body.base64EncodedString()]
        }
        let input = try folder.write("requests.json", String(decoding: try JSONSerialization.data(withJSONObject: items), as: UTF8.self))
        let script = """
            import base64, hashlib, hmac, json, sys
            secret = sys.argv[2]
            key = base64.b64decode(secret[len("whsec_"):])
            out = []
            for r in json.load(open(sys.argv[1])):
                body = base64.b64decode(r["body"])
                mac = hmac.new(key, (r["id"] + "." + r["ts"] + ".").encode() + body, hashlib.sha256).digest()
                expected = "v1," + base64.b64encode(mac).decode()
                out.append("ok" if hmac.compare_digest(expected, r["sig"]) else "BAD")
            print(" ".join(out))
            """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = ["-c", script, input, secret]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        process.waitUntilExit()
        return String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @Test func webhookEventsArriveSignedInOrderOnceAfterAnOutage() throws {
        let folder = try TemporaryDirectory()
        let failing = Awaitable(true)
        let receiver = try HTTPReceiver { _ in failing.current ? .init(status: 503) : .init(status: 200) }
        let config = try Self.config(folder, outputs: """
              webhook:
                url: "\(receiver.url)/hook"
                secret_file: "SECRET_FILE"
            """)
        let outputs = try Self.make(config)
        let events = Self.events(5)
        for event in events { outputs.anomaly(event) }
        // The receiver fails for a while: requests keep coming (retries), nothing is lost.
        #expect(receiver.requests.wait(timeout: 10) { $0.count >= 4 }.satisfied)
        failing.update { $0 = false }
        let (requests, done) = receiver.requests.wait(timeout: 10) { Self.delivered($0).count >= events.count }
        #expect(done, "\(requests.map(\.status))")
        let accepted = Self.delivered(requests)
        #expect(accepted.map { $0.headers["webhook-id"] ?? "" } == events.map(\.id), "in order, each once")
        #expect(accepted.allSatisfy { $0.path == "/hook" && $0.method == "POST" })
        let first = try #require(accepted.first?.json as? [String: Any])
        #expect(first["dedup_key"] as? String == "vigil:d-1:m0:ewma:0")
        #expect(first["state"] as? String == "firing")
        #expect(first["severity"] as? String == "error")
        #expect(first["flapping"] as? Bool == false)
        #expect(try Self.verifyWithPython(accepted, folder: folder) == Array(repeating: "ok", count: events.count).joined(separator: " "))
        let snapshot = try #require(outputs.snapshot().outputs.first { $0.name == "webhook" })
        #expect(Self.awaitSnapshot(outputs) { $0.delivered == events.count }?.delivered == events.count)
        #expect(snapshot.retried >= 4)
        #expect(snapshot.failed == 0 && snapshot.dropped == 0)
        #expect(snapshot.outboxEntries == 0)
        outputs.stop(grace: 1)
        receiver.stop()
    }

    @Test func aRestartMidOutageLosesNothing() throws {
        let folder = try TemporaryDirectory()
        let failing = Awaitable(true)
        let receiver = try HTTPReceiver { _ in failing.current ? .init(status: 503) : .init(status: 200) }
        let config = try Self.config(folder, outputs: """
              webhook:
                url: "\(receiver.url)/hook"
                secret_file: "SECRET_FILE"
            """)
        let events = Self.events(4)
        do {
            let outputs = try Self.make(config)
            for event in events.prefix(5) { outputs.anomaly(event) }
            #expect(receiver.requests.wait(timeout: 10) { $0.count >= 2 }.satisfied)
            let queued = try #require(outputs.snapshot().outputs.first)
            #expect(queued.outboxEntries == 5)
            #expect(queued.outboxOldestAgeSeconds >= 0)
            outputs.stop(grace: 0)
        }
        failing.update { $0 = false }
        // The next run: the outbox from disk first, then new events.
        let outputs = try Self.make(config)
        for event in events.suffix(3) { outputs.anomaly(event) }
        let (requests, done) = receiver.requests.wait(timeout: 10) { Self.delivered($0).count >= events.count }
        #expect(done, "\(requests.map(\.status))")
        #expect(Self.delivered(requests).map { $0.headers["webhook-id"] ?? "" } == events.map(\.id))
        outputs.stop(grace: 1)
        receiver.stop()
    }

    @Test func retryAfterIsHonouredAndAPermanent4xxIsDroppedAndCounted() throws {
        let folder = try TemporaryDirectory()
        let answers = Awaitable<[Int]>([429, 400])
        let receiver = try HTTPReceiver { _ in
            var status = 200
            answers.update { if !$0.isEmpty { status = $0.removeFirst() } }
            return .init(status: status, headers: status == 429 ? [("Retry-After", "1")] : [])
        }
        let config = try Self.config(folder, outputs: """
              webhook:
                url: "\(receiver.url)/hook"
                secret_file: "SECRET_FILE"
            """)
        let outputs = try Self.make(config)
        let events = Self.events(1)
        for event in events { outputs.anomaly(event) }
        let (requests, done) = receiver.requests.wait(timeout: 10) { $0.count >= 3 }
        #expect(done)
        // 429 → waits the server's second (retry_max_ms is 200: Retry-After is capped by it) → 400 → dropped;
        // then the resolution goes through.
        #expect(requests.map(\.status) == [429, 400, 200])
        #expect(requests.map { $0.headers["webhook-id"] ?? "" } == [events[0].id, events[0].id, events[1].id])
        // The receiver records a request before it answers: wait for the counter to follow.
        let snapshot = try #require(Self.awaitSnapshot(outputs) { $0.delivered == 1 })
        #expect(snapshot.retried == 1 && snapshot.failed == 1 && snapshot.delivered == 1)
        outputs.stop(grace: 1)
        receiver.stop()
    }

    @Test func pagerDutyTriggersAndResolvesWithTheEpisodesDedupKey() throws {
        let folder = try TemporaryDirectory()
        // Refused at first, so the events wait in the outbox file while the test reads it.
        let accepting = Awaitable(false)
        let receiver = try HTTPReceiver { _ in accepting.current ? .init(status: 202) : .init(status: 503) }
        let config = try Self.config(folder, outputs: """
              pagerduty:
                url: "\(receiver.url)/v2/enqueue"
                routing_key_file: "KEY_FILE"
            """)
        let outputs = try Self.make(config)
        let events = Self.events(1)
        for event in events { outputs.anomaly(event) }
        #expect(receiver.requests.wait(timeout: 10) { $0.count >= 1 }.satisfied)
        // The routing key is a secret: never in the outbox file, which holds the queued events.
        var queued = ""
        for file in try FileManager.default.subpathsOfDirectory(atPath: folder.path("state")) where file.hasSuffix(".log") {
            queued += try String(contentsOfFile: folder.path("state/" + file), encoding: .utf8)
        }
        #expect(queued.contains(events[0].dedupKey), "the events are not in the outbox file")
        #expect(!queued.contains("R0UT1NGKEY"))
        accepting.update { $0 = true }
        let (requests, done) = receiver.requests.wait(timeout: 10) { $0.filter { $0.status == 202 }.count >= 2 }
        #expect(done)
        let accepted = requests.filter { $0.status == 202 }
        let trigger = try #require(accepted.first?.json as? [String: Any])
        let resolve = try #require(accepted.last?.json as? [String: Any])
        #expect(trigger["routing_key"] as? String == "R0UT1NGKEY")
        #expect(trigger["event_action"] as? String == "trigger")
        #expect(resolve["event_action"] as? String == "resolve")
        #expect(resolve["routing_key"] as? String == "R0UT1NGKEY")
        #expect(trigger["dedup_key"] as? String == events[0].dedupKey)
        #expect(resolve["dedup_key"] as? String == events[0].dedupKey)
        let payload = try #require(trigger["payload"] as? [String: Any])
        #expect(payload["summary"] as? String == "m0 80 on d-1 is far above 20")
        #expect(payload["source"] as? String == "d-1")
        #expect(payload["severity"] as? String == "error")
        #expect(payload["component"] as? String == "m0")
        #expect(payload["group"] as? String == "default")
        #expect(payload["class"] as? String == "ewma")
        #expect(payload["timestamp"] as? String == "2026-01-01T00:00:01.000Z")
        #expect((payload["custom_details"] as? [String: Any])?["value"] as? Double == 80)
        outputs.stop(grace: 1)
        receiver.stop()
    }

    @Test func alertmanagerFiringAlertsAreRefreshedUntilResolved() throws {
        let folder = try TemporaryDirectory()
        let receiver = try HTTPReceiver { _ in .init(status: 200) }
        let config = try Self.config(folder, outputs: """
              alertmanager:
                url: "\(receiver.url)/"
                refresh_s: 1
            """)
        let outputs = try Self.make(config)
        let events = Self.events(1)
        outputs.anomaly(events[0])
        // The firing alert, then at least one refresh of it a second later.
        let (requests, refreshed) = receiver.requests.wait(timeout: 10) { $0.count >= 2 }
        #expect(refreshed)
        #expect(requests.allSatisfy { $0.path == "/api/v2/alerts" })
        let bodies = requests.prefix(2).compactMap { $0.json as? [[String: Any]] }
        #expect(bodies.count == 2)
        #expect(bodies.allSatisfy { $0.count == 1 && $0[0]["endsAt"] == nil })
        #expect((bodies.first?.first?["labels"] as? [String: String])?["device"] == "d-1")
        #expect(bodies.first?.first?["startsAt"] as? String == "2026-01-01T00:00:00.000Z")
        outputs.anomaly(events[1])
        let (afterResolve, resolved) = receiver.requests.wait(timeout: 10) { requests in
            requests.contains { (($0.json as? [[String: Any]])?.first?["endsAt"] as? String) != nil }
        }
        #expect(resolved)
        let ended = try #require(afterResolve.last?.json as? [[String: Any]])
        #expect(ended.first?["endsAt"] as? String == "2026-01-01T00:01:00.000Z")
        // Resolved: no more refreshes (wait past two refresh intervals).
        let count = afterResolve.count
        #expect(!receiver.requests.wait(timeout: 2.5) { $0.count > count }.satisfied)
        outputs.stop(grace: 1)
        receiver.stop()
    }

    @Test func aFullOutboxDropsTheOldestCountedAndAnUnreachableEndpointNeverBlocksTheCaller() throws {
        let folder = try TemporaryDirectory()
        // Nothing listens on this port.
        let port = try FreePort.find()
        let config = try Self.config(folder, outputs: """
              alertmanager:
                url: "http://127.0.0.1:\(port)"
            """, extra: "")
        var limited = config
        limited.outbox.maxBytes = 4096
        let log = Awaitable<[String]>([])
        let outputs = try Self.make(limited, log: log)
        let events = Self.events(20)
        let start = Date()
        for event in events { outputs.anomaly(event) }
        // Handing events over is a queue append, whatever the endpoint does.
        #expect(Date().timeIntervalSince(start) < 1)
        let (_, full) = log.wait(timeout: 10) { $0.contains { $0.contains("outbox full") } }
        #expect(full)
        outputs.stop(grace: 0)
        let snapshot = try #require(outputs.snapshot().outputs.first)
        #expect(snapshot.name == "alertmanager")
        #expect(snapshot.dropped > 0)
        #expect(snapshot.outboxEntries + snapshot.dropped == events.count)
        #expect(snapshot.outboxBytes <= 4096)
        #expect(snapshot.retried >= 1)
        #expect(snapshot.delivered == 0)
    }

    @Test func theFileOutputAppendsJSONLinesAndRotatesBySize() throws {
        let folder = try TemporaryDirectory()
        let config = try Self.config(folder, outputs: """
              file:
                path: "\(folder.path("events/anomalies.jsonl"))"
                max_bytes: 2048
                keep: 2
            """)
        let outputs = try Self.make(config)
        let events = Self.events(6)
        for event in events { outputs.anomaly(event) }
        outputs.stop(grace: 0)
        let names = try FileManager.default.contentsOfDirectory(atPath: folder.path("events")).sorted()
        #expect(names == ["anomalies.jsonl", "anomalies.jsonl.1", "anomalies.jsonl.2"])
        var lines: [String] = []
        for name in names.reversed() {
            lines += try String(contentsOfFile: folder.path("events/" + name), encoding: .utf8).split(separator: "\n").map(String.init)
        }
        // Rotation kept the last files; what is there is in order and whole.
        let ids = lines.compactMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])?["id"] as? String }
        #expect(ids.count == lines.count)
        #expect(ids == Array(events.map(\.id).suffix(ids.count)))
        #expect(outputs.snapshot().outputs.first?.delivered == events.count)
    }

    @Test func aMissingSecretFileIsAConfigErrorWithItsLine() throws {
        let yaml = """
            subscriptions:
              - {filter: "devices/+/telemetry", device: "devices/{device}/telemetry"}
            outputs:
              webhook:
                url: "http://127.0.0.1:9/hook"
                secret_file: "/nonexistent/secret"
              pagerduty:
                url: "http://127.0.0.1:9/enqueue"
            """
        let config = try VigilConfig.parse(yaml: yaml, source: "vigil.yaml")
        #expect(throws: ConfigError.self) { try config.outputSecrets(environment: [:]) }
        do {
            _ = try config.outputSecrets(environment: [:])
        } catch {
            #expect(error.description.contains("vigil.yaml:6: outputs.webhook.secret_file"), "\(error.description)")
            #expect(error.description.contains("vigil.yaml:7: outputs.pagerduty"), "\(error.description)")
        }
        #expect(throws: ConfigError.self, "the webhook's file is still missing") {
            try config.outputSecrets(environment: ["VIGIL_PAGERDUTY_ROUTING_KEY": "k"])
        }
    }

    @Test func badOutputKeysAreReportedWithTheirLines() {
        let yaml = """
            subscriptions:
              - {filter: "devices/+/telemetry", device: "devices/{device}/telemetry"}
            outputs:
              webhook:
                url: "ftp://x"
              alertmanager: {url: "http://127.0.0.1:9093", refresh_s: 0}
              file: {}
              flapping: {max_fires: -1}
            outbox: {max_bytes: 10, retry_min_ms: 500, retry_max_ms: 100}
            silences:
              - {device: "lab-*", daily: "25:00-06:00"}
              - {device: "lab-*"}
            """
        do {
            _ = try VigilConfig.parse(yaml: yaml, source: "c.yaml")
            Issue.record("expected errors")
        } catch {
            let text = error.description
            for expected in [
                "c.yaml:5: outputs.webhook.url", "c.yaml:4: outputs.webhook.secret_file", "c.yaml:6: outputs.alertmanager.refresh_s",
                "c.yaml:7: outputs.file.path", "c.yaml:8: outputs.flapping.max_fires", "c.yaml:9: outbox.max_bytes",
                "c.yaml:9: outbox.retry_max_ms", "c.yaml:11: silences[0].daily", "c.yaml:12: silences[1]",
            ] {
                #expect(text.contains(expected), "missing \(expected) in:\n\(text)")
            }
        }
    }
}

struct RetryPolicyTests {
    @Test func backoffDoublesWithJitterUpToTheCapAndRetryAfterWins() {
        let policy = RetryPolicy(minDelay: 1, maxDelay: 10)
        #expect(policy.delay(attempt: 1, retryAfter: nil, random: 0) == 0.5)
        #expect(policy.delay(attempt: 1, retryAfter: nil, random: 1) == 1)
        #expect(policy.delay(attempt: 3, retryAfter: nil, random: 1) == 4)
        #expect(policy.delay(attempt: 30, retryAfter: nil, random: 1) == 10)
        #expect(policy.delay(attempt: 1, retryAfter: 7, random: 0) == 7)
        #expect(policy.delay(attempt: 1, retryAfter: 60, random: 0) == 10, "capped")
    }

    @Test func statusesSortIntoDeliveredRetryAndRejected() {
        let now = Date(timeIntervalSince1970: 1_767_225_600)
        #expect(HTTPOutcome.classify(status: 202, body: Data(), retryAfter: nil) == .delivered(status: 202))
        #expect(HTTPOutcome.classify(status: 503, body: Data(), retryAfter: "5") == .retry(reason: "HTTP 503", retryAfter: 5))
        #expect(HTTPOutcome.classify(status: 429, body: Data(), retryAfter: "Thu, 01 Jan 2026 00:00:30 GMT", now: now) == .retry(reason: "HTTP 429", retryAfter: 30))
        #expect(HTTPOutcome.classify(status: 408, body: Data(), retryAfter: nil) == .retry(reason: "HTTP 408", retryAfter: nil))
        #expect(HTTPOutcome.classify(status: 400, body: Data("bad".utf8), retryAfter: nil) == .rejected(status: 400, body: "bad"))
        #expect(HTTPOutcome.classify(status: 301, body: Data(), retryAfter: nil) == .rejected(status: 301, body: ""))
    }

    @Test func hmacMatchesRFC4231() {
        // RFC 4231 test case 2.
        let mac = HMACSHA256.mac(key: Array("Jefe".utf8), message: Array("what do ya want for nothing?".utf8))
        #expect(mac.map { String(format: "%02x", $0) }.joined() == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
    }
}
