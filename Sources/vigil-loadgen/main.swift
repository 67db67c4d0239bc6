import Foundation
import Synchronization
import VigilCore
import VigilIO

// vigil-loadgen: a simulated fleet publishing telemetry to a broker, with one injected anomaly whose ground
// truth it knows, and a listener on the anomalies topic that reports what Vigil detected and how fast.

let help = """
    USAGE: vigil-loadgen [FLAGS]

    Publishes JSON telemetry for a simulated fleet to devices/{device}/telemetry: temperature (daily-style
    sine plus noise), humidity, and battery.voltage, each message stamped with "ts" (epoch ms). At --spike-at
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
      --spike-metric NAME    Metric to inject into (default temperature).
      --spike-at S           Seconds after start (default 10).
      --spike-size X         Added to the value, in the metric's noise standard deviations (default 40).
      --anomalies FILTER     Where Vigil publishes events (default vigil/anomalies/#).
      --truth FILE           Also write the ground truth as one JSON line.
    """

var values: [String: String] = [:]
var arguments = Array(CommandLine.arguments.dropFirst())
while !arguments.isEmpty {
    let flag = arguments.removeFirst()
    if flag == "--help" || flag == "-h" {
        print(help)
        exit(0)
    }
    guard flag.hasPrefix("--"), !arguments.isEmpty else {
        FileHandle.standardError.write(Data("vigil-loadgen: bad argument '\(flag)'\n\n\(help)\n".utf8))
        exit(64)
    }
    values[String(flag.dropFirst(2))] = arguments.removeFirst()
}

func intFlag(_ name: String, _ fallback: Int) -> Int {
    guard let text = values[name] else { return fallback }
    guard let value = Int(text), value > 0 else {
        FileHandle.standardError.write(Data("vigil-loadgen: --\(name) needs a positive integer\n".utf8))
        exit(64)
    }
    return value
}

let host = values["host"] ?? "127.0.0.1"
let port = intFlag("port", 1883)
let deviceCount = intFlag("devices", 20)
let rate = intFlag("rate", 200)
let duration = Double(intFlag("duration", 20))
var seed = UInt64(intFlag("seed", 1))
let spikeDevice = values["spike-device"] ?? "d-7"
let spikeMetric = values["spike-metric"] ?? "temperature"
let spikeAt = Double(intFlag("spike-at", 10))
let spikeSize = Double(values["spike-size"] ?? "40") ?? 40
let anomaliesFilter = values["anomalies"] ?? "vigil/anomalies/#"

/// SplitMix64 with Box-Muller: reproducible noise from --seed.
func nextRandom() -> Double {
    seed &+= 0x9E37_79B9_7F4A_7C15
    var z = seed
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return Double((z ^ (z >> 31)) >> 11) / Double(1 << 53)
}
func gaussian() -> Double {
    (-2 * log(max(nextRandom(), 1e-300))).squareRoot() * cos(2 * .pi * nextRandom())
}

/// What was injected, and when (wall clock = event time here: the generator stamps "ts" with now).
struct Injection: Sendable {
    var device: String
    var metric: String
    var onset: Double
}

/// Listens to Vigil's anomaly events and reports them against the ground truth.
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
        let ttd = object["time_to_detect_ms"] as? Double ?? .nan
        let truth = injection.withLock { $0 }
        guard state == "firing" else {
            print("  resolved  \(device) \(metric): \(explanation)")
            return
        }
        if let truth, truth.device == device, truth.metric == metric {
            let detectedAt = (object["detected"] as? String).flatMap(parseTime) ?? received
            let trueTTD = (detectedAt - truth.onset) * 1000
            let endToEnd = (received - truth.onset) * 1000
            detections.withLock { $0.append(trueTTD) }
            print("  DETECTED  \(device) \(metric): \(explanation)")
            print("            true time to detect \(format(trueTTD)) ms (event time; Vigil reports \(format(ttd)) ms), "
                + "injection to alert received \(format(endToEnd)) ms")
        } else {
            falseAlarms.add(1, ordering: .relaxed)
            print("  unexpected \(device) \(metric): \(explanation)")
        }
    }

    func mqttConnected(code: Int32, description: String) {}
    func mqttDisconnected(code: Int32, description: String) {}
    func mqttSubscribed(granted: [Int32]) { subscribed.store(true, ordering: .relaxed) }
}

func parseTime(_ text: String) -> Double? {
    var text = text
    return text.withUTF8 { TimestampParser.parseISO8601(UnsafeRawBufferPointer($0)) }
}

func format(_ value: Double) -> String { String(format: "%.1f", value) }

let listener = Listener()
do {
    var listenOptions = MQTTClientOptions(host: host, port: port, clientID: "vigil-loadgen-listen-\(getpid())")
    listenOptions.subscriptions = [(anomaliesFilter, 1)]
    let listenClient = try MQTTClient(options: listenOptions)
    try listenClient.start(handler: listener)
    let publisher = try MQTTClient(options: MQTTClientOptions(host: host, port: port, clientID: "vigil-loadgen-\(getpid())"))
    try publisher.start(handler: nil)
    let waitStart = Date()
    while !(publisher.isConnected && listener.subscribed.load(ordering: .relaxed)) {
        guard Date().timeIntervalSince(waitStart) < 10 else {
            FileHandle.standardError.write(Data("vigil-loadgen: cannot reach the broker at \(host):\(port)\n".utf8))
            exit(1)
        }
        usleep(10_000)
    }

    print("fleet: \(deviceCount) devices, \(rate) msg/s for \(Int(duration)) s; spike in \(spikeDevice) \(spikeMetric) at +\(Int(spikeAt)) s")
    let phases = (0..<deviceCount).map { _ in nextRandom() * 2 * .pi }
    let start = Date().timeIntervalSince1970
    let interval = 1 / Double(rate)
    var sent = 0
    var injected = false
    while true {
        let due = start + Double(sent) * interval
        let now = Date().timeIntervalSince1970
        if due - now > 0.0005 { usleep(UInt32((due - now) * 1e6)) }
        let elapsed = due - start
        if elapsed >= duration { break }
        let index = sent % deviceCount
        let device = "d-\(index)"
        let time = Date().timeIntervalSince1970
        var temperature = 21 + 2 * sin(2 * .pi * elapsed / 60 + phases[index]) + 0.3 * gaussian()
        var humidity = 45 + 1.0 * gaussian()
        var voltage = 3.7 - elapsed * 0.0001 + 0.01 * gaussian()
        if !injected && device == spikeDevice && elapsed >= spikeAt {
            injected = true
            switch spikeMetric {
            case "humidity": humidity += spikeSize * 1.0
            case "battery.voltage": voltage += spikeSize * 0.01
            default: temperature += spikeSize * 0.3
            }
            listener.injection.withLock { $0 = Injection(device: device, metric: spikeMetric, onset: time) }
            print("  injected  spike in \(device) \(spikeMetric) at \(TimeFormat.iso8601(time))")
            if let path = values["truth"] {
                let line = "{\"device\":\"\(device)\",\"metric\":\"\(spikeMetric)\",\"kind\":\"spike\",\"onset\":\(time),\"end\":\(time)}\n"
                FileManager.default.createFile(atPath: path, contents: Data(line.utf8))
            }
        }
        let payload = "{\"ts\":\(Int64(time * 1000)),\"temperature\":\(format2(temperature)),\"humidity\":\(format2(humidity)),\"battery\":{\"voltage\":\(format3(voltage))}}"
        try publisher.publish(topic: "devices/\(device)/telemetry", payload: payload, qos: 0)
        sent += 1
    }
    // Give the last events time to arrive.
    let settle = Date()
    while listener.detections.withLock({ $0.isEmpty }) && injected && Date().timeIntervalSince(settle) < 3 { usleep(10_000) }
    let detected = listener.detections.withLock { $0 }
    print("summary: sent \(sent) messages; injected \(injected ? 1 : 0), detected \(detected.isEmpty ? 0 : 1), "
        + "false alarms \(listener.falseAlarms.load(ordering: .relaxed))"
        + (detected.isEmpty ? "" : "; MTTD \(format(detected.reduce(0, +) / Double(detected.count))) ms"))
    publisher.stop()
    listenClient.stop()
    exit(injected && detected.isEmpty ? 2 : 0)
} catch {
    FileHandle.standardError.write(Data("vigil-loadgen: \(error)\n".utf8))
    exit(1)
}

func format2(_ value: Double) -> String { String(format: "%.2f", value) }
func format3(_ value: Double) -> String { String(format: "%.3f", value) }
