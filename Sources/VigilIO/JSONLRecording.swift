import Foundation

/// A JSONL recording: one MQTT message a line.
///
/// ```
/// {"t": 1764072612003, "topic": "devices/d-7/telemetry", "payload": "{\"ts\":1764072612001,\"temperature\":21.5}"}
/// {"t": 1764072612010, "topic": "devices/d-8/telemetry", "payload_b64": "AAECAw=="}
/// ```
///
/// - `t`: the receive time, epoch milliseconds (a number, fractions allowed, 0 to 9e12).
/// - `topic`: the MQTT topic, a non-empty string.
/// - exactly one of `payload` (the payload as text) and `payload_b64` (its bytes in standard base64,
///   RFC 4648 section 4, padding optional).
/// - other keys are ignored.
///
/// A line that breaks any of this is skipped and counted, with its number and the reason; blank lines are
/// ignored. Lines are parsed by a byte scanner for the plain shapes a recorder writes (ASCII strings, flat
/// values); a line it is not sure about (non-ASCII text, nested values, a repeated key, any syntax error) goes
/// to Foundation's `JSONSerialization`, whose verdict is final. The two agree on every line the scanner
/// accepts (`JSONLRecordingTests` checks it).
final class JSONLRecording: RecordingSource {
    private(set) var stats: RecordingInputStats
    private let lines: LineReader
    private let envelope = JSONLEnvelope()
    private(set) var currentTime: Int64 = 0
    private var currentLine = 0

    init(path: String, lines: LineReader) {
        self.stats = RecordingInputStats(path: path, format: .jsonl)
        self.lines = lines
    }

    func advance() throws(RecordingError) -> Bool {
        while true {
            let outcome: JSONLEnvelope.Outcome?
            do {
                outcome = try lines.nextLine { line -> JSONLEnvelope.Outcome in
                    guard let line else { return .invalid("line longer than 64 MiB") }
                    return envelope.parse(line)
                }
            } catch let error as LineReader.ReadError {
                throw RecordingError(path: stats.path, readError: error)
            } catch {
                throw RecordingError(path: stats.path, message: "cannot read: \(error)")
            }
            guard let outcome else { return false }
            stats.lines = lines.lineNumber
            switch outcome {
            case .message(let nanos):
                currentTime = nanos
                currentLine = lines.lineNumber
                stats.messages += 1
                return true
            case .blank:
                continue
            case .invalid(let message):
                stats.skip(line: lines.lineNumber, message)
            }
        }
    }

    func withCurrent(input: Int, _ body: (RecordedMessage) -> Void) {
        body(RecordedMessage(
            receivedAtNanos: currentTime, address: .topic(envelope.topic.bytes), payload: envelope.payload.bytes,
            input: input, line: currentLine
        ))
    }
}

/// The parts of one JSONL line, decoded into reusable buffers.
package final class JSONLEnvelope {
    /// What a line holds.
    package enum Outcome: Equatable {
        /// A message received at this time (ns since the epoch); ``topic`` and ``payload`` hold it.
        case message(Int64)
        /// Only whitespace.
        case blank
        /// Not a valid message, and why.
        case invalid(String)
    }

    /// A key's value, as far as validation needs it (string contents go to the buffers).
    enum Value: Equatable {
        case missing
        case number(Double)
        case string
        /// Any other JSON type, by name.
        case other(String)
    }

    /// The topic's bytes after ``parse(_:)`` gave a message.
    package let topic = GrowableBytes()
    /// The payload's bytes (decoded from base64 for `payload_b64`) after ``parse(_:)`` gave a message.
    package let payload = GrowableBytes()
    private let base64 = GrowableBytes()
    private var t = Value.missing
    private var topicValue = Value.missing
    private var payloadValue = Value.missing
    private var base64Value = Value.missing

    package init() {}

    /// Parses one line (without its newline): the byte scanner when it can, else `JSONSerialization`.
    package func parse(_ line: UnsafeRawBufferPointer) -> Outcome {
        parse(line, allowFastPath: true)
    }

    /// - Parameter allowFastPath: false always uses `JSONSerialization` (tests compare the two).
    package func parse(_ line: UnsafeRawBufferPointer, allowFastPath: Bool) -> Outcome {
        if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) { return .blank }
        reset()
        if !(allowFastPath && scan(line)) {
            reset()
            if let problem = parseWithFoundation(line) { return .invalid(problem) }
        }
        return validate()
    }

    private func reset() {
        topic.count = 0
        payload.count = 0
        base64.count = 0
        t = .missing
        topicValue = .missing
        payloadValue = .missing
        base64Value = .missing
    }

    /// The checks both parsers share, on the values they found.
    private func validate() -> Outcome {
        let milliseconds: Double
        switch t {
        case .missing: return .invalid("no \"t\" (the receive time, epoch ms)")
        case .number(let value): milliseconds = value
        case .string, .other: return .invalid("\"t\" must be a number of epoch milliseconds, not \(t.kindName)")
        }
        // 9e12 ms is the year 2255: beyond it, nanoseconds no longer fit an Int64.
        guard milliseconds.isFinite, milliseconds >= 0, milliseconds <= 9e12 else {
            return .invalid("\"t\" is out of range (epoch milliseconds from 0 to 9e12)")
        }
        switch topicValue {
        case .missing: return .invalid("no \"topic\"")
        case .string: if topic.count == 0 { return .invalid("\"topic\" is empty") }
        case .number, .other: return .invalid("\"topic\" must be a string, not \(topicValue.kindName)")
        }
        switch (payloadValue, base64Value) {
        case (.missing, .missing): return .invalid("no \"payload\" or \"payload_b64\"")
        case (.missing, .string):
            guard Base64.decode(base64.bytes, into: payload) else { return .invalid("\"payload_b64\" is not valid base64") }
        case (.string, .missing): break
        case (.missing, let other): return .invalid("\"payload_b64\" must be a string, not \(other.kindName)")
        case (let other, .missing): return .invalid("\"payload\" must be a string (the payload's text; payload_b64 for bytes), not \(other.kindName)")
        default: return .invalid("both \"payload\" and \"payload_b64\": give one")
        }
        let whole = milliseconds.rounded(.down)
        let nanos = Int64(whole) * 1_000_000 + Int64(((milliseconds - whole) * 1_000_000).rounded())
        return .message(nanos)
    }

    // MARK: Foundation

    /// Fills the values from `JSONSerialization`; returns the problem when the line is not a JSON object.
    private func parseWithFoundation(_ line: UnsafeRawBufferPointer) -> String? {
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: Data(line))
        } catch {
            let detail = (error as NSError).userInfo[NSDebugDescriptionErrorKey] as? String
            return "not valid JSON" + (detail.map { " (\($0))" } ?? "")
        }
        guard let fields = object as? [String: Any] else { return "not a JSON object" }
        t = Self.kind(fields["t"])
        topicValue = Self.value(fields["topic"], into: topic)
        payloadValue = Self.value(fields["payload"], into: payload)
        base64Value = Self.value(fields["payload_b64"], into: base64)
        return nil
    }

    private static func value(_ any: Any?, into buffer: GrowableBytes) -> Value {
        let result = kind(any)
        if result == .string, var text = any as? String {
            text.withUTF8 { buffer.append(UnsafeRawBufferPointer($0)) }
        }
        return result
    }

    private static func kind(_ any: Any?) -> Value {
        guard let any else { return .missing }
        switch any {
        case is NSNull: return .other("null")
        case let number as NSNumber:
            // JSON true/false come back as NSNumber too, of the C type `char`.
            if String(cString: number.objCType) == "c" { return .other("a boolean") }
            return .number(number.doubleValue)
        case is String: return .string
        case is [Any]: return .other("an array")
        case is [String: Any]: return .other("an object")
        default: return .other("\(type(of: any))")
        }
    }

    // MARK: Byte scanner

    private enum Key { case t, topic, payload, base64, other }

    /// Scans a line of the plain shape; false when it is not sure (the caller then asks Foundation).
    private func scan(_ line: UnsafeRawBufferPointer) -> Bool {
        var index = 0
        let count = line.count
        @inline(__always) func skipSpace() {
            while index < count, line[index] == 0x20 || line[index] == 0x09 || line[index] == 0x0D || line[index] == 0x0A { index += 1 }
        }
        skipSpace()
        guard index < count, line[index] == UInt8(ascii: "{") else { return false }
        index += 1
        skipSpace()
        var seen: (t: Bool, topic: Bool, payload: Bool, base64: Bool) = (false, false, false, false)
        if index < count, line[index] == UInt8(ascii: "}") {
            index += 1
        } else {
            while true {
                guard index < count, line[index] == UInt8(ascii: "\"") else { return false }
                // Keys: plain ASCII without escapes, or Foundation decides.
                let keyStart = index + 1
                var keyEnd = keyStart
                while keyEnd < count, line[keyEnd] != UInt8(ascii: "\"") {
                    let byte = line[keyEnd]
                    guard byte >= 0x20, byte < 0x80, byte != UInt8(ascii: "\\") else { return false }
                    keyEnd += 1
                }
                guard keyEnd < count else { return false }
                let key = Self.key(UnsafeRawBufferPointer(rebasing: line[keyStart..<keyEnd]))
                index = keyEnd + 1
                skipSpace()
                guard index < count, line[index] == UInt8(ascii: ":") else { return false }
                index += 1
                skipSpace()
                guard index < count else { return false }
                switch key {
                case .t:
                    guard !seen.t else { return false }
                    seen.t = true
                case .topic:
                    guard !seen.topic else { return false }
                    seen.topic = true
                case .payload:
                    guard !seen.payload else { return false }
                    seen.payload = true
                case .base64:
                    guard !seen.base64 else { return false }
                    seen.base64 = true
                case .other: break
                }
                let value: Value
                switch line[index] {
                case UInt8(ascii: "\""):
                    index += 1
                    let target: GrowableBytes? =
                        switch key {
                        case .topic: topic
                        case .payload: payload
                        case .base64: base64
                        case .t, .other: nil
                        }
                    let ok = Self.string(line, &index, into: target)
                    guard ok else { return false }
                    value = .string
                case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                    guard let number = Self.number(line, &index) else { return false }
                    value = .number(number)
                case UInt8(ascii: "t"):
                    guard Self.literal("true", line, &index) else { return false }
                    value = .other("a boolean")
                case UInt8(ascii: "f"):
                    guard Self.literal("false", line, &index) else { return false }
                    value = .other("a boolean")
                case UInt8(ascii: "n"):
                    guard Self.literal("null", line, &index) else { return false }
                    value = .other("null")
                default:
                    return false  // objects, arrays, anything else: Foundation decides
                }
                switch key {
                case .t: t = value
                case .topic: topicValue = value
                case .payload: payloadValue = value
                case .base64: base64Value = value
                case .other: break
                }
                skipSpace()
                guard index < count else { return false }
                if line[index] == UInt8(ascii: ",") {
                    index += 1
                    skipSpace()
                    continue
                }
                guard line[index] == UInt8(ascii: "}") else { return false }
                index += 1
                break
            }
        }
        skipSpace()
        return index == count
    }

    private static func key(_ bytes: UnsafeRawBufferPointer) -> Key {
        switch bytes.count {
        case 1: return bytes[0] == UInt8(ascii: "t") ? .t : .other
        case 5: return memcmp(bytes.baseAddress!, "topic", 5) == 0 ? .topic : .other
        case 7: return memcmp(bytes.baseAddress!, "payload", 7) == 0 ? .payload : .other
        case 11: return memcmp(bytes.baseAddress!, "payload_b64", 11) == 0 ? .base64 : .other
        default: return .other
        }
    }

    private static func literal(_ word: StaticString, _ line: UnsafeRawBufferPointer, _ index: inout Int) -> Bool {
        let length = word.utf8CodeUnitCount
        guard index + length <= line.count else { return false }
        let text = UnsafeRawBufferPointer(start: word.utf8Start, count: length)
        guard UnsafeRawBufferPointer(rebasing: line[index..<(index + length)]).elementsEqual(text) else { return false }
        index += length
        return true
    }

    /// Decodes a string whose opening quote is before `index` into `buffer` (nil: validate only); false on
    /// anything but printable ASCII and the standard escapes (Foundation decides those lines).
    private static func string(_ line: UnsafeRawBufferPointer, _ index: inout Int, into buffer: GrowableBytes?) -> Bool {
        let count = line.count
        // The decoded text is never longer than the escaped one: reserve once, then write without checks.
        buffer?.reserve(count - index)
        var out = buffer.map { $0.base + $0.count }
        defer { if let buffer, let out { buffer.count = buffer.base.distance(to: out) } }
        while index < count {
            let byte = line[index]
            if byte == UInt8(ascii: "\"") {
                index += 1
                return true
            }
            guard byte >= 0x20, byte < 0x80 else { return false }
            guard byte == UInt8(ascii: "\\") else {
                out?.pointee = byte
                out = out.map { $0 + 1 }
                index += 1
                continue
            }
            guard index + 1 < count else { return false }
            let escaped = line[index + 1]
            index += 2
            var decoded: UInt8
            switch escaped {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): decoded = escaped
            case UInt8(ascii: "b"): decoded = 0x08
            case UInt8(ascii: "f"): decoded = 0x0C
            case UInt8(ascii: "n"): decoded = 0x0A
            case UInt8(ascii: "r"): decoded = 0x0D
            case UInt8(ascii: "t"): decoded = 0x09
            case UInt8(ascii: "u"):
                guard var scalar = hex4(line, index) else { return false }
                index += 4
                if scalar >= 0xD800 && scalar < 0xDC00 {
                    guard index + 6 <= count, line[index] == UInt8(ascii: "\\"), line[index + 1] == UInt8(ascii: "u"),
                        let low = hex4(line, index + 2), low >= 0xDC00, low < 0xE000
                    else { return false }
                    index += 6
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                } else if scalar >= 0xDC00 && scalar < 0xE000 {
                    return false
                }
                // UTF-8 of at most 4 bytes from at least 6 escaped ones: still within the reservation.
                guard let unicode = Unicode.Scalar(scalar) else { return false }
                for unit in UTF8.encode(unicode)! {
                    out?.pointee = unit
                    out = out.map { $0 + 1 }
                }
                continue
            default:
                return false
            }
            out?.pointee = decoded
            out = out.map { $0 + 1 }
        }
        return false
    }

    private static func hex4(_ line: UnsafeRawBufferPointer, _ at: Int) -> UInt32? {
        guard at + 4 <= line.count else { return nil }
        var value: UInt32 = 0
        for offset in 0..<4 {
            let byte = line[at + offset]
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: return nil
            }
            value = value << 4 | UInt32(digit)
        }
        return value
    }

    /// A number in the strict JSON grammar, converted exactly; nil when it is not one, or does not fit a
    /// finite double (Foundation decides those lines).
    private static func number(_ line: UnsafeRawBufferPointer, _ index: inout Int) -> Double? {
        let start = index
        let count = line.count
        @inline(__always) func digits() -> Int {
            let from = index
            while index < count, line[index] >= UInt8(ascii: "0"), line[index] <= UInt8(ascii: "9") { index += 1 }
            return index - from
        }
        if line[index] == UInt8(ascii: "-") { index += 1 }
        guard index < count else { return nil }
        if line[index] == UInt8(ascii: "0") {
            index += 1
        } else {
            guard digits() > 0 else { return nil }
        }
        if index < count, line[index] == UInt8(ascii: ".") {
            index += 1
            guard digits() > 0 else { return nil }
        }
        if index < count, line[index] == UInt8(ascii: "e") || line[index] == UInt8(ascii: "E") {
            index += 1
            if index < count, line[index] == UInt8(ascii: "+") || line[index] == UInt8(ascii: "-") { index += 1 }
            guard digits() > 0 else { return nil }
        }
        guard index - start <= 64 else { return nil }
        // Plain integers of up to 15 digits (a receive time in ms) are exact as doubles: no strtod.
        if index - start <= 15 {
            let negative = line[start] == UInt8(ascii: "-")
            var position = negative ? start + 1 : start
            var integer: Int64 = 0
            while position < index, line[position] >= UInt8(ascii: "0"), line[position] <= UInt8(ascii: "9") {
                integer = integer * 10 + Int64(line[position] - UInt8(ascii: "0"))
                position += 1
            }
            if position == index { return negative ? -Double(integer) : Double(integer) }
        }
        guard let value = Double(String(decoding: UnsafeRawBufferPointer(rebasing: line[start..<index]), as: UTF8.self)),
            value.isFinite
        else { return nil }
        return value
    }
}

extension JSONLEnvelope.Value {
    var kindName: String {
        switch self {
        case .missing: "missing"
        case .number: "a number"
        case .string: "a string"
        case .other(let kind): kind
        }
    }
}

/// Standard base64 (RFC 4648 section 4) with optional padding; no whitespace, no URL-safe alphabet.
enum Base64 {
    private static let table: [UInt8] = {
        var table = [UInt8](repeating: 0xFF, count: 256)
        for (index, byte) in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8.enumerated() {
            table[Int(byte)] = UInt8(index)
        }
        return table
    }()

    /// Puts the bytes `text` encodes in `output`; false (output unspecified) when it is not valid base64.
    static func decode(_ text: UnsafeRawBufferPointer, into output: GrowableBytes) -> Bool {
        output.count = 0
        var length = text.count
        if length % 4 == 0 && length > 0 {
            if text[length - 1] == UInt8(ascii: "=") { length -= 1 }
            if text[length - 1] == UInt8(ascii: "=") { length -= 1 }
        }
        guard length % 4 != 1 else { return false }
        output.reserve(length * 3 / 4 + 1)
        var accumulator: UInt32 = 0
        var bits = 0
        for index in 0..<length {
            let value = table[Int(text[index])]
            guard value != 0xFF else { return false }
            accumulator = accumulator << 6 | UInt32(value)
            bits += 6
            if bits >= 8 {
                bits -= 8
                output.append(UInt8(truncatingIfNeeded: accumulator >> UInt32(bits)))
                accumulator &= (1 << UInt32(bits)) - 1
            }
        }
        // Leftover bits must be zero (canonical encoding), as a strict decoder requires.
        return accumulator & ((1 << UInt32(bits)) - 1) == 0
    }
}

/// A byte buffer that is reused line after line: no copy-on-write, no allocation once it has grown.
package final class GrowableBytes {
    // Owned by this object, freed in deinit; used by one thread at a time (the reader's).
    private(set) var base: UnsafeMutablePointer<UInt8>
    private(set) var capacity: Int
    /// Bytes in use, from ``base``.
    var count = 0

    init(capacity: Int = 1024) {
        self.capacity = capacity
        base = .allocate(capacity: capacity)
    }

    deinit { base.deallocate() }

    /// The bytes in use, valid until the next change.
    package var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }

    /// Makes room for `extra` more bytes after ``count``.
    func reserve(_ extra: Int) {
        guard count + extra > capacity else { return }
        var grown = capacity * 2
        while grown < count + extra { grown *= 2 }
        let bigger = UnsafeMutablePointer<UInt8>.allocate(capacity: grown)
        bigger.update(from: base, count: count)
        base.deallocate()
        base = bigger
        capacity = grown
    }

    func append(_ byte: UInt8) {
        reserve(1)
        base[count] = byte
        count += 1
    }

    func append(_ bytes: UnsafeRawBufferPointer) {
        reserve(bytes.count)
        if let source = bytes.baseAddress, bytes.count > 0 {
            UnsafeMutableRawPointer(base + count).copyMemory(from: source, byteCount: bytes.count)
        }
        count += bytes.count
    }
}
