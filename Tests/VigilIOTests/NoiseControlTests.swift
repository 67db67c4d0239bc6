import Foundation
import Testing
import VigilCore
import VigilIO

struct NoiseControlTests {
    static func event(_ episode: Int, _ state: AnomalyEvent.State, device: String = "d-1", metric: String = "temperature", score: Double = 0.9999999) -> AnomalyEvent {
        AnomalyEvent(
            eventID: "\(device)-\(episode)-\(state.rawValue)", dedupKey: "vigil:\(device):\(metric):ewma:\(episode)", device: device, metric: metric,
            detector: "ewma", state: state, score: score, value: 80, expected: 20, band: 19...21, onset: Double(episode),
            detected: Double(episode), resolvedAt: state == .resolved ? Double(episode) + 5 : nil, receivedAtNanos: 0,
            explanation: "temperature 80 on \(device) is far above 20", profile: "default"
        )
    }

    /// (state, dedup key, flapping) of what came out.
    static func summary(_ events: [OutputEvent]) -> [String] {
        events.map { "\($0.event.state.rawValue) \($0.event.dedupKey.split(separator: ":").last!)\($0.flapping ? " flapping" : "")" }
    }

    @Test func aSilenceHoldsBackFiringAndItsResolutionButNotAnEarlierAlertsResolution() {
        let window = Silence(device: "lab-*", start: 1000, end: 2000)
        var noise = NoiseControl(settings: NoiseSettings(silences: [window]))
        var out: [OutputEvent] = []
        // Fired before the window: delivered, and its resolution inside the window is delivered too.
        out += noise.process(Self.event(1, .firing, device: "lab-7"), latencyMs: nil, now: 900)
        out += noise.process(Self.event(1, .resolved, device: "lab-7"), latencyMs: nil, now: 1100)
        // Inside the window: held back, with its resolution.
        out += noise.process(Self.event(2, .firing, device: "lab-7"), latencyMs: nil, now: 1200)
        out += noise.process(Self.event(2, .resolved, device: "lab-7"), latencyMs: nil, now: 1300)
        // Another device is not silenced.
        out += noise.process(Self.event(3, .firing, device: "plant-1"), latencyMs: nil, now: 1400)
        // After the window.
        out += noise.process(Self.event(4, .firing, device: "lab-7"), latencyMs: nil, now: 2000)
        #expect(Self.summary(out) == ["firing 1", "resolved 1", "firing 3", "firing 4"])
        #expect(noise.counts.silenced == 1)
    }

    @Test func aDailyWindowWrapsPastMidnight() {
        let night = Silence(dailyStartMinute: 22 * 60, dailyEndMinute: 6 * 60)
        let day = 20_000 * 86_400.0
        #expect(night.isActive(at: day + 23 * 3600))
        #expect(night.isActive(at: day + 5 * 3600 + 59 * 60))
        #expect(!night.isActive(at: day + 6 * 3600))
        #expect(!night.isActive(at: day + 12 * 3600))
        #expect(night.matches(Self.event(1, .firing), at: day + 1 * 3600))
    }

    @Test func theRateLimitIsPerDeviceAndWindow() {
        var noise = NoiseControl(settings: NoiseSettings(rateLimitPerDevice: 2, rateLimitWindow: 60))
        var out: [OutputEvent] = []
        for episode in 1...4 {
            out += noise.process(Self.event(episode, .firing, metric: "m\(episode)"), latencyMs: nil, now: 100 + Double(episode))
        }
        out += noise.process(Self.event(9, .firing, device: "d-2"), latencyMs: nil, now: 105)
        for episode in 1...4 {
            out += noise.process(Self.event(episode, .resolved, metric: "m\(episode)"), latencyMs: nil, now: 110)
        }
        out += noise.process(Self.event(5, .firing, metric: "m5"), latencyMs: nil, now: 170)
        #expect(Self.summary(out) == ["firing 1", "firing 2", "firing 9", "resolved 1", "resolved 2", "firing 5"])
        #expect(noise.counts.rateLimited == 2)
    }

    @Test func aFlappingAlertIsHeldFiringUntilItSettles() {
        var noise = NoiseControl(settings: NoiseSettings(flappingMaxFires: 2, flappingWindow: 100))
        var out: [OutputEvent] = []
        var now = 1000.0
        // Fires and resolves every 10 s, six times.
        for episode in 1...6 {
            out += noise.process(Self.event(episode, .firing), latencyMs: nil, now: now)
            out += noise.process(Self.event(episode, .resolved), latencyMs: nil, now: now + 5)
            now += 10
        }
        // Two fires are normal; the third trips the guard: delivered marked flapping, then held.
        #expect(Self.summary(out) == ["firing 1", "resolved 1", "firing 2", "resolved 2", "firing 3 flapping"])
        #expect(noise.flappingCount == 1)
        #expect(noise.tick(now: now + 50).isEmpty, "still inside the window of the last fire")
        let released = noise.tick(now: 1055 + 100)
        // The last resolution, carrying the dedup key of the firing that was delivered.
        #expect(Self.summary(released) == ["resolved 3"])
        #expect(released.first?.event.resolvedAt == 11, "the resolution of the last episode")
        #expect(noise.flappingCount == 0)
        #expect(noise.counts.flapping == 3 + 4)
        // Calm again: the next episode is an ordinary one.
        let next = noise.process(Self.event(7, .firing), latencyMs: nil, now: 2000)
        #expect(Self.summary(next) == ["firing 7"])
    }

    @Test func aResolutionWhoseFiringWasNotSeenIsDelivered() {
        var noise = NoiseControl(settings: NoiseSettings())
        let out = noise.process(Self.event(1, .resolved), latencyMs: nil, now: 10)
        #expect(Self.summary(out) == ["resolved 1"], "it fired before a restart: the tool must hear it ended")
    }

    @Test func severityComesFromTheScoreAndAResolutionKeepsItsFiringsSeverity() {
        var noise = NoiseControl(settings: NoiseSettings(severity: SeverityScale(errorScore: 0.99, criticalScore: 0.999)))
        let firing = noise.process(Self.event(1, .firing, score: 0.995), latencyMs: nil, now: 1)
        let resolved = noise.process(Self.event(1, .resolved, score: 0.9999), latencyMs: nil, now: 2)
        #expect(firing.first?.severity == .error)
        #expect(resolved.first?.severity == .error)
        #expect(noise.process(Self.event(2, .firing, score: 0.5), latencyMs: nil, now: 3).first?.severity == .warning)
        #expect(noise.process(Self.event(3, .firing, metric: "x", score: 0.9999), latencyMs: nil, now: 3).first?.severity == .critical)
    }
}
