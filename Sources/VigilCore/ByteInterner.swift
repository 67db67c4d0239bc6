/// Maps byte strings (device ids, metric names) to dense indices 0, 1, 2, ...
///
/// An open-addressing table with linear probing, keyed by the bytes themselves, so a lookup for a known key
/// hashes and compares bytes and allocates nothing: no `String`, no `Dictionary<String, _>` per message.
/// Keys live back to back in one arena. Inserting a new key may grow the arena or the table (amortised O(1)).
///
/// ## Implementation notes
/// `slots` holds `entry index + 1` (0 = empty) and has a power-of-two size kept at most half full.
/// Each entry's full hash is stored so that a probe compares bytes only on a hash match, and so that growing
/// the table never rehashes the keys.
package struct ByteInterner {
    private var arena: [UInt8] = []
    private var starts: [Int] = []
    private var lengths: [Int] = []
    private var hashes: [UInt64] = []
    private var slots: [Int32]
    private var mask: Int

    package init(expectedCount: Int = 64) {
        var size = 16
        while size < expectedCount * 2 { size <<= 1 }
        slots = Array(repeating: 0, count: size)
        mask = size - 1
        starts.reserveCapacity(expectedCount)
        lengths.reserveCapacity(expectedCount)
        hashes.reserveCapacity(expectedCount)
        arena.reserveCapacity(expectedCount * 16)
    }

    /// How many keys are interned.
    package var count: Int { starts.count }

    /// The index of `key`, or `nil` when it was never inserted.
    package func index(of key: UnsafeRawBufferPointer) -> Int? {
        index(of: key, hash: StableHash.hash(key))
    }

    package func index(of key: UnsafeRawBufferPointer, hash: UInt64) -> Int? {
        var slot = Int(truncatingIfNeeded: hash) & mask
        while true {
            let entry = Int(slots[slot])
            if entry == 0 { return nil }
            if hashes[entry - 1] == hash && keyEquals(entry - 1, key) { return entry - 1 }
            slot = (slot + 1) & mask
        }
    }

    /// The index of `key`, inserting it when new.
    package mutating func insert(_ key: UnsafeRawBufferPointer) -> (index: Int, inserted: Bool) {
        let hash = StableHash.hash(key)
        if let existing = index(of: key, hash: hash) { return (existing, false) }
        let entry = starts.count
        starts.append(arena.count)
        lengths.append(key.count)
        hashes.append(hash)
        arena.append(contentsOf: key)
        if (entry + 1) * 2 > slots.count { grow() } else { place(entry) }
        return (entry, true)
    }

    package mutating func insert(_ key: String) -> (index: Int, inserted: Bool) {
        var key = key
        return key.withUTF8 { insert(UnsafeRawBufferPointer($0)) }
    }

    /// The bytes of entry `index`, valid only inside `body`.
    package func withKey<R>(_ index: Int, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try arena.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[starts[index]..<starts[index] + lengths[index]])) }
    }

    /// Entry `index` as a `String` (for events and logs, off the per-message path).
    package func key(_ index: Int) -> String {
        withKey(index) { String(decoding: $0, as: UTF8.self) }
    }

    private func keyEquals(_ entry: Int, _ key: UnsafeRawBufferPointer) -> Bool {
        guard lengths[entry] == key.count else { return false }
        return arena.withUnsafeBytes { arena in
            let start = starts[entry]
            for offset in 0..<key.count where arena[start + offset] != key[offset] { return false }
            return true
        }
    }

    private mutating func place(_ entry: Int) {
        var slot = Int(truncatingIfNeeded: hashes[entry]) & mask
        while slots[slot] != 0 { slot = (slot + 1) & mask }
        slots[slot] = Int32(entry + 1)
    }

    private mutating func grow() {
        slots = Array(repeating: 0, count: slots.count * 2)
        mask = slots.count - 1
        for entry in 0..<starts.count { place(entry) }
    }
}
