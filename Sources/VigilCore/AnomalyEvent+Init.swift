extension AnomalyEvent {
    /// An event made outside the engine (tests of the outputs, tools); the engine uses the memberwise initialiser.
    package init(
        eventID id: String, dedupKey: String, device: String, metric: String, detector: String, state: State, score: Double,
        value: Double, expected: Double, band: ClosedRange<Double>, onset: Double, detected: Double,
        resolvedAt: Double? = nil, receivedAtNanos: Int64, explanation: String, profile: String
    ) {
        self.id = id
        self.dedupKey = dedupKey
        self.device = device
        self.metric = metric
        self.detector = detector
        self.state = state
        self.score = score
        self.value = value
        self.expected = expected
        self.band = band
        self.onset = onset
        self.detected = detected
        self.resolvedAt = resolvedAt
        self.receivedAtNanos = receivedAtNanos
        self.explanation = explanation
        self.profile = profile
    }
}
