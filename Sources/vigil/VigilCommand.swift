import Foundation
import VigilIO

/// `vigil COMMAND [FLAGS]`: picks the command, parses its flags, and returns the process exit code.
enum VigilCommand {
    /// sysexits.h: EX_USAGE for a command line that cannot be understood.
    static let usageError: Int32 = 64

    static let overview = """
        vigil \(BuildInfo.version): watches IoT telemetry on an MQTT broker and raises anomalies as they happen.

        USAGE: vigil COMMAND [FLAGS]

        COMMANDS:
          run            Subscribe to the configured broker, score every message, publish anomaly events.
          record         Subscribe as configured and write what arrives as a JSONL recording (.gz: gzip).
          replay         Run recordings (JSONL or CSV) through the pipeline offline (a backtest with scores and
                         events), or publish them into a broker at their recorded pace (--broker).
          train          Learn baselines from recordings offline and write them as a model for `run --model`.
          reshard        Split a cluster's checkpoints for a new number of instances (cluster.mode: hash).
          check-config   Validate a configuration file; exit 0 when valid, 1 with every problem otherwise.
          version        Print the version.

        Run 'vigil COMMAND --help' for a command's flags.
        """

    static func run(_ arguments: [String]) -> Int32 {
        guard let command = arguments.first else {
            printError(overview)
            return usageError
        }
        let rest = Array(arguments.dropFirst())
        switch command {
        case "-h", "--help", "help":
            print(overview)
            return 0
        case "version", "--version":
            print("vigil \(BuildInfo.version)")
            return 0
        case "run":
            return parse(rest, help: RunCommand.help, flags: RunCommand.flags).map { RunCommand(options: $0).run() } ?? usageError
        case "replay":
            return parse(rest, help: ReplayCommand.help, flags: ReplayCommand.flags, positionals: true).map { ReplayCommand(options: $0).run() } ?? usageError
        case "record":
            return parse(rest, help: RecordCommand.help, flags: RecordCommand.flags).map { RecordCommand(options: $0).run() } ?? usageError
        case "train":
            return parse(rest, help: TrainCommand.help, flags: TrainCommand.flags, positionals: true).map { TrainCommand(options: $0).run() } ?? usageError
        case "reshard":
            return parse(rest, help: ReshardCommand.help, flags: ReshardCommand.flags, positionals: true).map { ReshardCommand(options: $0).run() } ?? usageError
        case "check-config":
            return parse(rest, help: CheckConfigCommand.help, flags: CheckConfigCommand.flags).map { CheckConfigCommand(options: $0).run() } ?? usageError
        default:
            printError("vigil: unknown command '\(command)'\n\n\(overview)")
            return usageError
        }
    }

    /// Parses `--flag VALUE` / `--flag=VALUE` pairs and switches (`--offline`); prints help and exits 0 for
    /// `--help`; nil on a usage error (already reported).
    ///
    /// - Parameter positionals: whether the command takes other arguments (input files): anything not starting
    ///   with `--`, a lone `-`, and everything after `--`.
    static func parse(_ arguments: [String], help: String, flags: [Flag], positionals: Bool = false) -> Options? {
        var options = Options()
        var index = 0
        var flagsEnded = false
        while index < arguments.count {
            let argument = arguments[index]
            if positionals && (flagsEnded || argument == "-" || !argument.hasPrefix("-")) {
                options.positionals.append(argument)
                index += 1
                continue
            }
            if positionals && argument == "--" {
                flagsEnded = true
                index += 1
                continue
            }
            if argument == "--help" || argument == "-h" {
                print(help)
                exit(0)
            }
            var name = argument
            var value: String? = nil
            if let equals = argument.firstIndex(of: "="), argument.hasPrefix("--") {
                name = String(argument[..<equals])
                value = String(argument[argument.index(after: equals)...])
            }
            guard let flag = flags.first(where: { $0.name == name }) else {
                printError("vigil: unknown flag '\(argument)'\n\n\(help)")
                return nil
            }
            if !flag.takesValue {
                guard value == nil else {
                    printError("vigil: \(flag.name) takes no value")
                    return nil
                }
                value = "true"
            } else if value == nil {
                index += 1
                guard index < arguments.count else {
                    printError("vigil: \(flag.name) needs a value (\(flag.valueName))")
                    return nil
                }
                value = arguments[index]
            }
            options.values[flag.name] = value
            index += 1
        }
        for flag in flags where flag.required && options.values[flag.name] == nil {
            printError("vigil: \(flag.name) \(flag.valueName) is required\n\n\(help)")
            return nil
        }
        return options
    }
}

struct Flag {
    var name: String
    var valueName: String
    var required: Bool
    /// False for a switch such as `--offline` (present or not).
    var takesValue = true
}

struct Options {
    var values: [String: String] = [:]
    /// Arguments that are not flags, in order (for commands that take them).
    var positionals: [String] = []
    subscript(_ name: String) -> String? { values[name] }
}

func printError(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}
