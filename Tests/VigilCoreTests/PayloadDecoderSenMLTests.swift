import Testing
import VigilCore

/// One decoded field with its event time, copied out of the decoder for assertions.
struct TimedField: Equatable, CustomStringConvertible {
    var name: String
    var value: Double
    var time: Double

    init(_ name: String, _ value: Double, at time: Double) {
        self.name = name
        self.value = value
        self.time = time
    }

    var description: String { "\(name)=\(value)@\(time)" }
}

/// The receive time the SenML tests decode at: "now" for relative SenML times.
let now = 1_800_000_000.5

extension PayloadDecoder {
    /// Decodes `text` and copies every field out with its event time for a message received
    /// at `receivedAt` (allocates; tests only).
    mutating func decodeTimed(_ text: String, receivedAt: Double = now) throws(PayloadError) -> [TimedField] {
        try decodeTimed(Array(text.utf8), receivedAt: receivedAt)
    }

    mutating func decodeTimed(_ bytes: [UInt8], receivedAt: Double = now) throws(PayloadError) -> [TimedField] {
        let fields = try decodeFields(bytes)
        return fields.indices.map { index in
            TimedField(fields[index].name, fields[index].value, at: fieldEventTime(index, receivedAt: receivedAt))
        }
    }
}

/// Decodes `payload` as SenML (or `format`) with a fresh decoder.
func decodeSenML(
    _ payload: String,
    format: PayloadFormat = .senml,
    limits: PayloadLimits = PayloadLimits(),
    timestampField: String? = nil
) throws(PayloadError) -> [TimedField] {
    var decoder = PayloadDecoder(format: format, limits: limits, timestampField: timestampField, timestampUnit: .auto)
    return try decoder.decodeTimed(payload)
}

/// Decodes `payload` expecting a failure, and returns the error (nil when it was accepted).
func senMLError(
    _ payload: String,
    format: PayloadFormat = .senml,
    limits: PayloadLimits = PayloadLimits()
) -> PayloadError? {
    var decoder = PayloadDecoder(format: format, limits: limits, timestampField: nil, timestampUnit: .auto)
    do {
        _ = try decoder.decodeTimed(payload)
        return nil
    } catch {
        #expect(decoder.fieldCount == 0, "a failed decode must leave no fields")
        return error
    }
}

/// SenML packs (RFC 8428) through ``PayloadDecoder``: resolution, times, rejections, limits.
@Suite struct PayloadDecoderSenMLTests {
    // MARK: - RFC 8428's examples (§5.1)

    @Test func rfcSingleDatapoint() throws {
        // §5.1.1: no time at all is "now", the receive time.
        let fields = try decodeSenML(#"[{"n":"urn:dev:ow:10e2073a01080063","u":"Cel","v":23.1}]"#)
        #expect(fields == [TimedField("urn:dev:ow:10e2073a01080063", 23.1, at: now)])
    }

    @Test func rfcMultipleDatapoints() throws {
        // §5.1.2, first example: a base name for both records.
        let fields = try decodeSenML(
            """
            [
              {"bn":"urn:dev:ow:10e2073a01080063:","n":"voltage","u":"V","v":120.1},
              {"n":"current","u":"A","v":1.2}
            ]
            """
        )
        #expect(
            fields == [
                TimedField("urn:dev:ow:10e2073a01080063:voltage", 120.1, at: now),
                TimedField("urn:dev:ow:10e2073a01080063:current", 1.2, at: now),
            ]
        )
    }

    @Test func rfcMultipleDatapointsWithBaseTime() throws {
        // §5.1.2, second example: a base time, times relative to it, and bver 5.
        let fields = try decodeSenML(
            """
            [
              {"bn":"urn:dev:ow:10e2073a0108006:","bt":1.276020076001e+09,
               "bu":"A","bver":5,
               "n":"voltage","u":"V","v":120.1},
              {"n":"current","t":-5,"v":1.2},
              {"n":"current","t":-4,"v":1.3},
              {"n":"current","t":-3,"v":1.4},
              {"n":"current","t":-2,"v":1.5},
              {"n":"current","t":-1,"v":1.6},
              {"n":"current","v":1.7}
            ]
            """
        )
        let bt = 1.276020076001e+09
        let current = "urn:dev:ow:10e2073a0108006:current"
        #expect(
            fields == [
                TimedField("urn:dev:ow:10e2073a0108006:voltage", 120.1, at: bt),
                TimedField(current, 1.2, at: bt + -5), TimedField(current, 1.3, at: bt + -4),
                TimedField(current, 1.4, at: bt + -3), TimedField(current, 1.5, at: bt + -2),
                TimedField(current, 1.6, at: bt + -1), TimedField(current, 1.7, at: bt),
            ]
        )
        // The resolved times are absolute: they do not move with the receive time.
        var decoder = PayloadDecoder(format: .senml, limits: PayloadLimits(), timestampField: nil, timestampUnit: .auto)
        let later = try decoder.decodeTimed(#"[{"bt":1.276020076001e+09,"n":"c","t":-5,"v":1}]"#, receivedAt: 42)
        #expect(later[0].time == bt - 5)
    }

    static let multipleMeasurements = """
        [
          {"bn":"urn:dev:ow:10e2073a01080063","bt":1.320067464e+09,
           "bu":"%RH","v":20},
          {"u":"lon","v":24.30621},
          {"u":"lat","v":60.07965},
          {"t":60,"v":20.3},
          {"u":"lon","t":60,"v":24.30622},
          {"u":"lat","t":60,"v":60.07965},
          {"t":120,"v":20.7},
          {"u":"lon","t":120,"v":24.30623},
          {"u":"lat","t":120,"v":60.07966},
          {"u":"%EL","t":150,"v":98},
          {"t":180,"v":21.2},
          {"u":"lon","t":180,"v":24.30628},
          {"u":"lat","t":180,"v":60.07967}
        ]
        """

    @Test func rfcMultipleMeasurements() throws {
        // §5.1.3: one name (the base name alone), a base time, times after it. Units are not
        // part of the name, so humidity, position and battery share one metric name.
        let fields = try decodeSenML(Self.multipleMeasurements)
        let name = "urn:dev:ow:10e2073a01080063"
        let t0 = 1_320_067_464.0
        #expect(
            fields == [
                TimedField(name, 20, at: t0), TimedField(name, 24.30621, at: t0), TimedField(name, 60.07965, at: t0),
                TimedField(name, 20.3, at: t0 + 60), TimedField(name, 24.30622, at: t0 + 60),
                TimedField(name, 60.07965, at: t0 + 60), TimedField(name, 20.7, at: t0 + 120),
                TimedField(name, 24.30623, at: t0 + 120), TimedField(name, 60.07966, at: t0 + 120),
                TimedField(name, 98, at: t0 + 150), TimedField(name, 21.2, at: t0 + 180),
                TimedField(name, 24.30628, at: t0 + 180), TimedField(name, 60.07967, at: t0 + 180),
            ]
        )
    }

    @Test func rfcResolvedDataMatchesTheMultipleMeasurements() throws {
        // §5.1.4 is §5.1.3 resolved by the RFC's authors: both must decode to the same fields.
        let resolved = try decodeSenML(
            """
            [
              {"n":"urn:dev:ow:10e2073a01080063","u":"%RH","t":1.320067464e+09,"v":20},
              {"n":"urn:dev:ow:10e2073a01080063","u":"lon","t":1.320067464e+09,"v":24.30621},
              {"n":"urn:dev:ow:10e2073a01080063","u":"lat","t":1.320067464e+09,"v":60.07965},
              {"n":"urn:dev:ow:10e2073a01080063","u":"%RH","t":1.320067524e+09,"v":20.3},
              {"n":"urn:dev:ow:10e2073a01080063","u":"lon","t":1.320067524e+09,"v":24.30622},
              {"n":"urn:dev:ow:10e2073a01080063","u":"lat","t":1.320067524e+09,"v":60.07965},
              {"n":"urn:dev:ow:10e2073a01080063","u":"%RH","t":1.320067584e+09,"v":20.7},
              {"n":"urn:dev:ow:10e2073a01080063","u":"lon","t":1.320067584e+09,"v":24.30623},
              {"n":"urn:dev:ow:10e2073a01080063","u":"lat","t":1.320067584e+09,"v":60.07966},
              {"n":"urn:dev:ow:10e2073a01080063","u":"%EL","t":1.320067614e+09,"v":98},
              {"n":"urn:dev:ow:10e2073a01080063","u":"%RH","t":1.320067644e+09,"v":21.2},
              {"n":"urn:dev:ow:10e2073a01080063","u":"lon","t":1.320067644e+09,"v":24.30628},
              {"n":"urn:dev:ow:10e2073a01080063","u":"lat","t":1.320067644e+09,"v":60.07967}
            ]
            """
        )
        #expect(resolved == (try decodeSenML(Self.multipleMeasurements)))
    }

    @Test func rfcMultipleDataTypes() throws {
        // §5.1.5: a string and a data value are skipped; a boolean is 0 or 1.
        let fields = try decodeSenML(
            """
            [
              {"bn":"urn:dev:ow:10e2073a01080063:","n":"temp","u":"Cel","v":23.1},
              {"n":"label","vs":"Machine Room"},
              {"n":"open","vb":false},
              {"n":"nfc-reader","vd":"aGkgCg"}
            ]
            """
        )
        #expect(
            fields == [
                TimedField("urn:dev:ow:10e2073a01080063:temp", 23.1, at: now),
                TimedField("urn:dev:ow:10e2073a01080063:open", 0, at: now),
            ]
        )
    }

    @Test func rfcCollectionOfResources() throws {
        // §5.1.6: "the last record would use the Base Name from the 3rd record but the Base
        // Time from the first record".
        let fields = try decodeSenML(
            """
            [
              {"bn":"2001:db8::2/","bt":1.320078429e+09,
               "n":"temperature","u":"Cel","v":25.2},
              {"n":"humidity","u":"%RH","v":30},
              {"bn":"2001:db8::1/","n":"temperature","u":"Cel","v":12.3},
              {"n":"humidity","u":"%RH","v":67}
            ]
            """
        )
        let t = 1_320_078_429.0
        #expect(
            fields == [
                TimedField("2001:db8::2/temperature", 25.2, at: t), TimedField("2001:db8::2/humidity", 30, at: t),
                TimedField("2001:db8::1/temperature", 12.3, at: t), TimedField("2001:db8::1/humidity", 67, at: t),
            ]
        )
    }

    @Test func rfcSettingAnActuator() throws {
        // §5.1.7: a record of base fields only is no metric.
        let fields = try decodeSenML(
            """
            [
              {"bn":"urn:dev:ow:10e2073a01080063:"},
              {"n":"temp","u":"Cel","v":23.1},
              {"n":"heat","u":"/","v":1},
              {"n":"fan","u":"/","v":0}
            ]
            """
        )
        let base = "urn:dev:ow:10e2073a01080063:"
        #expect(
            fields == [
                TimedField(base + "temp", 23.1, at: now), TimedField(base + "heat", 1, at: now),
                TimedField(base + "fan", 0, at: now),
            ]
        )
    }

    @Test func rfcSynchronizedLightsOff() throws {
        // §5.1.7: the same names twice, the second pair 100 ms after the base time.
        let fields = try decodeSenML(
            """
            [
              {"bt":1.320078429e+09,"bu":"/","n":"2001:db8::3","v":0.5},
              {"n":"2001:db8::4","v":0.5},
              {"n":"2001:db8::3","t":0.1,"v":0},
              {"n":"2001:db8::4","t":0.1,"v":0}
            ]
            """
        )
        let t = 1.320078429e+09
        #expect(
            fields == [
                TimedField("2001:db8::3", 0.5, at: t), TimedField("2001:db8::4", 0.5, at: t),
                TimedField("2001:db8::3", 0, at: t + 0.1), TimedField("2001:db8::4", 0, at: t + 0.1),
            ]
        )
    }

    // MARK: - Base fields

    @Test func baseFieldsApplyUntilReplaced() throws {
        let fields = try decodeSenML(
            """
            [{"bn":"a/","bv":100,"bt":1700000000,"n":"x","v":1},
             {"n":"y","v":-2,"t":1},
             {"bn":"b/","n":"x","v":3},
             {"bv":0.5,"n":"x","v":4},
             {"bt":1700000100,"n":"z","v":5},
             {"bn":"","n":"w","v":6}]
            """
        )
        #expect(
            fields == [
                TimedField("a/x", 101, at: 1_700_000_000), TimedField("a/y", 98, at: 1_700_000_001),
                TimedField("b/x", 103, at: 1_700_000_000), TimedField("b/x", 4.5, at: 1_700_000_000),
                TimedField("b/z", 5.5, at: 1_700_000_100), TimedField("w", 6.5, at: 1_700_000_100),
            ]
        )
    }

    @Test func baseFieldsApplyToTheirOwnRecordWhateverTheOrder() throws {
        // Fields of one record come in any order: a base name after the name still applies.
        let fields = try decodeSenML(#"[{"v":2,"n":"t","bv":10,"t":-3,"bn":"dev/"},{"n":"u","v":1}]"#)
        #expect(fields == [TimedField("dev/t", 12, at: now - 3), TimedField("dev/u", 11, at: now)])
    }

    @Test func nameCanBeTheBaseNameAlone() throws {
        let fields = try decodeSenML(#"[{"bn":"dev:temp","v":1},{"v":2,"t":-1}]"#)
        #expect(fields == [TimedField("dev:temp", 1, at: now), TimedField("dev:temp", 2, at: now - 1)])
    }

    @Test func booleansAreOneAndZeroAndIgnoreTheBaseValue() throws {
        let fields = try decodeSenML(#"[{"bv":10,"n":"on","vb":true},{"n":"off","vb":false},{"n":"n","v":1}]"#)
        #expect(fields == [TimedField("on", 1, at: now), TimedField("off", 0, at: now), TimedField("n", 11, at: now)])
    }

    @Test func sumIsTheValueOnlyWithoutAValueField() throws {
        let fields = try decodeSenML(
            """
            [{"bs":1000,"n":"energy","s":5},
             {"n":"power","v":2,"s":7},
             {"n":"label","vs":"x","s":9},
             {"n":"flag","vb":true,"s":9},
             {"bs":0,"n":"energy","s":-1.5,"bv":3}]
            """
        )
        #expect(
            fields == [
                TimedField("energy", 1005, at: now), TimedField("power", 2, at: now), TimedField("flag", 1, at: now),
                TimedField("energy", -1.5, at: now),
            ]
        )
    }

    @Test func recordsWithoutANumericValueAreSkipped() throws {
        let fields = try decodeSenML(
            """
            [{"bn":"d/"},{},{"n":"s","vs":"text"},{"n":"d","vd":"aGk"},{"n":"u","u":"Cel"},
             {"n":"t","t":-1,"ut":60},{"n":"x","v":7},{"bt":1700000000}]
            """
        )
        #expect(fields == [TimedField("d/x", 7, at: now)])
        #expect(senMLError(#"[{"n":"s","vs":"text"},{"n":"d","vd":"aGk"},{}]"#) == .noMetrics)
    }

    @Test func unknownFieldsAreValidatedAndIgnored() throws {
        let fields = try decodeSenML(#"[{"n":"a","v":1,"foo":{"b":[1,{"c":null}]},"v_x":"y","ver":11,"u":"%"}]"#)
        #expect(fields == [TimedField("a", 1, at: now)])
        // ... but still validated.
        #expect(senMLError(#"[{"n":"a","v":1,"foo":[1,}]"#) == .syntax)
        #expect(senMLError(#"[{"n":"a","v":1,"foo":1e400}]"#) == .nonFinite)
    }

    @Test func repeatedFieldsInARecordLastOneWins() throws {
        let fields = try decodeSenML(#"[{"n":"a","v":1,"v":2,"n":"b","t":-1,"t":-2,"bn":"x","bn":"y/"}]"#)
        #expect(fields == [TimedField("y/b", 2, at: now - 2)])
    }

    @Test func escapesInNamesAndLabelsAreDecoded() throws {
        let fields = try decodeSenML(#"[{"bn":"d\u00e9v/","\u006e":"t\/1","\u0076":2.5},{"n":"\ud83d\ude00","v":1}]"#)
        #expect(fields == [TimedField("dév/t/1", 2.5, at: now), TimedField("dév/😀", 1, at: now)])
    }

    @Test func namesAreNotCheckedAgainstTheRFCCharacterSet() throws {
        // RFC 8428 §4.5.1 restricts names; Vigil keeps any UTF-8, as it does for JSON objects.
        let fields = try decodeSenML(#"[{"n":" temp (°C)","v":1},{"n":"-","v":2}]"#)
        #expect(fields == [TimedField(" temp (°C)", 1, at: now), TimedField("-", 2, at: now)])
    }

    @Test func versionUpToTenIsAccepted() throws {
        #expect(try decodeSenML(#"[{"bver":10,"n":"a","v":1}]"#) == [TimedField("a", 1, at: now)])
        #expect(try decodeSenML(#"[{"bver":1,"n":"a","v":1}]"#) == [TimedField("a", 1, at: now)])
    }

    // MARK: - Times

    @Test func relativeAndAbsoluteTimes() throws {
        let fields = try decodeSenML(
            """
            [{"n":"v","v":1},
             {"n":"v","t":-60,"v":2},
             {"n":"v","t":30.25,"v":3},
             {"bt":-120,"n":"v","v":4},
             {"n":"v","t":-1,"v":5},
             {"bt":1700000000,"n":"v","t":-0.5,"v":6},
             {"bt":0,"n":"v","v":7}]
            """
        )
        #expect(
            fields == [
                TimedField("v", 1, at: now), TimedField("v", 2, at: now - 60), TimedField("v", 3, at: now + 30.25),
                TimedField("v", 4, at: now - 120), TimedField("v", 5, at: now - 121),
                TimedField("v", 6, at: 1_699_999_999.5), TimedField("v", 7, at: now),
            ]
        )
    }

    @Test func relativeTimesMoveWithTheReceiveTimeAndAbsoluteOnesDoNot() throws {
        var decoder = PayloadDecoder(format: .senml, limits: PayloadLimits(), timestampField: nil, timestampUnit: .auto)
        let pack = #"[{"n":"r","t":-10,"v":1},{"n":"a","t":1700000000,"v":2}]"#
        #expect(try decoder.decodeTimed(pack, receivedAt: 1_000_000_000) == [
            TimedField("r", 1, at: 999_999_990), TimedField("a", 2, at: 1_700_000_000),
        ])
        #expect(try decoder.decodeTimed(pack, receivedAt: 2_000_000_000) == [
            TimedField("r", 1, at: 1_999_999_990), TimedField("a", 2, at: 1_700_000_000),
        ])
        #expect(decoder.eventTime == nil)
    }

    @Test func theRelativeLimitIsTheResolvedTime() throws {
        // 2^28 = 268435456 is the first absolute time; the sum decides, not its parts.
        let fields = try decodeSenML(
            """
            [{"n":"a","t":268435455.5,"v":1},
             {"n":"b","t":268435456,"v":2},
             {"bt":268435456,"n":"c","t":-1,"v":3},
             {"bt":0,"n":"d","t":-268435456,"v":4}]
            """
        )
        #expect(
            fields == [
                TimedField("a", 1, at: now + 268_435_455.5), TimedField("b", 2, at: 268_435_456),
                TimedField("c", 3, at: now + 268_435_455), TimedField("d", 4, at: now - 268_435_456),
            ]
        )
        #expect(PayloadDecoder.senMLRelativeTimeLimit == 268_435_456)
    }

    @Test(arguments: [
        #"[{"n":"a","t":1e11,"v":1}]"#,
        #"[{"bt":99999999999,"n":"a","t":1,"v":1}]"#,
        #"[{"n":"a","t":-268435456.5,"v":1}]"#,
        #"[{"bt":-1e9,"n":"a","v":1}]"#,
    ])
    func unusableTimesAreRejected(pack: String) {
        let error = senMLError(pack)
        #expect(error == .badTimestamp)
        #expect(error?.offset == 1)
    }

    @Test func timeBoundsApplyOnlyToRecordsThatAreMetrics() throws {
        // A string record with a far-off time is skipped, not rejected.
        #expect(try decodeSenML(#"[{"n":"s","t":1e12,"vs":"x"},{"n":"a","v":1}]"#) == [TimedField("a", 1, at: now)])
    }

    // MARK: - Rejections

    @Test(arguments: [
        MalformedCase(#"[{"n":"a","v":1,"foo_":1}]"#, .unsupported, at: 16),
        MalformedCase(#"[{"_":true,"n":"a","v":1}]"#, .unsupported, at: 2),
        MalformedCase(#"[{"n":"a","v":1},{"x\u005f":1}]"#, .unsupported, at: 18),
        MalformedCase(#"[{"n":"a","v":1},{"bver":11}]"#, .unsupported, at: 18),
        MalformedCase(#"[{"bver":10.5,"n":"a","v":1}]"#, .unsupported, at: 2),
    ])
    func mustUnderstandFieldsAreUnsupported(_ testCase: MalformedCase) {
        let text = String(decoding: testCase.bytes, as: UTF8.self)
        let error = senMLError(text)
        #expect(error == testCase.error)
        #expect(error?.offset == testCase.offset)
    }

    static let malformed: [MalformedCase] = [
        // Structure.
        MalformedCase(#"[{"n":"a","v":1}"#, .truncated, at: 16),
        MalformedCase(#"[{"n":"a","v":1"#, .truncated, at: 15),
        MalformedCase(#"[{"n":"a","v":1},"#, .truncated, at: 17),
        MalformedCase(#"[{"n":"a","#, .truncated, at: 10),
        MalformedCase(#"[{"n":"a","v":"#, .truncated, at: 14),
        MalformedCase("[", .truncated, at: 1),
        MalformedCase(#"[1,2]"#, .syntax, at: 1),
        MalformedCase(#"[{"n":"a","v":1},2]"#, .syntax, at: 17),
        MalformedCase(#"[[{"n":"a","v":1}]]"#, .syntax, at: 1),
        MalformedCase(#"["n"]"#, .syntax, at: 1),
        MalformedCase(#"[null]"#, .syntax, at: 1),
        MalformedCase(#"[{"n":"a","v":1},]"#, .syntax, at: 17),
        MalformedCase(#"[{"n":"a","v":1,}]"#, .syntax, at: 16),
        MalformedCase(#"[{"n":"a" "v":1}]"#, .syntax, at: 10),
        MalformedCase(#"[{"n":"a","v":1} {"n":"b","v":2}]"#, .syntax, at: 17),
        MalformedCase(#"[{n:"a"}]"#, .syntax, at: 2),
        MalformedCase(#"[{"n":"a","v":1}]]"#, .trailingData, at: 17),
        MalformedCase(#"[{"n":"a","v":1}] x"#, .trailingData, at: 18),
        MalformedCase(#"[]"#, .noMetrics),
        MalformedCase(" [ ] ", .noMetrics),
        MalformedCase(#"[{}]"#, .noMetrics),
        MalformedCase(#"{"n":"a","v":1}"#, .notJSON, at: 0),
        MalformedCase("42", .notJSON, at: 0),
        MalformedCase("", .notJSON),
        // Missing name.
        MalformedCase(#"[{"v":1}]"#, .syntax, at: 1),
        MalformedCase(#"[{"n":"a","v":1},{"s":1}]"#, .syntax, at: 17),
        MalformedCase(#"[{"bn":"","n":"","v":1}]"#, .syntax, at: 1),
        MalformedCase(#"[{"n":"","vs":"x"}]"#, .syntax, at: 1),
        // Wrong types.
        MalformedCase(#"[{"n":"a","v":"1"}]"#, .syntax, at: 14),
        MalformedCase(#"[{"n":1,"v":1}]"#, .syntax, at: 6),
        MalformedCase(#"[{"bn":null,"n":"a","v":1}]"#, .syntax, at: 7),
        MalformedCase(#"[{"n":"a","vb":1}]"#, .syntax, at: 15),
        MalformedCase(#"[{"n":"a","vb":"true"}]"#, .syntax, at: 15),
        MalformedCase(#"[{"n":"a","v":null}]"#, .syntax, at: 14),
        MalformedCase(#"[{"n":"a","v":true}]"#, .syntax, at: 14),
        MalformedCase(#"[{"n":"a","t":"2024-01-01T00:00:00Z","v":1}]"#, .syntax, at: 14),
        MalformedCase(#"[{"n":"a","vs":1}]"#, .syntax, at: 15),
        MalformedCase(#"[{"n":"a","u":["V"],"v":1}]"#, .syntax, at: 14),
        MalformedCase(#"[{"n":"a","bt":{},"v":1}]"#, .syntax, at: 15),
        MalformedCase(#"[{"n":"a","v":01}]"#, .syntax, at: 15),
        // More than one kind of value.
        MalformedCase(#"[{"n":"a","v":1,"vs":"x"}]"#, .syntax, at: 16),
        MalformedCase(#"[{"n":"a","vb":true,"v":1}]"#, .syntax, at: 20),
        MalformedCase(#"[{"n":"a","vs":"x","vd":"eA"}]"#, .syntax, at: 19),
        // Overflow once the base is added.
        MalformedCase(#"[{"n":"a","v":1e400}]"#, .nonFinite, at: 14),
        MalformedCase(#"[{"bv":1e308,"n":"a","v":1e308}]"#, .nonFinite, at: 1),
        MalformedCase(#"[{"bs":-1e308,"n":"a","s":-1e308}]"#, .nonFinite, at: 1),
        MalformedCase(#"[{"bt":1e308,"n":"a","t":1e308,"v":1}]"#, .nonFinite, at: 1),
    ]

    @Test(arguments: malformed)
    func malformedPacksAreRejected(_ testCase: MalformedCase) {
        let text = String(decoding: testCase.bytes, as: UTF8.self)
        let error = senMLError(text)
        #expect(error == testCase.error)
        if let offset = testCase.offset {
            #expect(error?.offset == offset)
        }
    }

    @Test func failedPackLeavesNoFieldsAndTheNextOneWorks() throws {
        var decoder = PayloadDecoder(format: .senml, limits: PayloadLimits(), timestampField: nil, timestampUnit: .auto)
        #expect(try decoder.decodeTimed(#"[{"bn":"a/","n":"x","v":1}]"#) == [TimedField("a/x", 1, at: now)])
        #expect(throws: PayloadError.syntax) { try decoder.decodeTimed(#"[{"bn":"b/","n":"x","v":1},{"v":"2"}]"#) }
        #expect(decoder.fieldCount == 0)
        // The base name of a previous pack does not leak into the next one.
        #expect(try decoder.decodeTimed(#"[{"n":"y","v":2}]"#) == [TimedField("y", 2, at: now)])
    }

    // MARK: - Limits

    @Test func fieldLimitCountsMetricsNotRecords() throws {
        let limits = PayloadLimits(maxFields: 3)
        let three = #"[{"n":"a","v":1},{"n":"s","vs":"x"},{"bn":"z"},{"n":"b","v":2},{"n":"c","vb":true}]"#
        #expect(try decodeSenML(three, limits: limits).count == 3)
        let four = #"[{"n":"a","v":1},{"n":"b","v":2},{"n":"c","v":3},{"n":"d","v":4}]"#
        let error = senMLError(four, limits: limits)
        #expect(error == .tooManyFields)
        #expect(error?.offset == 49)
    }

    @Test func nameLimitAppliesToTheResolvedName() throws {
        let limits = PayloadLimits(maxNameBytes: 8)
        let fits = try decodeSenML(#"[{"bn":"dev/","n":"temp","v":1}]"#, limits: limits)
        #expect(fits == [TimedField("dev/temp", 1, at: now)])
        #expect(try decodeSenML(#"[{"bn":"12345678","v":1}]"#, limits: limits) == [TimedField("12345678", 1, at: now)])
        // bn + n one byte too long, at the name's string.
        let long = senMLError(#"[{"bn":"dev/","n":"temps","v":1}]"#, limits: limits)
        #expect(long == .nameTooLong)
        #expect(long?.offset == 18)
        // The base name alone, at its string, even in a record without a value.
        let base = senMLError(#"[{"bn":"123456789"},{"n":"a","v":1}]"#, limits: limits)
        #expect(base == .nameTooLong)
        #expect(base?.offset == 7)
        // A record that is skipped still has its name checked (the limit is on the shape).
        #expect(senMLError(#"[{"n":"123456789","vs":"x"},{"n":"a","v":1}]"#, limits: limits) == .nameTooLong)
        // Escapes count once decoded: \u00e9 is two bytes.
        let escaped = try decodeSenML(#"[{"n":"caf\u00e9abc","v":1}]"#, limits: limits)
        #expect(escaped == [TimedField("caféabc", 1, at: now)])
        #expect(senMLError(#"[{"n":"caf\u00e9abcd","v":1}]"#, limits: limits) == .nameTooLong)
    }

    @Test func depthLimitCountsThePackAndItsRecords() throws {
        #expect(senMLError(#"[{"n":"a","v":1}]"#, limits: PayloadLimits(maxDepth: 1)) == .tooDeep)
        #expect(senMLError("[]", limits: PayloadLimits(maxDepth: 1)) == .noMetrics)
        #expect(try decodeSenML(#"[{"n":"a","v":1}]"#, limits: PayloadLimits(maxDepth: 2)).count == 1)
        // An unknown field's object is depth 3.
        let nested = #"[{"n":"a","v":1,"x":{"y":1}}]"#
        let error = senMLError(nested, limits: PayloadLimits(maxDepth: 2))
        #expect(error == .tooDeep)
        #expect(error?.offset == 20)
        #expect(try decodeSenML(nested, limits: PayloadLimits(maxDepth: 3)).count == 1)
    }

    @Test func sizeLimit() throws {
        let pack = #"[{"n":"a","v":1}]"#
        #expect(try decodeSenML(pack, limits: PayloadLimits(maxBytes: pack.utf8.count)).count == 1)
        #expect(senMLError(pack, limits: PayloadLimits(maxBytes: pack.utf8.count - 1)) == .tooLarge)
    }

    @Test func manyPacksThroughOneDecoder() throws {
        var decoder = PayloadDecoder(format: .senml, limits: PayloadLimits(), timestampField: nil, timestampUnit: .auto)
        for n in 0..<500 {
            let pack = "[{\"bn\":\"d\(n % 7)/\",\"bt\":\(1_700_000_000 + n),\"n\":\"v\",\"v\":\(n)},"
                + "{\"n\":\"k\",\"t\":-1,\"vb\":\(n % 3 == 0)}]"
            let t = Double(1_700_000_000 + n)
            #expect(
                try decoder.decodeTimed(pack) == [
                    TimedField("d\(n % 7)/v", Double(n), at: t),
                    TimedField("d\(n % 7)/k", n % 3 == 0 ? 1 : 0, at: t - 1),
                ]
            )
        }
    }
}
