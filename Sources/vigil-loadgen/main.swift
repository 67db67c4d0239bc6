import Foundation
import VigilIO

// vigil-loadgen: a simulated fleet publishing telemetry to a broker with injected anomalies whose ground truth
// it knows (Fleet.swift), and `report`, which joins a run's events with that truth (LoadReport.swift).

do {
    var arguments = Array(CommandLine.arguments.dropFirst())
    if arguments.first == "report" {
        arguments.removeFirst()
        exit(try LoadReport.main(arguments))
    }
    if arguments.first == "trace" {
        arguments.removeFirst()
        exit(try writeTrace(arguments))
    }
    let options = try LoadgenOptions(arguments)
    exit(try runFleet(options))
} catch let error as UsageError {
    FileHandle.standardError.write(Data("vigil-loadgen: \(error.message)\n\n\(help)\n".utf8))
    exit(64)
} catch let error as ConfigError {
    FileHandle.standardError.write(Data("vigil-loadgen: \(error.description)\n".utf8))
    exit(1)
} catch {
    FileHandle.standardError.write(Data("vigil-loadgen: \(error)\n".utf8))
    exit(1)
}
