import CZlib
import Foundation
import Glibc
package import VigilCore

/// The checkpoint and model file: every device's learned state, versioned and checksummed.
///
/// ## Format (version 1, little-endian)
/// ```
/// magic     8 bytes  "VIGILCKP"
/// version   u16      1; a file of another version is refused (reported, moved aside, cold start)
/// kind      u8       0 checkpoint (written by `vigil run`), 1 model (written by `vigil train`)
/// reserved  u8       0
/// created   f64      Unix time of writing
/// partitions u32     P (64): devices are grouped by stable hash % P
/// devices   u64      records in the file
/// P times:  u32 record count, u64 byte length, then the records (u32 length + record bytes each)
/// crc32     u32      zlib CRC-32 of every byte before it
/// ```
/// A record starts with the device's stable hash (``DetectionEngine/checkpointRecords()``), so records can be
/// routed to shards under any shard count, and a partition can be handed to another process without decoding.
package struct CheckpointFile: Sendable {
    package enum Kind: UInt8, Sendable {
        case checkpoint = 0
        case model = 1
    }

    package static let magic: [UInt8] = Array("VIGILCKP".utf8)
    package static let version: UInt16 = 1
    package static let partitions = 64
    /// The checkpoint's name inside `state.dir`.
    package static let fileName = "state.vigilckpt"

    package var kind: Kind
    package var created: Double
    /// Every record, by partition.
    package var records: [[UInt8]]

    package init(kind: Kind, created: Double, records: [[UInt8]]) {
        self.kind = kind
        self.created = created
        self.records = records
    }

    /// The records' devices' stable hashes route them: record i belongs to shard `hash % shards`.
    package static func hash(ofRecord record: [UInt8]) -> UInt64 {
        record.withUnsafeBytes { bytes in
            var reader = CheckpointReader(bytes)
            return (try? reader.u64()) ?? 0
        }
    }

    /// The file's bytes.
    package func encoded() -> [UInt8] {
        var partitioned = Array(repeating: [[UInt8]](), count: Self.partitions)
        for record in records { partitioned[Int(Self.hash(ofRecord: record) % UInt64(Self.partitions))].append(record) }
        var writer = CheckpointWriter()
        writer.append(Self.magic)
        writer.u16(Self.version)
        writer.u8(kind.rawValue)
        writer.u8(0)
        writer.f64(created)
        writer.u32(UInt32(Self.partitions))
        writer.u64(UInt64(records.count))
        for partition in partitioned {
            writer.u32(UInt32(partition.count))
            writer.u64(UInt64(partition.reduce(0) { $0 + 4 + $1.count }))
            for record in partition { record.withUnsafeBytes { writer.data($0) } }
        }
        let crc = writer.bytes.withUnsafeBytes { Self.crc32($0) }
        writer.u32(crc)
        return writer.bytes
    }

    static func crc32(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        guard let base = bytes.baseAddress else { return UInt32(CZlib.crc32(0, nil, 0)) }
        var crc = CZlib.crc32(0, nil, 0)
        var offset = 0
        // zlib takes a UInt32 length: feed very large inputs in pieces.
        while offset < bytes.count {
            let piece = min(bytes.count - offset, 1 << 30)
            crc = CZlib.crc32(crc, base.advanced(by: offset).assumingMemoryBound(to: UInt8.self), uInt(piece))
            offset += piece
        }
        return UInt32(crc)
    }

    /// Decodes and checks a whole file.
    ///
    /// - Throws: ``CheckpointError`` for a wrong magic, another version, a checksum mismatch, or any structure
    ///   that does not add up. Never traps on hostile input.
    package static func decode(_ bytes: UnsafeRawBufferPointer) throws(CheckpointError) -> CheckpointFile {
        let headerSize = 8 + 2 + 1 + 1 + 8 + 4 + 8
        guard bytes.count >= headerSize + 4 else { throw CheckpointError("too short (\(bytes.count) bytes) to be a Vigil checkpoint") }
        guard Array(bytes[0..<8]) == magic else { throw CheckpointError("not a Vigil checkpoint (wrong magic)") }
        var reader = CheckpointReader(bytes, offset: 8)
        let version = try reader.u16()
        guard version == Self.version else {
            throw CheckpointError("format version \(version), this Vigil reads version \(Self.version)")
        }
        let body = UnsafeRawBufferPointer(rebasing: bytes[0..<bytes.count - 4])
        var trailer = CheckpointReader(bytes, offset: bytes.count - 4)
        let stored = try trailer.u32()
        let computed = crc32(body)
        guard stored == computed else {
            throw CheckpointError(String(format: "checksum mismatch (stored %08x, computed %08x): the file is damaged", stored, computed))
        }
        reader = CheckpointReader(body, offset: 10)
        guard let kind = Kind(rawValue: try reader.u8()) else { throw CheckpointError("unknown file kind") }
        _ = try reader.u8()
        let created = try reader.f64()
        let partitions = Int(try reader.u32())
        guard partitions >= 1, partitions <= 1 << 16 else { throw CheckpointError("\(partitions) partitions") }
        let devices = try reader.u64()
        var records: [[UInt8]] = []
        for partition in 0..<partitions {
            let count = try reader.count(minimumBytes: 12)
            let length = try reader.u64()
            let start = reader.offset
            for _ in 0..<count {
                let record = try reader.data(maxCount: 64 << 20)
                guard record.count >= 8 else { throw CheckpointError("a record of \(record.count) bytes") }
                var hashReader = CheckpointReader(record)
                guard Int(try hashReader.u64() % UInt64(partitions)) == partition else {
                    throw CheckpointError("a record in partition \(partition) belongs elsewhere")
                }
                records.append(Array(record))
            }
            guard UInt64(reader.offset - start) == length else { throw CheckpointError("partition \(partition): length mismatch") }
        }
        guard reader.remaining == 0 else { throw CheckpointError("\(reader.remaining) stray bytes before the checksum") }
        guard UInt64(records.count) == devices else { throw CheckpointError("header says \(devices) devices, found \(records.count)") }
        return CheckpointFile(kind: kind, created: created, records: records)
    }

    /// Reads and decodes `path`; nil when there is no such file.
    package static func load(path: String) throws(CheckpointError) -> CheckpointFile? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        guard let data = FileManager.default.contents(atPath: path) else { throw CheckpointError("cannot read \(path)") }
        let outcome: Result<CheckpointFile, CheckpointError> = data.withUnsafeBytes { bytes in
            do throws(CheckpointError) {
                return .success(try decode(bytes))
            } catch {
                return .failure(CheckpointError("\(path): \(error.description)"))
            }
        }
        return try outcome.get()
    }

    /// Writes atomically: a temporary file in the same folder, fsync, rename over `path`, fsync of the folder.
    /// A crash at any point leaves either the old file or the new one, never a mix.
    package func write(path: String) throws(CheckpointError) {
        let bytes = encoded()
        let folder = (path as NSString).deletingLastPathComponent.isEmpty ? "." : (path as NSString).deletingLastPathComponent
        do {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        } catch {
            throw CheckpointError("cannot create \(folder): \(error)")
        }
        let temporary = "\(path).tmp-\(getpid())"
        func failure(_ what: String) -> CheckpointError { CheckpointError("\(what) \(temporary): \(String(cString: strerror(errno)))") }
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw failure("cannot create") }
        var written = 0
        while written < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + written, $0.count - written) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else {
                let error = failure("cannot write")
                close(fd)
                unlink(temporary)
                throw error
            }
            written += n
        }
        guard fsync(fd) == 0 else {
            let error = failure("cannot fsync")
            close(fd)
            unlink(temporary)
            throw error
        }
        close(fd)
        guard rename(temporary, path) == 0 else {
            let error = failure("cannot rename")
            unlink(temporary)
            throw error
        }
        let directory = open(folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if directory >= 0 {
            fsync(directory)
            close(directory)
        }
    }

    /// Moves a file that could not be loaded aside (`NAME.bad-<unix time>`) so it is kept for inspection and
    /// the next checkpoint does not overwrite it. Returns the new path.
    package static func moveAside(path: String) -> String? {
        let aside = "\(path).bad-\(Int(Date().timeIntervalSince1970))"
        return rename(path, aside) == 0 ? aside : nil
    }
}

extension CheckpointFile {
    /// The checksum the file format uses, for the checkpoint fuzzer (which fixes up its inputs' trailers).
    package static func fuzzingCRC(_ bytes: UnsafeRawBufferPointer) -> UInt32 { crc32(bytes) }
}
