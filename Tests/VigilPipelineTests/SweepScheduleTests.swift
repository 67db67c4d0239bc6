import Testing
import VigilPipeline

/// When a replay sweeps: at each whole interval of the recording's receive time, after the messages up to it.
@Suite struct SweepScheduleTests {
    static let second: Int64 = 1_000_000_000

    /// Feeds receive times (in seconds) and returns the log of sweeps and messages, in order.
    static func run(_ times: [Double], interval: Int64 = second, maxCatchUp: Int = 86_400) -> (log: [String], schedule: SweepSchedule) {
        var schedule = SweepSchedule(intervalNanos: interval, maxCatchUp: maxCatchUp)
        var log: [String] = []
        for time in times {
            let nanos = Int64((time * 1e9).rounded())
            schedule.advance(to: nanos) { log.append("sweep \(Double($0) / 1e9)") }
            log.append("msg \(time)")
        }
        schedule.finish { log.append("sweep \(Double($0) / 1e9)") }
        return (log, schedule)
    }

    @Test func sweepsAtEachBoundaryTheWatermarkPassesThenAtTheEnd() {
        let (log, schedule) = Self.run([100.2, 100.7, 101.0, 103.5, 103.9])
        #expect(log == [
            "msg 100.2", "msg 100.7",
            "msg 101.0",  // a message exactly at a boundary comes before that boundary's sweep
            "sweep 101.0", "sweep 102.0", "sweep 103.0",  // a gap: every boundary in it
            "msg 103.5", "msg 103.9",
            "sweep 103.9",  // the end of the recording
        ])
        #expect(schedule.sweeps == 4)
        #expect(schedule.watermark == 103_900_000_000)
    }

    @Test func aReceiveTimeThatGoesBackDoesNotMoveTheClock() {
        let (log, _) = Self.run([10.5, 12.5, 11.0, 12.8])
        #expect(log == ["msg 10.5", "sweep 11.0", "sweep 12.0", "msg 12.5", "msg 11.0", "msg 12.8", "sweep 12.8"])
    }

    @Test func theEndIsSweptOnceWhenItIsABoundary() {
        let (log, _) = Self.run([4.5, 6.0])
        #expect(log == ["msg 4.5", "sweep 5.0", "msg 6.0", "sweep 6.0"])
        #expect(Self.run([]).log.isEmpty)
    }

    @Test func aLongGapIsSweptForItsFirstPartThenTheClockJumps() {
        let (log, schedule) = Self.run([0.5, 1000.5], maxCatchUp: 3)
        #expect(log == ["msg 0.5", "sweep 1.0", "sweep 2.0", "sweep 3.0", "sweep 1000.0", "msg 1000.5", "sweep 1000.5"])
        #expect(schedule.jumps == 1)
    }
}
