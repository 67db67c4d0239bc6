import Foundation
import VigilCore

/// `decode`: PayloadDecoder against Foundation's JSONSerialization on the same payloads.
///
/// A run decodes every payload of a fixed sample (spread over the corpus) and reads every metric's value;
/// its time divided by the sample size is that run's ns/message. Both decoders get the same warm-up and
/// the same number of runs, interleaved, and the ratio is taken of the medians.
enum DecodeBench {
    static func run(corpus: Corpus, options: BenchOptions, report: Report) {
        let sampleSize = min(options.decodeSample, corpus.messageCount)
        var arena: [UInt8] = []
        var starts: [Int] = [0]
        var datas: [Data] = []
        corpus.withView { view in
            for index in 0..<sampleSize {
                let payload = view.payload(index * corpus.messageCount / sampleSize)
                arena.append(contentsOf: payload)
                starts.append(arena.count)
                datas.append(Data(payload))
            }
        }
        var decoder = Self.makeDecoder()
        progress("decode: \(sampleSize) payloads, \(options.decodeRuns) runs each after a warm-up")

        var vigilSum = 0.0
        var foundationSum = 0.0
        var failures = 0
        var vigilTimes: [Double] = []
        var foundationTimes: [Double] = []
        arena.withUnsafeBytes { arena in
            starts.withUnsafeBufferPointer { starts in
                for _ in 0..<max(5, options.decodeRuns / 10) {
                    failures += decodeAll(&decoder, arena, starts, sum: &vigilSum)
                    failures += decodeAll(datas, sum: &foundationSum)
                }
                if failures > 0 || abs(vigilSum - foundationSum) > 1e-6 * abs(foundationSum) {
                    report.fail(
                        "decode: the two decoders disagree (\(failures) failures, sums \(vigilSum) vs \(foundationSum))"
                    )
                }
                for _ in 0..<options.decodeRuns {
                    vigilTimes.append(
                        Measure.time { failures += decodeAll(&decoder, arena, starts, sum: &vigilSum) } * 1e9
                            / Double(sampleSize))
                    foundationTimes.append(
                        Measure.time { failures += decodeAll(datas, sum: &foundationSum) } * 1e9 / Double(sampleSize))
                }
            }
        }
        report.checksums["decode"] = vigilSum + foundationSum

        let vigilMedian = Measure.median(vigilTimes)
        let foundationMedian = Measure.median(foundationTimes)
        report.add("decode", "decode.vigil.median_ns", "PayloadDecoder, median", vigilMedian, "ns/msg")
        report.add(
            "decode", "decode.vigil.p99_ns", "PayloadDecoder, p99", Measure.percentile(vigilTimes, 0.99), "ns/msg")
        report.add("decode", "decode.foundation.median_ns", "JSONSerialization, median", foundationMedian, "ns/msg")
        report.add(
            "decode", "decode.foundation.p99_ns", "JSONSerialization, p99", Measure.percentile(foundationTimes, 0.99),
            "ns/msg")
        report.add(
            "decode", "decode.speedup", "JSONSerialization / PayloadDecoder", foundationMedian / vigilMedian, "x",
            note: "medians of \(options.decodeRuns) runs of \(sampleSize) payloads"
        )
    }

    /// One pass of PayloadDecoder over the sample, adding every metric's value to `sum`; returns failures.
    ///
    /// The decoder is passed `inout` rather than captured: a captured `var` lives in a box, and reading it
    /// for a non-mutating call (`fieldCount`, `fieldValue`) may copy the whole decoder out of the box each
    /// time, which would be timed as decoding.
    static func decodeAll(
        _ decoder: inout PayloadDecoder, _ arena: UnsafeRawBufferPointer, _ starts: UnsafeBufferPointer<Int>,
        sum: inout Double
    ) -> Int {
        var failures = 0
        for index in 0..<(starts.count - 1) {
            do {
                try decoder.decode(UnsafeRawBufferPointer(rebasing: arena[starts[index]..<starts[index + 1]]))
                for field in 0..<decoder.fieldCount { sum += decoder.fieldValue(field) }
            } catch {
                failures += 1
            }
        }
        return failures
    }

    /// One pass of JSONSerialization over the same sample, reading every metric as a Double; returns failures.
    static func decodeAll(_ datas: [Data], sum: inout Double) -> Int {
        var failures = 0
        for data in datas {
            guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
                failures += 1
                continue
            }
            for (key, value) in object where key != "ts" {
                if let number = value as? Double { sum += number } else { failures += 1 }
            }
        }
        return failures
    }

    /// The decoder as `vigil run` builds it with the default configuration and `timestamp_field: ts`.
    static func makeDecoder() -> PayloadDecoder {
        PayloadDecoder(limits: PayloadLimits(), timestampField: "ts", timestampUnit: .auto)
    }
}
