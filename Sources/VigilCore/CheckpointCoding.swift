/// Why checkpoint bytes could not be read.
package struct CheckpointError: Error, CustomStringConvertible, Equatable {
    package var description: String

    package init(_ description: String) { self.description = description }
}

/// Appends fixed-width little-endian values to a byte buffer: the body of checkpoint records.
///
/// Every width is explicit, so a record reads back the same on any machine; the file around the records adds a
/// version and a checksum (VigilIO's `CheckpointFile`).
package struct CheckpointWriter {
    package private(set) var bytes: [UInt8] = []

    package init() {}

    package mutating func u8(_ value: UInt8) { bytes.append(value) }
    package mutating func bool(_ value: Bool) { bytes.append(value ? 1 : 0) }
    package mutating func u16(_ value: UInt16) { withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) } }
    package mutating func u32(_ value: UInt32) { withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) } }
    package mutating func u64(_ value: UInt64) { withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) } }
    package mutating func i32(_ value: Int32) { u32(UInt32(bitPattern: value)) }
    package mutating func i64(_ value: Int64) { u64(UInt64(bitPattern: value)) }
    package mutating func f32(_ value: Float) { u32(value.bitPattern) }
    package mutating func f64(_ value: Double) { u64(value.bitPattern) }
    /// A length (u32) and the bytes.
    package mutating func data(_ value: UnsafeRawBufferPointer) {
        u32(UInt32(value.count))
        bytes.append(contentsOf: value)
    }
    package mutating func string(_ value: String) {
        var value = value
        value.withUTF8 { data(UnsafeRawBufferPointer($0)) }
    }
    package mutating func append(_ other: [UInt8]) { bytes.append(contentsOf: other) }
}

/// Reads what ``CheckpointWriter`` wrote, bounds-checked: hostile bytes give a ``CheckpointError``, never a
/// crash or an allocation larger than the input.
package struct CheckpointReader {
    private let bytes: UnsafeRawBufferPointer
    package private(set) var offset: Int

    package init(_ bytes: UnsafeRawBufferPointer, offset: Int = 0) {
        self.bytes = bytes
        self.offset = offset
    }

    package var remaining: Int { bytes.count - offset }

    private mutating func take(_ count: Int) throws(CheckpointError) -> UnsafeRawBufferPointer {
        guard count >= 0, count <= remaining else { throw CheckpointError("truncated at byte \(offset) (wanted \(count) more)") }
        defer { offset += count }
        return UnsafeRawBufferPointer(rebasing: bytes[offset..<offset + count])
    }

    private mutating func integer<T: FixedWidthInteger>(_: T.Type) throws(CheckpointError) -> T {
        let raw = try take(MemoryLayout<T>.size)
        var value = T.zero
        withUnsafeMutableBytes(of: &value) { $0.copyMemory(from: raw) }
        return T(littleEndian: value)
    }

    package mutating func u8() throws(CheckpointError) -> UInt8 { try integer(UInt8.self) }
    package mutating func bool() throws(CheckpointError) -> Bool {
        switch try u8() {
        case 0: return false
        case 1: return true
        case let other: throw CheckpointError("bad boolean \(other) at byte \(offset - 1)")
        }
    }
    package mutating func u16() throws(CheckpointError) -> UInt16 { try integer(UInt16.self) }
    package mutating func u32() throws(CheckpointError) -> UInt32 { try integer(UInt32.self) }
    package mutating func u64() throws(CheckpointError) -> UInt64 { try integer(UInt64.self) }
    package mutating func i32() throws(CheckpointError) -> Int32 { Int32(bitPattern: try u32()) }
    package mutating func i64() throws(CheckpointError) -> Int64 { Int64(bitPattern: try u64()) }
    package mutating func f32() throws(CheckpointError) -> Float { Float(bitPattern: try u32()) }
    package mutating func f64() throws(CheckpointError) -> Double { Double(bitPattern: try u64()) }
    /// A length-prefixed byte run, valid while the reader's buffer is.
    package mutating func data(maxCount: Int = 1 << 20) throws(CheckpointError) -> UnsafeRawBufferPointer {
        let count = Int(try u32())
        guard count <= maxCount else { throw CheckpointError("a field of \(count) bytes at byte \(offset - 4) exceeds \(maxCount)") }
        return try take(count)
    }
    package mutating func string(maxCount: Int = 65536) throws(CheckpointError) -> String {
        String(decoding: try data(maxCount: maxCount), as: UTF8.self)
    }
    /// A count that the remaining bytes can hold at `minimumBytes` each (so a hostile count cannot make us
    /// reserve memory the input does not back).
    package mutating func count(minimumBytes: Int) throws(CheckpointError) -> Int {
        let count = Int(try u32())
        guard count <= remaining / max(minimumBytes, 1) else { throw CheckpointError("count \(count) at byte \(offset - 4) exceeds the data") }
        return count
    }
}
