import Testing
import VigilCore

/// One decoded field, copied out of the decoder for assertions.
struct DecodedField: Equatable, CustomStringConvertible {
    var name: String
    var value: Double

    init(_ name: String, _ value: Double) {
        self.name = name
        self.value = value
    }

    var description: String { "\(name)=\(value)" }
}

extension PayloadDecoder {
    /// Decodes `bytes` and copies every field out (allocates; tests only).
    mutating func decodeFields(_ bytes: [UInt8]) throws(PayloadError) -> [DecodedField] {
        let result = bytes.withUnsafeBytes { raw -> Result<Void, PayloadError> in
            do throws(PayloadError) {
                try decode(raw)
                return .success(())
            } catch {
                return .failure(error)
            }
        }
        try result.get()
        return (0..<fieldCount).map { index in
            DecodedField(fieldName(index), fieldValue(index))
        }
    }

    mutating func decodeFields(_ text: String) throws(PayloadError) -> [DecodedField] {
        try decodeFields(Array(text.utf8))
    }

    /// The name of field `index` as a String (allocates; tests only).
    func fieldName(_ index: Int) -> String {
        withFieldName(index) { String(decoding: $0, as: UTF8.self) }
    }
}

/// Decodes `payload` with a fresh decoder.
func decodeOnce(
    _ payload: String,
    limits: PayloadLimits = PayloadLimits(),
    timestampField: String? = nil,
    unit: TimestampUnit = .auto
) throws(PayloadError) -> [DecodedField] {
    var decoder = PayloadDecoder(limits: limits, timestampField: timestampField, timestampUnit: unit)
    return try decoder.decodeFields(payload)
}

/// Decodes `payload` expecting a failure, and returns the error (or nil when it was accepted).
func decodeError(
    _ payload: [UInt8],
    limits: PayloadLimits = PayloadLimits(),
    timestampField: String? = nil,
    unit: TimestampUnit = .auto
) -> PayloadError? {
    var decoder = PayloadDecoder(limits: limits, timestampField: timestampField, timestampUnit: unit)
    do {
        _ = try decoder.decodeFields(payload)
        return nil
    } catch {
        #expect(decoder.fieldCount == 0, "a failed decode must leave no fields")
        #expect(decoder.eventTime == nil, "a failed decode must leave no event time")
        return error
    }
}

func decodeError(
    _ payload: String,
    limits: PayloadLimits = PayloadLimits(),
    timestampField: String? = nil,
    unit: TimestampUnit = .auto
) -> PayloadError? {
    decodeError(Array(payload.utf8), limits: limits, timestampField: timestampField, unit: unit)
}

/// A payload that must be rejected, with the reason and (when given) the offset.
struct MalformedCase: Sendable, CustomTestStringConvertible {
    var bytes: [UInt8]
    var error: PayloadError
    var offset: Int?
    var label: String

    init(_ text: String, _ error: PayloadError, at offset: Int? = nil) {
        self.bytes = Array(text.utf8)
        self.error = error
        self.offset = offset
        self.label = text
    }

    init(bytes: [UInt8], _ error: PayloadError, at offset: Int? = nil, label: String) {
        self.bytes = bytes
        self.error = error
        self.offset = offset
        self.label = label
    }

    var testDescription: String { "\(label.debugDescription) -> \(error.reason)" }
}

@Suite struct PayloadDecoderTests {
    // MARK: - Accepted payloads

    @Test func flatObject() throws {
        let fields = try decodeOnce(#"{"temp":21.5,"hum":40,"pressure":1013.25}"#)
        #expect(fields == [DecodedField("temp", 21.5), DecodedField("hum", 40), DecodedField("pressure", 1013.25)])
    }

    @Test func nestedObjectsFlattenToDottedNames() throws {
        let fields = try decodeOnce(#"{"env":{"t":1,"h":{"x":2,"y":{"z":3}}},"b":4,"c":{"d":5}}"#)
        #expect(
            fields == [
                DecodedField("env.t", 1), DecodedField("env.h.x", 2), DecodedField("env.h.y.z", 3),
                DecodedField("b", 4), DecodedField("c.d", 5),
            ]
        )
    }

    @Test func dottedKeysPassThrough() throws {
        let fields = try decodeOnce(#"{"a.b":1,"c":{"d.e":2},"":3,"f":{"":4}}"#)
        #expect(
            fields == [DecodedField("a.b", 1), DecodedField("c.d.e", 2), DecodedField("", 3), DecodedField("f.", 4)]
        )
    }

    @Test func duplicateNamesAreReportedInOrder() throws {
        let fields = try decodeOnce(#"{"a":1,"a":2,"b.c":3,"b":{"c":4}}"#)
        #expect(fields == [DecodedField("a", 1), DecodedField("a", 2), DecodedField("b.c", 3), DecodedField("b.c", 4)])
    }

    @Test func booleansAreOneAndZero() throws {
        let fields = try decodeOnce(#"{"on":true,"off":false,"n":{"ok":true}}"#)
        #expect(fields == [DecodedField("on", 1), DecodedField("off", 0), DecodedField("n.ok", 1)])
    }

    @Test func stringsNullsAndArraysAreIgnored() throws {
        let payload = #"""
            {"s":"x","n":null,"arr":[1,2.5,true,null,"s",{"x":3,"y":[{"z":4},[[5]]]},[]],"v":5,
             "e":[],"o":{},"deep":{"list":[{"a":{"b":[1]}}],"w":6},"esc":"\"\\\n\u00e9\ud83d\ude00"}
            """#
        let fields = try decodeOnce(payload)
        #expect(fields == [DecodedField("v", 5), DecodedField("deep.w", 6)])
    }

    @Test func whitespaceEverywhere() throws {
        let payload =
            " \n\t\r{ \"a\" \n: 1 ,\t\"b\" :\r\n{ \"c\" : [ 1 , { \"x\" : 2 } , [ ] ] ,"
            + " \"d\" : -2.5e1 } ,\"e\":true } \n\t\r "
        let fields = try decodeOnce(payload)
        #expect(fields == [DecodedField("a", 1), DecodedField("b.d", -25), DecodedField("e", 1)])
    }

    @Test func escapesInKeysAreDecoded() throws {
        let payload = #"{"\u00e9t\u00E9":1,"\ud83d\ude00":2,"a\nb":3,"q\"\\\/":4,"\u0041\b\f\r\t":5,"é中😀":6}"#
        let fields = try decodeOnce(payload)
        #expect(
            fields == [
                DecodedField("été", 1), DecodedField("😀", 2), DecodedField("a\nb", 3), DecodedField("q\"\\/", 4),
                DecodedField("A\u{8}\u{C}\r\t", 5), DecodedField("é中😀", 6),
            ]
        )
        // The surrogate pair is one scalar, U+1F600, encoded as four UTF-8 bytes.
        var decoder = PayloadDecoder(limits: PayloadLimits(), timestampField: nil, timestampUnit: .auto)
        _ = try decoder.decodeFields(#"{"\ud83d\ude00":2}"#)
        #expect(decoder.withFieldName(0) { Array($0) } == [0xF0, 0x9F, 0x98, 0x80])
    }

    @Test func validUTF8IsKeptInNamesAndAcceptedInValues() throws {
        // Two-, three- and four-byte sequences at the edges of Table 3-7.
        let key: [UInt8] = [
            0xC2, 0x80, 0xDF, 0xBF, 0xE0, 0xA0, 0x80, 0xED, 0x9F, 0xBF, 0xEE, 0x80, 0x80, 0xF0, 0x90, 0x80, 0x80, 0xF4,
            0x8F, 0xBF, 0xBF,
        ]
        let payload = Array(#"{""#.utf8) + key + Array(#"":1,"s":""#.utf8) + key + Array(#""}"#.utf8)
        var decoder = PayloadDecoder(limits: PayloadLimits(), timestampField: nil, timestampUnit: .auto)
        _ = try decoder.decodeFields(payload)
        #expect(decoder.fieldCount == 1)
        #expect(decoder.withFieldName(0) { Array($0) } == key)
        #expect(decoder.fieldValue(0) == 1)
    }

    /// Numbers whose expected value is given as a bit pattern or an exact Swift literal.
    @Test(arguments: [
        ("0", 0.0.bitPattern),
        ("-0", (-0.0).bitPattern),
        ("-0.0", (-0.0).bitPattern),
        ("-0e10", (-0.0).bitPattern),
        ("0e-5", 0.0.bitPattern),
        ("-1.5", (-1.5).bitPattern),
        ("2.5e3", 2500.0.bitPattern),
        ("2.5E-3", 0.0025.bitPattern),
        ("1e+2", 100.0.bitPattern),
        ("1E2", 100.0.bitPattern),
        ("0.1", 0.1.bitPattern),
        ("123.456", 123.456.bitPattern),
        ("1e308", 1e308.bitPattern),
        ("1e30", 1e30.bitPattern),
        ("1e23", 1e23.bitPattern),
        ("5e-324", UInt64(1)),
        ("4.9406564584124654e-324", UInt64(1)),
        ("2.2250738585072014e-308", Double.leastNormalMagnitude.bitPattern),
        ("1.7976931348623157e308", UInt64(0x7FEF_FFFF_FFFF_FFFF)),
        ("-1.7976931348623157e308", UInt64(0xFFEF_FFFF_FFFF_FFFF)),
        ("12345678901234567890", 12345678901234567890.0.bitPattern),
        ("-9223372036854775808", (-9223372036854775808.0).bitPattern),
        ("9007199254740993", 9007199254740992.0.bitPattern),  // a tie: rounds to even
        ("9007199254740995", 9007199254740996.0.bitPattern),
        ("123456789012345678901234567890", 1.2345678901234568e29.bitPattern),
        ("0.1000000000000000055511151231257827021181583404541015625", 0.1.bitPattern),
        ("1e-400", 0.0.bitPattern),
        ("-1e-400", (-0.0).bitPattern),
        ("2.4703282292062328e-324", UInt64(1)),  // just above half the smallest subnormal
        ("2.4703282292062327e-324", UInt64(0)),  // just below: rounds to zero
        ("1.7976931348623158e308", UInt64(0x7FEF_FFFF_FFFF_FFFF)),  // rounds down to the largest
        ("0.000001", 0.000001.bitPattern),
        ("100000000000000000000000000000000000000000000000000", 1e50.bitPattern),
    ])
    func numbersConvertExactly(text: String, bits: UInt64) throws {
        let fields = try decodeOnce("{\"n\":\(text)}")
        #expect(fields.count == 1)
        #expect(fields.first?.value.bitPattern == bits, "\(text) -> \(fields.first?.value ?? .nan)")
    }

    /// The fast path (exact double arithmetic) and strtod must agree with Swift's own parser.
    @Test func randomNumbersMatchTheStandardLibrary() throws {
        var random = SeededRandom(seed: 0x5EED_0001)
        var decoder = PayloadDecoder(limits: PayloadLimits(), timestampField: nil, timestampUnit: .auto)
        for _ in 0..<20_000 {
            let text = random.numberLiteral()
            let fields = try decoder.decodeFields("{\"n\":\(text)}")
            let expected = try #require(Double(text), "\(text)")
            #expect(fields.first?.value.bitPattern == expected.bitPattern, "\(text)")
        }
    }

    @Test func longestNumberIsAcceptedAndOneMoreByteIsNot() throws {
        let sixtyFour = "1." + String(repeating: "5", count: 62)
        #expect(sixtyFour.utf8.count == 64)
        let fields = try decodeOnce("{\"n\":\(sixtyFour)}")
        #expect(fields.first?.value == Double(sixtyFour))
        let error = decodeError("{\"n\":\(sixtyFour)5}")
        #expect(error == .syntax)
        #expect(error?.offset == 5 + 64)
        // The same rule holds inside skipped arrays.
        #expect(decodeError("{\"a\":[\(sixtyFour)5],\"n\":1}") == .syntax)
    }

    // MARK: - Rejected payloads

    static let malformed: [MalformedCase] = [
        MalformedCase("", .notJSON),
        MalformedCase(" \n\t\r ", .notJSON),
        MalformedCase("[1]", .notJSON, at: 0),
        MalformedCase(#""x""#, .notJSON, at: 0),
        MalformedCase("42", .notJSON, at: 0),
        MalformedCase("  null", .notJSON, at: 2),
        MalformedCase(bytes: [0xEF, 0xBB, 0xBF] + Array(#"{"a":1}"#.utf8), .notJSON, at: 0, label: "BOM{\"a\":1}"),
        MalformedCase("{", .truncated, at: 1),
        MalformedCase(#"{"a":1"#, .truncated, at: 6),
        MalformedCase(#"{"a":"#, .truncated, at: 5),
        MalformedCase(#"{"a"#, .truncated, at: 3),
        MalformedCase(#"{"a""#, .truncated, at: 4),
        MalformedCase(#"{"a":1,"#, .truncated, at: 7),
        MalformedCase(#"{"a":tr"#, .truncated),
        MalformedCase(#"{"a":-"#, .truncated),
        MalformedCase(#"{"a":1."#, .truncated),
        MalformedCase(#"{"a":1e"#, .truncated),
        MalformedCase(#"{"a":1e-"#, .truncated),
        MalformedCase(#"{"a":"x"#, .truncated),
        MalformedCase(#"{"a\"#, .truncated),
        MalformedCase(#"{"a\u12"#, .truncated),
        MalformedCase(#"{"a\ud800"#, .truncated),
        MalformedCase(#"{"a\ud800\"#, .truncated),
        MalformedCase(#"{"a":[1,"#, .truncated),
        MalformedCase(#"{"a":{"b":1}"#, .truncated),
        MalformedCase(#"{"a":1,}"#, .syntax, at: 7),
        MalformedCase(#"{"a" 1}"#, .syntax, at: 5),
        MalformedCase("{a:1}", .syntax, at: 1),
        MalformedCase("{'a':1}", .syntax, at: 1),
        MalformedCase("{,}", .syntax, at: 1),
        MalformedCase(#"{"a"::1}"#, .syntax, at: 5),
        MalformedCase(#"{"a":1,,"b":2}"#, .syntax, at: 7),
        MalformedCase(#"{"a":1 "b":2}"#, .syntax, at: 7),
        MalformedCase(#"{"a":1 2}"#, .syntax, at: 7),
        MalformedCase(#"{"a":01}"#, .syntax, at: 6),
        MalformedCase(#"{"a":-01}"#, .syntax, at: 7),
        MalformedCase(#"{"a":00}"#, .syntax, at: 6),
        MalformedCase(#"{"a":+1}"#, .syntax, at: 5),
        MalformedCase(#"{"a":.5}"#, .syntax, at: 5),
        MalformedCase(#"{"a":-.5}"#, .syntax, at: 6),
        MalformedCase(#"{"a":1.}"#, .syntax, at: 7),
        MalformedCase(#"{"a":1.e5}"#, .syntax, at: 7),
        MalformedCase(#"{"a":1e}"#, .syntax, at: 7),
        MalformedCase(#"{"a":1e+}"#, .syntax, at: 8),
        MalformedCase(#"{"a":1.5.2}"#, .syntax, at: 8),
        MalformedCase(#"{"a":--1}"#, .syntax, at: 6),
        MalformedCase(#"{"a":-}"#, .syntax, at: 6),
        MalformedCase(#"{"a":0x10}"#, .syntax, at: 6),
        MalformedCase(#"{"a":NaN}"#, .syntax, at: 5),
        MalformedCase(#"{"a":nan}"#, .syntax, at: 6),
        MalformedCase(#"{"a":Infinity}"#, .syntax, at: 5),
        MalformedCase(#"{"a":inf}"#, .syntax, at: 5),
        MalformedCase(#"{"a":-inf}"#, .syntax, at: 6),
        MalformedCase(#"{"a":-Infinity}"#, .syntax, at: 6),
        MalformedCase(#"{"a":tru}"#, .syntax, at: 8),
        MalformedCase(#"{"a":True}"#, .syntax, at: 5),
        MalformedCase(#"{"a":nul}"#, .syntax, at: 8),
        MalformedCase(#"{"a":[1,]}"#, .syntax, at: 8),
        MalformedCase(#"{"a":[1 2]}"#, .syntax, at: 8),
        MalformedCase(#"{"a":[}"#, .syntax, at: 6),
        MalformedCase(#"{"a":[1}"#, .syntax, at: 7),
        MalformedCase(#"{"a":{"b":1]}"#, .syntax, at: 11),
        MalformedCase(#"{"a":1 /* c */}"#, .syntax, at: 7),
        MalformedCase("{\"a\u{01}\":1}", .syntax, at: 3),
        MalformedCase("{\"s\":\"x\ty\",\"a\":1}", .syntax, at: 7),
        MalformedCase("{\"s\":\"x\ny\",\"a\":1}", .syntax, at: 7),
        MalformedCase(
            bytes: Array("{\"s\":\"x".utf8) + [0x00] + Array("\",\"a\":1}".utf8),
            .syntax,
            at: 7,
            label: "NUL in a string"
        ),
        MalformedCase(#"{"a\x":1}"#, .syntax, at: 4),
        MalformedCase(#"{"a\U0041":1}"#, .syntax, at: 4),
        MalformedCase(#"{"a\u00g1":1}"#, .syntax, at: 7),
        MalformedCase(#"{"s":"\'","a":1}"#, .syntax, at: 7),
        MalformedCase(#"{"\ud800":1}"#, .syntax, at: 8),
        MalformedCase(#"{"\udc00":1}"#, .syntax, at: 2),
        MalformedCase(#"{"\ude00\ud83d":1}"#, .syntax, at: 2),
        MalformedCase(#"{"\ud800\u0041":1}"#, .syntax, at: 8),
        MalformedCase(#"{"\ud800\ud800":1}"#, .syntax, at: 8),
        MalformedCase(#"{"\ud800\n":1}"#, .syntax, at: 9),
        MalformedCase(#"{"s":"\ud800","a":1}"#, .syntax, at: 12),
        MalformedCase(#"{"a":1e400}"#, .nonFinite, at: 5),
        MalformedCase(#"{"a":-1e400}"#, .nonFinite, at: 5),
        MalformedCase(#"{"a":1.8e308}"#, .nonFinite, at: 5),
        MalformedCase(#"{"a":[1,{"b":1e999}],"c":1}"#, .nonFinite, at: 13),
        MalformedCase(#"{"a":1} x"#, .trailingData, at: 8),
        MalformedCase(#"{"a":1}{}"#, .trailingData, at: 7),
        MalformedCase(#"{"a":1},"#, .trailingData, at: 7),
        MalformedCase(
            bytes: Array(#"{"a":1}"#.utf8) + [0xC2, 0xA0],
            .trailingData,
            at: 7,
            label: "NBSP after the object"
        ),
        MalformedCase("{}", .noMetrics),
        MalformedCase(" { } ", .noMetrics),
        MalformedCase(#"{"s":"x"}"#, .noMetrics),
        MalformedCase(#"{"n":null,"arr":[1,2,{"x":3}],"o":{"p":{}}}"#, .noMetrics),
    ]

    @Test(arguments: malformed)
    func malformedPayloadsAreRejected(_ testCase: MalformedCase) {
        let error = decodeError(testCase.bytes)
        #expect(error == testCase.error, "got \(error.map { String(describing: $0) } ?? "success")")
        if let offset = testCase.offset {
            #expect(error?.offset == offset, "got \(error.map { String(describing: $0) } ?? "success")")
        }
    }

    static let invalidUTF8: [MalformedCase] = [
        MalformedCase(bytes: [0xFF], .syntax, at: 6, label: "FF"),
        MalformedCase(bytes: [0x80], .syntax, at: 6, label: "lone continuation byte"),
        MalformedCase(bytes: [0xC0, 0x80], .syntax, at: 6, label: "overlong NUL"),
        MalformedCase(bytes: [0xC1, 0xBF], .syntax, at: 6, label: "overlong two-byte"),
        MalformedCase(bytes: [0xE0, 0x80, 0x80], .syntax, at: 7, label: "overlong three-byte"),
        MalformedCase(bytes: [0xF0, 0x80, 0x80, 0x80], .syntax, at: 7, label: "overlong four-byte"),
        MalformedCase(bytes: [0xED, 0xA0, 0x80], .syntax, at: 7, label: "encoded surrogate D800"),
        MalformedCase(bytes: [0xF4, 0x90, 0x80, 0x80], .syntax, at: 7, label: "above U+10FFFF"),
        MalformedCase(bytes: [0xF5, 0x80, 0x80, 0x80], .syntax, at: 6, label: "F5 lead byte"),
        MalformedCase(bytes: [0xC3], .syntax, at: 7, label: "sequence cut by the closing quote"),
        MalformedCase(bytes: [0xE2, 0x82], .syntax, at: 8, label: "three-byte sequence cut short"),
        MalformedCase(bytes: [0xC3, 0x28], .syntax, at: 7, label: "bad continuation"),
    ]

    /// Raw bytes inside strings must be well-formed UTF-8, in keys and in ignored values alike.
    @Test(arguments: invalidUTF8)
    func invalidUTF8IsRejected(_ testCase: MalformedCase) {
        // In a string value: {"s":"<bytes>","a":1}; the string's content starts at offset 6.
        let inValue = Array(#"{"s":""#.utf8) + testCase.bytes + Array(#"","a":1}"#.utf8)
        let valueError = decodeError(inValue)
        #expect(valueError == testCase.error)
        #expect(valueError?.offset == testCase.offset)
        // In a key: {"k<bytes>":1}; shift the offset by the key's extra bytes.
        let inKey = Array(#"{"xxxx"#.utf8) + testCase.bytes + Array(#"":1}"#.utf8)
        let keyError = decodeError(inKey)
        #expect(keyError == testCase.error)
        #expect(keyError?.offset == testCase.offset)
        // Input that ends inside a sequence is truncated rather than bad.
        let cut = Array(#"{"s":""#.utf8) + [0xE2, 0x82]
        #expect(decodeError(cut) == .truncated)
    }

    // MARK: - Limits

    @Test func depthLimit() throws {
        func nested(_ levels: Int) -> String {
            String(repeating: #"{"a":"#, count: levels - 1) + "{\"v\":1" + String(repeating: "}", count: levels)
        }
        let limits = PayloadLimits(maxDepth: 4)
        let fields = try decodeOnce(nested(4), limits: limits)
        #expect(fields == [DecodedField("a.a.a.v", 1)])
        let error = decodeError(nested(5), limits: limits)
        #expect(error == .tooDeep)
        #expect(error?.offset == 20)
        // Arrays count as levels too, and objects inside them.
        #expect(try decodeOnce(#"{"a":[[[1]]],"v":1}"#, limits: limits) == [DecodedField("v", 1)])
        #expect(decodeError(#"{"a":[[[[1]]]],"v":1}"#, limits: limits) == .tooDeep)
        #expect(decodeError(#"{"a":[[{"b":{}}]],"v":1}"#, limits: limits) == .tooDeep)
        // The default allows 8 levels.
        #expect(try decodeOnce(nested(8)).count == 1)
        #expect(decodeError(nested(9)) == .tooDeep)
        // Deep enough to overflow a careless recursive scanner: rejected early, no crash.
        #expect(
            decodeError(String(repeating: "[", count: 100_000), limits: PayloadLimits(maxBytes: 1 << 20)) == .notJSON
        )
        #expect(decodeError("{\"a\":" + String(repeating: "[", count: 60_000)) == .tooDeep)
    }

    @Test func fieldLimit() throws {
        let limits = PayloadLimits(maxFields: 3)
        #expect(try decodeOnce(#"{"a":1,"b":true,"c":{"d":3},"s":"x"}"#, limits: limits).count == 3)
        let error = decodeError(#"{"a":1,"b":2,"c":3,"d":4}"#, limits: limits)
        #expect(error == .tooManyFields)
        #expect(error?.offset == 23)
        // The timestamp field is not a metric and does not count.
        let fields = try decodeOnce(#"{"a":1,"ts":5,"b":2,"c":3}"#, limits: limits, timestampField: "ts")
        #expect(fields.map(\.name) == ["a", "b", "c"])
        // Numbers in arrays do not count either.
        #expect(try decodeOnce(#"{"a":1,"b":[1,2,3,4,5],"c":3}"#, limits: limits).count == 2)
    }

    @Test func sizeLimit() throws {
        let limits = PayloadLimits(maxBytes: 16)
        let sixteen = #"{"abcdefghij":1}"#
        #expect(sixteen.utf8.count == 16)
        #expect(try decodeOnce(sixteen, limits: limits) == [DecodedField("abcdefghij", 1)])
        #expect(decodeError(#"{"abcdefghij":12}"#, limits: limits) == .tooLarge)
        // Checked before scanning: garbage that is too large is tooLarge, not notJSON.
        #expect(decodeError(String(repeating: "x", count: 17), limits: limits) == .tooLarge)
        #expect(decodeError(String(repeating: " ", count: 65_537)) == .tooLarge)
    }

    @Test func nameLengthLimit() throws {
        let limits = PayloadLimits(maxNameBytes: 5)
        #expect(try decodeOnce(#"{"abcde":1}"#, limits: limits) == [DecodedField("abcde", 1)])
        #expect(try decodeOnce(#"{"ab":{"cd":1}}"#, limits: limits) == [DecodedField("ab.cd", 1)])
        let error = decodeError(#"{"x":1,"abcdef":1}"#, limits: limits)
        #expect(error == .nameTooLong)
        #expect(error?.offset == 7)
        #expect(decodeError(#"{"ab":{"cde":1}}"#, limits: limits) == .nameTooLong)
        #expect(decodeError(#"{"abcde":{"f":1}}"#, limits: limits) == .nameTooLong)
        // Escapes count by their decoded UTF-8 length: é is two bytes.
        #expect(try decodeOnce(#"{"ab\u00e9c":1}"#, limits: limits) == [DecodedField("abéc", 1)])
        #expect(decodeError(#"{"abc\u00e9c":1}"#, limits: limits) == .nameTooLong)
        #expect(decodeError(#"{"abcd\ud83d\ude00":1}"#, limits: limits) == .nameTooLong)
        // Applies to every key outside arrays, even when its value is ignored...
        #expect(decodeError(#"{"a":1,"abcdef":"text"}"#, limits: limits) == .nameTooLong)
        // ...but not to keys inside arrays, which are never names.
        #expect(try decodeOnce(#"{"a":1,"b":[{"abcdefgh":1}]}"#, limits: limits) == [DecodedField("a", 1)])
    }

    // MARK: - Timestamps

    @Test func timestampInSeconds() throws {
        var decoder = PayloadDecoder(limits: PayloadLimits(), timestampField: "ts", timestampUnit: .seconds)
        let fields = try decoder.decodeFields(#"{"v":1,"ts":1700000000.5}"#)
        #expect(fields == [DecodedField("v", 1)])
        #expect(decoder.eventTime == 1_700_000_000.5)
    }

    @Test func timestampInMilliseconds() throws {
        var decoder = PayloadDecoder(limits: PayloadLimits(), timestampField: "ts", timestampUnit: .milliseconds)
        let fields = try decoder.decodeFields(#"{"ts":1700000000123,"v":1}"#)
        #expect(fields == [DecodedField("v", 1)])
        #expect(decoder.eventTime == 1_700_000_000.123)
    }

    @Test func timestampUnitAutoDetection() throws {
        var decoder = PayloadDecoder(limits: PayloadLimits(), timestampField: "ts", timestampUnit: .auto)
        _ = try decoder.decodeFields(#"{"ts":1700000000,"v":1}"#)
        #expect(decoder.eventTime == 1_700_000_000)
        _ = try decoder.decodeFields(#"{"ts":1700000000123,"v":1}"#)
        #expect(decoder.eventTime == 1_700_000_000.123)
        _ = try decoder.decodeFields(#"{"ts":99999999999,"v":1}"#)
        #expect(decoder.eventTime == 99_999_999_999)
        _ = try decoder.decodeFields(#"{"ts":100000000000,"v":1}"#)
        #expect(decoder.eventTime == 100_000_000)
        _ = try decoder.decodeFields(#"{"ts":"2026-11-25T11:39:31Z","v":1}"#)
        #expect(decoder.eventTime == 1_795_606_771)
    }

    @Test func timestampAsISO8601Strings() throws {
        var decoder = PayloadDecoder(limits: PayloadLimits(), timestampField: "ts", timestampUnit: .iso8601)
        let cases: [(String, Double)] = [
            (#""2026-11-25T11:39:31Z""#, 1_795_606_771),
            (#""2026-11-25T11:39:31.250Z""#, 1_795_606_771.25),
            (#""2026-11-25T17:09:31+05:30""#, 1_795_606_771),
            (#""2026-11-25T03:39:31-0800""#, 1_795_606_771),
            (#""2024-02-29T12:00:00Z""#, 1_709_208_000),
            (#""1970-01-01T00:00:00Z""#, 0),
            // Escapes are decoded before parsing: \u005a is Z, \u002d is -.
            (#""2026\u002d11-25T11:39:31\u005a""#, 1_795_606_771),
        ]
        for (text, expected) in cases {
            let fields = try decoder.decodeFields("{\"v\":2,\"ts\":\(text)}")
            #expect(fields == [DecodedField("v", 2)], "\(text)")
            #expect(decoder.eventTime == expected, "\(text)")
        }
    }

    @Test func nestedTimestampField() throws {
        var decoder = PayloadDecoder(limits: PayloadLimits(), timestampField: "meta.ts", timestampUnit: .auto)
        let fields = try decoder.decodeFields(#"{"meta":{"fw":3,"ts":"2026-11-25T11:39:31Z"},"v":1,"ts":7}"#)
        // Only meta.ts is the timestamp; a top-level ts is an ordinary metric.
        #expect(fields.map(\.name) == ["meta.fw", "v", "ts"])
        #expect(fields.map(\.value) == [3, 1, 7])
        #expect(decoder.eventTime == 1_795_606_771)
    }

    @Test func missingOrNullTimestampLeavesEventTimeNil() throws {
        var decoder = PayloadDecoder(limits: PayloadLimits(), timestampField: "ts", timestampUnit: .auto)
        #expect(try decoder.decodeFields(#"{"v":1}"#) == [DecodedField("v", 1)])
        #expect(decoder.eventTime == nil)
        #expect(try decoder.decodeFields(#"{"v":1,"ts":null}"#) == [DecodedField("v", 1)])
        #expect(decoder.eventTime == nil)
        // Inside an array the name does not count as the field.
        #expect(try decoder.decodeFields(#"{"v":1,"a":[{"ts":5}]}"#) == [DecodedField("v", 1)])
        #expect(decoder.eventTime == nil)
    }

    @Test func withoutTimestampFieldTheTimestampIsAMetric() throws {
        var decoder = PayloadDecoder(limits: PayloadLimits(), timestampField: nil, timestampUnit: .auto)
        #expect(
            try decoder.decodeFields(#"{"ts":1700000000,"v":1}"#) == [
                DecodedField("ts", 1_700_000_000), DecodedField("v", 1),
            ]
        )
        #expect(decoder.eventTime == nil)
    }

    @Test(arguments: [
        (#"{"v":1,"ts":"garbage"}"#, TimestampUnit.auto),
        (#"{"v":1,"ts":"2026-13-01T00:00:00Z"}"#, .auto),
        (#"{"v":1,"ts":"2026-02-30T00:00:00Z"}"#, .iso8601),
        (#"{"v":1,"ts":"2026-11-25T24:00:00Z"}"#, .auto),
        (#"{"v":1,"ts":"2026-11-25T11:39:31"}"#, .auto),
        (#"{"v":1,"ts":"1969-12-31T23:59:59Z"}"#, .auto),
        (#"{"v":1,"ts":"2026-11-25T11:39:31Z"}"#, .seconds),
        (#"{"v":1,"ts":"2026-11-25T11:39:31Z"}"#, .milliseconds),
        (#"{"v":1,"ts":"1700000000"}"#, .seconds),
        (#"{"v":1,"ts":1700000000}"#, .iso8601),
        (#"{"v":1,"ts":-1}"#, .auto),
        (#"{"v":1,"ts":-5e-324}"#, .seconds),
        (#"{"v":1,"ts":true}"#, .auto),
        (#"{"v":1,"ts":{"s":1}}"#, .auto),
        (#"{"v":1,"ts":[1700000000]}"#, .auto),
        (#"{"v":1,"ts":"2026\u002d11-25T11:39:31Z\u0020"}"#, .auto),
        ("{\"v\":1,\"ts\":\"2026-11-25T11:39:31." + String(repeating: "\\u0030", count: 200) + "Z\"}", .auto),
    ])
    func badTimestampsAreRejected(payload: String, unit: TimestampUnit) {
        let error = decodeError(payload, timestampField: "ts", unit: unit)
        #expect(error == .badTimestamp)
        #expect(error?.offset == 12)
    }

    @Test func longUnescapedFractionIsAccepted() throws {
        let fraction = String(repeating: "0", count: 300)
        var decoder = PayloadDecoder(limits: PayloadLimits(), timestampField: "ts", timestampUnit: .auto)
        _ = try decoder.decodeFields("{\"v\":1,\"ts\":\"2026-11-25T11:39:31.5\(fraction)Z\"}")
        #expect(decoder.eventTime == 1_795_606_771.5)
    }

    @Test func timestampOnlyPayloadHasNoMetrics() {
        #expect(decodeError(#"{"ts":1700000000}"#, timestampField: "ts") == .noMetrics)
    }

    // MARK: - Reuse

    @Test func secondPayloadLeavesNoLeftovers() throws {
        var decoder = PayloadDecoder(limits: PayloadLimits(), timestampField: "ts", timestampUnit: .auto)
        let first = try decoder.decodeFields(#"{"alpha":1,"beta":{"gamma":2,"delta":3},"ts":1700000000}"#)
        #expect(first.count == 3)
        #expect(decoder.eventTime == 1_700_000_000)
        let second = try decoder.decodeFields(#"{"x":9}"#)
        #expect(second == [DecodedField("x", 9)])
        #expect(decoder.fieldCount == 1)
        #expect(decoder.eventTime == nil)
        let third = try decoder.decodeFields(#"{"beta":{"q":5},"z":6}"#)
        #expect(third == [DecodedField("beta.q", 5), DecodedField("z", 6)])
    }

    @Test func failedDecodeClearsStateAndTheNextOneWorks() throws {
        var decoder = PayloadDecoder(limits: PayloadLimits(), timestampField: "ts", timestampUnit: .auto)
        _ = try decoder.decodeFields(#"{"a":1,"ts":5}"#)
        #expect(decoder.fieldCount == 1)
        // Fails after recording a metric, a timestamp and half a nested name.
        #expect(throws: PayloadError.syntax) {
            _ = try decoder.decodeFields(#"{"b":2,"ts":6,"c":{"d":3,"e":x}}"#)
        }
        #expect(decoder.fieldCount == 0)
        #expect(decoder.eventTime == nil)
        let fields = try decoder.decodeFields(#"{"f":4}"#)
        #expect(fields == [DecodedField("f", 4)])
        for error in ["{", "", "{\"a\":1e999}", "{}"] {
            #expect(throws: PayloadError.self) { _ = try decoder.decodeFields(error) }
            #expect(try decoder.decodeFields(#"{"g":{"h":5}}"#) == [DecodedField("g.h", 5)])
        }
    }

    @Test func manyPayloadsThroughOneDecoder() throws {
        var decoder = PayloadDecoder(limits: PayloadLimits(), timestampField: "ts", timestampUnit: .auto)
        for n in 0..<1000 {
            let fields = try decoder.decodeFields(
                "{\"ts\":\(1_700_000_000 + n),\"d\(n % 7)\":{\"v\":\(n)},\"k\":\(n % 3 == 0)}"
            )
            #expect(fields == [DecodedField("d\(n % 7).v", Double(n)), DecodedField("k", n % 3 == 0 ? 1 : 0)])
            #expect(decoder.eventTime == Double(1_700_000_000 + n))
        }
    }

    // MARK: - Errors

    @Test func errorReasonsAreStable() {
        let all: [(PayloadError, String)] = [
            (.notJSON, "not_json"), (.truncated, "truncated"), (.syntax, "syntax"), (.tooLarge, "too_large"),
            (.tooDeep, "too_deep"), (.tooManyFields, "too_many_fields"), (.nameTooLong, "name_too_long"),
            (.nonFinite, "non_finite"), (.badTimestamp, "bad_timestamp"), (.noMetrics, "no_metrics"),
            (.trailingData, "trailing_data"), (.unsupported, "unsupported"),
        ]
        for (error, reason) in all {
            #expect(error.reason == reason)
            #expect(error.offset == nil)
            #expect(error.description == reason)
        }
        let located = PayloadError.syntax.at(7)
        #expect(located == .syntax)
        #expect(located != .truncated)
        #expect(located.offset == 7)
        #expect(located.description == "syntax at byte 7")
    }
}
