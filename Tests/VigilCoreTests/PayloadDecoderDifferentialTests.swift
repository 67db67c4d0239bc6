import Foundation
import Testing
import VigilCore

/// SplitMix64: a small, fast, seeded generator, so every run sees the same corpus.
struct SeededRandom: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) {
        state = seed
    }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    mutating func below(_ bound: Int) -> Int {
        Int(next() % UInt64(bound))
    }

    mutating func chance(_ percent: Int) -> Bool {
        below(100) < percent
    }

    mutating func digits(_ count: Int, leadingNonzero: Bool) -> String {
        var text = ""
        for index in 0..<count {
            let digit = index == 0 && leadingNonzero ? 1 + below(9) : below(10)
            text.append(Character(Unicode.Scalar(UInt8(48 + digit))))
        }
        return text
    }

    /// A valid, finite JSON number literal of at most 64 bytes, in one of many shapes.
    mutating func numberLiteral() -> String {
        let sign = chance(30) ? "-" : ""
        switch below(12) {
        case 0:
            return sign + String(below(1000))
        case 1:
            // Integers up to 38 digits: Int64, UInt64, and beyond.
            return sign + digits(1 + below(38), leadingNonzero: true)
        case 2:
            return sign + "0." + digits(1 + below(20), leadingNonzero: false)
        case 3:
            return sign + digits(1 + below(6), leadingNonzero: true) + "." + digits(1 + below(6), leadingNonzero: false)
        case 4:
            // Exponents across the whole range, kept finite (the significand is below 10).
            let exponent = below(628) - 320
            let e = ["e", "E"][below(2)]
            let explicitSign = exponent >= 0 && chance(50) ? "+" : ""
            return sign + digits(1, leadingNonzero: true) + "." + digits(1 + below(17), leadingNonzero: false)
                + e + explicitSign + String(exponent)
        case 5:
            // The shortest round-trip text of a random double (such as 1.5e-07 or 123.25).
            var value: Double
            repeat {
                value = Double(bitPattern: next())
            } while !value.isFinite
            return "\(value)"
        case 6:
            let specials = [
                "0", "-0", "-0.0", "0.0", "0e0", "1e308", "5e-324", "1.7976931348623157e308",
                "2.2250738585072014e-308", "4.9406564584124654e-324", "9007199254740993", "12345678901234567890",
                "18446744073709551615", "18446744073709551616", "-9223372036854775808", "1e-400", "0.1", "1e23",
                "8.98846567431158e307", "2.4703282292062328e-324",
            ]
            return specials[below(specials.count)]
        case 7:
            // Long significands that need the strtod path.
            return sign + digits(1 + below(25), leadingNonzero: true) + "."
                + digits(1 + below(30), leadingNonzero: false)
        case 8:
            return sign + digits(1 + below(3), leadingNonzero: true) + "e" + String(below(40))
        case 9:
            // Ties and near-ties between doubles: 2^53 + odd.
            return sign + String(9_007_199_254_740_993 + 2 * below(1000))
        case 10:
            return sign + "0.000" + digits(1 + below(17), leadingNonzero: true) + "e-" + String(below(300))
        default:
            return sign + digits(1 + below(15), leadingNonzero: true)
        }
    }
}

/// A generated JSON value, serialised with random whitespace and escapes.
indirect enum GeneratedValue {
    case number(String)
    case bool(Bool)
    case string(String)
    case null
    case array([GeneratedValue])
    /// Members as (decoded key, key as written with escapes, value).
    case object([(String, String, GeneratedValue)])
}

struct PayloadGenerator {
    var random: SeededRandom

    /// A random top-level object with at least one metric.
    mutating func payload() -> GeneratedValue {
        guard case .object(var members) = object(depth: 1) else { fatalError("object() makes objects") }
        // object() never uses the key m0, so this stays unique.
        members.insert(("m0", #""m0""#, .number(random.numberLiteral())), at: random.below(members.count + 1))
        return .object(members)
    }

    private mutating func object(depth: Int) -> GeneratedValue {
        var members: [(String, String, GeneratedValue)] = []
        var used: Set<String> = ["m0"]
        for _ in 0..<random.below(depth == 1 ? 12 : 6) {
            let (decoded, written) = key()
            guard used.insert(decoded).inserted else { continue }
            members.append((decoded, written, value(depth: depth)))
        }
        return .object(members)
    }

    private mutating func value(depth: Int) -> GeneratedValue {
        let roll = random.below(100)
        switch roll {
        case 0..<50: return .number(random.numberLiteral())
        case 50..<58: return .bool(random.chance(50))
        case 58..<66: return .string(stringLiteral())
        case 66..<70: return .null
        case 70..<80 where depth < 5: return array(depth: depth + 1)
        case 80..<100 where depth < 5: return object(depth: depth + 1)
        default: return .number(random.numberLiteral())
        }
    }

    private mutating func array(depth: Int) -> GeneratedValue {
        var elements: [GeneratedValue] = []
        for _ in 0..<random.below(5) {
            elements.append(value(depth: depth))
        }
        return .array(elements)
    }

    /// Pieces a key or string is made of: (decoded text, text as written inside the quotes).
    private mutating func piece() -> (String, String) {
        switch random.below(20) {
        case 0: return ("é", "é")
        case 1: return ("é", #"\u00e9"#)
        case 2: return ("中", "中")
        case 3: return ("😀", "😀")
        case 4: return ("😀", #"\ud83d\ude00"#)
        case 5: return ("\n", #"\n"#)
        case 6: return ("\"", #"\""#)
        case 7: return ("\\", #"\\"#)
        case 8: return ("/", #"\/"#)
        case 9: return ("\t", #"\t"#)
        case 10: return ("A", #"\u0041"#)
        default:
            let alphabet = Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")
            let character = String(alphabet[random.below(alphabet.count)])
            return (character, character)
        }
    }

    private mutating func key() -> (String, String) {
        var decoded = ""
        var written = ""
        for _ in 0..<(1 + random.below(8)) {
            let (d, w) = piece()
            decoded += d
            written += w
        }
        return (decoded, "\"" + written + "\"")
    }

    private mutating func stringLiteral() -> String {
        var written = ""
        for _ in 0..<random.below(12) {
            written += piece().1
        }
        return "\"" + written + "\""
    }

    private mutating func whitespace() -> String {
        guard random.chance(25) else { return "" }
        let choices = [" ", "  ", "\n", "\t", "\r\n", " \n  "]
        return choices[random.below(choices.count)]
    }

    mutating func serialise(_ value: GeneratedValue) -> String {
        switch value {
        case .number(let text): return text
        case .bool(let flag): return flag ? "true" : "false"
        case .string(let text): return text
        case .null: return "null"
        case .array(let elements):
            var text = "[" + whitespace()
            for (index, element) in elements.enumerated() {
                if index > 0 { text += "," + whitespace() }
                text += serialise(element) + whitespace()
            }
            return text + "]"
        case .object(let members):
            var text = "{" + whitespace()
            for (index, member) in members.enumerated() {
                if index > 0 { text += "," + whitespace() }
                text += member.1 + whitespace() + ":" + whitespace() + serialise(member.2) + whitespace()
            }
            return text + "}"
        }
    }
}

/// Compares ``PayloadDecoder`` with Foundation's `JSONSerialization` on generated payloads.
///
/// Where Foundation is more lenient than the decoder (each is checked by name below):
/// - a trailing comma before `}` or `]`: Foundation accepts `{"a":1,}`; RFC 8259 does not;
/// - a top-level array, or a UTF-8 byte order mark: Foundation accepts both; Vigil wants one object;
/// - an object without numbers: valid JSON, but ``PayloadError/noMetrics`` to Vigil;
/// - numbers longer than 64 bytes: valid JSON, rejected by the decoder's fixed scratch buffer.
///
/// Where Foundation's values are not the reference:
/// - an integer `-0` comes back as the integer 0 and loses its sign; the decoder keeps -0.0;
/// - integers beyond UInt64 come back as `NSDecimalNumber`, whose `doubleValue` is not
///   correctly rounded, so its exact decimal text is converted with Swift's `Double(_:)`.
@Suite struct PayloadDecoderDifferentialTests {
    static let limits = PayloadLimits(maxBytes: 1 << 20, maxDepth: 64, maxFields: 2_000, maxNameBytes: 1_024)

    @Test func generatedPayloadsMatchJSONSerialization() throws {
        var generator = PayloadGenerator(random: SeededRandom(seed: 0xD1FF_0001))
        var decoder = PayloadDecoder(limits: Self.limits, timestampField: nil, timestampUnit: .auto)
        var fieldsCompared = 0
        for index in 0..<2000 {
            let text = generator.serialise(generator.payload())
            let bytes = Array(text.utf8)
            let reference = try #require(
                try Self.foundationFields(bytes),
                "Foundation rejected payload \(index): \(text)"
            )
            let fields = try decoder.decodeFields(bytes)
            let ours = Dictionary(fields.map { ($0.name, $0.value) }, uniquingKeysWith: { _, _ in .nan })
            #expect(ours.count == fields.count, "duplicate names in \(text)")
            try Self.expectSameFields(ours, reference, payload: text)
            fieldsCompared += fields.count
        }
        #expect(fieldsCompared > 10_000)
    }

    @Test func mutatedPayloadsAreRejectedWhenFoundationRejectsThem() throws {
        var generator = PayloadGenerator(random: SeededRandom(seed: 0xD1FF_0002))
        var random = SeededRandom(seed: 0xD1FF_0003)
        var decoder = PayloadDecoder(limits: Self.limits, timestampField: nil, timestampUnit: .auto)
        let interesting =
            Array("{}[]:,\"\\ \n0123456789.eE+-tfnu/xa".utf8) + [
                0x00, 0x01, 0x1F, 0x7F, 0x80, 0xBF, 0xC0, 0xC3, 0xE2, 0xED, 0xF0, 0xF4, 0xFF,
            ]
        var counts: [String: Int] = [:]
        for _ in 0..<1000 {
            var bytes = Array(generator.serialise(generator.payload()).utf8)
            let mutation = random.below(5)
            let position = random.below(bytes.count)
            let byte =
                random.chance(80)
                ? interesting[random.below(interesting.count)] : UInt8(truncatingIfNeeded: random.next())
            switch mutation {
            case 0: bytes.removeLast(bytes.count - position)
            case 1: bytes[position] = byte
            case 2: bytes.remove(at: position)
            case 3: bytes.insert(byte, at: position)
            default:
                // Two flips, to reach states a single one cannot.
                bytes[position] = byte
                bytes[random.below(bytes.count)] = interesting[random.below(interesting.count)]
            }
            let label = String(decoding: bytes, as: UTF8.self).debugDescription

            let reference = try? Self.foundationFields(bytes)
            var ourError: PayloadError?
            var ours: [DecodedField] = []
            do {
                ours = try decoder.decodeFields(bytes)
            } catch {
                ourError = error
            }
            switch (reference, ourError) {
            case (nil, nil):
                Issue.record("Foundation rejects, PayloadDecoder accepts: \(label)")
                counts["only the decoder accepts", default: 0] += 1
            case (nil, .some(let error)):
                counts["both reject: \(error.reason)", default: 0] += 1
            case (.some(let fields), nil):
                counts["both accept", default: 0] += 1
                let names = ours.map(\.name)
                // A flipped byte can turn a key into a `.`-containing one and make flattened
                // names collide; Foundation's dictionary order cannot say which one wins then.
                if Set(names).count == names.count {
                    try Self.expectSameFields(
                        Dictionary(uniqueKeysWithValues: ours.map { ($0.name, $0.value) }),
                        fields,
                        payload: label
                    )
                }
            case (.some(let fields), .some(let error)):
                counts["only Foundation accepts: \(error.reason)", default: 0] += 1
                #expect(
                    Self.isDocumentedLeniency(bytes, error: error, foundationFields: fields),
                    "\(error) for \(label)"
                )
            }
        }
        // The mutations exercised both sides of the comparison.
        #expect(counts.filter { $0.key.hasPrefix("both reject") }.values.reduce(0, +) > 500, "\(counts)")
        #expect(counts["both accept", default: 0] > 10, "\(counts)")
    }

    /// Whether the decoder rejecting what Foundation accepted is one of the leniencies listed
    /// in the suite's documentation.
    static func isDocumentedLeniency(_ bytes: [UInt8], error: PayloadError, foundationFields: [String: ReferenceValue])
        -> Bool
    {
        switch error {
        case .noMetrics:
            return foundationFields.isEmpty
        case .notJSON:
            // A top-level array, or a byte order mark.
            let first = bytes.first { ![0x20, 0x09, 0x0A, 0x0D].contains($0) }
            return first == UInt8(ascii: "[") || bytes.starts(with: [0xEF, 0xBB, 0xBF])
        case .syntax:
            return isTrailingComma(bytes, at: error.offset) || isOverlongNumber(bytes, endingAt: error.offset)
        default:
            return false
        }
    }

    /// Whether the byte at `offset` is `}` or `]` right after a `,` (whitespace aside).
    static func isTrailingComma(_ bytes: [UInt8], at offset: Int?) -> Bool {
        guard let offset, offset < bytes.count,
            bytes[offset] == UInt8(ascii: "}") || bytes[offset] == UInt8(ascii: "]")
        else { return false }
        let before = bytes[..<offset].last { ![0x20, 0x09, 0x0A, 0x0D].contains($0) }
        return before == UInt8(ascii: ",")
    }

    /// Whether the 64 bytes before `offset` and the byte at it are all number characters.
    static func isOverlongNumber(_ bytes: [UInt8], endingAt offset: Int?) -> Bool {
        guard let offset, offset >= 64, offset < bytes.count else { return false }
        return bytes[(offset - 64)...offset].allSatisfy { Array("0123456789-+.eE".utf8).contains($0) }
    }

    /// Each documented leniency, shown to hold: Foundation accepts, the decoder rejects.
    @Test(arguments: [
        (#"{"a":1,}"#, PayloadError.syntax),
        (#"{"a":[1,2,],"b":1}"#, .syntax),
        (#"[{"a":1}]"#, .notJSON),
        ("\u{FEFF}{\"a\":1}", .notJSON),
        (#"{"s":"x","o":{}}"#, .noMetrics),
        ("{\"a\":1" + String(repeating: "0", count: 64) + "}", .syntax),
    ])
    func documentedLeniencies(payload: String, expected: PayloadError) throws {
        let bytes = Array(payload.utf8)
        let reference = try #require(try Self.foundationFields(bytes), "Foundation should accept \(payload)")
        let error = decodeError(bytes, limits: Self.limits)
        #expect(error == expected)
        if let error {
            #expect(Self.isDocumentedLeniency(bytes, error: error, foundationFields: reference))
        }
    }

    /// Flattened name -> value from JSONSerialization, or nil if it rejects the payload.
    /// Top-level non-objects give an empty map.
    static func foundationFields(_ bytes: [UInt8]) throws -> [String: ReferenceValue]? {
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: Data(bytes), options: [])
        } catch {
            return nil
        }
        var fields: [String: ReferenceValue] = [:]
        if let dictionary = object as? [String: Any] {
            flatten(dictionary, prefix: nil, into: &fields)
        }
        return fields
    }

    private static func flatten(
        _ dictionary: [String: Any],
        prefix: String?,
        into fields: inout [String: ReferenceValue]
    ) {
        for (key, value) in dictionary {
            let name = prefix.map { $0 + "." + key } ?? key
            if let nested = value as? [String: Any] {
                flatten(nested, prefix: name, into: &fields)
            } else if let decimal = value as? NSDecimalNumber {
                // NSDecimalNumber.doubleValue is not correctly rounded; its text is exact.
                fields[name] = Double(decimal.stringValue).map { ReferenceValue(value: $0, isInteger: true) }
            } else if let number = value as? NSNumber {
                let type = String(cString: number.objCType)
                fields[name] = ReferenceValue(value: number.doubleValue, isInteger: type != "d" && type != "f")
            }
            // Strings, NSNull and arrays are not metrics.
        }
    }

    static func expectSameFields(_ ours: [String: Double], _ reference: [String: ReferenceValue], payload: String)
        throws
    {
        #expect(Set(ours.keys) == Set(reference.keys), "\(payload)")
        for (name, expected) in reference {
            guard let value = ours[name] else { continue }
            if expected.isInteger && expected.value == 0 {
                // Foundation turns the integer -0 into +0; the sign is checked in the unit tests.
                #expect(value == 0, "\(name): \(value) vs 0 in \(payload)")
                continue
            }
            #expect(
                value.bitPattern == expected.value.bitPattern,
                "\(name): \(value) vs \(expected.value) in \(payload)"
            )
        }
    }
}

/// A value from JSONSerialization, and whether it came back as an integer.
struct ReferenceValue {
    var value: Double
    var isInteger: Bool
}
