import Foundation
import VigilPipeline

/// What `vigil-bench` was asked to do: `vigil-bench [MODE] [FLAGS]` (see ``help``).
struct BenchOptions {
    enum Mode: String, CaseIterable {
        case all, replay, decode, ring, alloc, e2e, latency, memory, quality
    }

    static let help = """
        USAGE: vigil-bench [all|replay|decode|ring|alloc|e2e|latency|memory|quality] [FLAGS]

        Benchmarks Vigil's hot path on a generated corpus of ~90-byte JSON telemetry (one message per device per
        step, 4 metrics and an epoch-ms "ts" each, fixed seed) and prints a table; also writes it as JSON.

        MODES (default all):
          decode   PayloadDecoder vs Foundation JSONSerialization on the same payloads: ns/message, median and p99.
          ring     ByteRing single-producer single-consumer throughput, two threads.
          replay   The corpus through Router + Pipeline with 1 and with 2 shards, one producer thread, overflow
                   block; the same corpus through a C reference (cc -O2, built at run time) for the ratio.
          alloc    Heap allocations per message in steady state: decode, engine, router + ring + worker.
          e2e      Through a real mosquitto on a loopback port, QoS 0 and QoS 1: a C libmosquitto publisher
                   (loadtest/bench/mqtt_peer.c, cc -O2 at run time) floods ~90-byte JSON for --devices devices;
                   a raw C subscriber that only counts, then Vigil (MQTTClient + RouterHandler + Pipeline +
                   AnomalyPublisher as `vigil run` builds them, default profile), one after the other, each with
                   a fresh broker: consumed rates and the ratio Vigil / raw; at QoS 1, messages lost (must be 0).
          latency  Receive -> anomaly event handed to the MQTT client, p50/p99/p99.9, at a fixed publish rate of
                   half the raw subscriber's QoS 0 rate (from e2e, else measured first); 1,000 devices, each
                   spiking every 25th message after 40 (thousands of events). Run twice: workers that park
                   as soon as their ring is empty (the default), then workers that spin 20 us first.
          memory   RSS before and after one engine tracks --memory-devices devices x 4 metrics (default profile):
                   bytes per device-metric. Runs first, before the corpus exists.
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
          --e2e-messages N   Timed messages per e2e run, after an untimed first message per device
                             (default 100,000; --quick 50,000).
          --e2e-rounds N     e2e rounds, each running raw then Vigil at QoS 0 and at QoS 1; the ratio is the
                             median of the rounds' (default 3; --quick 1).
          --latency-seconds N  Length of the latency run at its fixed rate (default 10; --quick 4).
          --latency-rate N   Publish rate of the latency run, messages a second (default: half the ceiling).
          --spin-ns N        Workers' spin before parking in e2e runs, ns (default: the shipped default).
          --memory-devices N Devices in the memory mode (default 1,000,000; --quick 100,000).
          --out PATH     Where to write the JSON (default loadtest/out/bench.json in the repository).
          -h, --help     Show this help.

        Set VIGIL_BENCH_ALLOC_TRACE=N to print a backtrace for the first N allocations of each alloc measurement.
        """

    static let allModes: Set<Mode> = [.decode, .ring, .replay, .alloc, .e2e, .latency, .memory]

    var modes: Set<Mode> = allModes
    var messages = 5_000_000
    var devices = 100_000
    var quick = false
    var rounds = 5
    var seed: UInt64 = 42
    var output: String?
    /// Bytes per ring in the replay, ring and alloc modes (the configured default, `pipeline.ring_capacity`).
    var ringBytes = 4 << 20
    var e2eMessages = 100_000
    var e2eRounds = 3
    var latencySeconds = 10.0
    /// Devices in the latency run: few enough that each warms up (30 samples) within a second or two.
    var latencyDevices = 1000
    var memoryDevices = 1_000_000
    /// The workers' spin before parking in the latency runs, nanoseconds: none (the default), then 20 µs.
    /// The latency run's publish rate; nil for half the measured ceiling.
    var latencyRate: Double?
    /// The workers' spin in e2e runs; nil for the default.
    var e2eSpin: Int?
    var latencySpins = [0, 20_000]

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
        var explicit: [String: Int] = [:]
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
            case "--messages", "--devices", "--rounds", "--seed", "--ring-bytes", "--e2e-messages", "--e2e-rounds",
                "--latency-seconds", "--memory-devices", "--latency-rate", "--spin-ns":
                guard let text = nextValue(), let number = Int(text.replacingOccurrences(of: "_", with: "")),
                    number >= (argument == "--spin-ns" ? 0 : 1)
                else {
                    return (nil, "\(argument) needs a positive integer")
                }
                switch argument {
                case "--messages": explicitMessages = number
                case "--devices": explicitDevices = number
                case "--rounds": explicitRounds = number
                case "--e2e-messages": explicit["e2e-messages"] = number
                case "--e2e-rounds": explicit["e2e-rounds"] = number
                case "--latency-seconds": explicit["latency-seconds"] = number
                case "--memory-devices": explicit["memory-devices"] = number
                case "--latency-rate": options.latencyRate = Double(number)
                case "--spin-ns": options.e2eSpin = number
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
                options.modes = mode == .all ? allModes : [mode]
            }
            index += 1
        }
        if options.quick {
            options.messages = 200_000
            options.devices = 10_000
            options.rounds = 3
            options.e2eMessages = 50_000
            options.e2eRounds = 1
            options.latencySeconds = 4
            options.memoryDevices = 100_000
        }
        options.e2eMessages = explicit["e2e-messages"] ?? options.e2eMessages
        options.e2eRounds = explicit["e2e-rounds"] ?? options.e2eRounds
        options.latencySeconds = explicit["latency-seconds"].map(Double.init) ?? options.latencySeconds
        options.memoryDevices = explicit["memory-devices"] ?? options.memoryDevices
        options.rounds = explicitRounds ?? options.rounds
        options.messages = explicitMessages ?? options.messages
        options.devices = explicitDevices ?? options.devices
        guard options.devices <= Int(Int32.max), options.messages <= 1 << 32 else {
            return (nil, "--devices or --messages is too large")
        }
        return (options, nil)
    }
}
