import Foundation
import Synchronization

/// A value that tests wait on: writers change it, waiters block until a condition holds or time runs out.
/// No polling sleep: waiters are woken by each change.
package final class Awaitable<Value: Sendable>: @unchecked Sendable {
    // @unchecked: `value` is only touched with `condition` locked.
    private let condition = NSCondition()
    private var value: Value

    package init(_ value: Value) { self.value = value }

    package func update(_ body: (inout Value) -> Void) {
        condition.lock()
        body(&value)
        condition.broadcast()
        condition.unlock()
    }

    package var current: Value {
        condition.lock()
        defer { condition.unlock() }
        return value
    }

    /// Waits until `predicate` holds, for at most `timeout` seconds; returns the value either way, and
    /// whether the predicate held.
    @discardableResult
    package func wait(timeout: Double, until predicate: (Value) -> Bool) -> (value: Value, satisfied: Bool) {
        let deadline = Date().addingTimeInterval(timeout)
        condition.lock()
        defer { condition.unlock() }
        while !predicate(value) {
            if !condition.wait(until: deadline) { return (value, predicate(value)) }
        }
        return (value, true)
    }
}

/// For state that can only be asked for (an HTTP endpoint, another process): asks every `interval` seconds
/// until `check` holds, for at most `timeout` seconds; returns whether it held.
package func eventually(timeout: Double, interval: Double = 0.1, _ check: () -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while !check() {
        if Date() >= deadline { return false }
        Thread.sleep(forTimeInterval: interval)
    }
    return true
}
