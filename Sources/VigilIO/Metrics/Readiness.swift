import Synchronization

/// Named conditions that must all hold for `/readyz` to answer 200.
///
/// The service adds "broker connected" and "subscribed"; a component that must finish something first (loading
/// a checkpoint) adds its own condition, true once done, or true from the start when it has nothing to do.
package final class Readiness: Sendable {
    private let conditions = Mutex<[(name: String, check: @Sendable () -> Bool)]>([])

    package init() {}

    /// Adds a condition; `check` is called on every `/readyz` (keep it cheap and thread-safe).
    package func add(_ name: String, _ check: @escaping @Sendable () -> Bool) {
        conditions.withLock { $0.append((name, check)) }
    }

    /// Each condition and whether it holds now, in the order added.
    package func evaluate() -> [(name: String, ready: Bool)] {
        conditions.withLock { $0 }.map { ($0.name, $0.check()) }
    }

    package var isReady: Bool { evaluate().allSatisfy(\.ready) }
}
