import Synchronization

/// A bounded, lock-free, single-producer single-consumer ring of variable-length records.
///
/// Each record carries one MQTT message as Vigil needs it: the device id's bytes, the payload's bytes and the
/// receive time. The producer copies both into the ring (no allocation); the consumer reads them in place and
/// releases the space when its batch is done. The ring never grows: when it is full, ``write(device:payload:receivedAtNanos:)``
/// returns `false` and the caller applies its overflow policy.
///
/// ```swift
/// let ring = ByteRing(capacity: 1 << 20)
/// _ = ring.write(device: id, payload: bytes, receivedAtNanos: now)     // producer thread
/// ring.consume(limit: 256) { record in handle(record) }                // consumer thread
/// ```
///
/// ## Implementation notes
/// `head` (next byte the producer writes) and `tail` (next byte the consumer reads) are free-running byte
/// counters; `counter & mask` is the offset in storage. Each sits on its own cache line so the two threads do
/// not false-share. The producer publishes a record with a releasing store of `head`; the consumer reads `head`
/// acquiring, so the record's bytes are visible before its header is read. Symmetrically for `tail`.
///
/// Records are 8-byte aligned and never wrap: one that does not fit before the end of storage is preceded
/// by a padding record that fills the rest, and starts again at offset 0. A record may therefore use at
/// most half the capacity, which ``maxRecordBytes`` reports.
///
/// Record layout (little-endian host order):
/// ```
/// 0  UInt32 record size (header + data + padding to 8)
/// 4  UInt16 kind (0 data, 1 padding, 2 sweep: "judge silence at this receive time", no device or payload)
/// 6  UInt16 device id length
/// 8  UInt32 payload length
/// 12 UInt32 tag (which subscription the topic matched: selects the detector profile)
/// 16 Int64  receive time, ns since the epoch
/// 24 Int64  sequence number given by the producer (input order, for ordered backtest output)
/// 32 device bytes, then payload bytes
/// ```
package final class ByteRing: Sendable {
    /// One record, valid only inside the consumer's closure.
    package struct Record {
        package enum Kind: Sendable, Equatable {
            /// A message: device id, payload, receive time, tag and sequence.
            case data
            /// A silence sweep at `receivedAtNanos` (a replay's recording clock); device and payload are empty.
            case sweep
        }

        package var kind: Kind = .data
        package var device: UnsafeRawBufferPointer
        package var payload: UnsafeRawBufferPointer
        package var receivedAtNanos: Int64
        package var tag: UInt32
        package var sequence: Int64
    }

    package static let headerBytes = 32
    private static let dataKind: UInt16 = 0
    private static let paddingKind: UInt16 = 1
    private static let sweepKind: UInt16 = 2

    /// Bytes of storage (a power of two).
    package let capacity: Int
    private let mask: Int
    // The storage is written by the producer and read by the consumer, ordered by head and tail.
    // It is only ever touched between an acquire of the other side's index and a release of one's own,
    // which is the whole safety argument for sharing the pointer.
    nonisolated(unsafe) private let storage: UnsafeMutableRawPointer

    // head and tail on separate 64-byte cache lines: the padding tuples keep the producer's and the
    // consumer's hot words apart (stored properties of a final class are laid out in declaration order).
    private let head = Atomic<Int>(0)
    private let padding1: (Int, Int, Int, Int, Int, Int, Int, Int) = (0, 0, 0, 0, 0, 0, 0, 0)
    private let tail = Atomic<Int>(0)
    private let padding2: (Int, Int, Int, Int, Int, Int, Int, Int) = (0, 0, 0, 0, 0, 0, 0, 0)
    /// Records written and consumed, for depth in messages (each written by its own side only).
    private let written = Atomic<Int>(0)
    private let consumed = Atomic<Int>(0)

    /// - Parameter capacity: bytes of storage, a power of two of at least 64.
    package init(capacity: Int) {
        precondition(capacity >= 64 && capacity & (capacity - 1) == 0, "ring capacity must be a power of two >= 64")
        self.capacity = capacity
        self.mask = capacity - 1
        self.storage = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 64)
    }

    deinit {
        storage.deallocate()
    }

    /// The largest device + payload length a record can hold.
    package var maxRecordBytes: Int { capacity / 2 - Self.headerBytes }

    /// Bytes in use (written, not yet released by the consumer). Approximate when read from a third thread.
    package var usedBytes: Int { head.load(ordering: .relaxed) - tail.load(ordering: .relaxed) }

    /// Records in the ring. Approximate when read from a third thread.
    package var depth: Int { written.load(ordering: .relaxed) - consumed.load(ordering: .relaxed) }

    /// Whether the consumer has nothing to read (consumer side, or approximate elsewhere).
    package var isEmpty: Bool { head.load(ordering: .acquiring) == tail.load(ordering: .relaxed) }

    @inline(__always)
    private static func aligned(_ n: Int) -> Int { (n + 7) & ~7 }

    // MARK: Producer side

    /// Copies one message into the ring. Returns `false`, writing nothing, when there is not enough room
    /// (or the record can never fit: check ``maxRecordBytes`` first to tell the two apart).
    ///
    /// - Important: call from the ring's single producer thread only.
    package func write(
        device: UnsafeRawBufferPointer, payload: UnsafeRawBufferPointer, receivedAtNanos: Int64, tag: UInt32 = 0, sequence: Int64 = 0
    ) -> Bool {
        write(kind: Self.dataKind, device: device, payload: payload, receivedAtNanos: receivedAtNanos, tag: tag, sequence: sequence)
    }

    /// Writes a sweep record: the consumer judges silence at `nowNanos` when it reaches it, in ring order with
    /// the messages around it. Returns `false`, writing nothing, when the ring is full.
    ///
    /// - Important: call from the ring's single producer thread only.
    package func writeSweep(nowNanos: Int64) -> Bool {
        let empty = UnsafeRawBufferPointer(start: nil, count: 0)
        return write(kind: Self.sweepKind, device: empty, payload: empty, receivedAtNanos: nowNanos, tag: 0, sequence: 0)
    }

    @inline(__always)
    private func write(
        kind: UInt16, device: UnsafeRawBufferPointer, payload: UnsafeRawBufferPointer, receivedAtNanos: Int64, tag: UInt32, sequence: Int64
    ) -> Bool {
        let dataBytes = device.count + payload.count
        guard dataBytes <= maxRecordBytes, device.count <= Int(UInt16.max) else { return false }
        let size = Self.aligned(Self.headerBytes + dataBytes)
        let position = head.load(ordering: .relaxed)  // only this thread writes head
        let offset = position & mask
        let untilEnd = capacity - offset
        let needed = size <= untilEnd ? size : untilEnd + size
        let free = capacity - (position - tail.load(ordering: .acquiring))
        guard needed <= free else { return false }

        var at = offset
        if size > untilEnd {
            // Fill the rest of storage with a padding record and start this one at offset 0.
            storage.storeBytes(of: UInt32(untilEnd), toByteOffset: offset, as: UInt32.self)
            storage.storeBytes(of: Self.paddingKind, toByteOffset: offset + 4, as: UInt16.self)
            at = 0
        }
        storage.storeBytes(of: UInt32(size), toByteOffset: at, as: UInt32.self)
        storage.storeBytes(of: kind, toByteOffset: at + 4, as: UInt16.self)
        storage.storeBytes(of: UInt16(device.count), toByteOffset: at + 6, as: UInt16.self)
        storage.storeBytes(of: UInt32(payload.count), toByteOffset: at + 8, as: UInt32.self)
        storage.storeBytes(of: tag, toByteOffset: at + 12, as: UInt32.self)
        storage.storeBytes(of: receivedAtNanos, toByteOffset: at + 16, as: Int64.self)
        storage.storeBytes(of: sequence, toByteOffset: at + 24, as: Int64.self)
        if let base = device.baseAddress, device.count > 0 {
            (storage + at + Self.headerBytes).copyMemory(from: base, byteCount: device.count)
        }
        if let base = payload.baseAddress, payload.count > 0 {
            (storage + at + Self.headerBytes + device.count).copyMemory(from: base, byteCount: payload.count)
        }
        written.store(written.load(ordering: .relaxed) &+ 1, ordering: .relaxed)
        // Publishes the bytes above to the consumer. Sequentially consistent, not just releasing: the producer
        // reads the consumer's "sleeping" flag right after this, and that store-then-load must not be reordered
        // (see ShardWorker's wake-up protocol).
        head.store(position + needed, ordering: .sequentiallyConsistent)
        return true
    }

    // MARK: Consumer side

    /// Hands up to `limit` records to `body`, in order, then releases their space to the producer.
    ///
    /// - Returns: how many records were consumed.
    /// - Important: call from the ring's single consumer thread only; never keep a record past `body`.
    @discardableResult
    package func consume(limit: Int, _ body: (Record) throws -> Void) rethrows -> Int {
        var position = tail.load(ordering: .relaxed)  // only this thread writes tail
        let end = head.load(ordering: .acquiring)
        var count = 0
        defer {
            if count > 0 || position != tail.load(ordering: .relaxed) {
                consumed.store(consumed.load(ordering: .relaxed) &+ count, ordering: .relaxed)
                tail.store(position, ordering: .releasing)
            }
        }
        while position != end && count < limit {
            let offset = position & mask
            let size = Int(storage.load(fromByteOffset: offset, as: UInt32.self))
            let kind = storage.load(fromByteOffset: offset + 4, as: UInt16.self)
            if kind == Self.paddingKind {
                position += size
                continue
            }
            let deviceLength = Int(storage.load(fromByteOffset: offset + 6, as: UInt16.self))
            let payloadLength = Int(storage.load(fromByteOffset: offset + 8, as: UInt32.self))
            let tag = storage.load(fromByteOffset: offset + 12, as: UInt32.self)
            let received = storage.load(fromByteOffset: offset + 16, as: Int64.self)
            let sequence = storage.load(fromByteOffset: offset + 24, as: Int64.self)
            let deviceStart = storage + offset + Self.headerBytes
            let record = Record(
                kind: kind == Self.sweepKind ? .sweep : .data,
                device: UnsafeRawBufferPointer(start: deviceStart, count: deviceLength),
                payload: UnsafeRawBufferPointer(start: deviceStart + deviceLength, count: payloadLength),
                receivedAtNanos: received,
                tag: tag,
                sequence: sequence
            )
            // Advance before calling: if body throws, the record counts as consumed (bad input is never retried).
            position += size
            count += 1
            try body(record)
        }
        return count
    }

    /// Reads the producer's head with sequentially consistent ordering: the consumer's half of the
    /// wake-up protocol (store "sleeping", then look for new records).
    package var hasRecordsAfterSleeping: Bool {
        head.load(ordering: .sequentiallyConsistent) != tail.load(ordering: .relaxed)
    }
}
