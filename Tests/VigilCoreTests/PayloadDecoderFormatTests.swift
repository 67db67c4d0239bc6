import Testing
import VigilCore

/// Bare numbers, choosing the format per message (`auto`), and each explicit format refusing the others.
@Suite struct PayloadDecoderFormatTests {
    // MARK: - Bare numbers

    @Test(arguments: [
        ("42", 42.0), (" -1.5e3 ", -1500), ("0", 0), ("\t\n21.5\r\n", 21.5), ("1e-400", 0),
        ("1.7976931348623157e308", 1.7976931348623157e308), ("123456789012345678901234567890", 1.2345678901234568e29),
    ])
    func bareNumbers(text: String, value: Double) throws {
        for format in [PayloadFormat.number, .auto] {
            let fields = try decodeSenML(text, format: format)
            #expect(fields == [TimedField("value", value, at: now)])
        }
    }

    @Test func negativeZeroKeepsItsSign() throws {
        let fields = try decodeSenML("-0", format: .number)
        #expect(fields.count == 1)
        #expect(fields[0].value.sign == .minus)
    }

    @Test(arguments: [
        MalformedCase("1e400", .nonFinite, at: 0),
        MalformedCase("-1e400", .nonFinite, at: 0),
        MalformedCase(#""42""#, .notJSON, at: 0),
        MalformedCase("42 x", .trailingData, at: 3),
        MalformedCase("4 2", .trailingData, at: 2),
        MalformedCase("01", .trailingData, at: 1),
        MalformedCase("42,", .trailingData, at: 2),
        MalformedCase("-", .truncated, at: 1),
        MalformedCase("1.", .truncated, at: 2),
        MalformedCase("1.x", .syntax, at: 2),
        MalformedCase("1e", .truncated, at: 2),
        MalformedCase("-x", .syntax, at: 1),
        MalformedCase("+1", .notJSON, at: 0),
        MalformedCase(".5", .notJSON, at: 0),
        MalformedCase("true", .notJSON, at: 0),
        MalformedCase("null", .notJSON, at: 0),
        MalformedCase("NaN", .notJSON, at: 0),
        MalformedCase("", .notJSON),
        MalformedCase("  ", .notJSON),
        MalformedCase("{\"a\":1}", .notJSON, at: 0),
        MalformedCase("[1]", .notJSON, at: 0),
        MalformedCase("1" + String(repeating: "0", count: 64), .syntax, at: 64),
    ])
    func malformedNumbersAreRejected(_ testCase: MalformedCase) {
        let error = senMLError(String(decoding: testCase.bytes, as: UTF8.self), format: .number)
        #expect(error == testCase.error)
        #expect(error?.offset == testCase.offset)
    }

    @Test func bareNumberIgnoresTheTimestampFieldAndNeedsRoomForItsName() throws {
        #expect(try decodeSenML("7", format: .number, timestampField: "value") == [TimedField("value", 7, at: now)])
        #expect(try decodeSenML("7", format: .number, limits: PayloadLimits(maxNameBytes: 5)).count == 1)
        #expect(senMLError("7", format: .number, limits: PayloadLimits(maxNameBytes: 4)) == .nameTooLong)
        #expect(senMLError("7", format: .number, limits: PayloadLimits(maxBytes: 1)) == nil)
        #expect(senMLError(" 7", format: .number, limits: PayloadLimits(maxBytes: 1)) == .tooLarge)
    }

    // MARK: - Auto

    @Test(arguments: [
        (#"{"t":21.5}"#, [TimedField("t", 21.5, at: now)]),
        (" \n{\"a\":{\"b\":true}}", [TimedField("a.b", 1, at: now)]),
        (#"[{"n":"t","v":21.5}]"#, [TimedField("t", 21.5, at: now)]),
        (" [{\"n\":\"t\",\"t\":-1,\"v\":2}] ", [TimedField("t", 2, at: now - 1)]),
        ("21.5", [TimedField("value", 21.5, at: now)]),
        ("-3", [TimedField("value", -3, at: now)]),
    ])
    func autoChoosesByTheFirstByte(payload: String, expected: [TimedField]) throws {
        #expect(try decodeSenML(payload, format: .auto) == expected)
    }

    @Test(arguments: ["", "  ", #""x""#, "true", "false", "null", "+1", ".5", "x", "\u{FEFF}{\"a\":1}", "}"])
    func autoRejectsAnythingElseAsNotJSON(payload: String) {
        #expect(senMLError(payload, format: .auto) == .notJSON)
    }

    @Test func autoRejectsWithTheChosenFormatsRules() {
        // Once chosen, a format's own rules apply: an array of numbers is not a SenML pack.
        #expect(senMLError("[1,2]", format: .auto) == .syntax)
        #expect(senMLError("[]", format: .auto) == .noMetrics)
        #expect(senMLError(#"{"s":"x"}"#, format: .auto) == .noMetrics)
        #expect(senMLError("1 2", format: .auto) == .trailingData)
    }

    @Test func timestampFieldAppliesToObjectsOnly() throws {
        var decoder = PayloadDecoder(format: .auto, limits: PayloadLimits(), timestampField: "ts", timestampUnit: .auto)
        #expect(try decoder.decodeTimed(#"{"ts":1700000000,"a":1}"#) == [TimedField("a", 1, at: 1_700_000_000)])
        #expect(decoder.eventTime == 1_700_000_000)
        // In a pack, a record named ts is a metric like any other.
        #expect(
            try decoder.decodeTimed(#"[{"n":"ts","v":5},{"n":"a","t":-2,"v":1}]"#) == [
                TimedField("ts", 5, at: now), TimedField("a", 1, at: now - 2),
            ]
        )
        #expect(decoder.eventTime == nil)
        // Back to an object without a timestamp: the pack's times are gone.
        #expect(try decoder.decodeTimed(#"{"a":3}"#) == [TimedField("a", 3, at: now)])
        #expect(try decoder.decodeTimed("4") == [TimedField("value", 4, at: now)])
    }

    // MARK: - Explicit formats refuse the others

    @Test(arguments: [
        (PayloadFormat.json, #"[{"n":"a","v":1}]"#), (.json, "42"), (.json, "-1"),
        (.senml, #"{"a":1}"#), (.senml, "42"),
        (.number, #"{"a":1}"#), (.number, #"[{"n":"a","v":1}]"#),
    ])
    func explicitFormatsRefuseTheOthers(format: PayloadFormat, payload: String) {
        let error = senMLError(payload, format: format)
        #expect(error == .notJSON)
        #expect(error?.offset == 0)
    }

    @Test func defaultFormatIsAJSONObject() throws {
        var decoder = PayloadDecoder(limits: PayloadLimits(), timestampField: nil, timestampUnit: .auto)
        #expect(try decoder.decodeTimed(#"{"a":1}"#) == [TimedField("a", 1, at: now)])
        #expect(throws: PayloadError.notJSON) { try decoder.decodeTimed(#"[{"n":"a","v":1}]"#) }
        #expect(throws: PayloadError.notJSON) { try decoder.decodeTimed("1") }
    }
}
