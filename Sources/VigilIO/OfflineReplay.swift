#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization
package import VigilCore
import VigilPipeline

/// What an offline replay reads, how it runs, and what it writes.
package struct ReplayOptions: Sendable {
    package var config: VigilConfig
    package var inputs: [RecordingInput]
    /// Overrides `pipeline.shards` (0 there means one per core).
    package var shards: Int?
    /// `--scores`: every sample's score, CSV, in input order.
    package var scoresPath: String?
    /// `--anomalies`: every anomaly event, JSONL, in a deterministic order.
    package var anomaliesPath: String?
    /// Silence sweeps on the recording's clock, this far apart (live sweeps every second).
    package var sweepIntervalNanos: Int64 = 1_000_000_000
    /// Where to write the learned baselines as a model (`vigil train`), after the last message.
    package var modelPath: String?
    /// Cores, for `pipeline.shards: 0`.
    package var cores: Int
    /// Skip and count bad lines (true), or stop at the first with its line (`vigil replay` without `--skip-bad`).
    package var skipBad: Bool

    package init(config: VigilConfig, inputs: [RecordingInput], shards: Int? = nil, scoresPath: String? = nil, anomaliesPath: String? = nil, cores: Int = 1, skipBad: Bool = true) {
        self.skipBad = skipBad
        self.config = config
        self.inputs = inputs
        self.shards = shards
        self.scoresPath = scoresPath
        self.anomaliesPath = anomaliesPath
        self.cores = cores
    }

    /// The configuration `vigil replay` uses without `--config`: one subscription `devices/+/telemetry` whose
    /// device is `devices/{device}/telemetry`, every other setting at its default.
    package static var defaultConfig: VigilConfig {
        VigilConfig(subscriptions: [SubscriptionConfig(filter: "devices/+/telemetry", device: "devices/{device}/telemetry")])
    }
}

/// An offline replay (a backtest): recordings through the same router, rings, shard workers and detection
/// engines as live traffic, as fast as the workers go (overflow `block`, no broker).
///
/// - Time: a message's receive time is the recording's (`t`, or a CSV row's time), so rate and silence judge
///   as they did live; event time comes from the payload as live. Silence sweeps run on the recording's clock
///   (``SweepSchedule``: every second of receive time, and once at the end), through the rings, so the result
///   does not depend on the replay's speed.
/// - Determinism: the same inputs give the same `--scores` and `--anomalies` files, byte for byte, for any
///   shard count (while no per-shard limit, `max_devices` or `max_metric_names`, is reached). Event ids are
///   derived from the event (``AnomalyEvent/replayID``), not random, and `latency_ms` is null.
///
/// ```swift
/// let replay = OfflineReplay(options: ReplayOptions(config: ReplayOptions.defaultConfig, inputs: [RecordingInput(path: "a.jsonl")]))
/// let summary = try replay.run()
/// print(summary.table())
/// ```
package final class OfflineReplay: Sendable {
    package let options: ReplayOptions
    private let routed = Atomic<Int>(0)
    private let writing = Atomic<Bool>(false)

    package init(options: ReplayOptions) {
        self.options = options
    }

    /// Messages handed to the pipeline so far (updated every few thousand; read from any thread, for progress).
    package var messagesRouted: Int { routed.load(ordering: .relaxed) }

    /// Whether every message has been processed and the output files are being written (for progress).
    package var isWritingOutputs: Bool { writing.load(ordering: .relaxed) }

    /// Runs the replay to the end of its inputs and writes its outputs; returns what happened.
    ///
    /// - Throws: ``ReplayError`` when an input cannot be read at all (a bad line or row is only counted), when
    ///   the inputs hold no valid message, or when an output cannot be written.
    package func run() throws(ReplayError) -> ReplaySummary {
        let config = options.config
        var settings = config.pipelineSettings(cores: options.cores)
        if let shards = options.shards { settings.shards = shards }
        settings.overflow = .block
        settings.sweepInterval = 0  // no wall-clock sweeps: the recording's clock drives them
        settings.wakeEvery = settings.batchSize  // throughput, not latency: wake a sleeping worker once per batch
        do {
            // With `cluster.mode: hash`, a backtest of what this instance would see.
            settings.ownership = try config.cluster.ownership(source: config.origin.source)
        } catch {
            throw ReplayError(error.description)
        }
        let detection: DetectionSettings
        do {
            detection = try config.detectionSettings()
        } catch {
            throw ReplayError(error.description)
        }
        let templates: [TopicTemplate]
        do {
            templates = try config.topicTemplates()
        } catch {
            throw ReplayError("bad subscription template: \(error)")
        }
        let reader: RecordingReader
        do {
            reader = try RecordingReader(inputs: options.inputs, skipBad: options.skipBad)
        } catch {
            throw ReplayError(error.description)
        }
        let anomalies = try options.anomaliesPath.map { path throws(ReplayError) in try AnomalyOutput(path: path) }
        let scores: ScoreOutput?
        do {
            scores = try options.scoresPath.map { path throws(ReplayError) in try ScoreOutput(path: path, shards: settings.shards) }
        } catch {
            anomalies?.abandon()
            throw error
        }
        let observer = ReplayObserver(keepsEvents: options.anomaliesPath != nil)
        let pipeline = Pipeline(settings: settings, templates: templates, observer: observer) { shard in
            DetectionEngine(settings: detection, decoder: config.payloadDecoder(), scores: scores?.sink(shard: shard))
        }
        let router = pipeline.router
        var schedule = SweepSchedule(intervalNanos: options.sweepIntervalNanos)
        var sequence: Int64 = 0
        var first = Int64.max
        let started = WallClock.nowNanos()
        do {
            while try reader.next({ message in
                first = min(first, message.receivedAtNanos)
                schedule.advance(to: message.receivedAtNanos) { router.sweep(nowNanos: $0) }
                switch message.address {
                case .topic(let topic):
                    router.route(topic: topic, payload: message.payload, receivedAtNanos: message.receivedAtNanos, sequence: sequence)
                case .device(let device):
                    router.route(device: device, payload: message.payload, receivedAtNanos: message.receivedAtNanos, sequence: sequence)
                }
                sequence += 1
                if sequence & 4095 == 0 { routed.store(Int(sequence), ordering: .relaxed) }
            }) {}
        } catch {
            pipeline.drain()
            scores?.abandon()
            throw ReplayError(error.description)
        }
        schedule.finish { router.sweep(nowNanos: $0) }
        pipeline.drain()
        if let modelPath = options.modelPath, sequence > 0 {
            do throws(CheckpointError) {
                try pipeline.checkpoint(kind: .model).write(path: modelPath)
            } catch {
                scores?.abandon()
                throw ReplayError("cannot write the model: \(error.description)")
            }
        }
        routed.store(Int(sequence), ordering: .relaxed)
        let processed = WallClock.nowNanos()
        let seconds = Double(processed - started) / 1e9
        writing.store(true, ordering: .relaxed)
        let stats = reader.stats

        guard sequence > 0 else {
            scores?.abandon()
            var message = "no message could be read from \(options.inputs.map(\.path).joined(separator: ", "))"
            for issue in stats.flatMap(\.issues) { message += "\n  \(issue)" }
            throw ReplayError(message)
        }
        do {
            try scores?.finish()
        } catch {
            scores?.abandon()
            throw error
        }
        try anomalies?.finish(observer.sortedEvents())

        let snapshot = pipeline.snapshot()
        var summary = ReplaySummary()
        summary.inputs = stats
        summary.shards = settings.shards
        summary.messages = Int(sequence)
        summary.processed = snapshot.processed
        summary.notOwned = snapshot.notOwned
        summary.samples = snapshot.samples
        summary.devices = snapshot.devices
        summary.seconds = seconds
        summary.outputSeconds = Double(WallClock.nowNanos() - processed) / 1e9
        summary.recordingStart = first
        summary.recordingEnd = schedule.watermark ?? first
        summary.sweeps = schedule.sweeps
        summary.clockJumps = schedule.jumps
        summary.events = observer.counts()
        summary.drops = snapshot.dropped.sorted { $0.key.rawValue < $1.key.rawValue }.map { ($0.key.label, $0.value) }
        summary.scoresPath = options.scoresPath
        summary.anomaliesPath = options.anomaliesPath
        return summary
    }
}

/// The `--anomalies` file: opened (as `PATH.partial`) before the replay starts, so that a path that cannot be
/// written fails at once rather than after the whole recording; written and renamed at the end.
private final class AnomalyOutput {
    let path: String
    private var fd: Int32

    init(path: String) throws(ReplayError) {
        self.path = path
        fd = open(path + ".partial", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw ReplayError("cannot write \(path): \(String(cString: strerror(errno)))") }
    }

    deinit { abandon() }

    /// Writes one JSON line per event, closes, renames into place.
    func finish(_ lines: [String]) throws(ReplayError) {
        var failure: Int32 = 0
        var bytes: [UInt8] = []
        func flush() {
            var offset = 0
            while offset < bytes.count && failure == 0 {
                let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + offset, $0.count - offset) }
                if written < 0 {
                    if errno != EINTR { failure = errno }
                } else {
                    offset += written
                }
            }
            bytes.removeAll(keepingCapacity: true)
        }
        for line in lines {
            bytes.append(contentsOf: line.utf8)
            bytes.append(0x0A)
            if bytes.count >= 1 << 20 { flush() }
        }
        flush()
        if close(fd) != 0 && failure == 0 { failure = errno }
        fd = -1
        if failure == 0 && rename(path + ".partial", path) != 0 { failure = errno }
        if failure != 0 {
            unlink(path + ".partial")
            throw ReplayError("cannot write \(path): \(String(cString: strerror(failure)))")
        }
    }

    /// Closes and removes the partial file (a failed run); nothing once finished.
    func abandon() {
        guard fd >= 0 else { return }
        close(fd)
        fd = -1
        unlink(path + ".partial")
    }
}

/// Collects what the shards report during a replay.
final class ReplayObserver: PipelineObserver {
    private let keepsEvents: Bool
    private let events = Mutex<[AnomalyEvent]>([])
    /// (detector, state) → events.
    private let tally = Mutex<[String: (firing: Int, resolved: Int)]>([:])

    init(keepsEvents: Bool) {
        self.keepsEvents = keepsEvents
    }

    func anomaly(_ event: AnomalyEvent) {
        tally.withLock { tally in
            var counts = tally[event.detector, default: (0, 0)]
            if event.state == .firing { counts.firing += 1 } else { counts.resolved += 1 }
            tally[event.detector] = counts
        }
        if keepsEvents { events.withLock { $0.append(event) } }
    }

    func dropped(_ reason: DropReason, shard: Int, device: UnsafeRawBufferPointer, offset: Int?) {
        // Counted by the pipeline; the summary reports them by reason.
    }

    /// Events by detector: (detector, firing, resolved), by detector name.
    func counts() -> [(detector: String, firing: Int, resolved: Int)] {
        tally.withLock { tally in tally.sorted { $0.key < $1.key }.map { ($0.key, $0.value.firing, $0.value.resolved) } }
    }

    /// Every event as its JSON line, in the replay's order: detection time, device, metric, detector, state
    /// (then onset, then the line itself, so that no tie is left to chance).
    func sortedEvents() -> [String] {
        let keyed = events.withLock { events in
            events.map { event -> (AnomalyEvent, String) in
                var event = event
                event.id = event.replayID
                return (event, event.json(latencyMs: nil))
            }
        }
        return keyed.sorted { lhs, rhs in
            let (a, b) = (lhs.0, rhs.0)
            if a.detected != b.detected { return a.detected < b.detected }
            if a.device != b.device { return a.device < b.device }
            if a.metric != b.metric { return a.metric < b.metric }
            if a.detector != b.detector { return a.detector < b.detector }
            if a.state != b.state { return a.state == .firing }
            if a.onset != b.onset { return a.onset < b.onset }
            return lhs.1 < rhs.1
        }.map(\.1)
    }
}

extension AnomalyEvent {
    /// An id derived from the event (its dedup key, state and detection time) in UUID form: a replay writes
    /// the same ids every time, where a live service draws random ones.
    package var replayID: String {
        let key = "\(dedupKey)|\(state.rawValue)|\(Int64((detected * 1_000_000).rounded()))"
        let high = StableHash.hash(key)
        let low = StableHash.hash(key + "|low")
        // Version 8 (custom) and the RFC 9562 variant, so it parses as a UUID.
        let a = (high & 0xFFFF_FFFF_FFFF_0FFF) | 0x0000_0000_0000_8000
        let b = (low & 0x3FFF_FFFF_FFFF_FFFF) | 0x8000_0000_0000_0000
        func hex(_ value: UInt64, _ digits: Int) -> String {
            let text = String(value, radix: 16)
            return String(repeating: "0", count: max(0, digits - text.count)) + text
        }
        return "\(hex(a >> 32, 8))-\(hex((a >> 16) & 0xFFFF, 4))-\(hex(a & 0xFFFF, 4))-\(hex(b >> 48, 4))-\(hex(b & 0xFFFF_FFFF_FFFF, 12))"
    }
}
