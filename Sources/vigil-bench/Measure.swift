import Dispatch
import Foundation
import Synchronization

/// Timing and summary statistics for the micro benchmarks.
enum Measure {
    /// Seconds in `duration`.
    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) * 1e-18
    }

    /// Times `body` once, in seconds, on the continuous clock.
    static func time(_ body: () throws -> Void) rethrows -> Double {
        let clock = ContinuousClock()
        let start = clock.now
        try body()
        return seconds(clock.now - start)
    }

    /// CPU seconds used so far by the whole process (every thread), or by the calling thread only.
    ///
    /// Wall time on a shared two-core machine counts other work's time as ours; CPU time does not, so the
    /// CPU figures are the steadier ones when the machine is busy.
    static func cpuSeconds(thread: Bool = false) -> Double {
        var spec = timespec()
        clock_gettime(thread ? CLOCK_THREAD_CPUTIME_ID : CLOCK_PROCESS_CPUTIME_ID, &spec)
        return Double(spec.tv_sec) + Double(spec.tv_nsec) * 1e-9
    }

    /// The median of `values` (the mean of the middle two for an even count).
    static func median(_ values: [Double]) -> Double {
        precondition(!values.isEmpty)
        let sorted = values.sorted()
        let middle = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
    }

    /// The nearest-rank `fraction` percentile of `values` (0.99 of 200 runs is the 198th smallest).
    static func percentile(_ values: [Double], _ fraction: Double) -> Double {
        precondition(!values.isEmpty)
        let sorted = values.sorted()
        let rank = Int((fraction * Double(sorted.count)).rounded(.up))
        return sorted[min(max(rank, 1), sorted.count) - 1]
    }
}

/// Prints one progress line on stderr (stdout carries only the table).
func progress(_ message: String) {
    FileHandle.standardError.write(Data("[vigil-bench] \(message)\n".utf8))
}

/// A thread that runs `body` once; ``join()`` waits for it to finish.
final class BenchThread: Sendable {
    private let finished = DispatchSemaphore(value: 0)

    init(name: String, _ body: @escaping @Sendable () -> Void) {
        let finished = self.finished
        let thread = Thread {
            body()
            finished.signal()
        }
        thread.name = name
        thread.start()
    }

    func join() { finished.wait() }
}

/// A flag that holds a spinning thread until the timed section starts.
final class StartGate: Sendable {
    private let isOpen = Atomic<Bool>(false)

    func open() { isOpen.store(true, ordering: .releasing) }

    func wait() {
        var backoff = Backoff()
        while !isOpen.load(ordering: .acquiring) { backoff.pause() }
    }
}

/// Spins briefly, then yields the core: the machine has two cores and other work, so a waiting side must not
/// keep one busy for long.
struct Backoff {
    private var spins = 0

    mutating func pause() {
        spins += 1
        if spins > 64 { sched_yield() }
    }

    mutating func reset() { spins = 0 }
}
