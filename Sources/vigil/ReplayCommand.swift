import Dispatch
import Foundation
import Synchronization
import VigilIO
import VigilPipeline

/// `vigil replay --offline ... INPUT...`: a backtest of recordings through the pipeline; `vigil replay --broker
/// ... INPUT...`: the recordings published into a broker at their recorded pace.
struct ReplayCommand {
    static let flags = [
        Flag(name: "--offline", valueName: "", required: false, takesValue: false),
        Flag(name: "--broker", valueName: "", required: false, takesValue: false),
        Flag(name: "--speed", valueName: "X", required: false),
        Flag(name: "--rate", valueName: "N", required: false),
        Flag(name: "--rewrite-timestamps", valueName: "FIELD", required: false),
        Flag(name: "--connections", valueName: "N", required: false),
        Flag(name: "--qos", valueName: "Q", required: false),
        Flag(name: "--topic", valueName: "TEMPLATE", required: false),
        Flag(name: "--skip-bad", valueName: "", required: false, takesValue: false),
        Flag(name: "--config", valueName: "PATH", required: false),
        Flag(name: "--device", valueName: "NAME", required: false),
        Flag(name: "--shards", valueName: "N", required: false),
        Flag(name: "--scores", valueName: "FILE", required: false),
        Flag(name: "--anomalies", valueName: "FILE", required: false),
    ]
    static let help = """
        USAGE: vigil replay --offline [--config PATH] [--device NAME] [--shards N] [--scores FILE]
                                      [--anomalies FILE] [--skip-bad] INPUT...
               vigil replay --broker [--config PATH] [--speed X | --rate N] [--rewrite-timestamps FIELD]
                                     [--connections N] [--qos Q] [--topic TEMPLATE] [--skip-bad] INPUT...

        --broker publishes the recordings into the config's broker instead (see PACED REPLAY below).

        Runs recordings through the same pipeline as `vigil run` (router, shard rings, detection engines) as fast
        as the workers go, without a broker: a backtest. Progress goes to stderr when it takes over a second,
        then a summary goes to stdout: inputs, messages, samples, rate, devices, events by detector and state,
        drops by reason.

        INPUTS (several are merged by receive time; on a tie the earlier INPUT goes first):
          JSONL  .jsonl, .ndjson, .json, or - for standard input: one MQTT message a line,
                   {"t": 1764072612003, "topic": "devices/d-7/telemetry", "payload": "{\\"temperature\\":21.5}"}
                 t is the receive time in epoch ms; "payload_b64" (standard base64) replaces "payload" for
                 binary payloads; other keys are ignored. A name ending in .gz is gzip (read through zlib):
                 .jsonl.gz, as `vigil record` writes it.
          CSV    .csv: a header, then one row per message of one device: --device, else the file's name
                 without .csv. The time column is named timestamp, time or datetime; its cells are ISO 8601
                 (2026-01-05T10:00:00.25Z, 2026-01-05 10:00:00, 2026-01-05 10:00; the zone is optional, UTC
                 when absent) or epoch seconds or milliseconds (numbers from 1e11 up are ms). Every other named
                 column is a metric: a number cell is a sample, an empty or text cell is none.

        TIME
          A message's receive time is the recording's (t, or the CSV row's time), so rate and silence judge as
          they did live; its event time comes from the payload (payload.timestamp_field) as live, else it is
          the receive time. Silence is swept on the recording's clock: every second of receive time, and once
          at the end of the recording.

        BAD INPUT
          A JSONL line that is not a JSON object or lacks t, topic, or payload/payload_b64 (or has both) (a
          truncated or corrupt line), and a CSV row whose cell count differs from the header's, whose time
          cannot be read, or that holds no number, stops the run (exit 1) with FILE:LINE and the reason.
          With --skip-bad such lines are skipped and counted instead: the summary gives each input's count
          and its first 5 line numbers with the reason. Blank lines are ignored. The run also fails when an
          input cannot be read at all (no such file, corrupt gzip, a CSV without a header or a time column)
          or no valid message is found.
          Payloads the pipeline refuses (not JSON, a topic no subscription matches, ...) are counted under
          drops by reason, as in `vigil run`.

        OUTPUTS (written to FILE.partial, renamed when complete)
          --scores FILE     CSV event_time_ms,device,metric,value,score,firing: one row per sample (a message's
                            metric), in input order.
          --anomalies FILE  JSONL: every anomaly event (firing, resolved) as `vigil run` publishes it, with an id
                            derived from the event and latency_ms null, ordered by detection time, device,
                            metric, detector, state.
          The same inputs and config give the same files, byte for byte, for any --shards.

        PACED REPLAY (--broker)
          Publishes every message to the broker of --config (host, port, credentials; default 127.0.0.1:1883)
          at its recorded pace: message i goes out at start + (t_i - t_0) / --speed, or at start + i / --rate.
          Messages go out in recording order and each topic always on the same connection, so every device's
          messages arrive in order. A CSV row goes to --topic with its device. Progress on stderr; a summary
          on stdout: sent, achieved rate, publish errors, and how far behind schedule it fell (at most, at
          the end, and the time spent more than 10 ms late).

        FLAGS:
          --offline          Replay into the pipeline (a backtest). One of --offline and --broker is required.
          --broker           Publish into the broker instead (PACED REPLAY).
          --speed X          --broker: the recorded pace times X (default 1; 10 is ten times as fast).
          --rate N           --broker: N messages per second, evenly spaced, instead of the recorded pace.
          --rewrite-timestamps FIELD
                             --broker: replace the number of the payload's top-level FIELD (such as ts) with
                             the send time (epoch ms when it was ms, else seconds): the recording as if now.
          --connections N    --broker: publisher connections, 1 to 64 (default 1).
          --qos Q            --broker: 0 or 1 (default 0).
          --topic TEMPLATE   --broker: the topic of CSV rows (default devices/{device}/telemetry).
          --skip-bad         Skip and count bad lines instead of stopping at the first (BAD INPUT).
          --config PATH      Subscriptions, payload, pipeline and detector settings (see config.yaml.example);
                             broker and outputs are ignored. Default: one subscription devices/+/telemetry,
                             device devices/{device}/telemetry, every other setting at its default.
          --device NAME      The device of every CSV input's rows.
          --shards N         Shard workers, 1 to 256 (default: pipeline.shards; 0 there is one per core).
          --scores FILE      See OUTPUTS.
          --anomalies FILE   See OUTPUTS.

        EXIT STATUS: 0 done, 1 an input, config or output error, 64 bad command line.
        """

    var options: Options

    func run() -> Int32 {
        guard (options["--offline"] != nil) != (options["--broker"] != nil) else {
            printError("vigil replay: give one of --offline (a backtest) and --broker (publish into a broker)\n\n\(Self.help)")
            return VigilCommand.usageError
        }
        guard !options.positionals.isEmpty else {
            printError("vigil replay: give at least one INPUT file\n\n\(Self.help)")
            return VigilCommand.usageError
        }
        if options["--broker"] != nil { return runBroker() }
        for flag in ["--speed", "--rate", "--rewrite-timestamps", "--connections", "--qos", "--topic"] where options[flag] != nil {
            printError("vigil replay: \(flag) is for --broker")
            return VigilCommand.usageError
        }
        var shards: Int? = nil
        if let text = options["--shards"] {
            guard let value = Int(text), (1...256).contains(value) else {
                printError("vigil replay: --shards must be a whole number from 1 to 256 (got '\(text)')")
                return VigilCommand.usageError
            }
            shards = value
        }
        if let device = options["--device"], device.isEmpty {
            printError("vigil replay: --device must not be empty")
            return VigilCommand.usageError
        }
        let config: VigilConfig
        if let path = options["--config"] {
            do {
                config = try VigilConfig.load(path: path)
            } catch {
                printError(error.description)
                return 1
            }
        } else {
            config = ReplayOptions.defaultConfig
        }
        let inputs = options.positionals.map { RecordingInput(path: $0, device: options["--device"]) }
        let replay = OfflineReplay(options: ReplayOptions(
            config: config, inputs: inputs, shards: shards, scoresPath: options["--scores"],
            anomaliesPath: options["--anomalies"], cores: ProcessInfo.processInfo.activeProcessorCount,
            skipBad: options["--skip-bad"] != nil
        ))
        let progress = Progress(replay: replay)
        let summary: ReplaySummary
        do {
            summary = try replay.run()
            progress.stop()
        } catch {
            progress.stop()
            printError("vigil replay: \(error.description)")
            return 1
        }
        print(summary.table())
        return 0
    }
}

extension ReplayCommand {
    /// `--broker`: paced publishing.
    func runBroker() -> Int32 {
        for flag in ["--device", "--shards", "--scores", "--anomalies"] where options[flag] != nil {
            printError("vigil replay: \(flag) is for --offline")
            return VigilCommand.usageError
        }
        func number(_ flag: String, _ range: ClosedRange<Double>) -> Double?? {
            guard let text = options[flag] else { return .some(nil) }
            guard let value = Double(text), range.contains(value) else {
                printError("vigil replay: \(flag) must be a number from \(range.lowerBound) to \(range.upperBound) (got '\(text)')")
                return nil
            }
            return .some(value)
        }
        guard let speed = number("--speed", 0.001...1_000_000), let rate = number("--rate", 0.001...10_000_000),
            let connections = number("--connections", 1...64), let qos = number("--qos", 0...1)
        else { return VigilCommand.usageError }
        if speed != nil && rate != nil {
            printError("vigil replay: give --speed or --rate, not both")
            return VigilCommand.usageError
        }
        let config: VigilConfig
        let password: String?
        do {
            if let path = options["--config"] {
                config = try VigilConfig.load(path: path)
            } else {
                config = ReplayOptions.defaultConfig
            }
            password = try config.brokerPassword()
        } catch {
            printError(error.description)
            return 1
        }
        var replayOptions = BrokerReplayOptions(
            inputs: options.positionals.map { RecordingInput(path: $0) }, client: config.outboundClientOptions(password: password)
        )
        // Publishers only: a clean session each (no persistent session left at the broker), ids of their own.
        replayOptions.client.clientID = config.broker.clientID + "-replay"
        replayOptions.speed = speed ?? 1
        replayOptions.rate = rate
        replayOptions.rewriteTimestampField = options["--rewrite-timestamps"]
        replayOptions.connections = Int(connections ?? 1)
        replayOptions.qos = Int(qos ?? 0)
        if let topic = options["--topic"] { replayOptions.csvTopic = topic }
        replayOptions.skipBad = options["--skip-bad"] != nil
        let replay = BrokerReplay(options: replayOptions)
        let progress = BrokerProgress(replay: replay)
        let summary: BrokerReplaySummary
        do {
            summary = try replay.run()
            progress.stop()
        } catch {
            progress.stop()
            printError("vigil replay: \(error.description)")
            return 1
        }
        print(summary.table)
        return 0
    }
}

/// Progress of a paced replay on stderr, once a second from one second in: sent, rate, how far behind.
private final class BrokerProgress: Sendable {
    private let queue = DispatchQueue(label: "vigil.replay.progress")
    // Dispatch sources are thread-safe but not annotated Sendable: the only reason for the exemption.
    nonisolated(unsafe) private let timer: any DispatchSourceTimer
    private let isTerminal = isatty(2) != 0

    init(replay: BrokerReplay) {
        let started = WallClock.nowNanos()
        let isTerminal = self.isTerminal
        timer = DispatchSource.makeTimerSource(queue: queue)
        timer.schedule(deadline: .now() + 1, repeating: 1)
        timer.setEventHandler {
            let seconds = Double(WallClock.nowNanos() - started) / 1e9
            let sent = replay.sent
            let line = "replay: \(Int(seconds)) s, \(sent) sent, \(Int((Double(sent) / seconds).rounded())) msg/s, "
                + String(format: "%.1f ms behind schedule", replay.behind * 1000)
            FileHandle.standardError.write(Data((isTerminal ? "\r\u{1B}[K" + line : line + "\n").utf8))
        }
        timer.activate()
    }

    func stop() {
        timer.cancel()
        queue.sync {
            if isTerminal { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
        }
    }
}

/// Progress on stderr while a replay runs: from one second in, once a second, messages and rate. On a
/// terminal it rewrites one line; otherwise it writes a line each time.
private final class Progress: Sendable {
    private let queue = DispatchQueue(label: "vigil.replay.progress")
    // Dispatch sources are thread-safe but not annotated Sendable: the only reason for the exemption.
    nonisolated(unsafe) private let timer: any DispatchSourceTimer
    private let isTerminal = isatty(2) != 0

    /// Set once the "writing the output files" line is out (a class: the timer's handler shares it).
    private final class Announced: Sendable { let flag = Atomic<Bool>(false) }
    private let announced = Announced()

    init(replay: OfflineReplay) {
        let started = WallClock.nowNanos()
        let isTerminal = self.isTerminal
        let announced = self.announced
        timer = DispatchSource.makeTimerSource(queue: queue)
        timer.schedule(deadline: .now() + 1, repeating: 1)
        timer.setEventHandler {
            let seconds = Double(WallClock.nowNanos() - started) / 1e9
            let messages = replay.messagesRouted
            var line = "replay: \(Int(seconds)) s, \(messages) messages, \(Int((Double(messages) / seconds).rounded())) msg/s"
            if replay.isWritingOutputs {
                // Once, not every second: the count no longer moves.
                guard !announced.flag.exchange(true, ordering: .relaxed) else { return }
                line = "replay: \(messages) messages processed; writing the output files"
            }
            FileHandle.standardError.write(Data((isTerminal ? "\r\u{1B}[K" + line : line + "\n").utf8))
        }
        timer.activate()
    }

    /// Stops the timer, ending a rewritten line.
    func stop() {
        timer.cancel()
        queue.sync {
            if isTerminal { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
        }
    }
}
