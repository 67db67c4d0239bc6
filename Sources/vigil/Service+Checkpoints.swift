import Dispatch
import Foundation
import Synchronization
import VigilCore
import VigilIO
import VigilPipeline

/// Warm restarts: loads a checkpoint (or a model) into the engines at start, writes one every
/// `state.checkpoint_interval_s` and at shutdown.
final class CheckpointKeeper: Sendable {
    let path: String?
    let interval: Int
    let pipeline: Pipeline
    let logger: Logger
    /// Serialises writes (the periodic timer and the shutdown path).
    private let writing = Mutex<Int>(0)
    private let queue = DispatchQueue(label: "vigil.checkpoints", qos: .utility)
    private let stopped = Atomic<Bool>(false)

    init(config: VigilConfig, pipeline: Pipeline, logger: Logger) {
        path = config.stateDirectory.map { $0 + "/" + CheckpointFile.fileName }
        interval = config.state.checkpointIntervalSeconds
        self.pipeline = pipeline
        self.logger = logger
    }

    /// Loads the checkpoint in `state.dir`, else `model`; a file that cannot be loaded is reported, moved aside
    /// (checkpoints; a model named on the command line is left where it is) and Vigil starts cold.
    /// Returns how the start went, for the log: "warm", "model", "cold".
    func load(model: String?, detection: DetectionSettings, config: VigilConfig) -> String {
        let now = Date().timeIntervalSince1970
        for (candidate, isModel) in [(path, false), (model, true)] {
            guard let candidate else { continue }
            do {
                guard let file = try CheckpointFile.load(path: candidate) else {
                    if isModel { logger.error("model file not found; starting cold", [("path", candidate)]) }
                    continue
                }
                let counts = try pipeline.restore(file, now: now)
                logger.info(isModel ? "loaded model" : "loaded checkpoint", [
                    ("path", candidate), ("devices", String(counts.devices)), ("skipped", String(counts.skipped)),
                    ("metrics_dropped", String(counts.metricsDropped)), ("not_owned", String(counts.notOwned)),
                    ("age_s", String(format: "%.0f", max(0, now - file.created))),
                ])
                return isModel ? "model" : "warm"
            } catch {
                // Whatever part was installed goes: a cold start is a known state, a partial one is not.
                for worker in pipeline.workers {
                    worker.withEngine { $0 = DetectionEngine(settings: detection, decoder: config.payloadDecoder()) }
                }
                var fields = [("path", candidate), ("error", error.description)]
                if !isModel, let aside = CheckpointFile.moveAside(path: candidate) { fields.append(("moved_to", aside)) }
                logger.error(isModel ? "cannot load the model; starting cold" : "cannot load the checkpoint; starting cold", fields)
            }
        }
        return "cold"
    }

    /// Starts the periodic checkpoints (nothing without `state.dir`).
    func start() {
        guard path != nil else { return }
        queue.asyncAfter(deadline: .now() + .seconds(interval)) { [self] in
            guard !stopped.load(ordering: .acquiring) else { return }
            write(reason: "periodic")
            start()
        }
    }

    /// Writes a checkpoint now; returns whether it was written (true without `state.dir`: nothing to do).
    @discardableResult
    func write(reason: String) -> Bool {
        guard let path else { return true }
        return writing.withLock { count in
            let started = ContinuousClock.now
            let file = pipeline.checkpoint(kind: .checkpoint)
            do throws(CheckpointError) {
                try file.write(path: path)
                count += 1
                let elapsed = ContinuousClock.now - started
                logger.info("checkpoint written", [
                    ("reason", reason), ("devices", String(file.records.count)), ("path", path),
                    ("ms", String(format: "%.1f", Double(elapsed.components.attoseconds) / 1e15 + Double(elapsed.components.seconds) * 1000)),
                ])
                return true
            } catch {
                logger.error("checkpoint failed", [("reason", reason), ("path", path), ("error", error.description)])
                return false
            }
        }
    }

    /// Stops the periodic checkpoints and writes the final one.
    func finish() -> Bool {
        stopped.store(true, ordering: .releasing)
        return write(reason: "shutdown")
    }
}
