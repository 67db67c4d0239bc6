import Testing
import VigilCore

struct DeviceOwnershipTests {
    static let ids = (0..<30_000).map { "meter-\($0)" }

    @Test(arguments: [2, 3, 5])
    func everyDeviceHasExactlyOneOwnerAndTheSplitIsEven(instances: Int) {
        let splits = (0..<instances).map { DeviceOwnership(instances: instances, index: $0) }
        var owned = [Int](repeating: 0, count: instances)
        for id in Self.ids {
            let hash = StableHash.hash(id)
            let owners = splits.indices.filter { splits[$0].owns(hash) }
            #expect(owners.count == 1, "\(id) owned by \(owners)")
            if let owner = owners.first { owned[owner] += 1 }
        }
        let fair = Double(Self.ids.count) / Double(instances)
        for count in owned { #expect(abs(Double(count) - fair) < 0.05 * fair, "\(owned)") }
    }

    /// With the same modulus for instance and shard, an instance's devices would all sit on one of its shards.
    @Test func anInstancesDevicesSpreadOverItsShards() {
        let mine = DeviceOwnership(instances: 2, index: 0)
        var perShard = [0, 0]
        for id in Self.ids {
            let hash = StableHash.hash(id)
            if mine.owns(hash) { perShard[StableHash.shard(of: hash, count: 2)] += 1 }
        }
        let total = perShard[0] + perShard[1]
        #expect(abs(Double(perShard[0]) / Double(total) - 0.5) < 0.03, "\(perShard)")
    }

    /// Checkpoints and running instances agree on owners only while the function never changes: these values
    /// were computed independently (FNV-1a 64, the MurmurHash3 finaliser, then ⌊hash × 3 / 2⁶⁴⌋, in Python).
    @Test func ownersAreStableAcrossReleases() {
        let owners = ["meter-17", "d-0", "d-1", "sensor/a", "d-2", "d-3", "d-4", "d-5"].map {
            StableHash.instance(of: StableHash.hash($0), count: 3)
        }
        #expect(owners == [2, 1, 2, 0, 1, 2, 0, 1], "StableHash.instance changed: a cluster's checkpoints would no longer match")
        #expect(DeviceOwnership.all.owns(StableHash.hash("anything")))
    }
}
