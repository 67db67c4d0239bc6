import Testing
import VigilCore

@Suite struct ByteInternerTests {
    @Test func assignsDenseStableIndices() {
        var interner = ByteInterner(expectedCount: 4)
        for index in 0..<10_000 {
            let (assigned, inserted) = interner.insert("device-\(index)")
            #expect(assigned == index)
            #expect(inserted)
        }
        #expect(interner.count == 10_000)
        for index in stride(from: 0, to: 10_000, by: 7) {
            var key = "device-\(index)"
            let found = key.withUTF8 { interner.index(of: UnsafeRawBufferPointer($0)) }
            #expect(found == index)
            #expect(interner.key(index) == key)
            #expect(interner.insert(key) == (index, false))
        }
        var missing = "device-10000"
        #expect(missing.withUTF8 { interner.index(of: UnsafeRawBufferPointer($0)) } == nil)
    }

    @Test func distinguishesPrefixesAndEmptyKey() {
        var interner = ByteInterner()
        #expect(interner.insert("").index == 0)
        #expect(interner.insert("a").index == 1)
        #expect(interner.insert("ab").index == 2)
        #expect(interner.insert("a").index == 1)
        #expect(interner.key(0) == "")
        #expect(interner.key(2) == "ab")
    }

    @Test func removalKeepsLookupsRightAndReusesIndices() {
        var interner = ByteInterner(expectedCount: 16)
        for index in 0..<5000 { _ = interner.insert("key-\(index)-" + String(repeating: "x", count: index % 13)) }
        func name(_ index: Int) -> String { "key-\(index)-" + String(repeating: "x", count: index % 13) }
        func lookup(_ key: String) -> Int? {
            var key = key
            return key.withUTF8 { interner.index(of: UnsafeRawBufferPointer($0)) }
        }
        // Remove every third key: the probe clusters must still lead to every other key (backward shift),
        // and the arena gets compacted on the way.
        for index in stride(from: 0, to: 5000, by: 3) { interner.remove(lookup(name(index))!) }
        #expect(interner.count == 5000 - 1667)
        for index in 0..<5000 {
            let found = lookup(name(index))
            if index % 3 == 0 { #expect(found == nil) } else { #expect(found == index && interner.key(index) == name(index)) }
        }
        // New keys take the freed indices; nothing grows past the old capacity.
        for index in 0..<1667 { #expect(interner.insert("new-\(index)").index % 3 == 0) }
        #expect(interner.capacity == 5000)
        #expect(lookup("new-10").map { interner.key($0) } == "new-10")
        #expect(lookup(name(4999)) == 4999)
    }
}
