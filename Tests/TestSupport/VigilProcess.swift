package import Foundation

/// The built `vigil` binary (or another product) run as a child process, its stderr captured line by line.
package final class ChildProcess: @unchecked Sendable {
    // @unchecked: `process` and `pipe` are set in init and only read after; captured output is an Awaitable.
    private let process = Process()
    private let pipe = Pipe()
    /// Everything the child wrote to stderr (and stdout) so far.
    package let output = Awaitable<String>("")
    /// Set when the output pipe reaches end-of-file (the child and all its children closed it).
    private let outputEnded = Awaitable<Bool>(false)

    package struct Failure: Error, CustomStringConvertible {
        package var description: String
    }

    /// The folder that holds the built products (next to the test bundle).
    package static func productsDirectory() throws -> URL {
        var candidates = [URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()]
        for bundle in Bundle.allBundles where bundle.bundlePath.hasSuffix(".xctest") {
            candidates.append(bundle.bundleURL.deletingLastPathComponent())
        }
        candidates.append(Bundle.main.bundleURL)
        for candidate in candidates {
            var directory = candidate
            for _ in 0..<4 {
                if FileManager.default.isExecutableFile(atPath: directory.appendingPathComponent("vigil").path) { return directory }
                directory = directory.deletingLastPathComponent()
            }
        }
        throw Failure(description: "cannot find the built vigil binary near \(candidates.map(\.path))")
    }

    /// Starts `product` (a binary in the products folder) with `arguments`.
    package init(product: String, arguments: [String]) throws {
        process.executableURL = try Self.productsDirectory().appendingPathComponent(product)
        process.arguments = arguments
        process.standardError = pipe
        process.standardOutput = pipe
        let output = self.output
        let outputEnded = self.outputEnded
        pipe.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            guard !data.isEmpty else {
                handle.readabilityHandler = nil
                outputEnded.update { $0 = true }
                return
            }
            output.update { $0 += String(decoding: data, as: UTF8.self) }
        }
        try process.run()
    }

    deinit {
        if process.isRunning {
            process.interrupt()
            kill(process.processIdentifier, SIGKILL)
        }
    }

    package var isRunning: Bool { process.isRunning }

    /// Waits until the output contains `text` (true), or `timeout` passes (false).
    package func waitForOutput(containing text: String, timeout: Double = 15) -> Bool {
        output.wait(timeout: timeout) { $0.contains(text) }.satisfied
    }

    /// The port of `vigil run`'s metrics endpoint, from its "serving metrics" log line (for `listen: ...:0`).
    package func metricsPort(timeout: Double = 15) -> Int? {
        let (log, served) = output.wait(timeout: timeout) { $0.contains("serving metrics listen=http://") }
        guard served, let range = log.range(of: "serving metrics listen=http://[^ ]*:[0-9]+/", options: .regularExpression) else { return nil }
        return Int(log[range].dropLast().split(separator: ":").last ?? "")
    }

    package func signal(_ number: Int32) {
        kill(process.processIdentifier, number)
    }

    /// Waits for the process to exit; returns its status, or nil after `timeout` seconds.
    package func waitForExit(timeout: Double = 15) -> Int32? {
        let exited = DispatchSemaphore(value: 0)
        let process = self.process
        DispatchQueue.global().async {
            process.waitUntilExit()
            exited.signal()
        }
        guard exited.wait(timeout: .now() + timeout) == .success else { return nil }
        // The pipe may still hold the tail of the output (the last log lines): wait for its end-of-file, so
        // that `output` is complete when this returns.
        _ = outputEnded.wait(timeout: 5) { $0 }
        return process.terminationStatus
    }

    /// Runs `product` to completion and returns (status, combined output).
    package static func run(product: String, arguments: [String], timeout: Double = 30) throws -> (status: Int32, output: String) {
        let child = try ChildProcess(product: product, arguments: arguments)
        guard let status = child.waitForExit(timeout: timeout) else {
            child.signal(SIGKILL)
            throw Failure(description: "\(product) \(arguments) did not exit within \(timeout) s")
        }
        // The pipe may still hold the tail of the output: wait for its end-of-file.
        _ = child.output.wait(timeout: 2) { _ in child.pipe.fileHandleForReading.readabilityHandler == nil }
        return (status, child.output.current)
    }
}
