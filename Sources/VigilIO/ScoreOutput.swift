#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization
package import VigilCore

/// Writes a backtest's scores: CSV `event_time_ms,device,metric,value,score,firing`, one row per sample (a
/// message's metric), in input order whatever the shard count.
///
/// Each shard worker gets a sink (``sink(shard:)``) that formats its rows on its own thread. A shard sees its
/// messages in input order, so its rows are already in order; only the shards need merging. With one shard
/// the rows go straight to the file. With several, each shard writes `[sequence][length][row]` records to a
/// temporary file beside the output, and ``finish()`` merges them by sequence number (a k-way merge: one
/// buffered record per shard in memory, whatever the input's size). A message's rows all come from one shard,
/// consecutively, so they stay together and in the order the engine gave them.
///
/// The output is written to `PATH.partial` and renamed to `PATH` when complete; temporary files are removed.
package final class ScoreOutput: Sendable {
    package static let header = "event_time_ms,device,metric,value,score,firing\n"

    package let path: String
    private let shardFiles: [ShardFile]
    private let merged: Bool

    /// - Parameter shards: how many sinks there will be.
    package init(path: String, shards: Int) throws(ReplayError) {
        precondition(shards >= 1)
        self.path = path
        self.merged = shards > 1
        var files: [ShardFile] = []
        do {
            if shards == 1 {
                let file = try ShardFile(path: path + ".partial", tagged: false)
                file.write(Array(Self.header.utf8))
                files.append(file)
            } else {
                for shard in 0..<shards { files.append(try ShardFile(path: "\(path).shard-\(shard).partial", tagged: true)) }
            }
        } catch {
            for file in files { file.remove() }
            throw error
        }
        shardFiles = files
    }

    /// The score sink of shard `shard`'s engine (called on that shard's worker thread only).
    package func sink(shard: Int) -> ScoreSink {
        let file = shardFiles[shard]
        return { sample in file.append(sample) }
    }

    /// Flushes every shard, merges them in input order into `path`. Call after the pipeline has drained.
    package func finish() throws(ReplayError) {
        defer { if merged { for file in shardFiles { file.remove() } } }
        for file in shardFiles { try file.close() }
        let partial = path + ".partial"
        if merged {
            try Self.merge(shardFiles.map(\.path), into: partial, path: path)
        }
        guard rename(partial, path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(partial)
            throw ReplayError("cannot write \(path): \(reason)")
        }
    }

    /// Removes every file this output made (after a failed run).
    package func abandon() {
        for file in shardFiles {
            try? file.close()
            file.remove()
        }
        if merged { unlink(path + ".partial") }
    }

    /// The k-way merge: repeatedly copies the row with the lowest sequence among the shards' next rows.
    private static func merge(_ inputs: [String], into output: String, path: String) throws(ReplayError) {
        var readers: [TaggedReader] = []
        for input in inputs {
            guard let reader = TaggedReader(path: input) else {
                throw ReplayError("cannot read back \(input): \(String(cString: strerror(errno)))")
            }
            readers.append(reader)
        }
        let out = try ShardFile(path: output, tagged: false)
        out.write(Array(header.utf8))
        var heads: [Int64?] = []
        for shard in readers.indices { heads.append(readers[shard].next()) }
        while true {
            var best = -1
            for (shard, head) in heads.enumerated() {
                guard let head else { continue }
                if best < 0 || head < heads[best]! { best = shard }
            }
            guard best >= 0 else { break }
            let sequence = heads[best]!
            // Every row of this message, then on to the next message.
            repeat {
                readers[best].withRow { out.write($0) }
                heads[best] = readers[best].next()
            } while heads[best] == sequence
        }
        for reader in readers where reader.failed {
            throw ReplayError("cannot read back the scores of a shard (\(path)): \(String(cString: strerror(reader.errorNumber)))")
        }
        try out.close()
    }
}

/// A backtest's output failed (a file that cannot be written), or its input held nothing.
package struct ReplayError: Error, Sendable, CustomStringConvertible {
    package var description: String

    package init(_ description: String) {
        self.description = description
    }
}

/// One shard's score file: rows formatted and buffered on the shard's thread, written in 1 MiB chunks.
private final class ShardFile: Sendable {
    let path: String
    private let tagged: Bool
    /// The worker appends under the lock, once per sample, never contended (one writer); `close` runs after
    /// the pipeline drained.
    private let state: Mutex<State>

    struct State {
        var fd: Int32
        var buffer: [UInt8] = []
        var errorNumber: Int32 = 0

        mutating func flush() {
            var offset = 0
            while offset < buffer.count && errorNumber == 0 {
                let written = buffer.withUnsafeBytes { systemWrite(fd, $0.baseAddress! + offset, $0.count - offset) }
                if written < 0 {
                    if errno != EINTR { errorNumber = errno }
                } else {
                    offset += written
                }
            }
            buffer.removeAll(keepingCapacity: true)
        }
    }

    init(path: String, tagged: Bool) throws(ReplayError) {
        self.path = path
        self.tagged = tagged
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw ReplayError("cannot write \(path): \(String(cString: strerror(errno)))") }
        var state = State(fd: fd)
        state.buffer.reserveCapacity(1 << 20 + 4096)
        self.state = Mutex(state)
    }

    func write(_ bytes: [UInt8]) {
        state.withLock { state in
            state.buffer.append(contentsOf: bytes)
            if state.buffer.count >= 1 << 20 { state.flush() }
        }
    }

    func write(_ bytes: UnsafeRawBufferPointer) {
        state.withLock { state in
            state.buffer.append(contentsOf: bytes)
            if state.buffer.count >= 1 << 20 { state.flush() }
        }
    }

    func append(_ sample: SampleScore) {
        let tagged = self.tagged
        state.withLock { state in
            let mark = state.buffer.count
            if tagged {
                // [sequence: Int64][row length: UInt32], the length filled in below.
                withUnsafeBytes(of: sample.sequence) { state.buffer.append(contentsOf: $0) }
                withUnsafeBytes(of: UInt32(0)) { state.buffer.append(contentsOf: $0) }
            }
            let rowStart = state.buffer.count
            ScoreRow.append(sample, to: &state.buffer)
            if tagged {
                let length = UInt32(state.buffer.count - rowStart)
                state.buffer.withUnsafeMutableBytes { $0.storeBytes(of: length, toByteOffset: mark + 8, as: UInt32.self) }
            }
            if state.buffer.count >= 1 << 20 { state.flush() }
        }
    }

    /// Flushes and closes; throws the first write error.
    func close() throws(ReplayError) {
        let errorNumber = state.withLock { state -> Int32 in
            guard state.fd >= 0 else { return state.errorNumber }
            state.flush()
            if systemClose(state.fd) != 0 && state.errorNumber == 0 { state.errorNumber = errno }
            state.fd = -1
            return state.errorNumber
        }
        if errorNumber != 0 { throw ReplayError("cannot write \(path): \(String(cString: strerror(errorNumber)))") }
    }

    func remove() {
        unlink(path)
    }
}

/// Reads a shard's `[sequence][length][row]` records back, through a 1 MiB buffer.
private struct TaggedReader {
    private let fd: Int32
    private var buffer: [UInt8] = []
    private var start = 0
    private var rowLength = 0
    private(set) var failed = false
    private(set) var errorNumber: Int32 = 0

    init?(path: String) {
        fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        buffer.reserveCapacity(1 << 20)
    }

    /// Reads the next record's header; its sequence, or nil at the end (the file is closed then).
    mutating func next() -> Int64? {
        start += rowLength
        rowLength = 0
        guard ensure(12) else {
            close(fd)
            return nil
        }
        let (sequence, length) = buffer.withUnsafeBytes {
            ($0.loadUnaligned(fromByteOffset: start, as: Int64.self), Int($0.loadUnaligned(fromByteOffset: start + 8, as: UInt32.self)))
        }
        start += 12
        guard ensure(length) else {
            failed = true
            close(fd)
            return nil
        }
        rowLength = length
        return sequence
    }

    /// The current record's row.
    func withRow(_ body: (UnsafeRawBufferPointer) -> Void) {
        buffer.withUnsafeBytes { body(UnsafeRawBufferPointer(rebasing: $0[start..<(start + rowLength)])) }
    }

    /// Makes `count` bytes from `start` available; false at the end of the file (or on an error).
    private mutating func ensure(_ count: Int) -> Bool {
        while buffer.count - start < count {
            if start > 0 {
                buffer.removeSubrange(0..<start)
                start = 0
            }
            let room = max(1 << 20, count)
            let old = buffer.count
            buffer.append(contentsOf: repeatElement(0, count: room))
            let got = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress! + old, room) }
            if got < 0 && errno == EINTR {
                buffer.removeSubrange(old...)
                continue
            }
            buffer.removeSubrange((old + max(got, 0))...)
            if got < 0 {
                failed = true
                errorNumber = errno
                return false
            }
            if got == 0 { return false }
        }
        return true
    }
}

/// Formats one score row.
package enum ScoreRow {
    package static func append(_ sample: SampleScore, to buffer: inout [UInt8]) {
        // Event time in ms, to the microsecond (the last bits of a double of epoch seconds are noise).
        let micros = (sample.eventTime * 1_000_000).rounded()
        buffer.append(contentsOf: JSONWriter.number(micros / 1000).utf8)
        buffer.append(UInt8(ascii: ","))
        appendField(sample.device, to: &buffer)
        buffer.append(UInt8(ascii: ","))
        appendField(sample.metric, to: &buffer)
        buffer.append(UInt8(ascii: ","))
        buffer.append(contentsOf: JSONWriter.number(sample.value).utf8)
        buffer.append(UInt8(ascii: ","))
        buffer.append(contentsOf: JSONWriter.number(sample.score).utf8)
        buffer.append(contentsOf: sample.firing ? ",1\n".utf8 : ",0\n".utf8)
    }

    /// A CSV field, quoted (RFC 4180) when it holds a comma, a quote or a line break.
    package static func appendField(_ text: String, to buffer: inout [UInt8]) {
        let needsQuotes = text.utf8.contains { $0 == UInt8(ascii: ",") || $0 == UInt8(ascii: "\"") || $0 == 0x0A || $0 == 0x0D }
        guard needsQuotes else {
            buffer.append(contentsOf: text.utf8)
            return
        }
        buffer.append(UInt8(ascii: "\""))
        for byte in text.utf8 {
            if byte == UInt8(ascii: "\"") { buffer.append(byte) }
            buffer.append(byte)
        }
        buffer.append(UInt8(ascii: "\""))
    }
}

// `ShardFile` has methods named `write` and `close`; these reach the system calls from inside it.
private func systemWrite(_ fd: Int32, _ bytes: UnsafeRawPointer, _ count: Int) -> Int { write(fd, bytes, count) }
private func systemClose(_ fd: Int32) -> Int32 { close(fd) }
