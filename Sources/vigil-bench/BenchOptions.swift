import Foundation

/// What `vigil-bench` was asked to do: `vigil-bench [all|replay|decode|ring|alloc|quality] [FLAGS]`.
struct BenchOptions {
    enum Mode: String, CaseIterable {
        case all, replay, decode, ring, alloc, quality
    }

    static let help = """
        USAGE: vigil-bench [all|replay|decode|ring|alloc|quality] [FLAGS]

        Benchmarks Vigil's hot path on a generated corpus of ~90-byte JSON telemetry (one message per device per
        step, 4 metrics and an epoch-ms "ts" each, fixed seed) and prints a table; also writes it as JSON.

        MODES (default all):
          decode   PayloadDecoder vs Foundation JSONSerialization on the same payloads: ns/message, median and p99.
          ring     ByteRing single-producer single-consumer throughput, two threads.
          replay   The corpus through Router + Pipeline with 1 and with 2 shards, one producer thread, overflow
                   block; the same corpus through a C reference (cc -O2, built at run time) for the ratio.
          alloc    Heap allocations per message in steady state: decode, engine, router + ring + worker.
          quality  Detection quality on a labelled synthetic fleet (VigilSim), default profile: recall, time to
                   detect and false alarms per anomaly kind (not part of `all`: it measures answers, not speed).

        FLAGS:
          --messages N   Messages in the corpus (default 5,000,000; --quick 200,000).
          --devices N    Devices in the corpus (default 100,000; --quick 10,000).
          --quick        A short run: small corpus, fewer repetitions.
          --rounds N     Replay rounds, each running C, 1 shard, 2 shards and the engine alone once; medians are
                         reported (default 5; --quick 3).
          --seed N       Corpus seed (default 42).
          --ring-bytes N Ring capacity, a power of two >= 65536 (default 4194304, the configured default).
          --out PATH     Where to write the JSON (default loadtest/out/bench.json in the repository).
          -h, --help     Show this help.

        Set VIGIL_BENCH_ALLOC_TRACE=N to print a backtrace for the first N allocations of each alloc measurement.
        """

    var modes: Set<Mode> = [.decode, .ring, .replay, .alloc]
    var messages = 5_000_000
    var devices = 100_000
    var quick = false
    var rounds = 5
    var seed: UInt64 = 42
    var output: String?
    /// Bytes per ring in the replay, ring and alloc modes (the configured default, `pipeline.ring_capacity`).
    var ringBytes = 4 << 20

    /// Decode runs timed after the warm-up (each decodes the whole sample).
    var decodeRuns: Int { quick ? 50 : 200 }
    /// Payloads in the decode sample.
    var decodeSample: Int { 1000 }
    /// Ring runs (median reported).
    var ringRuns: Int { quick ? 3 : 5 }

    /// Parses the command line; `nil` with `message` set on a usage error, or with `message` nil for `--help`.
    static func parse(_ arguments: [String]) -> (options: BenchOptions?, message: String?) {
        var options = BenchOptions()
        var explicitMessages: Int?
        var explicitDevices: Int?
        var explicitRounds: Int?
        var modeSeen = false
        var index = 0
        func nextValue() -> String? {
            index += 1
            return index < arguments.count ? arguments[index] : nil
        }
        while index < arguments.count {
            let argument = arguments[index]
            switch argument {
            case "-h", "--help":
                return (nil, nil)
            case "--quick":
                options.quick = true
            case "--messages", "--devices", "--rounds", "--seed", "--ring-bytes":
                guard let text = nextValue(), let number = Int(text.replacingOccurrences(of: "_", with: "")),
                    number >= 1
                else {
                    return (nil, "\(argument) needs a positive integer")
                }
                switch argument {
                case "--messages": explicitMessages = number
                case "--devices": explicitDevices = number
                case "--rounds": explicitRounds = number
                case "--ring-bytes":
                    guard number >= 65536, number & (number - 1) == 0 else {
                        return (nil, "--ring-bytes must be a power of two of at least 65536")
                    }
                    options.ringBytes = number
                default: options.seed = UInt64(number)
                }
            case "--out":
                guard let path = nextValue() else { return (nil, "--out needs a path") }
                options.output = path
            default:
                guard !modeSeen, let mode = Mode(rawValue: argument) else {
                    return (
                        nil,
                        modeSeen || argument.hasPrefix("-")
                            ? "unknown argument '\(argument)'" : "unknown mode '\(argument)'"
                    )
                }
                modeSeen = true
                options.modes = mode == .all ? [.decode, .ring, .replay, .alloc] : [mode]
            }
            index += 1
        }
        if options.quick {
            options.messages = 200_000
            options.devices = 10_000
            options.rounds = 3
        }
        options.rounds = explicitRounds ?? options.rounds
        options.messages = explicitMessages ?? options.messages
        options.devices = explicitDevices ?? options.devices
        guard options.devices <= Int(Int32.max), options.messages <= 1 << 32 else {
            return (nil, "--devices or --messages is too large")
        }
        return (options, nil)
    }
}
