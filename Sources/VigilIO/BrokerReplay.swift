import Foundation
import Synchronization
import VigilCore
import VigilPipeline

/// What `vigil replay --broker` does: which recordings, how fast, where to.
package struct BrokerReplayOptions: Sendable {
    package var inputs: [RecordingInput]
    /// Broker connection (one client id per connection: `<client_id>-<n>`).
    package var client: MQTTClientOptions
    /// Recorded pace times this (2 is twice as fast); ignored when ``rate`` is set.
    package var speed = 1.0
    /// Messages per second, evenly spaced, instead of the recorded pace.
    package var rate: Double? = nil
    /// A top-level JSON payload field whose number is replaced by the send time (in the unit it had: ms when
    /// it was at least 1e11, else seconds); nil leaves payloads as recorded.
    package var rewriteTimestampField: String? = nil
    package var connections = 1
    package var qos = 0
    /// The topic of a CSV input's messages (which have a device, not a topic).
    package var csvTopic = "devices/{device}/telemetry"
    package var skipBad = false
    /// Publishes a connection may have queued before the reader waits (libmosquitto's queue is unbounded).
    package var maxQueuedPerConnection = 20_000

    package init(inputs: [RecordingInput], client: MQTTClientOptions) {
        self.inputs = inputs
        self.client = client
    }
}

/// What a paced replay did.
package struct BrokerReplaySummary: Sendable {
    package var sent = 0
    package var publishErrors = 0
    package var seconds = 0.0
    /// The recording's span (last minus first receive time), seconds.
    package var recordedSeconds = 0.0
    /// Largest lateness of a message behind its schedule, and the lateness of the last one, seconds.
    package var maxBehind = 0.0
    package var behindAtEnd = 0.0
    /// Total time the replay spent behind schedule by more than 10 ms (summed over the gaps between sends).
    package var timeBehind = 0.0
    package var timestampsRewritten = 0
    package var timestampsNotRewritten = 0
    package var inputs: [RecordingInputStats] = []

    package var table: String {
        var lines = [
            String(format: "sent %d messages in %.2f s (%.0f msg/s; the recording spans %.2f s); publish errors %d",
                   sent, seconds, Double(sent) / max(seconds, 1e-9), recordedSeconds, publishErrors),
            String(format: "behind schedule: at most %.1f ms, %.1f ms at the end, %.2f s in all (more than 10 ms late)",
                   maxBehind * 1000, behindAtEnd * 1000, timeBehind),
        ]
        if timestampsRewritten + timestampsNotRewritten > 0 {
            lines.append("timestamps rewritten: \(timestampsRewritten); left as recorded (no number field): \(timestampsNotRewritten)")
        }
        for input in inputs {
            var line = "input \(input.path): \(input.messages) messages"
            if input.invalid > 0 {
                line += ", \(input.invalid) invalid lines skipped (" + input.issues.map { "line \($0.line): \($0.message)" }.joined(separator: "; ") + ")"
            }
            lines.append(line)
        }
        return lines.joined(separator: "\n")
    }
}

/// Publishes recordings into a broker at their recorded pace (times a speed) or at a fixed rate, reading
/// them with the ``RecordingReader`` that offline replay uses.
///
/// Per-device order is kept: messages go out in recording order, and every topic always uses the same
/// connection (topic hash modulo connections), so the broker sees each device's messages in order.
package final class BrokerReplay: Sendable {
    package let options: BrokerReplayOptions
    private let sentCount = Atomic<Int>(0)
    private let behindMicros = Atomic<Int>(0)

    package init(options: BrokerReplayOptions) { self.options = options }

    /// Messages published so far (for progress).
    package var sent: Int { sentCount.load(ordering: .relaxed) }
    /// How late the last message went out, seconds.
    package var behind: Double { Double(behindMicros.load(ordering: .relaxed)) / 1e6 }

    package struct Failure: Error, CustomStringConvertible {
        package var description: String
    }

    package func run() throws(Failure) -> BrokerReplaySummary {
        let reader: RecordingReader
        do {
            reader = try RecordingReader(inputs: options.inputs, skipBad: options.skipBad)
        } catch {
            throw Failure(description: error.description)
        }
        var clients: [MQTTClient] = []
        do {
            for index in 0..<options.connections {
                var clientOptions = options.client
                clientOptions.subscriptions = []
                clientOptions.clientID = "\(options.client.clientID)-\(index)"
                let client = try MQTTClient(options: clientOptions)
                try client.start(handler: nil)
                clients.append(client)
            }
        } catch {
            throw Failure(description: "cannot start the MQTT client: \(error)")
        }
        defer { for client in clients { client.stop() } }
        let waitStart = WallClock.nowNanos()
        while !clients.allSatisfy(\.isConnected) {
            guard WallClock.nowNanos() - waitStart < 10_000_000_000 else {
                throw Failure(description: "cannot reach the broker at \(options.client.host):\(options.client.port)")
            }
            usleep(10_000)
        }
        let csvTemplate = options.csvTopic
        var summary = BrokerReplaySummary()
        var firstRecorded: Int64? = nil
        var lastRecorded: Int64 = 0
        var start: Int64 = 0
        var index = 0
        var previousSend: Int64 = 0
        let rewriteKey = options.rewriteTimestampField.map { Array("\"\($0)\"".utf8) }
        var rewritten: [UInt8] = []
        var failure: RecordingError? = nil
        while failure == nil {
            let more: Bool
            do {
                more = try reader.next { message in
                    if firstRecorded == nil {
                        firstRecorded = message.receivedAtNanos
                        start = WallClock.nowNanos()
                        previousSend = start
                    }
                    lastRecorded = message.receivedAtNanos
                    let offset: Double = options.rate.map { Double(index) / $0 }
                        ?? Double(message.receivedAtNanos - firstRecorded!) / 1e9 / options.speed
                    let due = start + Int64(offset * 1e9)
                    var now = WallClock.nowNanos()
                    if due - now > 200_000 {
                        usleep(UInt32((due - now) / 1000))
                        now = WallClock.nowNanos()
                    }
                    let late = max(0, Double(now - due) / 1e9)
                    summary.maxBehind = max(summary.maxBehind, late)
                    summary.behindAtEnd = late
                    if late > 0.01 { summary.timeBehind += Double(now - previousSend) / 1e9 }
                    previousSend = now
                    behindMicros.store(Int(late * 1e6), ordering: .relaxed)
                    let topic: String
                    switch message.address {
                    case .topic(let bytes): topic = String(decoding: bytes, as: UTF8.self)
                    case .device(let bytes): topic = csvTemplate.replacingOccurrences(of: "{device}", with: String(decoding: bytes, as: UTF8.self))
                    }
                    let client = clients[StableHash.shard(of: StableHash.hash(topic), count: clients.count)]
                    while client.unacknowledgedPublishes > options.maxQueuedPerConnection && client.isConnected { usleep(200) }
                    let payload = message.payload
                    if let rewriteKey {
                        if Self.rewriteTimestamp(payload, key: rewriteKey, now: now, into: &rewritten) {
                            summary.timestampsRewritten += 1
                        } else {
                            summary.timestampsNotRewritten += 1
                        }
                    }
                    do {
                        if rewriteKey != nil && !rewritten.isEmpty {
                            try rewritten.withUnsafeBytes { try client.publish(topic: topic, payload: $0, qos: options.qos) }
                        } else {
                            try client.publish(topic: topic, payload: payload, qos: options.qos)
                        }
                        summary.sent += 1
                        sentCount.add(1, ordering: .relaxed)
                    } catch {
                        summary.publishErrors += 1
                    }
                    index += 1
                }
            } catch {
                failure = error
                break
            }
            if !more { break }
        }
        for client in clients { _ = client.waitForPublishes(timeout: 30) }
        summary.seconds = Double(WallClock.nowNanos() - start) / 1e9
        summary.recordedSeconds = firstRecorded.map { Double(lastRecorded - $0) / 1e9 } ?? 0
        summary.inputs = reader.stats
        if let failure { throw Failure(description: failure.description + " (after \(summary.sent) messages sent)") }
        guard firstRecorded != nil else { throw Failure(description: "no valid message in the input") }
        return summary
    }

    /// Copies `payload` into `output` with the number after `"key":` replaced by `now` (ms when the old value
    /// was at least 1e11, else seconds); false (output empty) when there is no such number.
    static func rewriteTimestamp(_ payload: UnsafeRawBufferPointer, key: [UInt8], now: Int64, into output: inout [UInt8]) -> Bool {
        output.removeAll(keepingCapacity: true)
        guard payload.count > key.count else { return false }
        var position = 0
        while position + key.count <= payload.count {
            guard payload[position] == key[0], (0..<key.count).allSatisfy({ payload[position + $0] == key[$0] }) else {
                position += 1
                continue
            }
            var cursor = position + key.count
            func skipSpace() { while cursor < payload.count, [0x20, 0x09, 0x0A, 0x0D].contains(payload[cursor]) { cursor += 1 } }
            skipSpace()
            guard cursor < payload.count, payload[cursor] == UInt8(ascii: ":") else {
                position += 1
                continue
            }
            cursor += 1
            skipSpace()
            let numberStart = cursor
            while cursor < payload.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(payload[cursor])
                || [UInt8(ascii: "."), UInt8(ascii: "-"), UInt8(ascii: "e"), UInt8(ascii: "E"), UInt8(ascii: "+")].contains(payload[cursor])
            {
                cursor += 1
            }
            guard cursor > numberStart,
                let old = Double(String(decoding: UnsafeRawBufferPointer(rebasing: payload[numberStart..<cursor]), as: UTF8.self))
            else { return false }
            let replacement = old >= 1e11 ? String(now / 1_000_000) : String(format: "%.3f", Double(now) / 1e9)
            output.append(contentsOf: payload[..<numberStart])
            output.append(contentsOf: replacement.utf8)
            output.append(contentsOf: payload[cursor...])
            return true
        }
        return false
    }
}
