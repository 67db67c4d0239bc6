import Foundation

/// A baseline per season bucket on event time (24 hourly buckets a day, 168 a week, ...): catches a value that
/// is normal for the day but wrong for the hour.
///
/// Each bucket learns across periods, not within one visit: during its first visit a bucket averages plainly;
/// after that each sample's weight is set so that the bucket forgets with a half-life of `halfLifePeriods`
/// visits, whatever the message rate (the detector learns how many samples a visit brings). A bucket scores
/// only once it has seen a whole visit and `minSamples` samples; until then the EWMA detector covers the
/// metric. Updates are clipped to 3σ, as in ``EWMADetector``.
package struct SeasonalDetector: Sendable, Equatable {
    package struct Parameters: Sendable, Equatable {
        /// The season, seconds (86,400: a day).
        package var period: Double
        /// Buckets per period (24: hourly).
        package var buckets: Int
        /// Periods over which a bucket forgets (a half-life).
        package var halfLifePeriods: Double
        /// Samples a bucket needs before it scores.
        package var minSamples: Int
        /// Absolute floor on σ.
        package var minStd: Double

        package init(period: Double = 86_400, buckets: Int = 24, halfLifePeriods: Double = 7, minSamples: Int = 10, minStd: Double = 1e-6) {
            self.period = period
            self.buckets = buckets
            self.halfLifePeriods = halfLifePeriods
            self.minSamples = minSamples
            self.minStd = minStd
        }
    }

    package struct Bucket: Sendable, Equatable {
        package var mean: Float = 0
        package var variance: Float = 0
        package var samples: Int32 = 0
        package var visits: Int16 = 0
    }

    package private(set) var buckets: [Bucket]
    private var current: Int = -1
    private var visitSamples: Int32 = 0
    /// Learned samples per bucket visit.
    private var perVisit: Float = 0

    package init(_ p: Parameters) {
        buckets = Array(repeating: Bucket(), count: p.buckets)
    }

    /// The bucket of an event time.
    package static func bucket(of time: Double, _ p: Parameters) -> Int {
        let phase = time.truncatingRemainder(dividingBy: p.period)
        let index = Int(((phase < 0 ? phase + p.period : phase) / p.period * Double(p.buckets)).rounded(.down))
        return min(max(index, 0), p.buckets - 1)
    }

    /// Scores `value` against its bucket (nil until the bucket is warm), then learns.
    package mutating func observe(_ value: Double, time: Double, _ p: Parameters, thresholdZ: Double) -> Assessment? {
        let index = Self.bucket(of: time, p)
        if index != current {
            if current >= 0 {
                buckets[current].visits &+= 1
                perVisit = perVisit == 0 ? Float(visitSamples) : perVisit + 0.2 * (Float(visitSamples) - perVisit)
            }
            current = index
            visitSamples = 0
        }
        visitSamples += 1
        var bucket = buckets[index]
        var assessment: Assessment? = nil
        let std = max(Double(bucket.variance).squareRoot(), p.minStd)
        let warm = bucket.visits >= 1 && Int(bucket.samples) >= p.minSamples
        if warm {
            let z = (value - Double(bucket.mean)) / std
            assessment = Assessment(
                score: Score.fromZ(z), z: z, expected: Double(bucket.mean),
                low: Double(bucket.mean) - thresholdZ * std, high: Double(bucket.mean) + thresholdZ * std
            )
        }
        bucket.samples &+= 1
        var x = value
        if warm { x = min(max(x, Double(bucket.mean) - 3 * std), Double(bucket.mean) + 3 * std) }
        let a: Double =
            bucket.visits == 0 || perVisit <= 0
            ? 1 / Double(bucket.samples)
            : 1 - exp(log(0.5) / (p.halfLifePeriods * Double(perVisit)))
        let d = x - Double(bucket.mean)
        bucket.mean = Float(Double(bucket.mean) + a * d)
        bucket.variance = Float((1 - a) * (Double(bucket.variance) + a * d * d))
        buckets[index] = bucket
        return assessment
    }
}

extension SeasonalDetector {
    /// Checkpoints (`DetectionEngine+Checkpoint.swift`): every field, fixed width.
    package func write(to writer: inout CheckpointWriter) {
        writer.u32(UInt32(buckets.count))
        for bucket in buckets {
            writer.f32(bucket.mean)
            writer.f32(bucket.variance)
            writer.i32(bucket.samples)
            writer.u16(UInt16(bitPattern: bucket.visits))
        }
        writer.i64(Int64(current))
        writer.i32(visitSamples)
        writer.f32(perVisit)
    }

    /// Reads a detector with the bucket count it was written with (the caller checks it against the profile).
    package init(from reader: inout CheckpointReader, _: Parameters?) throws(CheckpointError) {
        let count = try reader.count(minimumBytes: 14)
        guard count >= 1, count <= 100_000 else { throw CheckpointError("seasonal bucket count \(count)") }
        self.init(Parameters(buckets: count))
        var read: [Bucket] = []
        read.reserveCapacity(count)
        for _ in 0..<count {
            var bucket = Bucket()
            bucket.mean = try reader.f32()
            bucket.variance = try reader.f32()
            bucket.samples = try reader.i32()
            bucket.visits = Int16(bitPattern: try reader.u16())
            read.append(bucket)
        }
        let current = try reader.i64()
        visitSamples = try reader.i32()
        perVisit = try reader.f32()
        buckets = read
        self.current = current >= 0 && current < Int64(count) ? Int(current) : -1
    }
}
