/// Which devices one Vigil instance watches when several share a subscription (`cluster.mode: hash`).
///
/// Every instance receives every message and keeps the devices whose ``StableHash`` maps to its own index, so
/// each device's stream (and its baselines) lives in exactly one instance. A checkpoint written under one
/// split is read under another by keeping the devices ``owns(_:)`` accepts.
///
/// ```swift
/// let ownership = DeviceOwnership(instances: 3, index: 1)
/// ownership.owns(StableHash.hash("meter-17"))  // true on exactly one of the three instances
/// ```
package struct DeviceOwnership: Sendable, Equatable, CustomStringConvertible {
    /// How many instances share the devices, at least 1.
    package var instances: Int
    /// This instance's place among them, 0..<instances.
    package var index: Int

    /// One instance that owns every device.
    package static let all = DeviceOwnership(instances: 1, index: 0)

    package init(instances: Int, index: Int) {
        precondition(instances >= 1 && (0..<instances).contains(index))
        self.instances = instances
        self.index = index
    }

    /// Whether the device with stable hash `hash` belongs to this instance.
    @inline(__always)
    package func owns(_ hash: UInt64) -> Bool {
        instances == 1 || StableHash.instance(of: hash, count: instances) == index
    }

    package var description: String { "\(index + 1) of \(instances)" }
}
