/// Maps byte strings (device ids, metric names) to dense indices 0, 1, 2, ...
///
/// An open-addressing table with linear probing, keyed by the bytes themselves, so a lookup for a known key
/// hashes and compares bytes and allocates nothing: no `String`, no `Dictionary<String, _>` per message.
/// Keys live back to back in one arena. Inserting a new key may grow the arena or the table (amortised O(1)).
/// A removed key's index is reused by the next insert, so indices stay dense under churn.
///
/// ## Implementation notes
/// `slots` holds `entry index + 1` (0 = empty) and has a power-of-two size kept at most half full.
/// Each entry's full hash is stored so that a probe compares bytes only on a hash match, and so that growing
/// the table never rehashes the keys. Removal uses backward-shift deletion (no tombstones), and the arena is
/// compacted when more than half of it holds removed keys.
package struct ByteInterner {
    private var arena: [UInt8] = []
    private var starts: [Int] = []
    private var lengths: [Int] = []
    private var hashes: [UInt64] = []
    private var slots: [Int32]
    private var mask: Int
    /// Indices of removed entries, reused first.
    private var free: [Int] = []
    private var deadBytes = 0

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
    package var count: Int { starts.count - free.count }

    /// One past the largest index in use: the size an array indexed by entry must have.
    package var capacity: Int { starts.count }

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
        if let entry = free.popLast() {
            starts[entry] = arena.count
            lengths[entry] = key.count
            hashes[entry] = hash
            arena.append(contentsOf: key)
            place(entry)
            return (entry, true)
        }
        let entry = starts.count
        starts.append(arena.count)
        lengths.append(key.count)
        hashes.append(hash)
        arena.append(contentsOf: key)
        if (entry + 1) * 2 > slots.count { grow() } else { place(entry) }
        return (entry, true)
    }

    /// Removes entry `index`; the next insert may reuse the index.
    package mutating func remove(_ index: Int) {
        var slot = Int(truncatingIfNeeded: hashes[index]) & mask
        while Int(slots[slot]) != index + 1 { slot = (slot + 1) & mask }
        // Backward-shift deletion: pull later members of the probe cluster into the hole when their home
        // slot allows it, so that lookups never need tombstones.
        var hole = slot
        var next = (hole + 1) & mask
        while slots[next] != 0 {
            let home = Int(truncatingIfNeeded: hashes[Int(slots[next]) - 1]) & mask
            // Move `next` into `hole` unless its home lies cyclically in (hole, next].
            let distanceToHome = (next - home) & mask
            let distanceToHole = (next - hole) & mask
            if distanceToHome >= distanceToHole {
                slots[hole] = slots[next]
                hole = next
            }
            next = (next + 1) & mask
        }
        slots[hole] = 0
        deadBytes += lengths[index]
        lengths[index] = 0
        free.append(index)
        if deadBytes > 4096 && deadBytes * 2 > arena.count { compact() }
    }

    private mutating func compact() {
        var packed: [UInt8] = []
        packed.reserveCapacity(arena.count - deadBytes)
        let removed = Set(free)
        for entry in 0..<starts.count where !removed.contains(entry) {
            let start = starts[entry]
            starts[entry] = packed.count
            packed.append(contentsOf: arena[start..<start + lengths[entry]])
        }
        arena = packed
        deadBytes = 0
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
        let removed = Set(free)
        for entry in 0..<starts.count where !removed.contains(entry) { place(entry) }
    }
}
