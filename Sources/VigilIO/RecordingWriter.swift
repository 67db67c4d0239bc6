import CZlib
import Foundation

/// Writes a JSONL recording (the format ``JSONLRecording`` reads), gzip-compressed through zlib when the
/// path ends in `.gz`.
///
/// Lines go to `PATH.partial` through one reusable buffer, flushed in 256 KiB writes; ``finish()`` flushes,
/// closes and renames the file to `PATH`, so a file under the final name is always complete.
///
/// A payload that is valid UTF-8 is written as text (`"payload"`, JSON-escaped); any other is written as
/// `"payload_b64"`, so every byte survives the round trip.
///
/// - Important: not thread-safe: one thread at a time (`vigil record` keeps it behind a `Mutex`).
// @unchecked Sendable: the mutable state (buffer, counts, the descriptor) is only touched by the caller that
// holds it, and callers serialise their use (see above); it crosses threads only inside a lock.
package final class RecordingWriter: @unchecked Sendable {
    package let path: String
    private let partialPath: String
    private let fd: Int32
    private let gzip: gzFile?
    private var buffer: [UInt8] = []
    /// Messages written.
    package private(set) var messages = 0
    /// Uncompressed bytes written (the JSONL text).
    package private(set) var bytes = 0
    private var finished = false

    package struct WriteError: Error, CustomStringConvertible {
        package var description: String
    }

    package init(path: String) throws(WriteError) {
        self.path = path
        partialPath = path + ".partial"
        fd = open(partialPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw WriteError(description: "\(path): cannot create: \(String(cString: strerror(errno)))") }
        if path.lowercased().hasSuffix(".gz") {
            guard let gzip = gzdopen(fd, "wb6") else {
                _ = close(fd)
                throw WriteError(description: "\(path): cannot start gzip")
            }
            self.gzip = gzip
        } else {
            gzip = nil
        }
        buffer.reserveCapacity(1 << 18 + 4096)
    }

    deinit {
        // Not finished: an abandoned recording stays as .partial.
        if !finished {
            if let gzip { _ = gzclose(gzip) } else { _ = close(fd) }
        }
    }

    /// Appends one message received at `receivedAtNanos` (ns since the epoch).
    package func append(receivedAtNanos: Int64, topic: UnsafeRawBufferPointer, payload: UnsafeRawBufferPointer) throws(WriteError) {
        let start = buffer.count
        // t in epoch milliseconds with microseconds: {"t":1764072612003.125,
        let micros = receivedAtNanos / 1000
        appendASCII("{\"t\":\(micros / 1000)")
        if micros % 1000 != 0 {
            var fraction = String(micros % 1000)
            fraction = String(repeating: "0", count: 3 - fraction.count) + fraction
            while fraction.hasSuffix("0") { fraction.removeLast() }
            appendASCII("." + fraction)
        }
        appendASCII(",\"topic\":")
        appendJSONString(topic)
        if String(validating: payload, as: UTF8.self) != nil {
            appendASCII(",\"payload\":")
            appendJSONString(payload)
        } else {
            appendASCII(",\"payload_b64\":\"" + Data(payload).base64EncodedString() + "\"")
        }
        appendASCII("}\n")
        messages += 1
        bytes += buffer.count - start
        if buffer.count >= 1 << 18 { try flush() }
    }

    /// Flushes, closes and renames `PATH.partial` to `PATH`.
    package func finish() throws(WriteError) {
        guard !finished else { return }
        try flush()
        finished = true
        if let gzip {
            let rc = gzclose(gzip)
            guard rc == Z_OK else { throw WriteError(description: "\(path): gzip close failed (\(rc))") }
        } else if close(fd) != 0 {
            throw WriteError(description: "\(path): close failed: \(String(cString: strerror(errno)))")
        }
        guard rename(partialPath, path) == 0 else {
            throw WriteError(description: "\(path): cannot rename from .partial: \(String(cString: strerror(errno)))")
        }
    }

    private func flush() throws(WriteError) {
        guard !buffer.isEmpty else { return }
        let failure: String? = buffer.withUnsafeBytes { raw in
            if let gzip {
                let written = gzwrite(gzip, raw.baseAddress, UInt32(raw.count))
                return written == Int32(raw.count) ? nil : "gzip write failed"
            }
            var offset = 0
            while offset < raw.count {
                let written = write(fd, raw.baseAddress! + offset, raw.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    return String(cString: strerror(errno))
                }
                offset += written
            }
            return nil
        }
        buffer.removeAll(keepingCapacity: true)
        if let failure { throw WriteError(description: "\(path): cannot write: \(failure)") }
    }

    private func appendASCII(_ text: String) {
        buffer.append(contentsOf: text.utf8)
    }

    /// A JSON string of UTF-8 bytes: quotes, backslashes and control characters escaped, the rest as is.
    private func appendJSONString(_ bytes: UnsafeRawBufferPointer) {
        buffer.append(UInt8(ascii: "\""))
        let hex = Array("0123456789abcdef".utf8)
        for byte in bytes {
            switch byte {
            case UInt8(ascii: "\""): buffer.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
            case UInt8(ascii: "\\"): buffer.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
            case UInt8(ascii: "\n"): buffer.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
            case UInt8(ascii: "\r"): buffer.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
            case UInt8(ascii: "\t"): buffer.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
            case 0..<0x20:
                buffer.append(contentsOf: Array("\\u00".utf8) + [hex[Int(byte >> 4)], hex[Int(byte & 15)]])
            default: buffer.append(byte)
            }
        }
        buffer.append(UInt8(ascii: "\""))
    }
}
