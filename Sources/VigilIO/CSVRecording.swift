import VigilCore

/// A CSV recording of one device: a header, then one row per message.
///
/// ```
/// timestamp,temperature,humidity,status
/// 2026-01-05 10:00:00,21.5,40,ok
/// 2026-01-05 10:00:10,21.6,,ok
/// ```
///
/// - **Header**: the first line (comma-separated, RFC 4180 quoting). The time column is the first one named
///   `timestamp`, `time` or `datetime` (any case); without one the file cannot be read. Every other named
///   column is a metric; columns with an empty name (a spreadsheet's index) are ignored.
/// - **Time**: ISO 8601 `YYYY-MM-DD` then `T` or a space, `hh:mm[:ss][.fraction]`, and an optional zone
///   (`Z`, `+hh:mm`, `+hhmm`; UTC when absent); or epoch seconds, or epoch milliseconds (numbers from 1e11 up
///   are milliseconds), fractions allowed. It is the row's receive time and, so, its event time.
/// - **Cells**: a number (`21.5`, `-3`, `1e-3`, also `.5` or `+2`) is a sample of its column's metric; an
///   empty cell or text (`NA`, `ok`, `nan`) is no sample.
/// - **Bad rows** are skipped and counted with their line: a row with more or fewer cells than the header, a
///   time that cannot be read, a row with no number at all, a quote left open at the end of the file.
///   Blank lines are ignored.
///
/// Each row becomes a JSON payload of its numbers (`{"temperature":21.5,"humidity":40}`) addressed to the
/// device, so it is decoded and judged exactly as a live message would be.
final class CSVRecording: RecordingSource {
    private(set) var stats: RecordingInputStats
    private let lines: LineReader
    private let device: [UInt8]
    private let columnCount: Int
    private let timeColumn: Int
    /// Per column, its JSON key and colon (`"temperature":`), or nil when it is not a metric.
    private let keys: [[UInt8]?]
    /// The current row's text (several lines when a quoted cell holds a newline).
    private var row: [UInt8] = []
    /// The current row's cells, unquoted, back to back in `cellBytes`.
    private var cells: [Range<Int>] = []
    private var cellBytes: [UInt8] = []
    private var payload: [UInt8] = []
    private(set) var currentTime: Int64 = 0
    private var currentLine = 0

    /// The names a time column may have (compared in lower case).
    static let timeColumnNames: Set<String> = ["timestamp", "time", "datetime"]

    init(path: String, lines: LineReader, device: String) throws(RecordingError) {
        self.stats = RecordingInputStats(path: path, format: .csv)
        self.lines = lines
        self.device = Array(device.utf8)
        guard !device.isEmpty else { throw RecordingError(path: path, message: "no device name for its rows (use --device)") }
        var header: (line: Int, problem: String?)? = nil
        var text: [UInt8] = []
        // The header is the first line that is not blank.
        repeat {
            header = try Self.readRow(lines, path: path, into: &text)
        } while header != nil && Self.isBlank(text)
        guard let header else { throw RecordingError(path: path, message: "empty file: a CSV recording needs a header") }
        if let problem = header.problem { throw RecordingError(path: path, line: header.line, message: "bad header: \(problem)") }
        var headerCells: [Range<Int>] = []
        var headerBytes: [UInt8] = []
        if let problem = Self.split(text, cells: &headerCells, into: &headerBytes) {
            throw RecordingError(path: path, line: header.line, message: "bad header: \(problem)")
        }
        let names = headerCells.map { String(decoding: headerBytes[$0], as: UTF8.self) }
        guard let time = names.firstIndex(where: { Self.timeColumnNames.contains($0.lowercased()) }) else {
            throw RecordingError(
                path: path, line: header.line,
                message: "no time column: name one timestamp, time or datetime (the header has \(names.joined(separator: ", ")))"
            )
        }
        var keys: [[UInt8]?] = []
        for name in names {
            if name.isEmpty || Self.timeColumnNames.contains(name.lowercased()) {
                keys.append(nil)
            } else {
                keys.append(Array((JSONWriter.string(name) + ":").utf8))
            }
        }
        guard keys.contains(where: { $0 != nil }) else {
            throw RecordingError(path: path, line: header.line, message: "no metric column besides the time column '\(names[time])'")
        }
        self.keys = keys
        self.timeColumn = time
        self.columnCount = names.count
        stats.lines = lines.lineNumber
    }

    func advance() throws(RecordingError) -> Bool {
        while true {
            guard let (line, problem) = try Self.readRow(lines, path: stats.path, into: &row) else { return false }
            stats.lines = lines.lineNumber
            if let problem {
                stats.skip(line: line, problem)
                continue
            }
            if Self.isBlank(row) { continue }
            if let problem = parseRow() {
                stats.skip(line: line, problem)
                continue
            }
            currentLine = line
            stats.messages += 1
            return true
        }
    }

    func withCurrent(input: Int, _ body: (RecordedMessage) -> Void) {
        device.withUnsafeBytes { device in
            payload.withUnsafeBytes { payload in
                body(RecordedMessage(receivedAtNanos: currentTime, address: .device(device), payload: payload, input: input, line: currentLine))
            }
        }
    }

    /// Splits `row`, reads its time and builds its payload; the problem when the row is bad.
    private func parseRow() -> String? {
        if let problem = Self.split(row, cells: &cells, into: &cellBytes) { return problem }
        guard cells.count == columnCount else {
            return "\(cells.count) cells, but the header has \(columnCount)"
        }
        let timeText = cellBytes[cells[timeColumn]]
        guard let time = timeText.withUnsafeBytes({ CSVTime.parse($0) }) else {
            return "cannot read the time '\(String(decoding: timeText.prefix(64), as: UTF8.self))' (ISO 8601, or epoch seconds or milliseconds)"
        }
        payload.removeAll(keepingCapacity: true)
        payload.append(UInt8(ascii: "{"))
        for (column, key) in keys.enumerated() {
            guard let key else { continue }
            let mark = payload.count
            payload.append(contentsOf: key)
            let appended = cellBytes.withUnsafeBytes { bytes in
                Self.appendNumber(UnsafeRawBufferPointer(rebasing: bytes[cells[column]]), to: &payload)
            }
            if appended {
                payload.append(UInt8(ascii: ","))
            } else {
                payload.removeSubrange(mark...)
            }
        }
        guard payload.count > 1 else { return "no number in the row" }
        payload[payload.count - 1] = UInt8(ascii: "}")
        currentTime = time
        return nil
    }

    // MARK: Rows and cells

    private static func isBlank(_ row: [UInt8]) -> Bool {
        row.allSatisfy { $0 == 0x20 || $0 == 0x09 }
    }

    /// Reads the next row's text into `row`: one line, or more while a quoted cell is open. Returns the row's
    /// first line and a problem (a line too long, a quote still open at the end of the file); nil at the end.
    private static func readRow(_ lines: LineReader, path: String, into row: inout [UInt8]) throws(RecordingError) -> (Int, String?)? {
        row.removeAll(keepingCapacity: true)
        var first = 0
        var quotes = 0
        var problem: String? = nil
        do {
            while true {
                let read: Bool? = try lines.nextLine { line -> Bool in
                    guard let line else {
                        problem = "line longer than 64 MiB"
                        return true
                    }
                    if first != 0 { row.append(0x0A) }
                    row.append(contentsOf: line)
                    for byte in line where byte == UInt8(ascii: "\"") { quotes += 1 }
                    return true
                }
                if read == nil {
                    if first == 0 { return nil }
                    return (first, "a quoted cell is still open at the end of the file")
                }
                if first == 0 { first = lines.lineNumber }
                // An even number of quotes closes every quoted cell (an escaped quote is two of them).
                if problem != nil || quotes % 2 == 0 { return (first, problem) }
            }
        } catch let error as LineReader.ReadError {
            throw RecordingError(path: path, readError: error)
        } catch {
            throw RecordingError(path: path, message: "cannot read: \(error)")
        }
    }

    /// Splits a row into cells (RFC 4180: `"` quotes a cell, `""` is a quote inside one; spaces around an
    /// unquoted cell are trimmed). Returns a problem for text after a closing quote.
    static func split(_ row: [UInt8], cells: inout [Range<Int>], into bytes: inout [UInt8]) -> String? {
        cells.removeAll(keepingCapacity: true)
        bytes.removeAll(keepingCapacity: true)
        var index = 0
        let count = row.count
        func isSpace(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x09 }
        while true {
            while index < count, isSpace(row[index]) { index += 1 }
            let start = bytes.count
            if index < count, row[index] == UInt8(ascii: "\"") {
                index += 1
                while true {
                    guard index < count else { return "a quoted cell is not closed" }
                    if row[index] == UInt8(ascii: "\"") {
                        if index + 1 < count, row[index + 1] == UInt8(ascii: "\"") {
                            bytes.append(UInt8(ascii: "\""))
                            index += 2
                            continue
                        }
                        index += 1
                        break
                    }
                    bytes.append(row[index])
                    index += 1
                }
                while index < count, isSpace(row[index]) { index += 1 }
                guard index == count || row[index] == UInt8(ascii: ",") else { return "text after a closing quote in cell \(cells.count + 1)" }
            } else {
                while index < count, row[index] != UInt8(ascii: ",") {
                    bytes.append(row[index])
                    index += 1
                }
                while bytes.count > start, isSpace(bytes[bytes.count - 1]) { bytes.removeLast() }
            }
            cells.append(start..<bytes.count)
            guard index < count else { return nil }
            index += 1  // the comma
        }
    }

    // MARK: Values

    /// Appends the cell as a JSON number when it is one: copied when it already has JSON's form, else read
    /// and written back (`.5` is `0.5`). False for empty cells, text, and non-finite values.
    static func appendNumber(_ cell: UnsafeRawBufferPointer, to payload: inout [UInt8]) -> Bool {
        guard !cell.isEmpty, cell.count <= 64 else { return false }
        if isJSONNumber(cell) {
            payload.append(contentsOf: cell)
            return true
        }
        // Only digits, signs, points and exponents: Swift's Double(_:) would also take hex, "inf" and "nan".
        guard cell.allSatisfy(isDecimalByte), let value = Double(String(decoding: cell, as: UTF8.self)), value.isFinite
        else { return false }
        payload.append(contentsOf: "\(value)".utf8)
        return true
    }

    /// Whether `text` is exactly a number in JSON's grammar.
    static func isJSONNumber(_ text: UnsafeRawBufferPointer) -> Bool {
        var index = 0
        let count = text.count
        func digits() -> Int {
            let from = index
            while index < count, text[index] >= UInt8(ascii: "0"), text[index] <= UInt8(ascii: "9") { index += 1 }
            return index - from
        }
        if index < count, text[index] == UInt8(ascii: "-") { index += 1 }
        guard index < count else { return false }
        if text[index] == UInt8(ascii: "0") {
            index += 1
        } else if digits() == 0 {
            return false
        }
        if index < count, text[index] == UInt8(ascii: ".") {
            index += 1
            guard digits() > 0 else { return false }
        }
        if index < count, text[index] == UInt8(ascii: "e") || text[index] == UInt8(ascii: "E") {
            index += 1
            if index < count, text[index] == UInt8(ascii: "+") || text[index] == UInt8(ascii: "-") { index += 1 }
            guard digits() > 0 else { return false }
        }
        return index == count
    }
}

/// The time column of a CSV recording.
package enum CSVTime {
    /// A CSV time cell as ns since the epoch: ISO 8601 (zone optional, UTC when absent; seconds optional), or
    /// epoch seconds, or epoch milliseconds from 1e11 up. Nil when it is none of these, or before 1970.
    package static func parse(_ text: UnsafeRawBufferPointer) -> Int64? {
        guard let first = text.first else { return nil }
        if first >= UInt8(ascii: "0") && first <= UInt8(ascii: "9") && text.count >= 5 && text[4] == UInt8(ascii: "-") {
            return parseDateTime(text)
        }
        return parseEpoch(text)
    }

    /// Epoch seconds or milliseconds, exactly when written as `digits[.digits]`.
    private static func parseEpoch(_ text: UnsafeRawBufferPointer) -> Int64? {
        var index = 0
        var whole: Int64 = 0
        var wholeDigits = 0
        while index < text.count, text[index] >= UInt8(ascii: "0"), text[index] <= UInt8(ascii: "9") {
            guard wholeDigits < 18 else { return nil }
            whole = whole * 10 + Int64(text[index] - UInt8(ascii: "0"))
            wholeDigits += 1
            index += 1
        }
        let fraction = index < text.count ? UnsafeRawBufferPointer(rebasing: text[(index + 1)...]) : UnsafeRawBufferPointer(start: nil, count: 0)
        let isDecimal = index == text.count
            || (text[index] == UInt8(ascii: ".") && !fraction.isEmpty && fraction.allSatisfy { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") })
        if wholeDigits > 0 && isDecimal {
            let milliseconds = Double(whole) >= TimestampParser.autoMillisecondsThreshold
            let (scale, fractionDigits): (Int64, Int) = milliseconds ? (1_000_000, 6) : (1_000_000_000, 9)
            let (base, overflow) = whole.multipliedReportingOverflow(by: scale)
            guard !overflow else { return nil }
            return base + fractionNanos(fraction, digits: fractionDigits)
        }
        // Exponents and the like: through a double (to about a microsecond).
        guard text.allSatisfy(isDecimalByte), let number = Double(String(decoding: text, as: UTF8.self)),
            let seconds = TimestampParser.epochSeconds(fromNumber: number, unit: .auto), seconds < 9.2e9
        else { return nil }
        return Int64((seconds * 1e9).rounded())
    }

    /// The first `digits` digits of a fraction, as an integer of that many digits (`5` → 500000000 for 9).
    private static func fractionNanos(_ fraction: UnsafeRawBufferPointer, digits: Int) -> Int64 {
        var value: Int64 = 0
        for position in 0..<digits {
            value = value * 10 + (position < fraction.count ? Int64(fraction[position] - UInt8(ascii: "0")) : 0)
        }
        return value
    }

    /// `YYYY-MM-DD[T ]hh:mm[:ss][.fraction][zone]`, through ``TimestampParser/parseISO8601(_:)`` for the
    /// calendar and the zone; the fraction is read here, to the nanosecond.
    private static func parseDateTime(_ text: UnsafeRawBufferPointer) -> Int64? {
        guard text.count >= 16 else { return nil }
        // Rebuild "YYYY-MM-DDThh:mm:ss" + zone (Z when absent), keeping the fraction aside.
        var canonical = [UInt8](text[0..<16])
        var index = 16
        if index < text.count, text[index] == UInt8(ascii: ":") {
            guard index + 3 <= text.count else { return nil }
            canonical.append(contentsOf: text[index..<(index + 3)])
            index += 3
        } else {
            canonical.append(contentsOf: ":00".utf8)
        }
        var fraction = UnsafeRawBufferPointer(start: nil, count: 0)
        if index < text.count, text[index] == UInt8(ascii: ".") || text[index] == UInt8(ascii: ",") {
            let start = index + 1
            index = start
            while index < text.count, text[index] >= UInt8(ascii: "0"), text[index] <= UInt8(ascii: "9") { index += 1 }
            guard index > start else { return nil }
            fraction = UnsafeRawBufferPointer(rebasing: text[start..<index])
        }
        if index == text.count {
            canonical.append(UInt8(ascii: "Z"))
        } else {
            canonical.append(contentsOf: text[index...])
        }
        guard let seconds = canonical.withUnsafeBytes({ TimestampParser.parseISO8601($0) }), seconds >= 0, seconds < 9.2e9 else { return nil }
        return Int64(seconds) * 1_000_000_000 + fractionNanos(fraction, digits: 9)
    }
}

/// A byte of a decimal number: a digit, a sign, a point or an exponent mark.
private func isDecimalByte(_ byte: UInt8) -> Bool {
    switch byte {
    case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "e"), UInt8(ascii: "E"): true
    default: false
    }
}
