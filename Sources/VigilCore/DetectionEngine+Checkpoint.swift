/// Checkpoints: every tracked device's learned state as one record, and back.
///
/// A record holds the device's stable hash first (so a file can be split by hash without decoding records, and
/// a record can be routed to whichever shard owns the device under any shard count), then its id, its profile's
/// name, its device-level detectors and episodes, and each metric by name with its detectors and episodes.
/// Profiles and metrics are matched by name when loading, so a checkpoint survives reordered subscriptions.
extension DetectionEngine {
    /// What loading records did.
    package struct RestoreCounts: Sendable, Equatable {
        package var devices = 0
        /// Records whose profile no subscription names any more, or beyond `max_devices`.
        package var skipped = 0
        /// Metrics dropped by `max_metric_names` / `max_metrics_per_device`, or whose seasonal state did not fit.
        package var metricsDropped = 0
        /// Records of devices another instance owns (`cluster.mode: hash`), left out.
        package var notOwned = 0

        package init() {}

        package static func += (lhs: inout RestoreCounts, rhs: RestoreCounts) {
            lhs.devices += rhs.devices
            lhs.skipped += rhs.skipped
            lhs.metricsDropped += rhs.metricsDropped
            lhs.notOwned += rhs.notOwned
        }
    }

    /// One record per tracked device: `(stable hash, bytes)`.
    package func checkpointRecords() -> [(hash: UInt64, bytes: [UInt8])] {
        var records: [(hash: UInt64, bytes: [UInt8])] = []
        records.reserveCapacity(devices.count)
        for index in states.indices where states[index].messages > 0 {
            var writer = CheckpointWriter()
            let hash = devices.withKey(index) { StableHash.hash($0) }
            writer.u64(hash)
            devices.withKey(index) { writer.data($0) }
            let state = states[index]
            writer.string(profiles[state.profile].profile.name)
            state.rate.write(to: &writer)
            state.silence.write(to: &writer)
            state.size.write(to: &writer)
            state.rateEpisode.write(to: &writer)
            state.sizeEpisode.write(to: &writer)
            writer.bool(state.silentSince != nil)
            writer.f64(state.silentSince ?? 0)
            writer.f64(state.silenceDetectedAt)
            writer.f64(state.lastEventTime)
            writer.f64(state.lastReceiveTime)
            writer.i64(Int64(state.messages))
            writer.u32(UInt32(state.metrics.count))
            for metric in state.metrics {
                writer.string(metricNames.key(Int(metric.metric)))
                metric.ewma.write(to: &writer)
                metric.change.write(to: &writer)
                metric.flatline.write(to: &writer)
                writer.bool(metric.seasonal != nil)
                metric.seasonal?.write(to: &writer)
                metric.episodes.0.write(to: &writer)
                metric.episodes.1.write(to: &writer)
                metric.episodes.2.write(to: &writer)
                metric.episodes.3.write(to: &writer)
            }
            records.append((hash, writer.bytes))
        }
        return records
    }

    /// Loads records written by ``checkpointRecords()`` into this (fresh) engine.
    ///
    /// - Parameters:
    ///   - now: the wall-clock time of the restart, in seconds: receive-time detectors (rate, silence) resume
    ///     from it, so that the time Vigil was down reads neither as silence nor as a drop in rate.
    ///   - closeEpisodes: forget open episodes (a model learned offline has no business resolving them).
    /// - Throws: ``CheckpointError`` for a record that does not decode; records before it stay loaded.
    package mutating func restore(
        records: [[UInt8]], now: Double, closeEpisodes: Bool = false
    ) throws(CheckpointError) -> RestoreCounts {
        var counts = RestoreCounts()
        for record in records {
            let outcome: Result<Void, CheckpointError> = record.withUnsafeBytes { bytes in
                var reader = CheckpointReader(bytes)
                do throws(CheckpointError) {
                    try restoreOne(&reader, now: now, closeEpisodes: closeEpisodes, counts: &counts)
                } catch {
                    return .failure(error)
                }
                return reader.remaining == 0 ? .success(()) : .failure(CheckpointError("\(reader.remaining) bytes after a device record"))
            }
            try outcome.get()
        }
        return counts
    }

    private mutating func restoreOne(
        _ reader: inout CheckpointReader, now: Double, closeEpisodes: Bool, counts: inout RestoreCounts
    ) throws(CheckpointError) {
        let hash = try reader.u64()
        let key = try reader.data(maxCount: 65535)
        guard StableHash.hash(key) == hash else { throw CheckpointError("a device record's hash does not match its id") }
        let profileName = try reader.string()
        var state = DeviceState()
        state.rate = try RateDetector(from: &reader)
        state.silence = try SilenceDetector(from: &reader)
        state.size = try EWMADetector(from: &reader)
        state.rateEpisode = try EpisodeTracker(from: &reader)
        state.sizeEpisode = try EpisodeTracker(from: &reader)
        let silent = try reader.bool()
        let silentSince = try reader.f64()
        state.silentSince = silent ? silentSince : nil
        state.silenceDetectedAt = try reader.f64()
        state.lastEventTime = try reader.f64()
        state.lastReceiveTime = try reader.f64()
        state.messages = Int(clamping: max(1, try reader.i64()))
        let profile = profiles.firstIndex { $0.profile.name == profileName }
        state.profile = profile ?? 0
        let metricCount = try reader.count(minimumBytes: 100)
        var metrics: [(name: String, state: MetricState?)] = []
        for _ in 0..<metricCount {
            let name = try reader.string()
            var metric = MetricState(metric: -1)
            metric.ewma = try EWMADetector(from: &reader)
            metric.change = try CUSUMDetector(from: &reader)
            metric.flatline = try FlatlineDetector(from: &reader)
            var fits = true
            if try reader.bool() {
                // Decoded against the parameters it was written with (its own bucket count); dropped if the
                // profile has none now or another bucket count.
                let saved = try SeasonalDetector(from: &reader, nil)
                if let p = profile.flatMap({ profiles[$0].profile.seasonal }), saved.buckets.count == p.buckets {
                    metric.seasonal = saved
                } else {
                    fits = profile == nil || profiles[profile!].profile.seasonal == nil
                }
            }
            metric.episodes = (
                try EpisodeTracker(from: &reader), try EpisodeTracker(from: &reader),
                try EpisodeTracker(from: &reader), try EpisodeTracker(from: &reader)
            )
            metrics.append((name, fits ? metric : nil))
        }
        guard profile != nil, devices.index(of: key) == nil, devices.count < settings.maxDevices else {
            counts.skipped += 1
            return
        }
        for (name, metric) in metrics {
            guard var metric, state.metrics.count < settings.maxMetricsPerDevice else {
                counts.metricsDropped += 1
                continue
            }
            var nameCopy = name
            let known = nameCopy.withUTF8 { metricNames.index(of: UnsafeRawBufferPointer($0)) }
            let index: Int
            if let known {
                index = known
            } else {
                guard metricNames.count < settings.maxMetricNames else {
                    counts.metricsDropped += 1
                    continue
                }
                index = metricNames.insert(name).index
                for compiled in profiles { metricSelection.append(Self.selection(of: name, by: compiled.profile)) }
            }
            metric.metric = Int32(index)
            if closeEpisodes { metric.episodes = (EpisodeTracker(), EpisodeTracker(), EpisodeTracker(), EpisodeTracker()) }
            state.metrics.append(metric)
        }
        if closeEpisodes {
            state.rateEpisode = EpisodeTracker()
            state.sizeEpisode = EpisodeTracker()
            state.silentSince = nil
        }
        state.rate.resume()
        state.silence.resume(at: now)
        state.lastReceiveTime = max(state.lastReceiveTime, now)
        let deviceIndex = devices.insert(key).index
        if deviceIndex < states.count { states[deviceIndex] = state } else { states.append(state) }
        counts.devices += 1
    }
}
