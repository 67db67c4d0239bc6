extension MetricsRegistry {
    /// The incident outputs: per output delivered, retried, failed, dropped, the outbox's depth and its oldest
    /// entry's age; what noise control held back, by reason.
    package func registerOutputs(_ outputs: IncidentOutputs) {
        register { writer in
            let snapshot = outputs.snapshot()
            func per(_ value: (OutputSnapshot) -> Double) -> [(MetricsWriter.Labels, Double)] {
                snapshot.outputs.map { ([("output", $0.name)], value($0)) }
            }
            writer.counter("vigil_output_delivered_total", help: "Events accepted by an output (2xx, or written to the file).", samples: per { Double($0.delivered) })
            writer.counter("vigil_output_retries_total", help: "Delivery attempts that failed and will be retried (5xx, 408, 429, timeout, connection error).", samples: per { Double($0.retried) })
            writer.counter("vigil_output_failed_total", help: "Events rejected for good by an output (another 4xx; a file write error).", samples: per { Double($0.failed) })
            writer.counter("vigil_output_dropped_total", help: "Events dropped without delivery: the oldest when the outbox was full.", samples: per { Double($0.dropped) })
            let queued = snapshot.outputs.filter { $0.name != "file" }
            writer.gauge("vigil_outbox_entries", help: "Events waiting in an output's outbox.", samples: queued.map { ([("output", $0.name)], Double($0.outboxEntries)) })
            writer.gauge("vigil_outbox_bytes", help: "Bytes of the events waiting in an output's outbox.", samples: queued.map { ([("output", $0.name)], Double($0.outboxBytes)) })
            writer.gauge("vigil_outbox_oldest_age_seconds", help: "Age of the oldest event waiting in an output's outbox; 0 when empty.", samples: queued.map { ([("output", $0.name)], $0.outboxOldestAgeSeconds) })
            writer.counter("vigil_output_held_back_total", help: "Firing events not delivered to the incident outputs, by reason.", samples: [
                ([("reason", "silenced")], Double(snapshot.noise.silenced)), ([("reason", "rate_limited")], Double(snapshot.noise.rateLimited)),
                ([("reason", "flapping")], Double(snapshot.noise.flapping)), ([("reason", "below_severity")], Double(snapshot.belowSeverity)),
            ])
            writer.gauge("vigil_output_flapping_alerts", help: "Alerts held firing by the flapping guard.", value: Double(snapshot.flapping))
        }
    }
}
