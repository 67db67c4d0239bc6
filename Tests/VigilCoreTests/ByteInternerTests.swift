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
}
