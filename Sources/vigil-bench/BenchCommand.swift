import Foundation

/// `vigil-bench`: parses the command line, runs the chosen benchmarks, prints the table, writes the JSON.
enum BenchCommand {
    /// sysexits.h: EX_USAGE for a command line that cannot be understood.
    static let usageError: Int32 = 64

    static func run(_ arguments: [String]) -> Int32 {
        let parsed = BenchOptions.parse(arguments)
        guard let options = parsed.options else {
            if let message = parsed.message {
                FileHandle.standardError.write(Data("vigil-bench: \(message)\n\n\(BenchOptions.help)\n".utf8))
                return usageError
            }
            print(BenchOptions.help)
            return 0
        }
        let root = repositoryRoot()
        let report = Report(environment: environment(arguments: arguments))
        if buildKind != "release" {
            progress("WARNING: built without optimisation; the figures mean nothing (the hot path even allocates)")
        }

        // Before the corpus exists, so that the RSS figures are the engine's.
        if options.modes.contains(.memory) { MemoryBench.run(options: options, report: report) }

        var corpus: Corpus?
        if !options.modes.isDisjoint(with: [.decode, .ring, .replay]) {
            progress(
                "corpus: generating \(Report.grouped(options.messages)) messages for \(Report.grouped(options.devices)) devices (seed \(options.seed))"
            )
            var generated: Corpus!
            let seconds = Measure.time {
                generated = Corpus(devices: options.devices, messages: options.messages, seed: options.seed)
            }
            corpus = generated
            let example = generated.withView { String(decoding: $0.payload(0), as: UTF8.self) }
            report.corpus = Report.CorpusInfo(
                messages: generated.messageCount, devices: generated.deviceCount,
                metricsPerMessage: Corpus.metricsPerMessage,
                meanPayloadBytes: Double(generated.payloadBytes) / Double(generated.messageCount), seed: options.seed,
                example: example
            )
            progress("corpus: ready in \(String(format: "%.1f", seconds)) s, e.g. \(example)")
        }

        if options.modes.contains(.decode), let corpus {
            DecodeBench.run(corpus: corpus, options: options, report: report)
        }
        if options.modes.contains(.ring), let corpus { RingBench.run(corpus: corpus, options: options, report: report) }
        if options.modes.contains(.replay), let corpus {
            let directory = makeTemporaryDirectory()
            defer { if let directory { try? FileManager.default.removeItem(atPath: directory) } }
            let reference: CReference.Availability =
                if let directory {
                    CReference.prepare(
                        corpus: corpus, source: root + "/loadtest/bench/reference.c", directory: directory)
                } else {
                    .unavailable("could not create a temp directory")
                }
            if case .unavailable(let reason) = reference { progress("C reference unavailable: \(reason)") }
            ReplayBench.run(corpus: corpus, options: options, report: report, reference: reference)
        }
        if options.modes.contains(.alloc) { AllocBench.run(options: options, report: report) }
        if !options.modes.isDisjoint(with: [.e2e, .latency]) {
            let directory = makeTemporaryDirectory()
            defer { if let directory { try? FileManager.default.removeItem(atPath: directory) } }
            switch directory.map({ E2EBench.Peer.prepare(root: root, directory: $0) }) {
            case .success(let peer):
                var ceiling: Double?
                if options.modes.contains(.e2e) {
                    ceiling = E2EBench.run(peer: peer, options: options, report: report, root: root)
                }
                if options.modes.contains(.latency) {
                    E2EBench.latency(peer: peer, ceiling: ceiling, options: options, report: report, root: root)
                }
            case .failure(let failure): report.fail("e2e: \(failure.message)")
            case nil: report.fail("e2e: could not create a temp directory")
            }
        }
        if options.modes.contains(.quality) { QualityBench.run(options: options, report: report) }

        report.environment.loadEnd = loadAverage()
        print(report.table())
        let output = options.output ?? root + "/loadtest/out/bench.json"
        do {
            try FileManager.default.createDirectory(
                atPath: (output as NSString).deletingLastPathComponent, withIntermediateDirectories: true
            )
            try report.json().write(to: URL(fileURLWithPath: output))
            print("\nwritten to \(output)")
        } catch {
            FileHandle.standardError.write(Data("vigil-bench: cannot write \(output): \(error)\n".utf8))
            return 1
        }
        return report.failures.isEmpty ? 0 : 1
    }

    // MARK: Environment

    /// The repository: the first directory up from the current one with Package.swift and loadtest/bench,
    /// else the one this file was compiled from.
    static func repositoryRoot() -> String {
        let fileManager = FileManager.default
        var directory = URL(fileURLWithPath: fileManager.currentDirectoryPath)
        while directory.path != "/" {
            if fileManager.fileExists(atPath: directory.path + "/Package.swift"),
                fileManager.fileExists(atPath: directory.path + "/loadtest/bench")
            {
                return directory.path
            }
            directory.deleteLastPathComponent()
        }
        // Sources/vigil-bench/BenchCommand.swift -> the package root.
        return URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().path
    }

    static func environment(arguments: [String]) -> Report.Environment {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        var cpu = "unknown CPU"
        if let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
            let line = text.split(separator: "\n").first(where: { $0.hasPrefix("model name") }),
            let colon = line.firstIndex(of: ":")
        {
            cpu = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        return Report.Environment(
            date: formatter.string(from: Date()), cpu: cpu, cores: ProcessInfo.processInfo.activeProcessorCount,
            swift: swiftVersion(), commit: gitCommit(), build: buildKind, arguments: arguments,
            loadStart: loadAverage(), loadEnd: nil
        )
    }

    #if DEBUG
        static let buildKind = "debug"
    #else
        static let buildKind = "release"
    #endif

    /// The 1-minute load average (runnable threads, ours included).
    static func loadAverage() -> Double? {
        guard let text = try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8) else { return nil }
        return text.split(separator: " ").first.flatMap { Double($0) }
    }

    /// `swift --version`'s first line, from the toolchain on PATH (the one `make bench` builds with).
    static func swiftVersion() -> String {
        if let swift = CReference.findExecutable("swift") {
            let outcome = CReference.runProcess(swift, ["--version"])
            if outcome.status == 0,
                let line = outcome.output.split(separator: "\n").first(where: { $0.contains("Swift version") })
            {
                return line.trimmingCharacters(in: .whitespaces)
            }
        }
        #if compiler(>=6.3)
        return "Swift 6.3 or later (swift not on PATH)"
        #else
        return "Swift before 6.3 (swift not on PATH)"
        #endif
    }

    static func gitCommit() -> String? {
        guard let git = CReference.findExecutable("git") else { return nil }
        let root = repositoryRoot()
        let outcome = CReference.runProcess(git, ["-C", root, "rev-parse", "--short", "HEAD"])
        guard outcome.status == 0 else { return nil }
        let commit = outcome.output.trimmingCharacters(in: .whitespacesAndNewlines)
        let dirty = CReference.runProcess(git, ["-C", root, "status", "--porcelain", "--untracked-files=no"])
        return dirty.status == 0 && !dirty.output.isEmpty ? commit + "+dirty" : commit
    }

    static func makeTemporaryDirectory() -> String? {
        let path = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("vigil-bench.XXXXXX").path
        var template = Array(path.utf8CString)
        guard let result = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else { return nil }
        return String(cString: result)
    }
}
