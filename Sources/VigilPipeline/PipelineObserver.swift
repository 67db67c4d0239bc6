package import VigilCore

/// Where a shard worker sends what it finds. Called on shard worker threads: implementations must be quick
/// and thread-safe (hand events to an outbox; rate-limit logs).
package protocol PipelineObserver: Sendable {
    /// An anomaly episode changed state.
    func anomaly(_ event: AnomalyEvent)
    /// A message, or some of its metrics, was dropped. `device` is valid only during the call.
    func dropped(_ reason: DropReason, shard: Int, device: UnsafeRawBufferPointer, offset: Int?)
}
