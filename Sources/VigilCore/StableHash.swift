/// A hash of a device id that is the same in every process, version and machine.
///
/// Sharding (and, later, cluster partitioning) depends on it: a device must land on the same shard after a
/// restart so that its checkpointed baselines are found. Swift's `Hasher` is seeded per process, so it cannot
/// be used. This is 64-bit FNV-1a followed by the MurmurHash3 finaliser, which spreads FNV's weak low bits.
package enum StableHash {
    @inline(__always)
    package static func hash(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes {
            h ^= UInt64(byte)
            h &*= 0x0000_0100_0000_01b3
        }
        h ^= h >> 33
        h &*= 0xff51_afd7_ed55_8ccd
        h ^= h >> 33
        h &*= 0xc4ce_b9fe_1a85_ec53
        h ^= h >> 33
        return h
    }

    package static func hash(_ string: String) -> UInt64 {
        var string = string
        return string.withUTF8 { hash(UnsafeRawBufferPointer($0)) }
    }

    /// The shard of a device among `count` shards: the hash's low bits.
    @inline(__always)
    package static func shard(of hash: UInt64, count: Int) -> Int {
        Int(truncatingIfNeeded: hash % UInt64(count))
    }

    /// The Vigil instance that owns a device among `count` instances (`cluster.mode: hash`).
    ///
    /// Taken from the hash's high bits (`hash × count / 2⁶⁴`), not its low ones, so that it is independent of
    /// ``shard(of:count:)``: with the same modulus for both, all the devices an instance owns would land on
    /// a single one of its shards.
    @inline(__always)
    package static func instance(of hash: UInt64, count: Int) -> Int {
        Int(truncatingIfNeeded: hash.multipliedFullWidth(by: UInt64(count)).high)
    }
}
