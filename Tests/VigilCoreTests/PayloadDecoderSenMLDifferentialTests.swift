import Foundation
import Testing
import VigilCore

/// SenML packs generated at random, resolved by ``PayloadDecoder`` and by a reference written
/// here on top of Foundation's `JSONSerialization` (RFC 8428 §4.6 read directly, with Vigil's
/// documented rules for sums, value kinds, empty names, time bounds and must-understand fields).
///
/// Both must agree on every pack: the same resolved (name, value, time) list, or a rejection.
/// When the reference rejects, the decoder's reason must be one of the problems of the first
/// record the reference found wrong (a record can break several rules, and the two check them
/// in different orders).
@Suite struct PayloadDecoderSenMLDifferentialTests {
    static let limits = PayloadLimits(maxBytes: 1 << 20, maxDepth: 8, maxFields: 16, maxNameBytes: 64)
    static let receivedAt = 1_750_000_000.25

    struct Resolved: Equatable, CustomStringConvertible {
        var name: [UInt8]
        var value: Double
        var time: Double
        var description: String { "\(String(decoding: name, as: UTF8.self))=\(value)@\(time)" }
    }

    @Test func generatedPacksResolveAsTheReferenceDoes() throws {
        var generator = SenMLGenerator(random: SeededRandom(seed: 0x5E4D_0001))
        var decoder = PayloadDecoder(format: .senml, limits: Self.limits, timestampField: nil, timestampUnit: .auto)
        var outcomes: [String: Int] = [:]
        var recordsCompared = 0
        for index in 0..<600 {
            let text = generator.pack()
            let bytes = Array(text.utf8)
            let reference = try #require(try Self.reference(bytes), "Foundation rejected pack \(index): \(text)")
            var ours: [Resolved] = []
            var ourError: PayloadError?
            do {
                let fields = try decoder.decodeFields(bytes)
                ours = fields.indices.map { field in
                    Resolved(
                        name: decoder.withFieldName(field) { Array($0) }, value: fields[field].value,
                        time: decoder.fieldEventTime(field, receivedAt: Self.receivedAt)
                    )
                }
            } catch {
                ourError = error
            }
            switch (reference, ourError) {
            case (.success(let expected), nil):
                outcomes["both accept", default: 0] += 1
                recordsCompared += expected.count
                #expect(ours == expected, "pack \(index): \(text)")
            case (.failure(let reasons), .some(let error)):
                outcomes["both reject: \(error.reason)", default: 0] += 1
                #expect(reasons.contains(error), "pack \(index): \(error), reference \(reasons.map(\.reason)): \(text)")
            case (.success(let expected), .some(let error)):
                Issue.record("pack \(index): decoder rejects (\(error)), reference accepts \(expected): \(text)")
            case (.failure(let reasons), nil):
                let reasons = reasons.map(\.reason)
                Issue.record("pack \(index): decoder accepts \(ours), reference rejects \(reasons): \(text)")
            }
        }
        // The corpus exercised acceptance and each kind of rejection it can produce.
        #expect(outcomes["both accept", default: 0] >= 300, "\(outcomes)")
        #expect(recordsCompared >= 1500, "\(outcomes)")
        for reason in ["unsupported", "syntax", "name_too_long", "bad_timestamp", "too_many_fields", "no_metrics"] {
            #expect(outcomes["both reject: \(reason)", default: 0] > 0, "no \(reason) in \(outcomes)")
        }
    }

    /// Packs with a byte cut, flipped, dropped or inserted: whatever the decoder accepts, the
    /// reference must accept and resolve the same way (the decoder is stricter on types and
    /// trailing commas, never looser).
    @Test func mutatedPacksAreNeverAcceptedWrongly() throws {
        var generator = SenMLGenerator(random: SeededRandom(seed: 0x5E4D_0002))
        var random = SeededRandom(seed: 0x5E4D_0003)
        var decoder = PayloadDecoder(format: .senml, limits: Self.limits, timestampField: nil, timestampUnit: .auto)
        let interesting = Array("{}[]:,\"\\ \n0123456789.eE+-tfnu_vbsd".utf8) + [0x00, 0x1F, 0x80, 0xC3, 0xED, 0xFF]
        var accepted = 0
        for _ in 0..<1500 {
            var bytes = Array(generator.pack().utf8)
            let position = random.below(bytes.count)
            let byte = interesting[random.below(interesting.count)]
            switch random.below(4) {
            case 0: bytes.removeLast(bytes.count - position)
            case 1: bytes[position] = byte
            case 2: bytes.remove(at: position)
            default: bytes.insert(byte, at: position)
            }
            let label = String(decoding: bytes, as: UTF8.self).debugDescription
            guard let fields = try? decoder.decodeFields(bytes) else { continue }
            accepted += 1
            let ours = fields.indices.map { field in
                Resolved(
                    name: decoder.withFieldName(field) { Array($0) }, value: fields[field].value,
                    time: decoder.fieldEventTime(field, receivedAt: Self.receivedAt)
                )
            }
            switch try Self.reference(bytes) {
            case .success(let expected)?:
                #expect(ours == expected, "\(label)")
            case .failure(let reasons)?:
                Issue.record("decoder accepts \(ours), reference rejects \(reasons.map(\.reason)): \(label)")
            case nil:
                Issue.record("decoder accepts \(ours), Foundation rejects the JSON: \(label)")
            }
        }
        #expect(accepted > 200)
    }

    /// The reference resolution: Foundation parses, this resolves. `nil` when Foundation rejects
    /// the JSON itself.
    static func reference(_ bytes: [UInt8]) throws -> Result<[Resolved], ReferenceRejection>? {
        guard let pack = try? JSONSerialization.jsonObject(with: Data(bytes), options: []) as? [Any] else { return nil }
        var baseName = ""
        var baseTime = 0.0
        var baseValue = 0.0
        var baseSum = 0.0
        var resolved: [Resolved] = []
        let known: Set<String> = ["bn", "bt", "bu", "bv", "bs", "bver", "n", "u", "v", "vs", "vb", "vd", "s", "t", "ut"]
        for element in pack {
            guard let record = element as? [String: Any] else { return .failure([.syntax]) }
            var problems: [PayloadError] = []
            if record.keys.contains(where: { !known.contains($0) && $0.hasSuffix("_") }) {
                problems.append(.unsupported)
            }
            if let version = record["bver"].flatMap(number), version > 10 {
                problems.append(.unsupported)
            }
            if let name = record["bn"] as? String {
                baseName = name
                if name.utf8.count > limits.maxNameBytes { problems.append(.nameTooLong) }
            }
            if let time = record["bt"].flatMap(number) { baseTime = time }
            if let value = record["bv"].flatMap(number) { baseValue = value }
            if let sum = record["bs"].flatMap(number) { baseSum = sum }
            let kinds = ["v", "vb", "vs", "vd"].filter { record[$0] != nil }
            if kinds.count > 1 { problems.append(.syntax) }
            let hasValue = !kinds.isEmpty || record["s"] != nil
            let name = baseName + (record["n"] as? String ?? "")
            if hasValue || record["n"] != nil, name.utf8.count > limits.maxNameBytes {
                problems.append(.nameTooLong)
            }
            if hasValue && name.isEmpty { problems.append(.syntax) }
            var value: Double?
            if problems.isEmpty, hasValue {
                switch kinds.first {
                case "v": value = baseValue + number(record["v"]!)!
                case "vb": value = (record["vb"] as! NSNumber).boolValue ? 1 : 0
                case nil: value = baseSum + number(record["s"]!)!
                default: value = nil  // a string or data value: skipped
                }
            }
            if let value {
                let time = baseTime + (record["t"].flatMap(number) ?? 0)
                if !value.isFinite || !time.isFinite {
                    problems.append(.nonFinite)
                } else if time >= 1e11 || time < -268_435_456 {
                    problems.append(.badTimestamp)
                } else if resolved.count == limits.maxFields {
                    problems.append(.tooManyFields)
                } else {
                    let eventTime = time < 268_435_456 ? receivedAt + time : time
                    resolved.append(Resolved(name: Array(name.utf8), value: value, time: eventTime))
                }
            }
            if !problems.isEmpty { return .failure(ReferenceRejection(problems)) }
        }
        return resolved.isEmpty ? .failure([.noMetrics]) : .success(resolved)
    }

    /// A JSON number from Foundation as a Double (exactly rounded, as the unit tests check).
    static func number(_ value: Any) -> Double? {
        if let decimal = value as? NSDecimalNumber {
            // NSDecimalNumber.doubleValue is not correctly rounded; its text is exact.
            return Double(decimal.stringValue)
        }
        guard let number = value as? NSNumber else { return nil }
        return number.doubleValue
    }
}

/// The problems the reference found in the first record it rejects.
struct ReferenceRejection: Error, ExpressibleByArrayLiteral {
    var reasons: [PayloadError]

    init(_ reasons: [PayloadError]) {
        self.reasons = reasons
    }

    init(arrayLiteral elements: PayloadError...) {
        reasons = elements
    }

    func contains(_ error: PayloadError) -> Bool { reasons.contains(error) }
    func map<T>(_ transform: (PayloadError) -> T) -> [T] { reasons.map(transform) }
}

/// Random SenML packs: mostly valid records in every combination of fields, whitespace and key
/// order, with a few records that break one of the decoder's rules.
struct SenMLGenerator {
    var random: SeededRandom

    mutating func pack() -> String {
        let count = random.chance(3) ? 0 : 1 + random.below(random.chance(8) ? 24 : 8)
        var records: [String] = []
        for _ in 0..<count {
            records.append(record())
        }
        return "[" + gap() + records.joined(separator: gap() + "," + gap()) + gap() + "]"
    }

    private mutating func record() -> String {
        var fields: [(String, String)] = []
        if random.chance(25) { fields.append(("bn", string(of: nameText()))) }
        if random.chance(20) { fields.append(("bt", time())) }
        if random.chance(10) { fields.append(("bu", string(of: "Cel"))) }
        if random.chance(15) { fields.append(("bv", value())) }
        if random.chance(8) { fields.append(("bs", value())) }
        if random.chance(5) {
            fields.append(("bver", random.chance(95) ? ["10", "5", "1", "10.0"][random.below(4)] : "11"))
        }
        if random.chance(95) { fields.append(("n", string(of: nameText()))) }
        if random.chance(20) { fields.append(("u", string(of: ["V", "A", "%RH", "lon", "/"][random.below(5)]))) }
        switch random.below(100) {
        case 0..<60: fields.append(("v", value()))
        case 60..<68: fields.append(("vb", random.chance(50) ? "true" : "false"))
        case 68..<73: fields.append(("vs", string(of: "text")))
        case 73..<76: fields.append(("vd", string(of: "aGk")))
        case 76..<80: break  // no value: base fields only, or a sum
        default: fields.append(("v", random.numberLiteral()))
        }
        if random.chance(1) { fields.append(("vs", string(of: "second value"))) }
        if random.chance(12) { fields.append(("s", value())) }
        if random.chance(30) { fields.append(("t", time())) }
        if random.chance(5) { fields.append(("ut", "60")) }
        if random.chance(8) { fields.append(("x-" + String(random.below(100)), "{\"a\":[1,\"b\",null,true]}")) }
        if random.chance(1) { fields.append(("ext_", "1")) }
        // Key order does not matter to SenML, so shuffle it.
        for index in fields.indices.reversed() {
            fields.swapAt(index, random.below(index + 1))
        }
        let body = fields.map { key, value in
            "\"" + label(key) + "\"" + gap() + ":" + gap() + value
        }
        return "{" + gap() + body.joined(separator: gap() + "," + gap()) + gap() + "}"
    }

    /// A field name, now and then spelled with an escape.
    private mutating func label(_ key: String) -> String {
        guard random.chance(3), let first = key.unicodeScalars.first else { return key }
        return String(format: "\\u%04x", first.value) + key.dropFirst()
    }

    private mutating func nameText() -> String {
        if random.chance(2) { return "" }
        let parts = ["urn:dev:ow:10e2073a01080063:", "dev/", "temp", "h", "2001:db8::1/", "caf\u{E9}", "x.y"]
        var text = ""
        for _ in 0..<(1 + random.below(2)) {
            text += parts[random.below(parts.count)]
        }
        if random.chance(1) { text += String(repeating: "z", count: 60) }  // over the name limit
        return text
    }

    private mutating func string(of text: String) -> String {
        var literal = "\""
        for scalar in text.unicodeScalars {
            if random.chance(5) {
                literal += String(format: "\\u%04x", scalar.value)
            } else if scalar == "/" && random.chance(30) {
                literal += "\\/"
            } else {
                literal.unicodeScalars.append(scalar)
            }
        }
        return literal + "\""
    }

    private mutating func value() -> String {
        switch random.below(10) {
        case 0..<6:
            return String(random.below(2000) - 1000) + (random.chance(50) ? "." + String(random.below(100)) : "")
        case 6: return "1e308"
        default: return random.numberLiteral()
        }
    }

    private mutating func time() -> String {
        switch random.below(80) {
        case 0..<32: return String(random.below(600) - 300)
        case 32..<40: return String(random.below(600) - 300) + "." + String(random.below(1000))
        case 40..<70: return "1.7" + random.digits(8, leadingNonzero: false) + "e+09"
        case 70: return "268435456"
        case 71: return "-268435457"
        case 72: return "1.5e11"
        default: return "0"
        }
    }

    private mutating func gap() -> String {
        random.chance(80) ? "" : [" ", "\n", "\t", "\r\n  "][random.below(4)]
    }
}
