/// A fixed-bucket histogram of durations in seconds, written by one thread and read by any: the shape
/// Prometheus scrapes (`_bucket`, `_sum`, `_count`) and the source of the MTTD quantiles.
///
/// Bucket upper bounds are fixed (``bounds``), so histograms of different shards add up bucket by bucket.
package final class Histogram: Sendable {
    /// Upper bounds in seconds, ascending; a last implicit bucket holds everything above.
    package static let bounds: [Double] = [
        0, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600,
    ]

    /// Bucket counts, then the sum in microseconds (an integer, so the single writer can keep it in a counter).
    private let counters = Counters(count: bounds.count + 2)

    package init() {}

    /// Records one duration. Only the owning thread may call this.
    package func record(_ seconds: Double) {
        let value = max(0, seconds)
        var bucket = Self.bounds.count
        for (index, bound) in Self.bounds.enumerated() where value <= bound {
            bucket = index
            break
        }
        counters.add(bucket)
        counters.add(Self.bounds.count + 1, Int((value * 1e6).rounded()))
    }

    /// The current counts (per bucket, non-cumulative) and sum.
    package var snapshot: HistogramSnapshot {
        HistogramSnapshot(
            buckets: (0...Self.bounds.count).map { counters[$0] },
            sum: Double(counters[Self.bounds.count + 1]) / 1e6
        )
    }
}

/// Bucket counts and sum of one or more ``Histogram``s.
package struct HistogramSnapshot: Sendable, Equatable {
    /// Non-cumulative counts, one per bound plus the overflow bucket.
    package var buckets: [Int]
    package var sum: Double

    package init(buckets: [Int] = Array(repeating: 0, count: Histogram.bounds.count + 1), sum: Double = 0) {
        self.buckets = buckets
        self.sum = sum
    }

    package var count: Int { buckets.reduce(0, +) }
    package var mean: Double? { count > 0 ? sum / Double(count) : nil }

    package static func + (a: HistogramSnapshot, b: HistogramSnapshot) -> HistogramSnapshot {
        HistogramSnapshot(buckets: zip(a.buckets, b.buckets).map(+), sum: a.sum + b.sum)
    }

    /// The `q` quantile, interpolated linearly inside its bucket as Prometheus' `histogram_quantile` does;
    /// nil when empty. Values in the overflow bucket are reported as the last bound.
    package func quantile(_ q: Double) -> Double? {
        let total = count
        guard total > 0 else { return nil }
        let rank = q * Double(total)
        var seen = 0.0
        for (index, n) in buckets.enumerated() where n > 0 {
            if seen + Double(n) >= rank {
                guard index < Histogram.bounds.count else { return Histogram.bounds.last }
                let upper = Histogram.bounds[index]
                let lower = index == 0 ? 0 : Histogram.bounds[index - 1]
                return lower + (upper - lower) * max(0, rank - seen) / Double(n)
            }
            seen += Double(n)
        }
        return Histogram.bounds.last
    }
}
