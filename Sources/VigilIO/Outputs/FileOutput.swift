import Dispatch
import Foundation
import Glibc
import Synchronization

/// The `file` output: events as JSON lines appended to a file, fsync'd per batch, rotated by size
/// (`PATH` → `PATH.1` → … → `PATH.<keep>`). Writes run on its own queue.
package final class FileOutput: Sendable {
    package let path: String
    private let maxBytes: Int
    private let keep: Int
    private let logger: Logger
    let counters = OutputCounters()
    private let queue = DispatchQueue(label: "vigil.output.file")
    /// Lines waiting for the writer, and the open file (touched only on `queue`, kept here to be Sendable).
    private let pending = Mutex<[String]>([])
    private let file = Mutex<(descriptor: Int32, size: Int)>((-1, 0))

    package struct OpenError: Error, CustomStringConvertible {
        package var description: String
    }

    /// Opens `path` for appending (creating it and its folder).
    package init(path: String, maxBytes: Int, keep: Int, logger: Logger) throws(OpenError) {
        self.path = path
        self.maxBytes = maxBytes
        self.keep = keep
        self.logger = logger
        let folder = (path as NSString).deletingLastPathComponent
        if !folder.isEmpty { try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true) }
        let descriptor = Self.open(path)
        guard descriptor >= 0 else {
            throw OpenError(description: "cannot open the events file \(path): \(String(cString: strerror(errno)))")
        }
        var info = stat()
        fstat(descriptor, &info)
        file.withLock { $0 = (descriptor, Int(info.st_size)) }
    }

    deinit { file.withLock { if $0.descriptor >= 0 { Glibc.close($0.descriptor) } } }

    private static func open(_ path: String) -> Int32 {
        Glibc.open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
    }

    /// Queues one line; the writer appends everything queued with one write and one fsync.
    package func write(_ line: String) {
        let first = pending.withLock { lines -> Bool in
            lines.append(line)
            return lines.count == 1
        }
        if first { queue.async { self.flush() } }
    }

    private func flush() {
        let lines = pending.withLock { lines -> [String] in
            defer { lines.removeAll() }
            return lines
        }
        guard !lines.isEmpty else { return }
        file.withLock { file in
            var written = 0
            for line in lines {
                let bytes = Array((line + "\n").utf8)
                if file.size > 0, file.size + bytes.count > maxBytes {
                    sync(&file, lines: written)
                    written = 0
                    rotate(&file)
                }
                guard file.descriptor >= 0, Self.writeAll(file.descriptor, bytes) else {
                    counters.failed.add(1, ordering: .relaxed)
                    logger.error("could not write an anomaly event to the file", [("path", path), ("error", String(cString: strerror(errno)))], limitKey: "file_output")
                    continue
                }
                file.size += bytes.count
                written += 1
            }
            sync(&file, lines: written)
        }
    }

    /// One fsync for the lines written since the last; counts them delivered once they are on disk.
    private func sync(_ file: inout (descriptor: Int32, size: Int), lines: Int) {
        guard lines > 0 else { return }
        if fsync(file.descriptor) == 0 {
            counters.delivered.add(lines, ordering: .relaxed)
        } else {
            counters.failed.add(lines, ordering: .relaxed)
            logger.error("could not fsync the events file", [("path", path), ("error", String(cString: strerror(errno)))], limitKey: "file_output")
        }
    }

    private static func writeAll(_ descriptor: Int32, _ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let count = bytes[offset...].withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
            if count < 0, errno == EINTR { continue }
            guard count > 0 else { return false }
            offset += count
        }
        return true
    }

    private func rotate(_ file: inout (descriptor: Int32, size: Int)) {
        Glibc.close(file.descriptor)
        if keep == 0 {
            unlink(path)
        } else {
            for index in stride(from: keep - 1, through: 1, by: -1) { rename("\(path).\(index)", "\(path).\(index + 1)") }
            rename(path, "\(path).1")
        }
        file = (Self.open(path), 0)
    }

    /// Waits for queued lines to be written.
    package func stop() {
        queue.sync { flush() }
    }

    package func snapshot() -> OutputSnapshot {
        OutputSnapshot(
            name: "file", delivered: counters.delivered.load(ordering: .relaxed),
            retried: counters.retried.load(ordering: .relaxed), failed: counters.failed.load(ordering: .relaxed),
            dropped: counters.dropped.load(ordering: .relaxed), outboxEntries: 0, outboxBytes: 0, outboxOldestAgeSeconds: 0
        )
    }
}
