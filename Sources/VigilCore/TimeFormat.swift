/// Formats epoch seconds as RFC 3339 UTC with milliseconds (`2026-11-25T11:39:31.123Z`).
///
/// Pure arithmetic (civil-from-days, Howard Hinnant's algorithm): no `DateFormatter`, no locale.
package enum TimeFormat {
    package static func iso8601(_ epochSeconds: Double) -> String {
        // Clamped to years 0000...9999 (and NaN to 0), so that no input can trap the integer conversion.
        let clamped = epochSeconds.isNaN ? 0 : min(max(epochSeconds, -62_167_219_200), 253_402_300_799.999)
        var millis = Int64((clamped * 1000).rounded(.down))
        let ms = Int(((millis % 1000) + 1000) % 1000)
        millis -= Int64(ms)
        var days = millis / 86_400_000
        var secondOfDay = Int((millis - days * 86_400_000) / 1000)
        if secondOfDay < 0 {
            secondOfDay += 86_400
            days -= 1
        }
        let (year, month, day) = civil(fromDays: days)
        func pad(_ value: Int, _ width: Int) -> String {
            let digits = String(value)
            return String(repeating: "0", count: max(0, width - digits.count)) + digits
        }
        return "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))T\(pad(secondOfDay / 3600, 2)):"
            + "\(pad(secondOfDay / 60 % 60, 2)):\(pad(secondOfDay % 60, 2)).\(pad(ms, 3))Z"
    }

    /// (year, month 1...12, day 1...31) of a day count since 1970-01-01.
    package static func civil(fromDays days: Int64) -> (Int, Int, Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        let year = yoe + era * 400 + (month <= 2 ? 1 : 0)
        return (Int(year), Int(month), Int(day))
    }
}
