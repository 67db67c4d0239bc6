import Foundation

/// The C baseline (`loadtest/bench/reference.c`), compiled with `cc -O2` into a temp dir at run time and fed
/// the corpus from a file of `device<TAB>payload` lines. It reads the whole file before its clock starts.
final class CReference {
    enum Availability {
        case ready(CReference)
        /// Why there is no C figure (no `cc`, no source, a compile error).
        case unavailable(String)
    }

    struct Result {
        var messages: Int
        var samples: Int
        var seconds: Double
        var cpuSeconds: Double
        var messagesPerSecond: Double
    }

    struct Failure: Error {
        var message: String
    }

    let binary: String
    let corpusFile: String

    private init(binary: String, corpusFile: String) {
        self.binary = binary
        self.corpusFile = corpusFile
    }

    /// Compiles the reference and writes the corpus file into `directory`.
    static func prepare(corpus: Corpus, source: String, directory: String) -> Availability {
        guard let cc = findExecutable("cc") else { return .unavailable("cc not found on PATH: no C reference") }
        guard FileManager.default.fileExists(atPath: source) else { return .unavailable("\(source) not found") }
        let binary = directory + "/reference"
        progress("C reference: \(cc) -O2 \(source)")
        let compile = runProcess(cc, ["-O2", "-o", binary, source, "-lm"])
        guard compile.status == 0 else {
            return .unavailable("cc -O2 failed: \(compile.output.prefix(200))")
        }
        let file = directory + "/corpus.tsv"
        progress("C reference: writing the corpus to \(file)")
        guard writeCorpus(corpus, to: file) else { return .unavailable("could not write \(file)") }
        return .ready(CReference(binary: binary, corpusFile: file))
    }

    func run() -> Swift.Result<Result, Failure> {
        let outcome = Self.runProcess(binary, [corpusFile])
        var fields: [String: String] = [:]
        for pair in outcome.output.split(whereSeparator: { $0 == " " || $0 == "\n" }) {
            let parts = pair.split(separator: "=", maxSplits: 1)
            if parts.count == 2 { fields[String(parts[0])] = String(parts[1]) }
        }
        guard outcome.status == 0, let messages = fields["messages"].flatMap({ Int($0) }),
            let samples = fields["samples"].flatMap({ Int($0) }),
            let seconds = fields["seconds"].flatMap({ Double($0) }),
            let cpuSeconds = fields["cpu_seconds"].flatMap({ Double($0) }),
            let rate = fields["messages_per_sec"].flatMap({ Double($0) })
        else {
            return .failure(Failure(message: "exit \(outcome.status): \(outcome.output.prefix(300))"))
        }
        return .success(
            Result(
                messages: messages, samples: samples, seconds: seconds, cpuSeconds: cpuSeconds, messagesPerSecond: rate)
        )
    }

    // MARK: Helpers

    /// One `device<TAB>payload` line per message, written through a 1 MiB buffer.
    private static func writeCorpus(_ corpus: Corpus, to path: String) -> Bool {
        guard let file = fopen(path, "wb") else { return false }
        defer { fclose(file) }
        var buffer: [UInt8] = []
        buffer.reserveCapacity(1 << 20)
        var ok = true
        func flush() {
            if buffer.isEmpty { return }
            let written = buffer.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, file) }
            ok = ok && written == buffer.count
            buffer.removeAll(keepingCapacity: true)
        }
        corpus.withView { view in
            for message in 0..<corpus.messageCount {
                buffer.append(contentsOf: view.deviceID(message))
                buffer.append(UInt8(ascii: "\t"))
                buffer.append(contentsOf: view.payload(message))
                buffer.append(UInt8(ascii: "\n"))
                if buffer.count > (1 << 20) - 256 { flush() }
            }
        }
        flush()
        return ok
    }

    static func findExecutable(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for directory in path.split(separator: ":") {
            let candidate = "\(directory)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    /// Runs `executable` to completion; stdout and stderr together.
    static func runProcess(_ executable: String, _ arguments: [String]) -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        do {
            try process.run()
        } catch {
            return (-1, "\(error)")
        }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}
