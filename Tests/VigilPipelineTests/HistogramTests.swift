import Testing
import VigilPipeline

@Suite struct HistogramTests {
    @Test func countsSumsAndInterpolatesQuantiles() {
        let histogram = Histogram()
        #expect(histogram.snapshot.quantile(0.5) == nil)
        for _ in 0..<50 { histogram.record(0) }          // bucket "<= 0"
        for _ in 0..<40 { histogram.record(0.3) }        // bucket (0.25, 0.5]
        for _ in 0..<10 { histogram.record(7200) }       // above the last bound
        let snapshot = histogram.snapshot
        #expect(snapshot.count == 100)
        #expect(abs(snapshot.sum - (40 * 0.3 + 10 * 7200)) < 1e-6)
        #expect(snapshot.quantile(0.5) == 0)
        // Rank 70 of 100 lies half way through the 40 samples of (0.25, 0.5].
        #expect(abs(snapshot.quantile(0.7)! - 0.375) < 1e-12)
        #expect(snapshot.quantile(0.99) == 3600)
    }

    @Test func snapshotsOfShardsAddUp() {
        let a = Histogram()
        let b = Histogram()
        a.record(0.002)
        b.record(0.002)
        b.record(2)
        let sum = a.snapshot + b.snapshot
        #expect(sum.count == 3)
        #expect(sum.buckets[2] == 2)  // (0.001, 0.0025]
        #expect(abs(sum.mean! - (2.004 / 3)) < 1e-9)
    }
}
