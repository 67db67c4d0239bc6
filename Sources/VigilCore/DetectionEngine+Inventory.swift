/// One tracked device as the inventory (`/devices`) shows it.
package struct DeviceInventory: Sendable, Equatable {
    package var device: String
    /// Receive time of its last message (seconds since the epoch).
    package var lastSeen: Double
    /// Event time of its last sample (seconds since the epoch).
    package var lastEventTime: Double
    package var messages: Int
    /// Whether some metric has not finished its warm-up (no event can fire from it yet).
    package var warming: Bool
    /// The detector profile judging it.
    package var profile: String
    /// Open episodes, as `detector` (device detectors) or `detector:metric`.
    package var openEpisodes: [String]
}

extension DetectionEngine {
    /// Up to `limit` tracked devices, most recently seen first, and how many are tracked in all.
    ///
    /// - Complexity: O(n log n) in the devices tracked; for inspection between batches, never per message.
    package func inventory(limit: Int) -> (devices: [DeviceInventory], total: Int) {
        let count = min(devices.count, states.count)
        let order = (0..<count).sorted { states[$0].lastReceiveTime > states[$1].lastReceiveTime }
        var listed: [DeviceInventory] = []
        listed.reserveCapacity(min(limit, count))
        for index in order.prefix(max(0, limit)) {
            let state = states[index]
            var open: [String] = []
            if state.silentSince != nil { open.append(DetectorKind.silence.label) }
            if state.rateEpisode.isFiring { open.append(DetectorKind.rate.label) }
            if state.sizeEpisode.isFiring { open.append(DetectorKind.payloadSize.label) }
            for metric in state.metrics {
                let name = metricNames.key(Int(metric.metric))
                let episodes = [metric.episodes.0, metric.episodes.1, metric.episodes.2, metric.episodes.3]
                for (kind, episode) in zip([DetectorKind.ewma, .change, .seasonal, .flatline], episodes) where episode.isFiring {
                    open.append(kind.label + ":" + name)
                }
            }
            listed.append(DeviceInventory(
                device: devices.key(index), lastSeen: state.lastReceiveTime, lastEventTime: state.lastEventTime,
                messages: state.messages, warming: isWarming(state), profile: profiles[state.profile].profile.name,
                openEpisodes: open
            ))
        }
        return (listed, count)
    }
}
