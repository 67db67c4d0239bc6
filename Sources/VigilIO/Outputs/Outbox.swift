import Foundation
import Glibc
import Synchronization
import VigilCore

/// One request body waiting in an ``Outbox``.
package struct OutboxEntry: Sendable, Equatable {
    /// What the entry is about: the alert it changes (an episode's dedup key, or the alert's identity).
    package var key: String
    /// `firing` or `resolved`.
    package var state: String
    /// The request body (or the part of it that does not hold secrets).
    package var body: String
    /// When it was queued (wall clock, epoch seconds).
    package var enqueuedAt: Double
    /// The record's bytes on disk, and the file offset just past it.
    var bytes: Int = 0
    var end: Int = 0

    package init(key: String, state: String, body: String, enqueuedAt: Double) {
        self.key = key
        self.state = state
        self.body = body
        self.enqueuedAt = enqueuedAt
    }
}

/// A durable FIFO of request bodies for one output: an append-only file under `state.dir`, written and fsync'd
/// before delivery is attempted, so that a restart resumes where delivery stopped.
///
/// Implementation notes: the folder holds `queue-<generation>.log` (one JSON record a line) and `ack`
/// (`"<generation> <offset>"`: everything before the offset was delivered or dropped), overwritten in place
/// after each delivery (see ``writeAck(generation:offset:durable:)`` for what that risks). When the queue empties, or the acknowledged prefix passes half
/// the file, the live records move to the next generation's file, then `ack` names it, then the old file goes;
/// a crash between those steps leaves `ack` naming the old file and offset, which are still right. A final
/// partial line (a crash mid-append) is cut off at start.
///
/// Thread-safety: the appending queue and the delivery queue share it; all file I/O runs under its mutex
/// (events are rare; the shard workers never touch it).
package final class Outbox: Sendable {
    package let directory: String
    /// Most bytes of queued records; when an append goes past it the oldest records (not in flight) are dropped.
    package let maxBytes: Int
    private let state: Mutex<State>

    /// What a snapshot of the queue shows.
    package struct Depth: Sendable, Equatable {
        package var entries: Int
        package var bytes: Int
        /// Age in seconds of the oldest queued entry; 0 when empty.
        package var oldestAgeSeconds: Double
    }

    package struct OpenError: Error, CustomStringConvertible {
        package var description: String
    }

    private struct State: ~Copyable {
        var descriptor: Int32
        var generation: Int
        var ackOffset: Int
        var fileSize: Int
        var entries: [OutboxEntry] = []
        var head = 0
        var pendingBytes = 0
        var inFlight = false
        /// Records in the file that could not be read at start.
        var corrupt = 0

        deinit { Glibc.close(descriptor) }
    }

    /// Opens (creating if needed) the outbox in `directory`, and reads what an earlier run left in it.
    package init(directory: String, maxBytes: Int) throws(OpenError) {
        self.directory = directory
        self.maxBytes = maxBytes
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw OpenError(description: "cannot create the outbox folder \(directory): \(error.localizedDescription)")
        }
        var generation = 0
        var ackOffset = 0
        if let text = try? String(contentsOfFile: directory + "/ack", encoding: .utf8) {
            let parts = text.split(whereSeparator: \.isWhitespace).compactMap { Int($0) }
            if parts.count == 2, parts[0] >= 0, parts[1] >= 0 { (generation, ackOffset) = (parts[0], parts[1]) }
        }
        let path = Self.queuePath(directory, generation)
        let descriptor = Glibc.open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw OpenError(description: "cannot open \(path): \(String(cString: strerror(errno)))")
        }
        let contents = (try? Data(contentsOf: URL(fileURLWithPath: path))) ?? Data()
        var loaded = State(descriptor: descriptor, generation: generation, ackOffset: min(ackOffset, contents.count), fileSize: contents.count)
        // Records from the acknowledged offset on; a final line without its newline is a torn append: cut off.
        var offset = loaded.ackOffset
        let bytes = [UInt8](contents)
        while offset < bytes.count {
            guard let newline = bytes[offset...].firstIndex(of: UInt8(ascii: "\n")) else {
                ftruncate(descriptor, off_t(offset))
                loaded.fileSize = offset
                break
            }
            let line = Data(bytes[offset..<newline])
            if var entry = Self.decode(line) {
                entry.bytes = newline + 1 - offset
                entry.end = newline + 1
                loaded.pendingBytes += entry.bytes
                loaded.entries.append(entry)
            } else {
                loaded.corrupt += 1
            }
            offset = newline + 1
        }
        lseek(descriptor, off_t(loaded.fileSize), SEEK_SET)
        // Files of other generations are leftovers of an interrupted compaction.
        for file in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        where file.hasPrefix("queue-") && file != "queue-\(generation).log" {
            unlink(directory + "/" + file)
        }
        state = Mutex(loaded)
    }

    private static func queuePath(_ directory: String, _ generation: Int) -> String {
        "\(directory)/queue-\(generation).log"
    }

    private static func encode(_ entry: OutboxEntry) -> String {
        var writer = JSONWriter()
        writer.field("key", entry.key)
        writer.field("state", entry.state)
        writer.field("t", entry.enqueuedAt)
        writer.field("body", entry.body)
        return writer.finish() + "\n"
    }

    private static func decode(_ line: Data) -> OutboxEntry? {
        guard let object = try? JSONSerialization.jsonObject(with: line) as? [String: Any],
            let key = object["key"] as? String, let state = object["state"] as? String,
            let body = object["body"] as? String
        else { return nil }
        return OutboxEntry(key: key, state: state, body: body, enqueuedAt: (object["t"] as? Double) ?? 0)
    }

    /// Records found unreadable at start (skipped).
    package var corruptAtStart: Int { state.withLock { $0.corrupt } }

    /// Appends `entries` (one write and one fsync), then drops the oldest entries not in flight while the queue
    /// holds more than ``maxBytes``.
    ///
    /// - Returns: The entries dropped to make room, oldest first.
    /// - Throws: ``OpenError`` when the file cannot be written (the entries are not queued).
    package func append(_ entries: [OutboxEntry]) throws(OpenError) -> [OutboxEntry] {
        guard !entries.isEmpty else { return [] }
        return try state.withLock { (state: inout State) throws(OpenError) -> [OutboxEntry] in
            var text = ""
            var added: [OutboxEntry] = []
            var end = state.fileSize
            for var entry in entries {
                let line = Self.encode(entry)
                entry.bytes = line.utf8.count
                end += entry.bytes
                entry.end = end
                text += line
                added.append(entry)
            }
            let written = Array(text.utf8)
            guard Self.writeAll(state.descriptor, written), fsync(state.descriptor) == 0 else {
                let reason = String(cString: strerror(errno))
                // Put the file back to its last good end, so a retry does not leave a half record behind.
                ftruncate(state.descriptor, off_t(state.fileSize))
                lseek(state.descriptor, off_t(state.fileSize), SEEK_SET)
                throw OpenError(description: "cannot append to the outbox in \(directory): \(reason)")
            }
            state.fileSize = end
            state.entries.append(contentsOf: added)
            state.pendingBytes += written.count
            return enforceLimit(&state)
        }
    }

    private static func writeAll(_ descriptor: Int32, _ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let count = bytes[offset...].withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                return false
            }
            offset += count
        }
        return true
    }

    /// Drops the oldest entries (not the one in flight) while over the limit; acknowledges them on disk.
    private func enforceLimit(_ state: inout State) -> [OutboxEntry] {
        var dropped: [OutboxEntry] = []
        while state.pendingBytes > maxBytes, state.head < state.entries.count, !state.inFlight {
            dropped.append(removeHead(&state))
        }
        if !dropped.isEmpty { acknowledge(&state) }
        return dropped
    }

    private func removeHead(_ state: inout State) -> OutboxEntry {
        let entry = state.entries[state.head]
        state.head += 1
        state.pendingBytes -= entry.bytes
        state.ackOffset = entry.end
        if state.head > 64, state.head * 2 > state.entries.count {
            state.entries.removeFirst(state.head)
            state.head = 0
        }
        return entry
    }

    /// The oldest entry, now marked in flight (so the size limit will not drop it); nil when empty or when an
    /// entry is already in flight.
    package func next() -> OutboxEntry? {
        state.withLock { state in
            guard !state.inFlight, state.head < state.entries.count else { return nil }
            state.inFlight = true
            return state.entries[state.head]
        }
    }

    /// Ends the attempt on the entry from ``next()``: `remove` takes it off the queue (delivered, or rejected
    /// for good), otherwise it stays first for a retry.
    ///
    /// - Returns: Entries dropped to get back under the size limit (which waited for this attempt).
    @discardableResult
    package func finish(remove: Bool) -> [OutboxEntry] {
        state.withLock { state in
            state.inFlight = false
            if remove, state.head < state.entries.count {
                _ = removeHead(&state)
                acknowledge(&state)
            }
            return enforceLimit(&state)
        }
    }

    /// Entries queued, their bytes, and the age of the oldest.
    package func depth(now: Double = Date().timeIntervalSince1970) -> Depth {
        state.withLock { state in
            let count = state.entries.count - state.head
            let oldest = count > 0 ? max(0, now - state.entries[state.head].enqueuedAt) : 0
            return Depth(entries: count, bytes: state.pendingBytes, oldestAgeSeconds: oldest)
        }
    }

    /// Persists the acknowledged offset; compacts into a new generation when the queue is empty or mostly done.
    private func acknowledge(_ state: inout State) {
        let live = state.entries.count - state.head
        let compact = (live == 0 && state.fileSize > 0) || (state.ackOffset > 1 << 20 && state.ackOffset * 2 > state.fileSize)
        guard compact else {
            writeAck(generation: state.generation, offset: state.ackOffset)
            return
        }
        let generation = state.generation + 1
        let path = Self.queuePath(directory, generation)
        let descriptor = Glibc.open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            writeAck(generation: state.generation, offset: state.ackOffset)
            return
        }
        var text = ""
        var end = 0
        var moved: [OutboxEntry] = []
        for var entry in state.entries[state.head...] {
            let line = Self.encode(entry)
            end += line.utf8.count
            entry.end = end
            text += line
            moved.append(entry)
        }
        guard Self.writeAll(descriptor, Array(text.utf8)), fsync(descriptor) == 0 else {
            Glibc.close(descriptor)
            unlink(path)
            writeAck(generation: state.generation, offset: state.ackOffset)
            return
        }
        writeAck(generation: generation, offset: 0, durable: true)
        unlink(Self.queuePath(directory, state.generation))
        Glibc.close(state.descriptor)
        state.descriptor = descriptor
        state.generation = generation
        state.ackOffset = 0
        state.fileSize = end
        state.entries = moved
        state.head = 0
    }

    /// Records the acknowledged offset. Within a generation it is overwritten in place without an fsync: a
    /// process crash keeps it (the page cache survives), and only a power loss can lose the latest ones, which
    /// then means entries delivered again (same webhook-id and dedup key) rather than lost. A new generation is
    /// written to a temporary file, fsync'd and renamed, and the folder fsync'd, because the old file goes next.
    private func writeAck(generation: Int, offset: Int, durable: Bool = false) {
        // Fixed width, so an in-place overwrite never leaves a longer old record's tail behind.
        let text = "\(generation) \(offset)".padding(toLength: 40, withPad: " ", startingAt: 0) + "\n"
        let path = directory + "/ack"
        guard durable else {
            let descriptor = Glibc.open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0o600)
            guard descriptor >= 0 else { return }
            _ = Array(text.utf8).withUnsafeBytes { pwrite(descriptor, $0.baseAddress, $0.count, 0) }
            Glibc.close(descriptor)
            return
        }
        let temporary = directory + "/ack.tmp"
        let descriptor = Glibc.open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { return }
        _ = Self.writeAll(descriptor, Array(text.utf8))
        fsync(descriptor)
        Glibc.close(descriptor)
        rename(temporary, path)
        let folder = Glibc.open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if folder >= 0 {
            fsync(folder)
            Glibc.close(folder)
        }
    }
}
