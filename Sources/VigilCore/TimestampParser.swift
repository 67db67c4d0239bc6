/// How a payload's timestamp field is read.
package enum TimestampUnit: Sendable {
    /// A number is seconds when its magnitude is below 1e11, else milliseconds;
    /// a string is ISO 8601 / RFC 3339.
    case auto
    /// A number of seconds since the Unix epoch (fractions allowed). Strings are rejected.
    case seconds
    /// A number of milliseconds since the Unix epoch (fractions allowed). Strings are rejected.
    case milliseconds
    /// An ISO 8601 / RFC 3339 string. Numbers are rejected.
    case iso8601
}

/// Turns payload timestamps into seconds since the Unix epoch (1970-01-01T00:00:00Z).
///
/// Pure arithmetic on bytes: no Foundation, no calendar, no allocation, so it is safe on
/// the per-message hot path.
package enum TimestampParser {
    /// Numbers at or above this magnitude are milliseconds under ``TimestampUnit/auto``.
    ///
    /// 1e11 seconds is the year 5138; 1e11 milliseconds is 1973-03-03. No real device clock
    /// is ambiguous between the two.
    package static let autoMillisecondsThreshold = 1e11

    /// Parses an ISO 8601 / RFC 3339 date-time with a zone and returns epoch seconds.
    ///
    /// The accepted form is `YYYY-MM-DD` `T` `hh:mm:ss` [`.` fraction] zone, where:
    /// - the separator may be `T`, `t` or a single space;
    /// - the fraction has one or more digits, any number of them (digits past the 18th are
    ///   read but do not change the result);
    /// - the zone is required: `Z`, `z`, `+hh:mm`, `-hh:mm`, `+hhmm` or `-hhmm`
    ///   (offset hours 00-23, minutes 00-59). A time without a zone would be local time on
    ///   some unknown device, so it is rejected rather than guessed.
    ///
    /// Fields are range-checked: month 01-12, day within the month (leap years follow the
    /// Gregorian rules, so 2024-02-29 is valid and 2100-02-29 is not), hour 00-23,
    /// minute 00-59, second 00-60. A leap second (`:60`) is accepted as RFC 3339 allows and
    /// lands on the first second of the next minute, as POSIX time has no leap seconds.
    /// Years are four digits (0000-9999); dates before 1970 give negative results.
    ///
    /// ```swift
    /// "2026-11-25T11:39:31Z" -> 1795606771
    /// "1970-01-01T05:30:00+05:30" -> 0
    /// ```
    ///
    /// - Parameter bytes: The ASCII text, without quotes and with escapes already decoded.
    /// - Returns: Seconds since the Unix epoch, or `nil` when the text is not a valid date-time.
    /// - Complexity: O(n) in the length of the text.
    package static func parseISO8601(_ bytes: UnsafeRawBufferPointer) -> Double? {
        let count = bytes.count
        // The shortest valid text: "YYYY-MM-DDThh:mm:ssZ".
        guard count >= 20 else { return nil }
        guard let year = digits(bytes, 0, 4), bytes[4] == UInt8(ascii: "-"),
            let month = digits(bytes, 5, 2), bytes[7] == UInt8(ascii: "-"),
            let day = digits(bytes, 8, 2)
        else { return nil }
        switch bytes[10] {
        case UInt8(ascii: "T"), UInt8(ascii: "t"), UInt8(ascii: " "): break
        default: return nil
        }
        guard let hour = digits(bytes, 11, 2), bytes[13] == UInt8(ascii: ":"),
            let minute = digits(bytes, 14, 2), bytes[16] == UInt8(ascii: ":"),
            let second = digits(bytes, 17, 2)
        else { return nil }

        var index = 19
        var fraction = 0.0
        if bytes[index] == UInt8(ascii: ".") {
            index += 1
            let firstDigit = index
            var numerator: UInt64 = 0
            var kept = 0
            while index < count, let digit = digitValue(bytes[index]) {
                // 18 digits fit in a UInt64 and 10^18 is exact as a Double, so the division
                // below is one correctly rounded operation. Later digits are below 1e-18 s.
                if kept < 18 {
                    numerator = numerator * 10 + UInt64(digit)
                    kept += 1
                }
                index += 1
            }
            guard index > firstDigit else { return nil }
            fraction = Double(numerator) / exactPowerOfTen(kept)
        }

        guard index < count else { return nil }
        var offsetSeconds = 0
        switch bytes[index] {
        case UInt8(ascii: "Z"), UInt8(ascii: "z"):
            index += 1
        case UInt8(ascii: "+"), UInt8(ascii: "-"):
            let sign = bytes[index] == UInt8(ascii: "-") ? -1 : 1
            guard let offsetHours = digits(bytes, index + 1, 2) else { return nil }
            index += 3
            if index < count, bytes[index] == UInt8(ascii: ":") {
                index += 1
            }
            guard let offsetMinutes = digits(bytes, index, 2) else { return nil }
            index += 2
            guard offsetHours <= 23, offsetMinutes <= 59 else { return nil }
            offsetSeconds = sign * (offsetHours * 3600 + offsetMinutes * 60)
        default:
            return nil
        }
        guard index == count else { return nil }

        guard (1...12).contains(month), day >= 1, day <= daysInMonth(month, year: year),
            hour <= 23, minute <= 59, second <= 60
        else { return nil }

        let days = daysFromCivil(year: year, month: month, day: day)
        // Local time minus the offset is UTC: 05:30+05:30 is 00:00Z.
        let seconds = days * 86_400 + hour * 3_600 + minute * 60 + second - offsetSeconds
        return Double(seconds) + fraction
    }

    /// Converts a numeric timestamp to epoch seconds according to `unit`.
    ///
    /// - ``TimestampUnit/seconds``: `v` itself.
    /// - ``TimestampUnit/milliseconds``: `v / 1000`.
    /// - ``TimestampUnit/auto``: milliseconds when `|v| >= 1e11` (see
    ///   ``autoMillisecondsThreshold``), else seconds.
    /// - ``TimestampUnit/iso8601``: always `nil`; that unit expects a string.
    ///
    /// - Returns: Seconds since the epoch, or `nil` when `v` is NaN, infinite or negative
    ///   (a device clock before 1970 is a broken clock). Negative zero gives zero.
    package static func epochSeconds(fromNumber v: Double, unit: TimestampUnit) -> Double? {
        guard v.isFinite, v >= 0 else { return nil }
        // `v >= 0` lets -0.0 through; adding +0.0 turns it into +0.0.
        let value = v + 0.0
        let seconds: Double
        switch unit {
        case .seconds:
            seconds = value
        case .milliseconds:
            seconds = value / 1000
        case .auto:
            seconds = value >= autoMillisecondsThreshold ? value / 1000 : value
        case .iso8601:
            return nil
        }
        // Past 9999-12-31 a time is garbage, and one like 1e300 would overflow every integer conversion
        // downstream (dedup keys, formatting): a hostile payload must not be able to crash the service.
        return seconds <= latestEpochSeconds ? seconds : nil
    }

    /// 9999-12-31T23:59:59Z, the last instant RFC 3339 can write.
    package static let latestEpochSeconds = 253_402_300_799.0

    /// Days from 1970-01-01 to the given proleptic Gregorian date (Howard Hinnant's
    /// `days_from_civil`: shift the year to start in March so the leap day comes last, then
    /// count 400-year eras of 146097 days).
    private static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let shiftedMonth = month > 2 ? month - 3 : month + 9
        let dayOfYear = (153 * shiftedMonth + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    private static func daysInMonth(_ month: Int, year: Int) -> Int {
        switch month {
        case 2:
            let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
            return leap ? 29 : 28
        case 4, 6, 9, 11:
            return 30
        default:
            return 31
        }
    }

    /// The value of `width` ASCII digits starting at `start`, or `nil` if any is missing.
    private static func digits(_ bytes: UnsafeRawBufferPointer, _ start: Int, _ width: Int) -> Int? {
        guard start >= 0, start + width <= bytes.count else { return nil }
        var value = 0
        for index in start..<(start + width) {
            guard let digit = digitValue(bytes[index]) else { return nil }
            value = value * 10 + digit
        }
        return value
    }

    private static func digitValue(_ byte: UInt8) -> Int? {
        byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") ? Int(byte &- UInt8(ascii: "0")) : nil
    }

    /// 10^n for 0 <= n <= 18, exact as a Double.
    private static func exactPowerOfTen(_ n: Int) -> Double {
        var result: UInt64 = 1
        for _ in 0..<n {
            result *= 10
        }
        return Double(result)
    }
}
