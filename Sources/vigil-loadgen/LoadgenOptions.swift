import Foundation
import VigilIO
import VigilSim

let help = """
    USAGE: vigil-loadgen [FLAGS]
           vigil-loadgen report --truth FILE --events FILE --summary FILE [--vigil-log FILE] [--rss FILE]
                                [--out DIR] [--scenario NAME]

    Publishes a simulated fleet's telemetry to devices/{device}/telemetry, stamped with "ts" (epoch ms), each
    device every devices/rate seconds with jitter. A device's class says what it reports: environment (the
    default) temperature (a daily cycle plus noise), load (AR(1) with heavy-tailed shocks) and count (Poisson);
    power_meter power (W, a daily and weekly load curve), voltage (V) and energy (kWh, a counter); controller
    setpoint (a heating schedule), zone_temp, valve (%) and cycles (a counter). The scenario's `classes:` sets
    the mix. A scenario file schedules injected anomalies
    (spike, dip, level_shift, drift, variance_burst, stuck, flood, silence, payload_burst) on fractions of the
    fleet; --truth writes their ground truth. It listens on --anomalies for Vigil's events meanwhile (--events
    keeps them) and, when the fleet is small, prints each with its true time to detect.

    Without --scenario it injects one spike (the --spike-* flags), as `make demo` does.

    FLAGS:
      --host HOST            Broker host (default 127.0.0.1).
      --port PORT            Broker port (default 1883).
      --scenario FILE        A scenario (loadtest/scenarios/*.yaml); its fleet settings are the defaults.
      --devices N            Devices in the fleet (default 20, or the scenario's).
      --rate R               Messages per second over the whole fleet (default 200, or the scenario's).
      --duration S           Seconds to publish (default 20, or the scenario's).
      --seed N               Random seed (default 1, or the scenario's).
      --connections N        Publisher connections, each with its own thread and share of the devices
                             (default: one per 10,000 msg/s of rate).
      --truth FILE           Write the ground truth, one JSON line per injected anomaly:
                             {"device","metric","kind","onset","end"} (epoch seconds; metric: the one the
                             kind changes on the device's class, null for floods, silences and payload bursts).
      --events FILE          Write every anomaly event received, one JSON line each, with "received_ms" added.
      --summary FILE         Write a JSON summary of the run (sent, errors, per-second rate) for `report`.
      --settle S             Seconds to keep listening for events after publishing ends (default 3).
      --anomalies FILTER     Where Vigil publishes events (default vigil/anomalies/#).
      --spike-device ID      Without --scenario: the device to inject into (default d-7).
      --spike-metric NAME    Without --scenario: temperature (the only one a spike goes into).
      --spike-at S           Without --scenario: seconds after start (default 10).

    EXIT STATUS: 0 done (without --scenario: the spike was detected), 2 the spike was not detected, 1 on
    errors (a scenario file's problems are listed with their lines), 64 bad flags.
    """

struct LoadgenOptions {
    var host = "127.0.0.1"
    var port = 1883
    var scenarioPath: String? = nil
    var devices: Int? = nil
    var rate: Double? = nil
    var duration: Double? = nil
    var seed: UInt64? = nil
    var connections: Int? = nil
    var truth: String? = nil
    var events: String? = nil
    var summary: String? = nil
    var settle = 3.0
    var anomalies = "vigil/anomalies/#"
    var spikeDevice = "d-7"
    var spikeAt = 10.0

    init(_ arguments: [String]) throws(UsageError) {
        var arguments = arguments[...]
        while let flag = arguments.popFirst() {
            if flag == "--help" || flag == "-h" {
                print(help)
                exit(0)
            }
            guard let value = arguments.popFirst() else { throw UsageError(message: "\(flag) needs a value") }
            func number(_ minimum: Double = 1) throws(UsageError) -> Double {
                guard let number = Double(value), number >= minimum, number.isFinite else {
                    throw UsageError(message: "\(flag) needs a number >= \(minimum), got '\(value)'")
                }
                return number
            }
            switch flag {
            case "--host": host = value
            case "--port": port = Int(try number())
            case "--scenario": scenarioPath = value
            case "--devices": devices = Int(try number())
            case "--rate": rate = try number(0.001)
            case "--duration": duration = try number(0.001)
            case "--seed": seed = UInt64(try number(0))
            case "--connections": connections = Int(try number())
            case "--truth": truth = value
            case "--events": events = value
            case "--summary": summary = value
            case "--settle": settle = try number(0)
            case "--anomalies": anomalies = value
            case "--spike-device": spikeDevice = value
            case "--spike-metric":
                guard value == "temperature" else { throw UsageError(message: "--spike-metric must be temperature") }
            case "--spike-at": spikeAt = try number(0)
            default: throw UsageError(message: "unknown flag '\(flag)'")
            }
        }
    }

    /// The scenario file's settings with the flags applied; without a file, the demo's fleet.
    func scenario() throws(ConfigError) -> LoadScenario {
        var scenario = LoadScenario()
        if let scenarioPath {
            scenario = try LoadScenario.load(path: scenarioPath)
        } else {
            scenario.devices = 20
            scenario.rate = 200
            scenario.durationSeconds = 20
        }
        if let devices { scenario.devices = devices }
        if let rate { scenario.rate = rate }
        if let duration { scenario.durationSeconds = duration }
        if let seed { scenario.seed = seed }
        return scenario
    }
}

struct UsageError: Error { var message: String }

func format(_ value: Double, _ decimals: Int = 1) -> String { String(format: "%.\(decimals)f", value) }
