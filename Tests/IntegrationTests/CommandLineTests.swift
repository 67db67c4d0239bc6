import Foundation
import Testing
import TestSupport

/// The built `vigil` binary's commands, flags and exit codes.
@Suite struct CommandLineTests {
    @Test func versionAndHelp() throws {
        let version = try ChildProcess.run(product: "vigil", arguments: ["version"])
        #expect(version.status == 0)
        #expect(version.output.hasPrefix("vigil 0."))
        let help = try ChildProcess.run(product: "vigil", arguments: ["--help"])
        #expect(help.status == 0)
        for command in ["run", "replay", "check-config", "version"] { #expect(help.output.contains(command)) }
        let runHelp = try ChildProcess.run(product: "vigil", arguments: ["run", "--help"])
        #expect(runHelp.status == 0)
        #expect(runHelp.output.contains("--config PATH"))
        #expect(runHelp.output.contains("--log-level"))
    }

    @Test(arguments: [
        ["frobnicate"],
        [],
        ["run"],
        ["run", "--config"],
        ["check-config", "--bogus", "x"],
    ])
    func usageErrorsExit64(arguments: [String]) throws {
        let result = try ChildProcess.run(product: "vigil", arguments: arguments)
        #expect(result.status == 64, "\(result.output)")
    }

    @Test func checkConfigReportsEveryProblemWithItsLine() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-cc-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let bad = directory.appendingPathComponent("bad.yaml")
        try """
            broker:
              port: "1883"
              colour: blue
            subscriptions:
              - filter: "devices/+/telemetry"
                device: "devices/telemetry"
            """.write(to: bad, atomically: true, encoding: .utf8)
        let result = try ChildProcess.run(product: "vigil", arguments: ["check-config", "--config", bad.path])
        #expect(result.status == 1)
        #expect(result.output.contains("bad.yaml:2: broker.port:"), "\(result.output)")
        #expect(result.output.contains("bad.yaml:3: broker.colour:"), "\(result.output)")
        #expect(result.output.contains("bad.yaml:6: subscriptions[0].device:"), "\(result.output)")

        let good = directory.appendingPathComponent("good.yaml")
        try """
            subscriptions:
              - filter: "devices/+/telemetry"
                device: "devices/{device}/telemetry"
            """.write(to: good, atomically: true, encoding: .utf8)
        let ok = try ChildProcess.run(product: "vigil", arguments: ["check-config", "--config", good.path])
        #expect(ok.status == 0, "\(ok.output)")

        // A config error never starts a half-configured service: `run` exits 1 before connecting anywhere.
        let run = try ChildProcess.run(product: "vigil", arguments: ["run", "--config", bad.path])
        #expect(run.status == 1)
        #expect(!run.output.contains("starting"))
    }

    @Test func checkConfigChecksTheProfilesAndRunStopsOnTheirProblems() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-cc-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory.appendingPathComponent("models"), withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let config = directory.appendingPathComponent("vigil.yaml")
        try """
            subscriptions:
              - filter: "rooms/+"
                device: "rooms/{device}"
                profile: lab
              - filter: "meters/+"
                device: "meters/{device}"
            """.write(to: config, atomically: true, encoding: .utf8)

        // A missing profile is named by its subscription's key and line.
        let missing = try ChildProcess.run(product: "vigil", arguments: ["check-config", "--config", config.path])
        #expect(missing.status == 1)
        #expect(missing.output.contains("vigil.yaml:4: subscriptions[0].profile: no profile \"lab\""), "\(missing.output)")

        // A profile's own problems are reported on its file, with their lines.
        let lab = directory.appendingPathComponent("models/lab.yaml")
        try "threshold: 0.9999\ndetectors:\n  rate: {window_s: 0}\n  flatlin: {}\n".write(to: lab, atomically: true, encoding: .utf8)
        let bad = try ChildProcess.run(product: "vigil", arguments: ["check-config", "--config", config.path])
        #expect(bad.status == 1)
        #expect(bad.output.contains("lab.yaml:3: detectors.rate.window_s: must be greater than 0"), "\(bad.output)")
        #expect(bad.output.contains("lab.yaml:4: detectors.flatlin: unknown key; did you mean `flatline`?"), "\(bad.output)")
        // `run` stops on it before connecting anywhere.
        let run = try ChildProcess.run(product: "vigil", arguments: ["run", "--config", config.path])
        #expect(run.status == 1)
        #expect(run.output.contains("lab.yaml:3:"), "\(run.output)")
        #expect(!run.output.contains("starting"))

        try "threshold: 0.9999\n".write(to: lab, atomically: true, encoding: .utf8)
        let good = try ChildProcess.run(product: "vigil", arguments: ["check-config", "--config", config.path])
        #expect(good.status == 0, "\(good.output)")
        #expect(good.output.contains("profile(s) lab, default"), "\(good.output)")
    }

    @Test func theExampleConfigIsValid() throws {
        let example = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("config.yaml.example")
        let result = try ChildProcess.run(product: "vigil", arguments: ["check-config", "--config", example.path])
        #expect(result.status == 0, "\(result.output)")
    }
}
