import Dispatch
import Foundation
import Synchronization
import VigilIO
import VigilPipeline

/// `vigil record --config PATH --output FILE`: subscribes as configured and writes what arrives as a JSONL
/// recording (gzip for `.gz`).
struct RecordCommand {
    static let flags = [
        Flag(name: "--config", valueName: "PATH", required: true),
        Flag(name: "--output", valueName: "FILE", required: true),
        Flag(name: "--duration", valueName: "S", required: false),
        Flag(name: "--max-messages", valueName: "N", required: false),
    ]
    static let help = """
        USAGE: vigil record --config PATH --output FILE [--duration S] [--max-messages N]

        Connects to the configured broker, subscribes to the configured filters (at their QoS) and writes every
        message as one line of a JSONL recording, the format `vigil replay` reads:
          {"t": 1764072612003.125, "topic": "devices/d-7/telemetry", "payload": "{\\"temperature\\":21.5}"}
        t is the receive time in epoch ms; a payload that is not valid UTF-8 is written as "payload_b64".
        FILE ending in .gz is gzip-compressed (zlib). The file is written as FILE.partial and renamed when
        complete. A progress line (messages, rate, bytes) is kept on stderr when it is a terminal; a summary
        goes to stdout at the end.

        It stops after --duration seconds, after --max-messages messages, or on SIGINT/SIGTERM, whichever
        comes first. The config's detector and output settings are not used (nothing is scored).
        It runs beside a `vigil run` with the same config without disturbing it: its own client id
        ({client_id}-record-{pid}), a clean session, and the plain filters (never the cluster's share group),
        so it records a copy of everything and leaves nothing queued at the broker.

        FLAGS:
          --config PATH       Broker and subscriptions (see config.yaml.example).
          --output FILE       The recording (.jsonl, or .jsonl.gz for gzip).
          --duration S        Stop after S seconds (default: no limit).
          --max-messages N    Stop after N messages (default: no limit).

        EXIT STATUS: 0 done, 1 a config, connection or write error, 64 bad command line.
        """

    var options: Options

    func run() -> Int32 {
        var duration = Double.infinity
        if let text = options["--duration"] {
            guard let value = Double(text), value > 0, value.isFinite else {
                printError("vigil record: --duration must be a number of seconds above 0 (got '\(text)')")
                return VigilCommand.usageError
            }
            duration = value
        }
        var maxMessages = Int.max
        if let text = options["--max-messages"] {
            guard let value = Int(text), value > 0 else {
                printError("vigil record: --max-messages must be a whole number above 0 (got '\(text)')")
                return VigilCommand.usageError
            }
            maxMessages = value
        }
        let config: VigilConfig
        let password: String?
        do {
            config = try VigilConfig.load(path: options["--config"]!)
            password = try config.brokerPassword()
        } catch {
            printError(error.description)
            return 1
        }
        let writer: RecordingWriter
        do {
            writer = try RecordingWriter(path: options["--output"]!)
        } catch {
            printError("vigil record: \(error.description)")
            return 1
        }
        let sink = RecordSink(writer: writer, maxMessages: maxMessages, announcement: "vigil record: subscribed to "
            + config.subscriptions.map(\.filter).joined(separator: ", ") + " on \(config.broker.host):\(config.broker.port); writing \(writer.path)")
        let client: MQTTClient
        do {
            client = try MQTTClient(options: config.recordClientOptions(password: password, processID: getpid()))
            try client.start(handler: sink)
        } catch {
            printError("vigil record: cannot start the MQTT client: \(error)")
            return 1
        }
        var sources: [any DispatchSourceSignal] = []
        // Blocked since main.swift's first line (see there); no SIG_IGN, which would discard a pending one.
        for signalNumber in [SIGINT, SIGTERM] {
            let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: .global())
            source.setEventHandler { sink.stopRequested.store(true, ordering: .relaxed) }
            source.activate()
            sources.append(source)
        }
        defer { sources.forEach { $0.cancel() } }
        let isTerminal = isatty(2) != 0
        let started = WallClock.nowNanos()
        var lastProgress = started
        var warnedNotConnected = false
        while !sink.stopRequested.load(ordering: .relaxed) && !sink.isFull {
            let now = WallClock.nowNanos()
            let seconds = Double(now - started) / 1e9
            if seconds >= duration { break }
            if !warnedNotConnected && seconds > 5 && !client.isConnected {
                printError("vigil record: not connected to \(config.broker.host):\(config.broker.port) yet; still trying")
                warnedNotConnected = true
            }
            if isTerminal && now - lastProgress >= 1_000_000_000 {
                lastProgress = now
                let (messages, bytes) = sink.counts
                let line = "record: \(Int(seconds)) s, \(messages) messages, \(Int(Double(messages) / seconds)) msg/s, \(Self.size(bytes))"
                FileHandle.standardError.write(Data(("\r\u{1B}[K" + line).utf8))
            }
            usleep(50_000)
        }
        if isTerminal { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
        client.stop()
        let seconds = Double(WallClock.nowNanos() - started) / 1e9
        do {
            try sink.finish()
        } catch {
            printError("vigil record: \(error.description)")
            return 1
        }
        let (messages, bytes) = sink.counts
        let fileBytes = (try? FileManager.default.attributesOfItem(atPath: writer.path)[.size] as? Int) ?? 0
        print("recorded \(messages) messages in \(String(format: "%.1f", seconds)) s (\(Int(Double(messages) / max(seconds, 1e-9))) msg/s) "
            + "to \(writer.path): \(Self.size(bytes)) of JSONL, \(Self.size(fileBytes)) on disk"
            + (sink.writeFailure.map { "; stopped writing: \($0)" } ?? ""))
        return sink.writeFailure == nil ? 0 : 1
    }

    static func size(_ bytes: Int) -> String {
        bytes >= 1 << 20 ? String(format: "%.1f MiB", Double(bytes) / 1048576) : String(format: "%.1f KiB", Double(bytes) / 1024)
    }
}

/// Receives messages on the network thread and appends them to the recording.
private final class RecordSink: MQTTClientHandler {
    // The writer is used by the network thread per message, and by the main thread only after the client
    // stopped (finish): the lock is uncontended, and makes that hand-over safe.
    private let writer: Mutex<RecordingWriter>
    private let maxMessages: Int
    private let messages = Atomic<Int>(0)
    private let bytes = Atomic<Int>(0)
    private let failure = Mutex<String?>(nil)
    /// Set on SIGINT/SIGTERM.
    let stopRequested = Atomic<Bool>(false)

    private let announcement: String

    init(writer: RecordingWriter, maxMessages: Int, announcement: String) {
        self.writer = Mutex(writer)
        self.maxMessages = maxMessages
        self.announcement = announcement
    }

    func mqttSubscribed(granted: [Int32]) { printError(announcement) }

    var isFull: Bool { messages.load(ordering: .relaxed) >= maxMessages || writeFailure != nil }
    var counts: (messages: Int, bytes: Int) { (messages.load(ordering: .relaxed), bytes.load(ordering: .relaxed)) }
    var writeFailure: String? { failure.withLock { $0 } }

    func mqttMessage(topic: UnsafeRawBufferPointer, payload: UnsafeRawBufferPointer) {
        let received = WallClock.nowNanos()
        guard messages.load(ordering: .relaxed) < maxMessages else { return }
        let error: RecordingWriter.WriteError? = writer.withLock { writer -> RecordingWriter.WriteError? in
            do throws(RecordingWriter.WriteError) {
                try writer.append(receivedAtNanos: received, topic: topic, payload: payload)
                bytes.store(writer.bytes, ordering: .relaxed)
                return nil
            } catch {
                return error
            }
        }
        if let error {
            failure.withLock { if $0 == nil { $0 = error.description } }
            return
        }
        messages.add(1, ordering: .relaxed)
    }

    func finish() throws(RecordingWriter.WriteError) {
        try writer.withLock { writer throws(RecordingWriter.WriteError) in try writer.finish() }
    }

    func mqttConnected(code: Int32, description: String) {
        if code != 0 { printError("vigil record: the broker refused the connection: \(description)") }
    }
    func mqttDisconnected(code: Int32, description: String) {}
}
