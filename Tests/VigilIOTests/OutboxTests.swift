import Foundation
import Testing
import TestSupport
import VigilIO

struct OutboxTests {
    static func entries(_ range: Range<Int>, size: Int = 10) -> [OutboxEntry] {
        range.map { OutboxEntry(key: "k\($0)", state: "firing", body: "{\"n\":\($0),\"pad\":\"\(String(repeating: "x", count: size))\"}", enqueuedAt: 1000 + Double($0)) }
    }

    /// Takes every entry off the queue in order, as a delivery loop would.
    static func drain(_ outbox: Outbox) -> [String] {
        var keys: [String] = []
        while let entry = outbox.next() {
            keys.append(entry.key)
            outbox.finish(remove: true)
        }
        return keys
    }

    @Test func deliversInOrderAndAFailedAttemptKeepsTheEntryFirst() throws {
        let folder = try TemporaryDirectory()
        let outbox = try Outbox(directory: folder.path("o"), maxBytes: 1 << 20)
        #expect(try outbox.append(Self.entries(0..<3)).isEmpty)
        let first = try #require(outbox.next())
        #expect(first.key == "k0")
        #expect(outbox.next() == nil, "one entry in flight at a time")
        outbox.finish(remove: false)
        #expect(outbox.next()?.key == "k0", "a retried entry stays first")
        outbox.finish(remove: true)
        #expect(Self.drain(outbox) == ["k1", "k2"])
        #expect(outbox.depth().entries == 0)
    }

    @Test func aRestartResumesWhereDeliveryStopped() throws {
        let folder = try TemporaryDirectory()
        do {
            let outbox = try Outbox(directory: folder.path("o"), maxBytes: 1 << 20)
            _ = try outbox.append(Self.entries(0..<5))
            _ = outbox.next()
            outbox.finish(remove: true)
            _ = outbox.next()
            outbox.finish(remove: true)
            _ = outbox.next()  // in flight when the process dies: not acknowledged
        }
        let reopened = try Outbox(directory: folder.path("o"), maxBytes: 1 << 20)
        #expect(reopened.depth().entries == 3)
        _ = try reopened.append(Self.entries(5..<6))
        #expect(Self.drain(reopened) == ["k2", "k3", "k4", "k5"])
        // Empty now: the next start finds nothing (the file was compacted away).
        let again = try Outbox(directory: folder.path("o"), maxBytes: 1 << 20)
        #expect(again.depth().entries == 0)
        let files = try FileManager.default.contentsOfDirectory(atPath: folder.path("o")).filter { $0.hasPrefix("queue-") }
        #expect(files.count == 1)
    }

    @Test func aTornLastRecordIsCutOffAtStart() throws {
        let folder = try TemporaryDirectory()
        do {
            let outbox = try Outbox(directory: folder.path("o"), maxBytes: 1 << 20)
            _ = try outbox.append(Self.entries(0..<2))
        }
        let file = folder.path("o/queue-0.log")
        let handle = try #require(FileHandle(forWritingAtPath: file))
        handle.seekToEndOfFile()
        handle.write(Data("{\"key\":\"half".utf8))
        handle.closeFile()
        let outbox = try Outbox(directory: folder.path("o"), maxBytes: 1 << 20)
        _ = try outbox.append(Self.entries(2..<3))
        #expect(Self.drain(outbox) == ["k0", "k1", "k2"])
    }

    @Test func pastMaxBytesTheOldestAreDroppedAndReturned() throws {
        let folder = try TemporaryDirectory()
        // Each record is about 100 bytes; 450 bytes hold four.
        let outbox = try Outbox(directory: folder.path("o"), maxBytes: 450)
        var dropped: [OutboxEntry] = []
        for index in 0..<10 { dropped += try outbox.append(Self.entries(index..<(index + 1), size: 40)) }
        #expect(dropped.map(\.key) == (0..<6).map { "k\($0)" })
        #expect(outbox.depth().entries == 4)
        #expect(outbox.depth().bytes <= 450)
        // The entry in flight is never dropped; the next oldest goes instead, and the limit is met again after.
        let inFlight = try #require(outbox.next())
        #expect(inFlight.key == "k6")
        let more = try outbox.append(Self.entries(10..<11, size: 40))
        #expect(more.isEmpty, "the head is in flight: nothing droppable at its place")
        let after = outbox.finish(remove: false)
        #expect(after.map(\.key) == ["k6"])
        let reopened = try Outbox(directory: folder.path("o"), maxBytes: 450)
        #expect(Self.drain(reopened) == ["k7", "k8", "k9", "k10"])
    }

    @Test func oldestAgeIsTheFirstEntrysAge() throws {
        let folder = try TemporaryDirectory()
        let outbox = try Outbox(directory: folder.path("o"), maxBytes: 1 << 20)
        #expect(outbox.depth(now: 2000).oldestAgeSeconds == 0)
        _ = try outbox.append(Self.entries(0..<3))
        #expect(outbox.depth(now: 2000).oldestAgeSeconds == 1000)
    }
}
