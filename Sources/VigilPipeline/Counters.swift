import Synchronization

/// A fixed set of counters written by exactly one thread and read by any.
///
/// The writer does a relaxed load and store (not a read-modify-write): with one writer no increment is lost,
/// and the cost is a plain move on x86-64 and ARM64. Readers get a recent value. Summing across shards happens
/// when read, so no counter is shared between hot threads.
package final class Counters: Sendable {
    // Owned by this object, freed in deinit, and only ever accessed through the atomics it holds:
    // that is the whole safety argument for sharing the pointer across threads.
    nonisolated(unsafe) private let values: UnsafeMutablePointer<Atomic<Int>>
    package let count: Int

    package init(count: Int) {
        self.count = count
        // Cache-line aligned so that two shards' counters never share a line at their edges.
        let bytes = (max(count, 1) * MemoryLayout<Atomic<Int>>.stride + 63) & ~63
        let raw = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
        values = raw.bindMemory(to: Atomic<Int>.self, capacity: count)
        for index in 0..<count { (values + index).initialize(to: Atomic(0)) }
    }

    deinit {
        values.deinitialize(count: count)
        values.deallocate()
    }

    /// Adds `n` to counter `index`. Only the owning thread may call this.
    @inline(__always)
    package func add(_ index: Int, _ n: Int = 1) {
        let counter = values + index
        counter.pointee.store(counter.pointee.load(ordering: .relaxed) &+ n, ordering: .relaxed)
    }

    /// Sets gauge `index`. Only the owning thread may call this.
    @inline(__always)
    package func set(_ index: Int, _ n: Int) {
        values[index].store(n, ordering: .relaxed)
    }

    package subscript(_ index: Int) -> Int {
        values[index].load(ordering: .relaxed)
    }
}
