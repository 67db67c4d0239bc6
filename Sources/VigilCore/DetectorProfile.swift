/// Which detectors judge a class of devices, and how: what one `models/<name>.yaml` file describes.
///
/// Optional detectors are off when nil. The EWMA baseline always runs (the change detector reads its
/// residuals); `ewmaAlerts` says whether it raises events of its own.
package struct DetectorProfile: Sendable, Equatable {
    /// The profile's name (its file's stem); anomaly events carry it.
    package var name: String
    /// What the profile is for, in a sentence.
    package var description: String
    /// Metric names to judge; nil judges every numeric field.
    package var metrics: Set<String>?
    /// The metrics a metric detector (ewma, change, seasonal, flatline) judges, when it should judge fewer than
    /// ``metrics``; a detector without an entry judges all of them. For `ewma` this limits its events only: its
    /// baseline learns every judged metric.
    package var detectorMetrics: [DetectorKind: Set<String>]
    /// The score at or above which a sample counts as anomalous, for every detector.
    package var threshold: Double
    package var episodes: EpisodeTracker.Policy
    package var ewma: EWMADetector.Parameters
    package var ewmaAlerts: Bool
    package var change: CUSUMDetector.Parameters?
    package var seasonal: SeasonalDetector.Parameters?
    package var flatline: FlatlineDetector.Parameters?
    package var rate: RateDetector.Parameters?
    package var silence: SilenceDetector.Parameters?
    package var payloadSize: PayloadSizeParameters?

    package struct PayloadSizeParameters: Sendable, Equatable {
        /// The baseline of bytes per message.
        package var baseline: EWMADetector.Parameters
        /// Any message larger than this is anomalous (0: no cap).
        package var maxBytes: Int

        package init(baseline: EWMADetector.Parameters = .init(halfLife: 100, warmup: 30, minStd: 4), maxBytes: Int = 0) {
            self.baseline = baseline
            self.maxBytes = maxBytes
        }
    }

    package init(
        name: String = "default",
        description: String = "",
        metrics: Set<String>? = nil,
        detectorMetrics: [DetectorKind: Set<String>] = [:],
        threshold: Double = 0.999999,
        episodes: EpisodeTracker.Policy = .init(),
        ewma: EWMADetector.Parameters = .init(),
        ewmaAlerts: Bool = true,
        change: CUSUMDetector.Parameters? = .init(),
        seasonal: SeasonalDetector.Parameters? = nil,
        flatline: FlatlineDetector.Parameters? = .init(),
        rate: RateDetector.Parameters? = .init(),
        silence: SilenceDetector.Parameters? = .init(),
        payloadSize: PayloadSizeParameters? = .init()
    ) {
        self.name = name
        self.description = description
        self.metrics = metrics
        self.detectorMetrics = detectorMetrics
        self.threshold = threshold
        self.episodes = episodes
        self.ewma = ewma
        self.ewmaAlerts = ewmaAlerts
        self.change = change
        self.seasonal = seasonal
        self.flatline = flatline
        self.rate = rate
        self.silence = silence
        self.payloadSize = payloadSize
    }

    /// The deviation, in σ, whose score is the threshold: the half-width of every reported band.
    package var thresholdZ: Double { Score.z(forScore: threshold) }

    /// Whether the profile judges `metric` at all.
    package func judges(metric: String) -> Bool {
        metrics?.contains(metric) ?? true
    }

    /// Whether metric detector `kind` judges `metric` (whether the detector is on aside).
    package func judges(metric: String, with kind: DetectorKind) -> Bool {
        judges(metric: metric) && (detectorMetrics[kind]?.contains(metric) ?? true)
    }
}
