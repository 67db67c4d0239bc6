/// SplitMix64 (Steele, Lea and Flood, 2014): a small, fast generator, so a seed gives the same corpus everywhere.
struct SplitMix64 {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }

    /// A value in `0..<bound` (Lemire's multiply-shift; the tiny bias does not matter here).
    mutating func below(_ bound: Int) -> Int {
        Int(truncatingIfNeeded: next().multipliedFullWidth(by: UInt64(bound)).high)
    }

    /// A value in `range`.
    mutating func inRange(_ range: ClosedRange<Int>) -> Int {
        range.lowerBound + below(range.upperBound - range.lowerBound + 1)
    }
}

/// A generated telemetry corpus held in memory: every message's topic and payload, back to back in arrival order.
///
/// Messages are stored the way a reader would hand them over (topic, then payload, one message after the
/// other) so that feeding them walks memory sequentially, as bytes fresh off a socket or a file would be,
/// instead of looking topics up in a per-device table (a cache miss per message that real traffic does not have).
///
/// Each step, every device sends one message, in an order shuffled per step; a message's payload looks like
/// `{"ts":1764072612003,"temperature":21.37,"humidity":45.12,"pressure":1013.2,"battery":3.71}` (87 to 91
/// bytes). Each device has its own baselines and the values move uniformly within a small band around them,
/// so once warmed up the detectors score every sample and (uniform noise never reaches 3.9 sigma) no episode
/// fires: the measurements are of the per-message path, not of event formatting.
final class Corpus: Sendable {
    static let topicPrefix = Array("devices/".utf8)
    static let topicSuffix = Array("/telemetry".utf8)
    static let template = "devices/{device}/telemetry"
    static let metricsPerMessage = 4

    let deviceCount: Int
    let messageCount: Int
    let seed: UInt64
    /// Bytes of a device id (all ids have the same width).
    let deviceIDLength: Int
    /// Bytes of a topic (all topics have the same length).
    let topicLength: Int
    /// Every message, back to back: message `m` is `starts[m]..<starts[m + 1]`, its topic (`topicLength` bytes)
    /// then its payload.
    private let bytes: [UInt8]
    private let starts: [Int]

    /// Messages per device (the last step may be partial).
    var steps: Int { (messageCount + deviceCount - 1) / deviceCount }
    var payloadBytes: Int { bytes.count - messageCount * topicLength }

    init(devices: Int, messages: Int, seed: UInt64) {
        precondition(devices >= 1 && messages >= 1)
        deviceCount = devices
        messageCount = messages
        self.seed = seed
        var rng = SplitMix64(seed: seed)

        let width = max(6, String(devices - 1).count)
        deviceIDLength = 4 + width
        topicLength = Self.topicPrefix.count + deviceIDLength + Self.topicSuffix.count
        var topics: [UInt8] = []
        topics.reserveCapacity(devices * topicLength)
        for device in 0..<devices {
            topics.append(contentsOf: Self.topicPrefix)
            topics.append(contentsOf: Array("dev-".utf8))
            let digits = Array(String(device).utf8)
            topics.append(contentsOf: repeatElement(UInt8(ascii: "0"), count: width - digits.count))
            topics.append(contentsOf: digits)
            topics.append(contentsOf: Self.topicSuffix)
        }

        // Baselines in fixed point: centi-degrees, centi-percent, deci-hPa, centi-volts; a phase in ms.
        struct Baseline { var temperature, humidity, pressure, battery, phase: Int }
        var baselines: [Baseline] = []
        baselines.reserveCapacity(devices)
        for _ in 0..<devices {
            baselines.append(
                Baseline(
                    temperature: rng.inRange(1500...3000), humidity: rng.inRange(3000...7000),
                    pressure: rng.inRange(9900...10300), battery: rng.inRange(350...410), phase: rng.below(10_000)
                ))
        }

        var bytes: [UInt8] = []
        bytes.reserveCapacity(messages * (topicLength + 92))
        var starts: [Int] = [0]
        starts.reserveCapacity(messages + 1)
        var order = Array(0..<devices)
        let firstMillis = 1_764_072_600_000  // 2025-11-25T12:10:00Z, in ms
        var step = 0
        while starts.count <= messages {
            for index in stride(from: devices - 1, to: 0, by: -1) {
                order.swapAt(index, rng.below(index + 1))
            }
            for device in order where starts.count <= messages {
                let base = baselines[device]
                bytes.append(contentsOf: topics[(device * topicLength)..<((device + 1) * topicLength)])
                Self.appendASCII("{\"ts\":", to: &bytes)
                Self.appendFixed(firstMillis + step * 10_000 + base.phase, decimals: 0, to: &bytes)
                Self.appendASCII(",\"temperature\":", to: &bytes)
                Self.appendFixed(base.temperature + rng.inRange(-50...50), decimals: 2, to: &bytes)
                Self.appendASCII(",\"humidity\":", to: &bytes)
                Self.appendFixed(base.humidity + rng.inRange(-200...200), decimals: 2, to: &bytes)
                Self.appendASCII(",\"pressure\":", to: &bytes)
                Self.appendFixed(base.pressure + rng.inRange(-20...20), decimals: 1, to: &bytes)
                Self.appendASCII(",\"battery\":", to: &bytes)
                Self.appendFixed(base.battery + rng.inRange(-2...2), decimals: 2, to: &bytes)
                bytes.append(UInt8(ascii: "}"))
                starts.append(bytes.count)
            }
            step += 1
        }
        self.bytes = bytes
        self.starts = starts
    }

    private static func appendASCII(_ text: StaticString, to bytes: inout [UInt8]) {
        text.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    /// Appends the non-negative fixed-point `value` with `decimals` digits after the point (1234, 2 → "12.34").
    private static func appendFixed(_ value: Int, decimals: Int, to bytes: inout [UInt8]) {
        precondition(value >= 0)
        var divisor = 1
        var length = 1
        while divisor <= value / 10 || length <= decimals {
            divisor *= 10
            length += 1
        }
        for remaining in stride(from: length, to: 0, by: -1) {
            if remaining == decimals { bytes.append(UInt8(ascii: ".")) }
            bytes.append(UInt8(ascii: "0") + UInt8((value / divisor) % 10))
            divisor /= 10
        }
    }

    /// Calls `body` with raw views of the corpus (valid only inside it).
    func withView<R>(_ body: (CorpusView) throws -> R) rethrows -> R {
        try bytes.withUnsafeBufferPointer { bytes in
            try starts.withUnsafeBufferPointer { starts in
                try body(
                    CorpusView(
                        bytes: bytes.baseAddress!, starts: starts.baseAddress!, topicLength: topicLength,
                        deviceOffset: Self.topicPrefix.count, deviceIDLength: deviceIDLength
                    ))
            }
        }
    }
}

/// Raw pointers into a ``Corpus``, for hot loops.
struct CorpusView {
    let bytes: UnsafePointer<UInt8>
    let starts: UnsafePointer<Int>
    let topicLength: Int
    /// Where the device id starts in a topic.
    let deviceOffset: Int
    let deviceIDLength: Int

    @inline(__always)
    func topic(_ message: Int) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: bytes + starts[message], count: topicLength)
    }

    @inline(__always)
    func deviceID(_ message: Int) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: bytes + starts[message] + deviceOffset, count: deviceIDLength)
    }

    @inline(__always)
    func payload(_ message: Int) -> UnsafeRawBufferPointer {
        let start = starts[message] + topicLength
        return UnsafeRawBufferPointer(start: bytes + start, count: starts[message + 1] - start)
    }
}
