import Synchronization
import VigilPipeline

/// `ring`: ByteRing throughput with one producer thread and one consumer thread.
///
/// The producer copies the corpus's messages (device id and payload, as the router does) into a 4 MiB ring
/// (the configured default, `--ring-bytes`); the consumer reads each record in place and releases it in batches of 256 (the
/// workers' batch). A side that finds the ring full or empty spins briefly and then yields. The time runs from
/// the moment both threads are released until the consumer has seen the last record.
enum RingBench {
    static let batch = 256

    static func run(corpus: Corpus, options: BenchOptions, report: Report) {
        let messages = corpus.messageCount
        var rates: [Double] = []
        var checksum = 0
        for runIndex in 0..<options.ringRuns {
            let ring = ByteRing(capacity: options.ringBytes)
            let gate = StartGate()
            let producer = BenchThread(name: "bench.ring.producer") {
                gate.wait()
                corpus.withView { view in
                    var backoff = Backoff()
                    for message in 0..<messages {
                        let device = view.deviceID(message)
                        let payload = view.payload(message)
                        while !ring.write(device: device, payload: payload, receivedAtNanos: Int64(message)) {
                            backoff.pause()
                        }
                        backoff.reset()
                    }
                }
            }
            var received = 0
            var sum = 0
            let seconds = Measure.time {
                gate.open()
                var backoff = Backoff()
                while received < messages {
                    let count = ring.consume(limit: batch) { record in
                        sum &+=
                            record.payload.count &+ Int(record.device[0])
                            &+ Int(truncatingIfNeeded: record.receivedAtNanos)
                    }
                    if count == 0 { backoff.pause() } else { backoff.reset() }
                    received += count
                }
            }
            producer.join()
            checksum &+= sum
            rates.append(Double(messages) / seconds)
            progress(
                "ring: run \(runIndex + 1)/\(options.ringRuns): \(Report.format(Double(messages) / seconds, unit: "msg/s")) msg/s"
            )
        }
        report.checksums["ring"] = Double(checksum)
        let median = Measure.median(rates)
        report.add(
            "ring", "ring.msgs_per_s", "ByteRing SPSC, 2 threads, median", median, "msg/s",
            note: "\(options.ringRuns) runs of \(Report.grouped(messages)) records, \(options.ringBytes >> 10) KiB ring")
        report.add("ring", "ring.ns_per_msg", "ByteRing SPSC, per message", 1e9 / median, "ns/msg")
    }
}
