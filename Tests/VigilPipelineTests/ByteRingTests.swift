import Foundation
import Testing
import VigilPipeline

@Suite struct ByteRingTests {
    /// Writes a record whose device id and payload encode `sequence`.
    static func write(_ ring: ByteRing, sequence: Int, payloadLength: Int) -> Bool {
        let device = Array("d\(sequence % 97)".utf8)
        var payload = [UInt8](repeating: 0, count: payloadLength)
        for index in 0..<payloadLength { payload[index] = UInt8(truncatingIfNeeded: sequence &+ index) }
        return device.withUnsafeBytes { device in
            payload.withUnsafeBytes { payload in
                ring.write(device: device, payload: payload, receivedAtNanos: Int64(sequence))
            }
        }
    }

    /// Checks a record against the sequence it should carry.
    static func check(_ record: ByteRing.Record, sequence: Int) -> Bool {
        guard record.receivedAtNanos == Int64(sequence) else { return false }
        guard String(decoding: record.device, as: UTF8.self) == "d\(sequence % 97)" else { return false }
        for index in 0..<record.payload.count where record.payload[index] != UInt8(truncatingIfNeeded: sequence &+ index) {
            return false
        }
        return true
    }

    @Test func roundTripsRecordsInOrder() {
        let ring = ByteRing(capacity: 1024)
        for sequence in 0..<5 { #expect(Self.write(ring, sequence: sequence, payloadLength: sequence * 10)) }
        #expect(ring.depth == 5)
        var seen: [Int] = []
        let count = ring.consume(limit: 100) { record in
            #expect(Self.check(record, sequence: seen.count))
            #expect(record.payload.count == seen.count * 10)
            seen.append(seen.count)
        }
        #expect(count == 5)
        #expect(ring.depth == 0)
        #expect(ring.usedBytes == 0)
    }

    @Test func sweepRecordsKeepTheirPlaceAmongMessages() {
        let ring = ByteRing(capacity: 1024)
        #expect(Self.write(ring, sequence: 0, payloadLength: 5))
        #expect(ring.writeSweep(nowNanos: 42_000_000_000))
        #expect(Self.write(ring, sequence: 1, payloadLength: 5))
        var seen: [String] = []
        ring.consume(limit: 10) { record in
            switch record.kind {
            case .data: seen.append("data \(record.receivedAtNanos)")
            case .sweep: seen.append("sweep \(record.receivedAtNanos) \(record.device.count) \(record.payload.count)")
            }
        }
        #expect(seen == ["data 0", "sweep 42000000000 0 0", "data 1"])
        #expect(ring.usedBytes == 0)
    }

    @Test func refusesWhenFullAndRecoversAfterConsuming() {
        let ring = ByteRing(capacity: 256)
        var written = 0
        while Self.write(ring, sequence: written, payloadLength: 40) { written += 1 }
        #expect(written == 3)  // 32 + 2 + 40 = 74 -> 80 bytes a record: 3 fit in 256, a fourth does not
        var first = false
        #expect(ring.consume(limit: 1) { first = Self.check($0, sequence: 0) } == 1)
        #expect(first)
        #expect(Self.write(ring, sequence: written, payloadLength: 40))
    }

    @Test func wrapsWithAPaddingRecord() {
        let ring = ByteRing(capacity: 256)
        var next = 0
        var expected = 0
        var corrupt = 0
        let take: (ByteRing.Record) -> Void = { record in
            if !Self.check(record, sequence: expected) { corrupt += 1 }
            expected += 1
        }
        // Uneven sizes force records to meet the end of storage at every offset.
        for round in 0..<500 {
            let length = (round * 37) % 90
            while !Self.write(ring, sequence: next, payloadLength: length) {
                #expect(ring.consume(limit: 1, take) == 1)
            }
            next += 1
        }
        ring.consume(limit: .max, take)
        #expect(expected == next)
        #expect(corrupt == 0)
    }

    @Test func rejectsRecordsLargerThanHalfTheRing() {
        let ring = ByteRing(capacity: 256)
        #expect(ring.maxRecordBytes == 96)
        #expect(!Self.write(ring, sequence: 0, payloadLength: 100))
        #expect(Self.write(ring, sequence: 0, payloadLength: 90))
    }

    /// One producer thread and one consumer thread through a small ring: every record arrives exactly once,
    /// in order, intact, across thousands of wrap-arounds.
    @Test func twoThreadStress() async {
        let ring = ByteRing(capacity: 4096)
        let total = 300_000
        let producerDone = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            var sequence = 0
            while sequence < total {
                if Self.write(ring, sequence: sequence, payloadLength: sequence % 200) {
                    sequence += 1
                } else {
                    sched_yield()
                }
            }
            producerDone.signal()
        }
        var expected = 0
        var corrupt = 0
        while expected < total {
            let consumed = ring.consume(limit: 64) { record in
                if !Self.check(record, sequence: expected) { corrupt += 1 }
                expected += 1
            }
            if consumed == 0 { sched_yield() }
        }
        producerDone.wait()
        #expect(corrupt == 0)
        #expect(expected == total)
        #expect(ring.depth == 0)
        #expect(ring.consume(limit: 1) { _ in } == 0)
    }
}
