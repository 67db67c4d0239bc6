import Foundation
import Testing
import VigilCore
import VigilIO
import VigilPipeline

/// The exposition writer and the registry: the text format Prometheus parses.
@Suite struct MetricsWriterTests {
    @Test func countersAndGaugesHaveHelpTypeAndEscapedLabels() {
        var writer = MetricsWriter()
        writer.counter("vigil_x_total", help: "Things.\nMore", samples: [([("reason", "a\"b\\c\nd")], 3), ([("reason", "plain")], 0.5)])
        writer.gauge("vigil_g", help: "A gauge.", value: .infinity)
        #expect(writer.text == """
            # HELP vigil_x_total Things.\\nMore
            # TYPE vigil_x_total counter
            vigil_x_total{reason="a\\"b\\\\c\\nd"} 3
            vigil_x_total{reason="plain"} 0.5
            # HELP vigil_g A gauge.
            # TYPE vigil_g gauge
            vigil_g +Inf

            """)
    }

    @Test func histogramBucketsAreCumulativeWithSumAndCount() {
        let histogram = Histogram()
        for seconds in [0.0005, 0.002, 0.002, 7200] { histogram.record(seconds) }
        var writer = MetricsWriter()
        writer.histogram("vigil_h_seconds", help: "H.", samples: [([("detector", "ewma")], histogram.snapshot)])
        let lines = writer.text.split(separator: "\n").map(String.init)
        #expect(lines.contains("vigil_h_seconds_bucket{detector=\"ewma\",le=\"0\"} 0"))
        #expect(lines.contains("vigil_h_seconds_bucket{detector=\"ewma\",le=\"0.001\"} 1"))
        #expect(lines.contains("vigil_h_seconds_bucket{detector=\"ewma\",le=\"0.0025\"} 3"))
        #expect(lines.contains("vigil_h_seconds_bucket{detector=\"ewma\",le=\"3600\"} 3"))
        #expect(lines.contains("vigil_h_seconds_bucket{detector=\"ewma\",le=\"+Inf\"} 4"))
        #expect(lines.contains("vigil_h_seconds_count{detector=\"ewma\"} 4"))
        #expect(lines.contains { $0.hasPrefix("vigil_h_seconds_sum{detector=\"ewma\"} 7200.004") })
        #expect(lines.count == 2 + Histogram.bounds.count + 1 + 2)
    }

    @Test func aFamilyNameIsWrittenOnceAndDuplicatesAreListed() {
        let registry = MetricsRegistry()
        registry.register { $0.counter("vigil_a_total", help: "A.", value: 1) }
        registry.register { $0.counter("vigil_a_total", help: "A again.", value: 2) }
        registry.register { $0.gauge("vigil_b", help: "B.", value: 2) }
        let text = registry.render()
        #expect(text.components(separatedBy: "# TYPE vigil_a_total").count == 2)
        #expect(text.contains("vigil_a_total 1\n"))
        #expect(!text.contains("vigil_a_total 2"))
        #expect(text.contains("vigil_b 2\n"))
    }

    @Test func numbersAreWrittenAsPrometheusReadsThem() {
        #expect(MetricsWriter.number(3) == "3")
        #expect(MetricsWriter.number(-0.25) == "-0.25")
        #expect(MetricsWriter.number(.nan) == "NaN")
        #expect(MetricsWriter.number(-.infinity) == "-Inf")
        #expect(MetricsWriter.number(1e20) == "1e+20")
    }
}
