import Foundation
import VigilIO

/// `vigil train --config PATH --output FILE RECORDING...`: baselines learned offline, written as a model.
struct TrainCommand {
    static let flags = [
        Flag(name: "--config", valueName: "PATH", required: true),
        Flag(name: "--output", valueName: "FILE", required: true),
        Flag(name: "--device", valueName: "NAME", required: false),
    ]
    static let help = """
        USAGE: vigil train --config PATH --output FILE [--device NAME] RECORDING...

        Replays the recordings (the inputs of `vigil replay`: JSONL or CSV) through the configured profiles, as
        fast as the workers go, and writes every device's learned baselines to FILE in the checkpoint format
        (docs/reliability.md), atomically. `vigil run --model FILE` starts from it when state.dir holds no
        checkpoint, so a new deployment starts warm. Open episodes are not carried into the model.

        FLAGS:
          --config PATH   The configuration whose subscriptions and profiles `vigil run` will use.
          --output FILE   The model to write, such as models/site-a.vigilmodel.
          --device NAME   The device of CSV inputs (default: each file's name without .csv).

        EXIT STATUS: 0 written, 1 a configuration, input or output error, 64 bad command line.
        """

    var options: Options

    func run() -> Int32 {
        guard !options.positionals.isEmpty else {
            printError("vigil train: give at least one RECORDING\n\n\(Self.help)")
            return VigilCommand.usageError
        }
        let config: VigilConfig
        do {
            config = try VigilConfig.load(path: options["--config"]!)
        } catch {
            printError(error.description)
            return 1
        }
        let output = options["--output"]!
        var replayOptions = ReplayOptions(
            config: config, inputs: options.positionals.map { RecordingInput(path: $0, device: options["--device"]) },
            cores: ProcessInfo.processInfo.activeProcessorCount
        )
        replayOptions.modelPath = output
        do {
            let summary = try OfflineReplay(options: replayOptions).run()
            print("vigil train: \(summary.messages) messages, \(summary.devices) devices -> \(output)")
            return 0
        } catch {
            printError("vigil train: \(error.description)")
            return 1
        }
    }
}
