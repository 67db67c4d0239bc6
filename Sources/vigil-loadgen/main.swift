import Foundation
import Synchronization
import VigilCore
import VigilIO

// vigil-loadgen: a simulated fleet publishing telemetry to a broker, with one injected anomaly whose ground
// truth it knows, and a listener on the anomalies topic that reports what Vigil detected and how fast.

let help = """
    USAGE: vigil-loadgen [FLAGS]

    Publishes JSON telemetry for a simulated fleet to devices/{device}/telemetry: temperature (an hourly sine
    plus noise), humidity, and battery.voltage, each message stamped with "ts" (epoch ms). At --spike-at
    seconds it injects one spike into --spike-metric of --spike-device, then listens on --anomalies for Vigil's
    events and prints each with its true time to detect (detection minus injected onset).

    FLAGS:
      --host HOST            Broker host (default 127.0.0.1).
      --port PORT            Broker port (default 1883).
      --devices N            Devices in the fleet (default 20).
      --rate R               Messages per second over the whole fleet (default 200).
      --duration S           Seconds to run (default 20).
      --seed N               Random seed (default 1).
      --spike-device ID      Device to inject into (default d-7).
      --spike-metric NAME    temperature | humidity | battery.voltage (default temperature).
      --spike-at S           Seconds after start (default 10).
      --spike-size X         Added to the value, in the metric's noise standard deviations (default 40).
      --anomalies FILTER     Where Vigil publishes events (default vigil/anomalies/#).
      --truth FILE           Also write the ground truth as one JSON line.

    EXIT STATUS: 0 when the injected anomaly was detected, 2 when it was not, 1 on errors, 64 bad flags.
    """

struct LoadgenOptions {
    var host = "127.0.0.1"
    var port = 1883
    var devices = 20
    var rate = 200
    var duration = 20.0
    var seed: UInt64 = 1
    var spikeDevice = "d-7"
    var spikeMetric = "temperature"
    var spikeAt = 10.0
    var spikeSize = 40.0
    var anomalies = "vigil/anomalies/#"
    var truth: String? = nil

    struct UsageError: Error { var message: String }

    init(_ arguments: [String]) throws(UsageError) {
        var arguments = arguments[...]
        while let flag = arguments.popFirst() {
            if flag == "--help" || flag == "-h" {
                print(help)
                exit(0)
            }
            guard let value = arguments.popFirst() else { throw UsageError(message: "\(flag) needs a value") }
            func number(_ minimum: Double = 1) throws(UsageError) -> Double {
                guard let number = Double(value), number >= minimum else {
                    throw UsageError(message: "\(flag) needs a number >= \(minimum), got '\(value)'")
                }
                return number
            }
            switch flag {
            case "--host": host = value
            case "--port": port = Int(try number())
            case "--devices": devices = Int(try number())
            case "--rate": rate = Int(try number())
            case "--duration": duration = try number()
            case "--seed": seed = UInt64(try number(0))
            case "--spike-device": spikeDevice = value
            case "--spike-metric":
                guard ["temperature", "humidity", "battery.voltage"].contains(value) else {
                    throw UsageError(message: "--spike-metric must be temperature, humidity or battery.voltage")
                }
                spikeMetric = value
            case "--spike-at": spikeAt = try number(0)
            case "--spike-size": spikeSize = try number(0)
            case "--anomalies": anomalies = value
            case "--truth": truth = value
            default: throw UsageError(message: "unknown flag '\(flag)'")
            }
        }
    }
}

/// SplitMix64 with Box-Muller: reproducible noise from --seed.
struct Random {
    var state: UInt64
    mutating func uniform() -> Double {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return Double((z ^ (z >> 31)) >> 11) / Double(1 << 53)
    }
    mutating func gaussian() -> Double {
        (-2 * log(max(uniform(), 1e-300))).squareRoot() * cos(2 * .pi * uniform())
    }
}

/// What was injected, and when (the generator stamps "ts" with the wall clock, so this is event time too).
struct Injection: Sendable {
    var device: String
    var metric: String
    var onset: Double
}

func format(_ value: Double, _ decimals: Int = 1) -> String { String(format: "%.\(decimals)f", value) }

/// Listens to Vigil's anomaly events and reports them against the ground truth as they arrive.
final class Listener: MQTTClientHandler {
    let injection = Mutex<Injection?>(nil)
    let detections = Mutex<[Double]>([])
    let falseAlarms = Atomic<Int>(0)
    let subscribed = Atomic<Bool>(false)

    func mqttMessage(topic: UnsafeRawBufferPointer, payload: UnsafeRawBufferPointer) {
        let received = Date().timeIntervalSince1970
        guard let object = try? JSONSerialization.jsonObject(with: Data(payload)) as? [String: Any],
            let device = object["device"] as? String, let metric = object["metric"] as? String,
            let state = object["state"] as? String
        else { return }
        let explanation = object["explanation"] as? String ?? ""
        guard state == "firing" else {
            print("  resolved  \(device) \(metric): \(explanation)")
            return
        }
        guard let truth = injection.withLock({ $0 }), truth.device == device, truth.metric == metric else {
            falseAlarms.add(1, ordering: .relaxed)
            print("  unexpected \(device) \(metric): \(explanation)")
            return
        }
        var detectedText = object["detected"] as? String ?? ""
        let detected = detectedText.withUTF8 { TimestampParser.parseISO8601(UnsafeRawBufferPointer($0)) } ?? received
        let trueTTD = (detected - truth.onset) * 1000
        detections.withLock { $0.append(trueTTD) }
        print("  DETECTED  \(device) \(metric): \(explanation)")
        print("            true time to detect \(format(trueTTD)) ms (event time), "
            + "injection to alert received \(format((received - truth.onset) * 1000)) ms (wall clock)")
    }

    func mqttConnected(code: Int32, description: String) {}
    func mqttDisconnected(code: Int32, description: String) {}
    func mqttSubscribed(granted: [Int32]) { subscribed.store(true, ordering: .relaxed) }
}

func runFleet(_ options: LoadgenOptions) throws -> Int32 {
    let listener = Listener()
    var listenOptions = MQTTClientOptions(host: options.host, port: options.port, clientID: "vigil-loadgen-listen-\(getpid())")
    listenOptions.subscriptions = [(options.anomalies, 1)]
    let listenClient = try MQTTClient(options: listenOptions)
    try listenClient.start(handler: listener)
    let publisher = try MQTTClient(options: MQTTClientOptions(host: options.host, port: options.port, clientID: "vigil-loadgen-\(getpid())"))
    try publisher.start(handler: nil)
    defer {
        publisher.stop()
        listenClient.stop()
    }
    let waitStart = Date()
    while !(publisher.isConnected && listener.subscribed.load(ordering: .relaxed)) {
        guard Date().timeIntervalSince(waitStart) < 10 else {
            FileHandle.standardError.write(Data("vigil-loadgen: cannot reach the broker at \(options.host):\(options.port)\n".utf8))
            return 1
        }
        usleep(10_000)
    }

    print("fleet: \(options.devices) devices, \(options.rate) msg/s for \(format(options.duration, 0)) s; "
        + "spike in \(options.spikeDevice) \(options.spikeMetric) at +\(format(options.spikeAt, 0)) s")
    var random = Random(state: options.seed)
    let phases = (0..<options.devices).map { _ in random.uniform() * 2 * .pi }
    let start = Date().timeIntervalSince1970
    let interval = 1 / Double(options.rate)
    var sent = 0
    var injected = false
    while true {
        let due = start + Double(sent) * interval
        let elapsed = due - start
        if elapsed >= options.duration { break }
        let wait = due - Date().timeIntervalSince1970
        if wait > 0.0005 { usleep(UInt32(wait * 1e6)) }
        let index = sent % options.devices
        let device = "d-\(index)"
        // The payload's "ts" has millisecond resolution; the ground truth uses the very same instant.
        let time = (Date().timeIntervalSince1970 * 1000).rounded(.down) / 1000
        var temperature = 21 + 2 * sin(2 * .pi * elapsed / 3600 + phases[index]) + 0.3 * random.gaussian()
        var humidity = 45 + 1.0 * random.gaussian()
        var voltage = 3.7 - elapsed * 0.0001 + 0.01 * random.gaussian()
        if !injected && device == options.spikeDevice && elapsed >= options.spikeAt {
            injected = true
            switch options.spikeMetric {
            case "humidity": humidity += options.spikeSize * 1.0
            case "battery.voltage": voltage += options.spikeSize * 0.01
            default: temperature += options.spikeSize * 0.3
            }
            listener.injection.withLock { $0 = Injection(device: device, metric: options.spikeMetric, onset: time) }
            print("  injected  spike in \(device) \(options.spikeMetric) at \(TimeFormat.iso8601(time))")
            if let path = options.truth {
                var line = JSONWriter()
                line.field("device", device)
                line.field("metric", options.spikeMetric)
                line.field("kind", "spike")
                line.field("onset", time)
                line.field("end", time)
                try (line.finish() + "\n").write(toFile: path, atomically: true, encoding: .utf8)
            }
        }
        let payload = "{\"ts\":\(Int64((time * 1000).rounded())),\"temperature\":\(format(temperature, 2)),"
            + "\"humidity\":\(format(humidity, 2)),\"battery\":{\"voltage\":\(format(voltage, 3))}}"
        try publisher.publish(topic: "devices/\(device)/telemetry", payload: payload, qos: 0)
        sent += 1
    }
    // Let the last events arrive.
    let settle = Date()
    while injected && listener.detections.withLock({ $0.isEmpty }) && Date().timeIntervalSince(settle) < 3 {
        usleep(10_000)
    }
    let detected = listener.detections.withLock { $0 }
    var summary = "summary: sent \(sent) messages; injected \(injected ? 1 : 0), detected \(detected.isEmpty ? 0 : 1), "
        + "false alarms \(listener.falseAlarms.load(ordering: .relaxed))"
    if !detected.isEmpty { summary += "; MTTD \(format(detected.reduce(0, +) / Double(detected.count))) ms" }
    print(summary)
    return injected && detected.isEmpty ? 2 : 0
}

do {
    let options = try LoadgenOptions(Array(CommandLine.arguments.dropFirst()))
    exit(try runFleet(options))
} catch let error as LoadgenOptions.UsageError {
    FileHandle.standardError.write(Data("vigil-loadgen: \(error.message)\n\n\(help)\n".utf8))
    exit(64)
} catch {
    FileHandle.standardError.write(Data("vigil-loadgen: \(error)\n".utf8))
    exit(1)
}
