import Foundation
import Testing
import TestSupport
@testable import VigilIO
import VigilCore

struct CheckpointFileTests {
    static func sample() -> CheckpointFile {
        var records: [[UInt8]] = []
        for index in 0..<40 {
            var writer = CheckpointWriterProbe()
            records.append(writer.record(hash: UInt64(index) &* 0x9E37_79B9_7F4A_7C15, body: Array(repeating: UInt8(index), count: index)))
        }
        return CheckpointFile(kind: .checkpoint, created: 1_767_225_600, records: records)
    }

    @Test func roundTripsThroughADiskFileAtomically() throws {
        let folder = try TemporaryDirectory("vigil-ckpt")
        let path = folder.path("state/state.vigilckpt")
        let file = Self.sample()
        try file.write(path: path)
        let loaded = try #require(try CheckpointFile.load(path: path))
        #expect(loaded.kind == .checkpoint)
        #expect(loaded.created == file.created)
        #expect(Set(loaded.records) == Set(file.records))
        // No temporary file left beside it.
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path("state")) == ["state.vigilckpt"])
        #expect(try CheckpointFile.load(path: folder.path("absent")) == nil)
    }

    @Test func anyDamageIsDetected() throws {
        let bytes = Self.sample().encoded()
        // Every single-byte change and every truncation: refused with a reason, never loaded, never a trap.
        for position in stride(from: 0, to: bytes.count, by: 1) {
            var damaged = bytes
            damaged[position] ^= 0x5A
            #expect(throws: CheckpointError.self) { try damaged.withUnsafeBytes { _ = try CheckpointFile.decode($0) } }
        }
        for length in stride(from: 0, to: bytes.count, by: 7) {
            let truncated = Array(bytes[0..<length])
            #expect(throws: CheckpointError.self) { try truncated.withUnsafeBytes { _ = try CheckpointFile.decode($0) } }
        }
        var otherVersion = bytes
        otherVersion[8] = 9
        let error = #expect(throws: CheckpointError.self) { try otherVersion.withUnsafeBytes { _ = try CheckpointFile.decode($0) } }
        #expect(error?.description.contains("version 9") == true)
    }

    @Test func aBadFileIsMovedAside() throws {
        let folder = try TemporaryDirectory("vigil-ckpt")
        let path = try folder.write("state.vigilckpt", "not a checkpoint")
        #expect(throws: CheckpointError.self) { _ = try CheckpointFile.load(path: path) }
        let aside = try #require(CheckpointFile.moveAside(path: path))
        #expect(!FileManager.default.fileExists(atPath: path))
        #expect(FileManager.default.fileExists(atPath: aside))
    }
}

/// Builds records of the shape the loader checks (a stable hash first).
struct CheckpointWriterProbe {
    mutating func record(hash: UInt64, body: [UInt8]) -> [UInt8] {
        withUnsafeBytes(of: hash.littleEndian) { Array($0) } + body
    }
}
