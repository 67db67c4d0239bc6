import Foundation
import Testing
import VigilCore

/// Parses `text` with ``TimestampParser/parseISO8601(_:)``.
func parseISO(_ text: String) -> Double? {
    Array(text.utf8).withUnsafeBytes { TimestampParser.parseISO8601($0) }
}

@Suite struct TimestampParserTests {
    @Test(arguments: [
        ("2026-11-25T11:39:31Z", 1_795_606_771.0),
        ("2026-11-25T11:39:31z", 1_795_606_771),
        ("2026-11-25t11:39:31Z", 1_795_606_771),
        ("2026-11-25 11:39:31Z", 1_795_606_771),
        ("2026-11-25T11:39:31.5Z", 1_795_606_771.5),
        ("2026-11-25T11:39:31.250Z", 1_795_606_771.25),
        ("2026-11-25T11:39:31.000000001Z", 1_795_606_771.000000001),
        ("2026-11-25T11:39:31.123456789012345678901234567890Z", 1_795_606_771.123456789),
        ("2026-11-25T17:09:31+05:30", 1_795_606_771),
        ("2026-11-25T17:09:31+0530", 1_795_606_771),
        ("2026-11-25T03:39:31-0800", 1_795_606_771),
        ("2026-11-25T03:39:31-08:00", 1_795_606_771),
        ("2026-11-25T11:39:31+00:00", 1_795_606_771),
        ("2026-11-25T11:39:31-00:00", 1_795_606_771),
        ("2026-11-26T11:38:31+23:59", 1_795_606_771),
        ("2024-02-29T12:00:00Z", 1_709_208_000),
        ("2000-02-29T00:00:00Z", 951_782_400),
        ("1970-01-01T00:00:00Z", 0),
        ("1970-01-01T05:30:00+05:30", 0),
        ("1970-01-01T00:00:00.000Z", 0),
        ("1969-12-31T23:59:59Z", -1),
        ("1969-12-31T23:59:59.5Z", -0.5),
        ("1900-01-01T00:00:00Z", -2_208_988_800),
        ("0000-03-01T00:00:00Z", -62_162_035_200),
        ("9999-12-31T23:59:59Z", 253_402_300_799),
        ("2038-01-19T03:14:08Z", 2_147_483_648),
        ("2016-12-31T23:59:60Z", 1_483_228_800),  // leap second: the next minute's first second
        ("2017-01-01T00:00:00Z", 1_483_228_800),
    ])
    func validDatesParse(text: String, expected: Double) {
        #expect(parseISO(text) == expected)
    }

    @Test(arguments: [
        "",
        "garbage",
        "2026-11-25",
        "2026-11-25T11:39Z",
        "2026-11-25T11:39:31",  // no zone: local time of an unknown device
        "2026-13-01T00:00:00Z",
        "2026-00-01T00:00:00Z",
        "2026-02-30T00:00:00Z",
        "2026-02-29T00:00:00Z",
        "1900-02-29T00:00:00Z",
        "2100-02-29T00:00:00Z",
        "2026-04-31T00:00:00Z",
        "2026-11-00T00:00:00Z",
        "2026-11-32T00:00:00Z",
        "2026-11-25T24:00:00Z",
        "2026-11-25T11:60:00Z",
        "2026-11-25T11:39:61Z",
        "2026-11-25T11:39:31.Z",
        "2026-11-25T11:39:31,5Z",
        "2026-11-25T11:39:31ZZ",
        "2026-11-25T11:39:31Z ",
        " 2026-11-25T11:39:31Z",
        "2026-11-25T11:39:31+24:00",
        "2026-11-25T11:39:31+05:60",
        "2026-11-25T11:39:31+5:30",
        "2026-11-25T11:39:31+05",
        "2026-11-25T11:39:31+05:3",
        "2026-11-25T11:39:31+05:300",
        "2026-11-25T11:39:31UTC",
        "2026-11-25X11:39:31Z",
        "2026/11/25T11:39:31Z",
        "26-11-25T11:39:31Z",
        "+2026-11-25T11:39:31Z",
        "2026-1-25T11:39:31Z",
        "2026-11-25T1:39:31Z",
        "2026-11-25T11:39:3aZ",
        "2026-11-25T11:39:31.5e3Z",
        "2026-11-25T11:39:31.-5Z",
        "2026-11-25T11:39:31--08:00",
        "2026-11-25T11:39:31Z\u{0}",
        "２０２６-11-25T11:39:31Z",
    ])
    func invalidDatesAreRejected(text: String) {
        #expect(parseISO(text) == nil)
    }

    /// Days-from-civil arithmetic against Foundation's Gregorian calendar for random instants.
    @Test func randomDatesMatchFoundation() throws {
        var random = SeededRandom(seed: 0x7157)
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = try #require(TimeZone(identifier: "UTC"))
        for _ in 0..<3000 {
            // 1970 to 2400, so leap centuries (2000, 2100, 2400) are covered.
            let seconds = Int(random.next() % 13_569_465_600)
            let offsetMinutes = Int(random.next() % (24 * 60 * 2 - 1)) - (24 * 60 - 1)
            let local = Date(timeIntervalSince1970: TimeInterval(seconds + offsetMinutes * 60))
            let parts = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: local)
            let sign = offsetMinutes < 0 ? "-" : "+"
            let magnitude = abs(offsetMinutes)
            let colon = random.next() % 2 == 0 ? ":" : ""
            let text = String(
                format: "%04d-%02d-%02dT%02d:%02d:%02d%@%02d%@%02d",
                parts.year!,
                parts.month!,
                parts.day!,
                parts.hour!,
                parts.minute!,
                parts.second!,
                sign,
                magnitude / 60,
                colon,
                magnitude % 60
            )
            #expect(parseISO(text) == Double(seconds), "\(text)")
        }
    }

    /// Every day of four centuries, including each 29 February, round-trips through Foundation.
    @Test func everyDayFrom1970To2400() throws {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = try #require(TimeZone(identifier: "UTC"))
        var day = 0
        while day < 157_054 {
            let date = Date(timeIntervalSince1970: TimeInterval(day * 86_400))
            let parts = calendar.dateComponents([.year, .month, .day], from: date)
            let text = String(format: "%04d-%02d-%02dT00:00:00Z", parts.year!, parts.month!, parts.day!)
            #expect(parseISO(text) == Double(day * 86_400), "\(text)")
            day += 1
        }
        // And the day after each month's last day is invalid.
        for year in [1999, 2000, 2023, 2024, 2100] {
            let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
            let lengths = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
            for (index, length) in lengths.enumerated() {
                let last = String(format: "%04d-%02d-%02dT00:00:00Z", year, index + 1, length)
                let past = String(format: "%04d-%02d-%02dT00:00:00Z", year, index + 1, length + 1)
                #expect(parseISO(last) != nil, "\(last)")
                #expect(parseISO(past) == nil, "\(past)")
            }
        }
    }

    @Test func epochSecondsFromNumbers() {
        #expect(TimestampParser.epochSeconds(fromNumber: 1_700_000_000, unit: .seconds) == 1_700_000_000)
        #expect(TimestampParser.epochSeconds(fromNumber: 1_700_000_000.25, unit: .seconds) == 1_700_000_000.25)
        #expect(TimestampParser.epochSeconds(fromNumber: 1_700_000_000_123, unit: .milliseconds) == 1_700_000_000.123)
        #expect(TimestampParser.epochSeconds(fromNumber: 1_700_000_000, unit: .milliseconds) == 1_700_000)
        // Milliseconds read as seconds land past the year 9999: refused rather than passed on.
        #expect(TimestampParser.epochSeconds(fromNumber: 1_700_000_000_123, unit: .seconds) == nil)
        // auto: below 1e11 is seconds, from 1e11 on is milliseconds.
        #expect(TimestampParser.epochSeconds(fromNumber: 1_700_000_000, unit: .auto) == 1_700_000_000)
        #expect(TimestampParser.epochSeconds(fromNumber: 99_999_999_999, unit: .auto) == 99_999_999_999)
        #expect(TimestampParser.epochSeconds(fromNumber: 100_000_000_000, unit: .auto) == 100_000_000)
        #expect(TimestampParser.epochSeconds(fromNumber: 1_700_000_000_123, unit: .auto) == 1_700_000_000.123)
        #expect(TimestampParser.epochSeconds(fromNumber: 0, unit: .auto) == 0)
        // Numbers are not ISO 8601.
        #expect(TimestampParser.epochSeconds(fromNumber: 1_700_000_000, unit: .iso8601) == nil)
        // Non-finite and negative are rejected for every unit; -0 is zero.
        for unit in [TimestampUnit.auto, .seconds, .milliseconds] {
            #expect(TimestampParser.epochSeconds(fromNumber: .nan, unit: unit) == nil)
            #expect(TimestampParser.epochSeconds(fromNumber: .infinity, unit: unit) == nil)
            #expect(TimestampParser.epochSeconds(fromNumber: -.infinity, unit: unit) == nil)
            #expect(TimestampParser.epochSeconds(fromNumber: -1, unit: unit) == nil)
            #expect(TimestampParser.epochSeconds(fromNumber: -.leastNonzeroMagnitude, unit: unit) == nil)
            let zero = TimestampParser.epochSeconds(fromNumber: -0.0, unit: unit)
            #expect(zero == 0)
            #expect(zero?.sign == .plus)
        }
    }
}

@Suite struct TimestampBoundsTests {
    /// A hostile timestamp such as 1e300 seconds must be refused, not passed on to code that formats it.
    @Test func timesPastYear9999AreRejected() {
        #expect(TimestampParser.epochSeconds(fromNumber: 1e300, unit: .seconds) == nil)
        #expect(TimestampParser.epochSeconds(fromNumber: 253_402_300_800, unit: .seconds) == nil)
        #expect(TimestampParser.epochSeconds(fromNumber: 253_402_300_799, unit: .seconds) == 253_402_300_799)
        #expect(TimestampParser.epochSeconds(fromNumber: 1e300, unit: .milliseconds) == nil)
        #expect(TimeFormat.iso8601(1e300) == "9999-12-31T23:59:59.999Z")
        #expect(TimeFormat.iso8601(.nan) == "1970-01-01T00:00:00.000Z")
    }

    @Test func aHostileTimestampIsCountedNotFatal() {
        var decoder = PayloadDecoder(limits: PayloadLimits(), timestampField: "ts", timestampUnit: .seconds)
        var payload = "{\"ts\": 1e300, \"temp\": 20}"
        var reason = "accepted"
        payload.withUTF8 { bytes in
            do {
                try decoder.decode(UnsafeRawBufferPointer(bytes))
            } catch {
                reason = (error as? PayloadError)?.reason ?? "other"
            }
        }
        #expect(reason == "bad_timestamp")
    }
}
