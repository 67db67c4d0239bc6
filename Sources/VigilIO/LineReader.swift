import CZlib
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads a file descriptor line by line through one reusable buffer: no allocation per line.
///
/// Lines end at `\n`; a `\r` before it is dropped, so CRLF files read like LF ones. The last line need not
/// end with a newline. A UTF-8 byte order mark at the start of the file is skipped. A line longer than
/// `maxLineBytes` is not buffered: it is skipped to its end and reported as too long (`nil` to the body).
/// A gzip file (``open(path:maxLineBytes:initialCapacity:)`` of a `.gz` path) is decompressed as it is read,
/// through zlib.
package final class LineReader {
    private let fd: Int32
    /// The zlib stream for a `.gz` file (then `fd` is unused); owned here, closed in deinit.
    private let gzip: gzFile?
    private let closesDescriptor: Bool
    private let maxLineBytes: Int
    // Owned by this reader, freed in deinit; never shared with another thread.
    private var buffer: UnsafeMutableRawPointer
    private var capacity: Int
    /// Unread bytes are `buffer[start..<end]`.
    private var start = 0
    private var end = 0
    private var atEOF = false
    private var atStart = true
    /// The 1-based number of the line last handed out.
    package private(set) var lineNumber = 0

    /// Reading failed (the errno of `read(2)`).
    package struct ReadError: Error {
        package var errorNumber: Int32
        /// zlib's description of a gzip stream error, when it is one.
        package var detail: String? = nil
    }

    /// - Parameters:
    ///   - fd: an open descriptor; closed in deinit when `closesDescriptor`.
    ///   - maxLineBytes: longer lines are skipped and reported (the buffer never grows past this).
    package init(fd: Int32, closesDescriptor: Bool, maxLineBytes: Int = 64 << 20, initialCapacity: Int = 1 << 20) {
        self.fd = fd
        self.gzip = nil
        self.closesDescriptor = closesDescriptor
        self.maxLineBytes = maxLineBytes
        self.capacity = min(initialCapacity, maxLineBytes + 1)
        self.buffer = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 16)
    }

    private init(gzip: gzFile, maxLineBytes: Int, initialCapacity: Int) {
        self.fd = -1
        self.gzip = gzip
        self.closesDescriptor = false
        self.maxLineBytes = maxLineBytes
        self.capacity = min(initialCapacity, maxLineBytes + 1)
        self.buffer = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 16)
    }

    deinit {
        buffer.deallocate()
        if let gzip { _ = gzclose(gzip) }
        if closesDescriptor { _ = close(fd) }
    }

    /// Opens `path` for reading (`-` is standard input, left open at the end).
    /// - Throws: ``OpenError`` with the errno of `open(2)`, or `EISDIR` for a folder.
    package static func open(path: String, maxLineBytes: Int = 64 << 20, initialCapacity: Int = 1 << 20) throws(OpenError) -> LineReader {
        if path == "-" { return LineReader(fd: 0, closesDescriptor: false, maxLineBytes: maxLineBytes, initialCapacity: initialCapacity) }
        #if canImport(Glibc)
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        #else
        let fd = Darwin.open(path, O_RDONLY | O_CLOEXEC)
        #endif
        guard fd >= 0 else { throw OpenError(errorNumber: errno) }
        var status = stat()
        if fstat(fd, &status) == 0 && (status.st_mode & S_IFMT) == S_IFDIR {
            _ = close(fd)
            throw OpenError(errorNumber: EISDIR)
        }
        if path.lowercased().hasSuffix(".gz") {
            // gzdopen takes the descriptor over (gzclose closes it).
            guard let gzip = gzdopen(fd, "rb") else {
                _ = close(fd)
                throw OpenError(errorNumber: ENOMEM)
            }
            _ = gzbuffer(gzip, 1 << 17)
            return LineReader(gzip: gzip, maxLineBytes: maxLineBytes, initialCapacity: initialCapacity)
        }
        return LineReader(fd: fd, closesDescriptor: true, maxLineBytes: maxLineBytes, initialCapacity: initialCapacity)
    }

    /// Opening failed (an errno).
    package struct OpenError: Error {
        package var errorNumber: Int32
    }

    /// The first byte that is not ASCII whitespace, without consuming anything; nil for an input of only
    /// whitespace (as far as the first buffer-full goes).
    func peekFirstByte() throws -> UInt8? {
        if end == start && !atEOF { try fill() }
        var index = start
        while index < end {
            let byte = buffer.load(fromByteOffset: index, as: UInt8.self)
            if byte != 0x20 && byte != 0x09 && byte != 0x0A && byte != 0x0D { return byte }
            index += 1
        }
        return nil
    }

    /// Hands the next line (without its line ending) to `body`, or `nil` when the line was longer than
    /// `maxLineBytes`. Returns `nil` at the end of the input. The line's bytes are valid only inside `body`.
    package func nextLine<R>(_ body: (UnsafeRawBufferPointer?) throws -> R) throws -> R? {
        var scanned = 0
        var tooLong = false
        while true {
            if let newline = memchr(buffer + start + scanned, Int32(UInt8(ascii: "\n")), end - start - scanned) {
                let newlineAt = buffer.distance(to: newline)
                let line = lineBytes(from: start, to: newlineAt)
                start = newlineAt + 1
                lineNumber += 1
                return try body(tooLong ? nil : line)
            }
            if atEOF {
                guard start < end || tooLong else { return nil }
                let line = lineBytes(from: start, to: end)
                start = end
                lineNumber += 1
                return try body(tooLong ? nil : line)
            }
            if end - start > maxLineBytes {
                // Too long: forget what we have of it and keep looking for its end.
                tooLong = true
                start = end
            }
            scanned = end - start
            try fill()
        }
    }

    private func lineBytes(from lower: Int, to upper: Int) -> UnsafeRawBufferPointer {
        var upper = upper
        if upper > lower && buffer.load(fromByteOffset: upper - 1, as: UInt8.self) == UInt8(ascii: "\r") { upper -= 1 }
        return UnsafeRawBufferPointer(start: buffer + lower, count: upper - lower)
    }

    /// Reads more bytes after `end`, first moving unread bytes to the front and growing when full.
    private func fill() throws {
        if start > 0 {
            if end > start { (buffer).copyMemory(from: buffer + start, byteCount: end - start) }
            end -= start
            start = 0
        }
        if end == capacity {
            let grown = min(capacity * 2, maxLineBytes + 2)
            if grown > capacity {
                let bigger = UnsafeMutableRawPointer.allocate(byteCount: grown, alignment: 16)
                bigger.copyMemory(from: buffer, byteCount: end)
                buffer.deallocate()
                buffer = bigger
                capacity = grown
            }
        }
        while true {
            let count: Int
            if let gzip {
                count = Int(gzread(gzip, buffer + end, UInt32(min(capacity - end, Int(Int32.max)))))
                if count < 0 {
                    var code: Int32 = 0
                    let message = String(cString: gzerror(gzip, &code))
                    // A zlib error (corrupt or truncated data) has no errno: EIO, with zlib's words kept.
                    throw ReadError(errorNumber: code == Z_ERRNO ? errno : EIO, detail: message)
                }
            } else {
                count = read(fd, buffer + end, capacity - end)
            }
            if count < 0 {
                if errno == EINTR { continue }
                throw ReadError(errorNumber: errno)
            }
            if count == 0 { atEOF = true }
            end += count
            break
        }
        if atStart && end >= 3 || atEOF {
            if atStart && end >= 3 && buffer.load(fromByteOffset: 0, as: UInt8.self) == 0xEF
                && buffer.load(fromByteOffset: 1, as: UInt8.self) == 0xBB && buffer.load(fromByteOffset: 2, as: UInt8.self) == 0xBF
            {
                start = 3
            }
            atStart = false
        }
    }
}
