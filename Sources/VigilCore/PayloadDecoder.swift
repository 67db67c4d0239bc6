// strtod: the correctly rounded fallback for numbers the fast path cannot convert exactly.
import Glibc

/// Bounds on what ``PayloadDecoder`` accepts; each one maps to its own ``PayloadError``.
///
/// The decoder reserves its storage from these at init (the name arena is
/// `maxFields * maxNameBytes` bytes, 16 KiB with the defaults), so keep them modest.
package struct PayloadLimits: Sendable {
    /// The largest payload, in bytes, that is scanned at all (``PayloadError/tooLarge``).
    package var maxBytes = 65536
    /// How deeply objects and arrays may nest; the payload's own object is depth 1
    /// (``PayloadError/tooDeep``).
    package var maxDepth = 8
    /// The most metrics one payload may carry (``PayloadError/tooManyFields``).
    package var maxFields = 64
    /// The longest flattened, dotted field name in UTF-8 bytes (``PayloadError/nameTooLong``).
    package var maxNameBytes = 256

    package init(maxBytes: Int = 65536, maxDepth: Int = 8, maxFields: Int = 64, maxNameBytes: Int = 256) {
        self.maxBytes = maxBytes
        self.maxDepth = maxDepth
        self.maxFields = maxFields
        self.maxNameBytes = maxNameBytes
    }
}

/// Decodes telemetry payloads (a JSON object, a SenML pack, or a bare number) into named
/// numeric fields, each with its event time.
///
/// A hand-written byte scanner: no Foundation, no `String`, and no allocation per message
/// once the decoder exists. Keep one decoder per shard worker and reuse it for every message:
///
/// ```swift
/// var decoder = PayloadDecoder(format: .auto, limits: PayloadLimits(), timestampField: "ts", timestampUnit: .auto)
/// try payload.withUnsafeBytes { try decoder.decode($0) }   // {"ts":1700000000,"env":{"t":21.5}}
/// for index in 0..<decoder.fieldCount {
///     decoder.withFieldName(index) { name in ... }         // "env.t"
///     decoder.fieldValue(index)                            // 21.5
///     decoder.fieldEventTime(index, receivedAt: now)       // 1700000000.0
/// }
/// ```
///
/// After a successful ``decode(_:)`` the fields and ``eventTime`` describe that payload until
/// the next call; after a failed one the decoder holds no fields, and the next call works normally.
///
/// ## Formats
///
/// The decoder's ``PayloadFormat`` says how to read each payload. Every format first skips
/// JSON whitespace (space, tab, LF, CR); input larger than ``PayloadLimits/maxBytes`` is
/// ``PayloadError/tooLarge`` before any byte is read, and empty or all-whitespace input is
/// ``PayloadError/notJSON``. Then the first byte decides:
///
/// | format | accepts | first byte | anything else |
/// |---|---|---|---|
/// | ``PayloadFormat/json`` | one object | `{` | ``PayloadError/notJSON`` |
/// | ``PayloadFormat/senml`` | one SenML pack | `[` | ``PayloadError/notJSON`` |
/// | ``PayloadFormat/number`` | one number | `-` or a digit | ``PayloadError/notJSON`` (so `"42"` is rejected) |
/// | ``PayloadFormat/auto`` | any of the three | `{`, `[`, or `-`/digit | ``PayloadError/notJSON`` |
///
/// In every format, anything but whitespace after the value is ``PayloadError/trailingData``,
/// input that ends inside it is ``PayloadError/truncated``, and a valid payload without a
/// single metric is ``PayloadError/noMetrics``. Strings and numbers follow the rules below
/// wherever they appear.
///
/// **Event time.** ``fieldEventTime(_:receivedAt:)`` gives each field's time: its own SenML
/// time when it has one, else the payload's timestamp field (``eventTime``), else the
/// receive time. The timestamp field applies to JSON objects only; SenML packs and bare
/// numbers ignore it.
///
/// ## JSON objects
/// **Shape.** The input must be exactly one JSON object (RFC 8259), optionally surrounded by
/// whitespace. Under ``PayloadFormat/json``, if the first non-whitespace byte is not `{`
/// (including a top-level array, string or number, and a UTF-8 byte order mark) it is
/// ``PayloadError/notJSON``. Anything but whitespace after the closing `}` is
/// ``PayloadError/trailingData``. Input that ends before the object does is
/// ``PayloadError/truncated``; any other grammar violation is ``PayloadError/syntax`` with the
/// offset of the offending byte (this includes a trailing comma, `{"a":1,}`).
///
/// **Fields.** Every number is a metric, and `true`/`false` are metrics 1 and 0. Nested
/// objects flatten to dotted names: `{"a":{"b":1}}` gives `a.b`. Names are not split or
/// escaped, so `{"a.b":1}` also gives `a.b`; duplicate names (repeated keys, or a dotted key
/// colliding with a nested one) are all reported, in payload order, so a consumer that
/// applies them in order sees the last one win. Strings and `null` are validated and ignored.
/// Arrays are validated completely (including any objects and arrays inside them) and
/// skipped: their contents are never metrics. Objects and arrays nested deeper than
/// ``PayloadLimits/maxDepth`` (the payload's object is depth 1) are ``PayloadError/tooDeep``.
/// More than ``PayloadLimits/maxFields`` metrics is ``PayloadError/tooManyFields``; zero
/// metrics in an otherwise valid payload is ``PayloadError/noMetrics``.
///
/// **Names.** Every key outside arrays has its flattened name built, whatever its value, and
/// a name longer than ``PayloadLimits/maxNameBytes`` is ``PayloadError/nameTooLong`` even if
/// the value is a string or `null` that would be ignored: the limit is on the payload's
/// shape, so a payload does not start failing only when a device changes a value's type.
///
/// **Strings** (keys and values). Escapes `\" \\ \/ \b \f \n \r \t \uXXXX` are decoded in keys,
/// surrogate pairs included, to UTF-8. An unknown escape, a raw control byte below 0x20, or an
/// unpaired surrogate is ``PayloadError/syntax``. Raw bytes must be well-formed UTF-8
/// (Unicode Table 3-7: no overlong forms, no encoded surrogates, nothing above U+10FFFF);
/// anything else is ``PayloadError/syntax`` at the first bad byte. Field names are therefore
/// always valid UTF-8. String values are checked the same way but not stored.
///
/// **Numbers.** The strict JSON grammar `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`:
/// leading zeros, `+`, `.5`, `1.`, hex, `NaN`, `Infinity` and friends are
/// ``PayloadError/syntax``. Conversion is exact (correctly rounded to nearest): short
/// numbers use exact double arithmetic (Clinger's fast path), the rest are copied into a
/// preallocated scratch buffer and converted by C `strtod`, which relies on the process
/// staying in the C locale for `LC_NUMERIC` (Vigil never calls `setlocale`). Any number that
/// overflows to ±infinity is ``PayloadError/nonFinite``, even inside a skipped array;
/// underflow rounds to zero or a subnormal, and `-0` stays negative zero.
/// - Important: A number token longer than 64 bytes (sign, digits, point and exponent
///   together) is rejected as ``PayloadError/syntax`` wherever it appears, although it is
///   valid JSON: the scratch buffer is fixed, and no sensor needs more than 17 significant digits.
///
/// **Timestamp.** When `timestampField` is set, the field whose flattened name equals it is the
/// event time and not a metric. A number goes through
/// ``TimestampParser/epochSeconds(fromNumber:unit:)``; a string goes through
/// ``TimestampParser/parseISO8601(_:)`` when the unit is ``TimestampUnit/auto`` or
/// ``TimestampUnit/iso8601`` (an escaped string longer than 128 bytes once decoded cannot be a
/// timestamp). A value that fails, a string under a numeric unit, a number under
/// ``TimestampUnit/iso8601``, a boolean, an object, an array, or a time before 1970 is
/// ``PayloadError/badTimestamp``. A missing field or `null` leaves ``eventTime`` `nil`, as does
/// a `nil` `timestampField`. If the field repeats, the last one wins.
///
/// ## SenML packs
///
/// RFC 8428's JSON representation: a top-level array of records (objects). The pack is depth 1
/// and its records depth 2, so a ``PayloadLimits/maxDepth`` of 1 rejects every non-empty pack
/// as ``PayloadError/tooDeep``. An element that is not an object (`[1,2]`, `[[...]]`) is
/// ``PayloadError/syntax`` at that element; JSON grammar errors are as for objects.
///
/// **Fields.** Each known field must have its JSON type, or the payload is
/// ``PayloadError/syntax`` at the value: strings `bn`, `bu`, `n`, `u`, `vs`, `vd`; numbers
/// `bt`, `bv`, `bs`, `bver`, `v`, `s`, `t`, `ut`; `true`/`false` for `vb` (`null` is a wrong
/// type too). Base fields (`bn`, `bt`, `bv`, `bs`) apply to their own record and every later
/// one until a record sets that field again (RFC 8428 §4.1); an absent one counts as an empty
/// name or zero. `bu`, `u`, `ut`, `vs` and `vd` are checked and ignored. Units are not part of
/// a metric's name, so measurements told apart only by their units (as in §5.1.3) share one
/// metric. A field repeated in one record: the last one wins. A field name ending
/// in `_` is must-understand (§4.4), and Vigil understands none, so it is
/// ``PayloadError/unsupported`` at the name, as is a `bver` above 10 (the version this
/// decoder implements; any lower number is accepted). Any other unknown field is validated
/// like an array element and ignored.
///
/// **Records.** A record holds at most one of the value fields `v`, `vb`, `vs`, `vd` (§4.2; a
/// second kind is ``PayloadError/syntax`` at its name). A record's metric is, in this order:
/// - `v`: the value `bv + v`;
/// - `vb`: `true` is 1 and `false` is 0 (`bv` does not apply);
/// - `vs` or `vd`: none, the record is skipped (its sum too: the sum of a string is not
///   the same measurement);
/// - no value field but `s`: the sum `bs + s`, under the record's own name;
/// - nothing: none, the record is skipped (a record of base fields only, as in §5.1.7).
///
/// The metric's name is `bn + n` (§4.5.1); longer than ``PayloadLimits/maxNameBytes`` is
/// ``PayloadError/nameTooLong``, checked for every record that has a name or a value. A
/// record that carries a value field or `s` but resolves to an empty name is
/// ``PayloadError/syntax`` at the record's `{`. Names are not checked against §4.5.1's
/// character set: any valid UTF-8 is kept, as in JSON objects. Records with the same name
/// are all reported, in pack order. A value or time that overflows when its base is added
/// is ``PayloadError/nonFinite`` at the record's `{`.
///
/// **Time.** A record's time is `bt + t` (absent ones are zero). From 2^28 (268,435,456) on
/// it is absolute epoch seconds; below that it is relative to the time the message was
/// received (§4.5.3: 0 is "now", -5 five seconds before). Vigil rejects as
/// ``PayloadError/badTimestamp`` (at the record's `{`) an absolute time at or above 1e11 (the
/// year 5138) and a relative one more than 2^28 seconds in the past (about 8.5 years): no
/// working device clock needs them, and they keep every event time in the range the rest of
/// Vigil formats and stores. Only records that give a metric are checked. A pack without
/// such a record (the empty `[]` included) is ``PayloadError/noMetrics``.
///
/// ## Bare numbers
///
/// One JSON number (the **Numbers** grammar above), optionally surrounded by whitespace, reported as the
/// one metric `value` (so a ``PayloadLimits/maxNameBytes`` below 5 rejects it as
/// ``PayloadError/nameTooLong``). `1e400` is ``PayloadError/nonFinite``; `42 x` and `01` are
/// ``PayloadError/trailingData`` at the byte after the number; `-` alone is
/// ``PayloadError/truncated``; `true` and `null` are ``PayloadError/notJSON``.
///
/// ## Implementation notes
///
/// Storage is a byte arena for names (`maxFields * maxNameBytes`) and parallel arrays for
/// `(nameStart, nameLength, value, time)` (`maxFields` each), plus one scratch array for the
/// name being built, the `strtod` copy, an escaped timestamp or SenML field name, and the
/// SenML base name. All are allocated at init at their full size from the limits, and
/// "cleared" by resetting a count: steady state never allocates, in any format.
/// (A copy of a decoder shares those buffers and pays one copy on its first use, as
/// copy-on-write requires: keep one decoder per worker.)
///
/// ``decode(_:)`` borrows each array mutably once per message and hands raw pointers to a
/// scanner (`PayloadScanner`, with its SenML and bare-number parts in
/// `PayloadScanner+Formats.swift`), which walks the input `UnsafeRawBufferPointer` with integer indices and
/// recurses once per nesting level (bounded by ``PayloadLimits/maxDepth``). So the hot path has
/// no per-byte or per-field uniqueness or capacity checks, and no `String`. The few
/// `@inline(__always)` helpers are there because a release benchmark showed 4-12% from them.
package struct PayloadDecoder: Sendable {
    /// The longest number token that is converted; see the rules above.
    static let maxNumberBytes = 64
    /// The longest escaped timestamp string, decoded, that is parsed.
    static let maxEscapedTimestampBytes = 128
    /// SenML times below this (2^28 seconds) are relative to the receive time (RFC 8428 §4.5.3).
    package static let senMLRelativeTimeLimit = 268_435_456.0

    private let format: PayloadFormat
    private let limits: PayloadLimits
    private let timestampUnit: TimestampUnit
    /// Where the configured timestamp name sits at the end of `scratch`; -1 when there is none.
    private let timestampNameLength: Int

    // Storage, sized once at init to its limit: only the first `count` entries (and the names
    // they point at) mean anything.
    /// Name bytes of every metric, back to back: maxFields * maxNameBytes.
    private var names: [UInt8]
    private var nameStarts: [Int]
    private var nameLengths: [Int]
    private var values: [Double]
    /// Each field's own time (SenML only; see `hasFieldTimes`): absolute epoch seconds, or an
    /// offset from the receive time when below ``senMLRelativeTimeLimit``.
    private var times: [Double]
    /// Working bytes, in regions: the flattened name of the key being scanned (maxNameBytes),
    /// the NUL-terminated copy of a number for `strtod` (65), the decoded text of an escaped
    /// timestamp or SenML field name (128), the SenML base name (maxNameBytes), and the
    /// configured timestamp name, which never changes.
    private var scratch: [UInt8]
    private var count = 0
    private var decodedEventTime: Double?
    /// Whether `times` holds each field's time (the last payload was a SenML pack).
    private var hasFieldTimes = false

    /// Creates a decoder and reserves all the storage it will ever need.
    ///
    /// - Parameters:
    ///   - format: How payloads are read; `.json` (one object) unless given.
    ///   - limits: Bounds on payload size and shape. Each must be at least 1.
    ///   - timestampField: The flattened, dotted name of the event-time field of JSON objects
    ///     (such as `ts` or `meta.ts`), or `nil` to ignore event time.
    ///   - timestampUnit: How the timestamp field's value is read.
    package init(
        format: PayloadFormat = .json,
        limits: PayloadLimits,
        timestampField: String?,
        timestampUnit: TimestampUnit
    ) {
        precondition(limits.maxBytes >= 1 && limits.maxDepth >= 1, "payload limits must be at least 1")
        precondition(limits.maxFields >= 1 && limits.maxNameBytes >= 1, "payload limits must be at least 1")
        self.format = format
        self.limits = limits
        self.timestampUnit = timestampUnit
        let timestampName = timestampField.map { Array($0.utf8) }
        timestampNameLength = timestampName?.count ?? -1
        names = Array(repeating: 0, count: limits.maxFields * limits.maxNameBytes)
        nameStarts = Array(repeating: 0, count: limits.maxFields)
        nameLengths = Array(repeating: 0, count: limits.maxFields)
        values = Array(repeating: 0, count: limits.maxFields)
        times = Array(repeating: 0, count: limits.maxFields)
        scratch = Array(repeating: 0, count: ScratchLayout(limits: limits).timestampName)
        scratch.append(contentsOf: timestampName ?? [])
    }

    /// The number of metrics in the last successfully decoded payload (0 after a failure).
    package var fieldCount: Int { count }

    /// Epoch seconds from the last payload's timestamp field; `nil` when the field is absent,
    /// `null`, or not configured, and for SenML packs and bare numbers, which have none.
    ///
    /// Fields can have their own times: read ``fieldEventTime(_:receivedAt:)`` for each field.
    package var eventTime: Double? { decodedEventTime }

    /// Calls `body` with the UTF-8 bytes of field `index`'s flattened, dotted name.
    ///
    /// The bytes are valid only inside `body`; they change on the next ``decode(_:)``.
    /// - Precondition: `0 <= index < fieldCount`.
    package func withFieldName<R>(_ index: Int, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        precondition(index >= 0 && index < count, "field index out of range")
        let start = nameStarts[index]
        let end = start + nameLengths[index]
        return try names.withUnsafeBytes { arena in
            try body(UnsafeRawBufferPointer(rebasing: arena[start..<end]))
        }
    }

    /// The value of field `index`.
    ///
    /// - Precondition: `0 <= index < fieldCount`.
    package func fieldValue(_ index: Int) -> Double {
        precondition(index >= 0 && index < count, "field index out of range")
        return values[index]
    }

    /// The event time of field `index`, in epoch seconds, for a message received at `receivedAt`.
    ///
    /// The field's own SenML time when it is absolute; `receivedAt` plus the field's SenML time
    /// when that is relative (below 2^28, RFC 8428 §4.5.3); for JSON objects the payload's
    /// ``eventTime``, and `receivedAt` when there is none (as for bare numbers).
    ///
    /// ```swift
    /// // [{"bn":"dev/","bt":1700000000,"n":"t","v":1},{"n":"t","t":10,"v":2},{"bt":-5,"n":"h","v":3}]
    /// decoder.fieldEventTime(0, receivedAt: now)  // 1700000000
    /// decoder.fieldEventTime(1, receivedAt: now)  // 1700000010
    /// decoder.fieldEventTime(2, receivedAt: now)  // now - 5
    /// ```
    /// - Precondition: `0 <= index < fieldCount`.
    package func fieldEventTime(_ index: Int, receivedAt: Double) -> Double {
        precondition(index >= 0 && index < count, "field index out of range")
        guard hasFieldTimes else { return decodedEventTime ?? receivedAt }
        let time = times[index]
        return time < Self.senMLRelativeTimeLimit ? receivedAt + time : time
    }

    /// Decodes one payload; on success the fields and event times describe it until the next call.
    ///
    /// - Parameter bytes: The raw payload; it is not retained.
    /// - Throws: ``PayloadError`` for any payload that breaks the rules in the type's
    ///   documentation. The decoder is then empty and ready for the next payload.
    /// - Complexity: O(n) in the payload size, with no allocation once the decoder exists.
    package mutating func decode(_ bytes: UnsafeRawBufferPointer) throws(PayloadError) {
        count = 0
        decodedEventTime = nil
        hasFieldTimes = false
        guard bytes.count <= limits.maxBytes else { throw .tooLarge }
        let format = self.format
        let limits = self.limits
        let unit = timestampUnit
        let timestampNameLength = self.timestampNameLength
        // One mutable borrow of each buffer per message; the scanner then works on raw
        // pointers, with no uniqueness or capacity checks per byte or per field.
        let outcome: Result<PayloadScanner.Output, PayloadError> = names.withUnsafeMutableBufferPointer { names in
            nameStarts.withUnsafeMutableBufferPointer { nameStarts in
                nameLengths.withUnsafeMutableBufferPointer { nameLengths in
                    values.withUnsafeMutableBufferPointer { values in
                        times.withUnsafeMutableBufferPointer { times in
                            scratch.withUnsafeMutableBufferPointer { scratch in
                                var scanner = PayloadScanner(
                                    input: bytes,
                                    limits: limits,
                                    unit: unit,
                                    names: names.baseAddress!,
                                    nameStarts: nameStarts.baseAddress!,
                                    nameLengths: nameLengths.baseAddress!,
                                    values: values.baseAddress!,
                                    times: times.baseAddress!,
                                    scratch: scratch.baseAddress!,
                                    timestampNameLength: timestampNameLength
                                )
                                do throws(PayloadError) {
                                    return .success(try scanner.scanPayload(format: format))
                                } catch {
                                    return .failure(error)
                                }
                            }
                        }
                    }
                }
            }
        }
        switch outcome {
        case .success(let output):
            count = output.fieldCount
            decodedEventTime = output.eventTime
            hasFieldTimes = output.hasFieldTimes
        case .failure(let error):
            throw error
        }
    }
}

/// Where each region of the decoder's scratch buffer starts.
struct ScratchLayout {
    var path = 0
    var number: Int
    var string: Int
    var baseName: Int
    var timestampName: Int

    init(limits: PayloadLimits) {
        number = limits.maxNameBytes
        string = number + PayloadDecoder.maxNumberBytes + 1
        baseName = string + PayloadDecoder.maxEscapedTimestampBytes
        timestampName = baseName + limits.maxNameBytes
    }
}

/// The scanner behind ``PayloadDecoder/decode(_:)``: the input and the decoder's storage as raw
/// pointers, valid for one call only.
///
/// Every method takes the read position `i` as `inout` and leaves it after what it consumed.
struct PayloadScanner {
    struct Output {
        var fieldCount: Int
        var eventTime: Double?
        /// Whether each field's time was written to `times` (SenML).
        var hasFieldTimes = false
    }

    let input: UnsafeRawBufferPointer
    let end: Int
    /// The pure byte-level readers (kept in a separate small struct: calling a non-mutating
    /// method of this large scanner from a mutating one would copy all of it each time).
    let text: JSONText
    let limits: PayloadLimits
    let unit: TimestampUnit
    let names: UnsafeMutablePointer<UInt8>
    let nameStarts: UnsafeMutablePointer<Int>
    let nameLengths: UnsafeMutablePointer<Int>
    let values: UnsafeMutablePointer<Double>
    /// Each field's SenML time (written only for SenML packs).
    let times: UnsafeMutablePointer<Double>
    /// The flattened name of the key being scanned (maxNameBytes).
    let path: UnsafeMutablePointer<UInt8>
    /// Room for the longest number and its NUL.
    let numberScratch: UnsafeMutablePointer<UInt8>
    /// Room for a decoded escaped timestamp string or SenML field name.
    let stringScratch: UnsafeMutablePointer<UInt8>
    /// The SenML base name in force (maxNameBytes).
    let baseName: UnsafeMutablePointer<UInt8>
    /// The configured timestamp name, or nil.
    let timestampName: UnsafeBufferPointer<UInt8>?

    var pathLength = 0
    var fieldCount = 0
    var namesLength = 0
    var eventTime: Double?

    init(
        input: UnsafeRawBufferPointer,
        limits: PayloadLimits,
        unit: TimestampUnit,
        names: UnsafeMutablePointer<UInt8>,
        nameStarts: UnsafeMutablePointer<Int>,
        nameLengths: UnsafeMutablePointer<Int>,
        values: UnsafeMutablePointer<Double>,
        times: UnsafeMutablePointer<Double>,
        scratch: UnsafeMutablePointer<UInt8>,
        timestampNameLength: Int
    ) {
        self.input = input
        self.end = input.count
        self.text = JSONText(input: input)
        self.limits = limits
        self.unit = unit
        self.names = names
        self.nameStarts = nameStarts
        self.nameLengths = nameLengths
        self.values = values
        self.times = times
        let layout = ScratchLayout(limits: limits)
        path = scratch + layout.path
        numberScratch = scratch + layout.number
        stringScratch = scratch + layout.string
        baseName = scratch + layout.baseName
        timestampName =
            timestampNameLength >= 0
            ? UnsafeBufferPointer(start: scratch + layout.timestampName, count: timestampNameLength) : nil
    }

    mutating func scanPayload(format: PayloadFormat) throws(PayloadError) -> Output {
        var i = 0
        text.skipWhitespace(&i)
        guard i < end else { throw .notJSON }
        let first = input[i]
        let isObject = first == ASCII.openBrace
        let isPack = first == ASCII.openBracket
        let isNumber = first == ASCII.minus || JSONText.isDigit(first)
        var hasFieldTimes = false
        switch format {
        case .json where isObject, .auto where isObject:
            try scanObject(&i, depth: 1, collecting: true)
        case .senml where isPack, .auto where isPack:
            try scanSenMLPack(&i)
            hasFieldTimes = true
        case .number where isNumber, .auto where isNumber:
            try scanBareNumber(&i)
        default:
            throw PayloadError.notJSON.at(i)
        }
        text.skipWhitespace(&i)
        guard i == end else { throw PayloadError.trailingData.at(i) }
        guard fieldCount > 0 else { throw .noMetrics }
        return Output(fieldCount: fieldCount, eventTime: eventTime, hasFieldTimes: hasFieldTimes)
    }

    // MARK: - Structure

    /// Scans the object starting at the `{` at `i`; `depth` is the object's own depth.
    ///
    /// When `collecting`, keys extend the path and values are recorded; otherwise (inside an
    /// array) everything is only validated.
    mutating func scanObject(_ i: inout Int, depth: Int, collecting: Bool) throws(PayloadError) {
        i += 1
        let prefixLength = pathLength
        text.skipWhitespace(&i)
        guard i < end else { throw PayloadError.truncated.at(end) }
        if input[i] == ASCII.closeBrace {
            i += 1
            return
        }
        while true {
            guard input[i] == ASCII.quote else { throw PayloadError.syntax.at(i) }
            if collecting {
                // Drop the previous sibling's key, keep the parent's name.
                pathLength = prefixLength
                try appendKey(&i, separator: depth > 1)
            } else {
                _ = try text.scanString(&i)
            }
            text.skipWhitespace(&i)
            guard i < end else { throw PayloadError.truncated.at(end) }
            guard input[i] == ASCII.colon else { throw PayloadError.syntax.at(i) }
            i += 1
            text.skipWhitespace(&i)
            try scanValue(&i, depth: depth, collecting: collecting)
            if try text.scanSeparator(&i, closing: ASCII.closeBrace) { return }
        }
    }

    /// Scans the array starting at the `[` at `i` (its own depth is `depth`), validating and
    /// discarding its elements.
    mutating func scanArray(_ i: inout Int, depth: Int) throws(PayloadError) {
        i += 1
        text.skipWhitespace(&i)
        guard i < end else { throw PayloadError.truncated.at(end) }
        if input[i] == ASCII.closeBracket {
            i += 1
            return
        }
        while true {
            try scanValue(&i, depth: depth, collecting: false)
            if try text.scanSeparator(&i, closing: ASCII.closeBracket) { return }
        }
    }

    /// Scans one value at `i` inside a container of depth `depth`. When `collecting`, the path
    /// holds the value's flattened name.
    mutating func scanValue(_ i: inout Int, depth: Int, collecting: Bool) throws(PayloadError) {
        guard i < end else { throw PayloadError.truncated.at(end) }
        let start = i
        let isTimestamp = collecting && isTimestampPath()
        switch input[i] {
        case ASCII.openBrace:
            guard depth < limits.maxDepth else { throw PayloadError.tooDeep.at(start) }
            guard !isTimestamp else { throw PayloadError.badTimestamp.at(start) }
            try scanObject(&i, depth: depth + 1, collecting: collecting)
        case ASCII.openBracket:
            guard depth < limits.maxDepth else { throw PayloadError.tooDeep.at(start) }
            guard !isTimestamp else { throw PayloadError.badTimestamp.at(start) }
            try scanArray(&i, depth: depth + 1)
        case ASCII.quote:
            let hasEscapes = try text.scanString(&i)
            if isTimestamp {
                try readTimestamp(bodyStart: start + 1, bodyEnd: i - 1, hasEscapes: hasEscapes)
            }
        case ASCII.lowerT:
            try text.scanLiteral(&i, "true")
            if collecting {
                guard !isTimestamp else { throw PayloadError.badTimestamp.at(start) }
                try addMetric(1, at: start)
            }
        case ASCII.lowerF:
            try text.scanLiteral(&i, "false")
            if collecting {
                guard !isTimestamp else { throw PayloadError.badTimestamp.at(start) }
                try addMetric(0, at: start)
            }
        case ASCII.lowerN:
            // null: ignored, and a null timestamp counts as no timestamp.
            try text.scanLiteral(&i, "null")
        case ASCII.minus, ASCII.zero...ASCII.nine:
            let token = try text.scanNumber(&i)
            if collecting {
                let value = try Self.convert(token, text, numberScratch)
                if isTimestamp {
                    guard let seconds = TimestampParser.epochSeconds(fromNumber: value, unit: unit) else {
                        throw PayloadError.badTimestamp.at(start)
                    }
                    eventTime = seconds
                } else {
                    try addMetric(value, at: start)
                }
            } else if token.mayOverflow {
                // Skipped numbers are converted only when they could overflow, so that every
                // number in an accepted payload is finite (as JSONSerialization requires too).
                _ = try Self.convert(token, text, numberScratch)
            }
        default:
            throw PayloadError.syntax.at(i)
        }
    }

    /// Whether the path is the configured timestamp field. (`mutating` only so that calling it
    /// from the mutating scanner passes `self` in place instead of copying it.)
    @inline(__always)
    mutating func isTimestampPath() -> Bool {
        guard let timestampName, timestampName.count == pathLength else { return false }
        return memcmp(timestampName.baseAddress!, path, pathLength) == 0
    }

    @inline(__always)
    mutating func addMetric(_ value: Double, at offset: Int) throws(PayloadError) {
        guard fieldCount < limits.maxFields else { throw PayloadError.tooManyFields.at(offset) }
        // A path is at most maxNameBytes and there are at most maxFields names, so the arena
        // (maxFields * maxNameBytes) always has room.
        (names + namesLength).update(from: path, count: pathLength)
        nameStarts[fieldCount] = namesLength
        nameLengths[fieldCount] = pathLength
        values[fieldCount] = value
        namesLength += pathLength
        fieldCount += 1
    }

    mutating func readTimestamp(bodyStart: Int, bodyEnd: Int, hasEscapes: Bool) throws(PayloadError) {
        let offset = bodyStart - 1
        guard unit == .auto || unit == .iso8601 else { throw PayloadError.badTimestamp.at(offset) }
        let seconds: Double?
        if !hasEscapes {
            seconds = TimestampParser.parseISO8601(UnsafeRawBufferPointer(rebasing: input[bodyStart..<bodyEnd]))
        } else {
            let limit = PayloadDecoder.maxEscapedTimestampBytes
            guard
                let length = try text.appendDecoded(
                    from: bodyStart,
                    to: bodyEnd,
                    into: stringScratch,
                    at: 0,
                    limit: limit
                )
            else { throw PayloadError.badTimestamp.at(offset) }
            seconds = TimestampParser.parseISO8601(UnsafeRawBufferPointer(start: stringScratch, count: length))
        }
        guard let seconds, seconds >= 0 else { throw PayloadError.badTimestamp.at(offset) }
        eventTime = seconds
    }

    /// Scans the key at `i` and appends its decoded bytes to the path, after a `.` when
    /// `separator` is set.
    mutating func appendKey(_ i: inout Int, separator: Bool) throws(PayloadError) {
        let keyStart = i
        let hasEscapes = try text.scanString(&i)
        let bodyStart = keyStart + 1
        let bodyEnd = i - 1
        let limit = limits.maxNameBytes
        if separator {
            guard pathLength < limit else { throw PayloadError.nameTooLong.at(keyStart) }
            path[pathLength] = ASCII.dot
            pathLength += 1
        }
        if !hasEscapes {
            // The common case: the key's bytes are its name.
            let length = bodyEnd - bodyStart
            guard pathLength + length <= limit else { throw PayloadError.nameTooLong.at(keyStart) }
            UnsafeMutableRawPointer(path + pathLength).copyMemory(
                from: input.baseAddress! + bodyStart,
                byteCount: length
            )
            pathLength += length
        } else {
            guard
                let length = try text.appendDecoded(
                    from: bodyStart,
                    to: bodyEnd,
                    into: path,
                    at: pathLength,
                    limit: limit
                )
            else { throw PayloadError.nameTooLong.at(keyStart) }
            pathLength = length
        }
    }

    // MARK: - Numbers

    /// Converts a scanned number to the nearest Double.
    @inline(__always)
    static func convert(
        _ token: NumberToken,
        _ text: JSONText,
        _ numberScratch: UnsafeMutablePointer<UInt8>
    ) throws(PayloadError) -> Double {
        let value = fastPath(token) ?? slowPath(token, text, numberScratch)
        guard value.isFinite else { throw PayloadError.nonFinite.at(token.start) }
        return value
    }

    /// Clinger's fast path: when the significand and 10^|exponent| are both exact doubles,
    /// one IEEE multiplication or division gives the correctly rounded result.
    @inline(__always)
    static func fastPath(_ token: NumberToken) -> Double? {
        guard !token.dropped else { return nil }
        var significand = token.significand
        var exponent = token.exponent
        if significand == 0 {
            return token.negative ? -0.0 : 0.0
        }
        let maxExact: UInt64 = 1 << 53
        // 1e30 is 1e8 * 1e22: move surplus powers of ten into the significand while it stays exact.
        while exponent > 22 && significand <= maxExact / 10 {
            significand *= 10
            exponent -= 1
        }
        guard significand <= maxExact, exponent >= -22, exponent <= 22 else { return nil }
        let magnitude = Double(significand)
        let value = exponent >= 0 ? magnitude * exactPowerOfTen(exponent) : magnitude / exactPowerOfTen(-exponent)
        return token.negative ? -value : value
    }

    /// 10^n for 0 <= n <= 22; every one of them is exact in a Double.
    @inline(__always)
    static func exactPowerOfTen(_ n: Int) -> Double {
        switch n {
        case 0: 1e0
        case 1: 1e1
        case 2: 1e2
        case 3: 1e3
        case 4: 1e4
        case 5: 1e5
        case 6: 1e6
        case 7: 1e7
        case 8: 1e8
        case 9: 1e9
        case 10: 1e10
        case 11: 1e11
        case 12: 1e12
        case 13: 1e13
        case 14: 1e14
        case 15: 1e15
        case 16: 1e16
        case 17: 1e17
        case 18: 1e18
        case 19: 1e19
        case 20: 1e20
        case 21: 1e21
        default: 1e22
        }
    }

    /// Correctly rounded conversion by `strtod` of a NUL-terminated copy of the token.
    static func slowPath(
        _ token: NumberToken,
        _ text: JSONText,
        _ numberScratch: UnsafeMutablePointer<UInt8>
    ) -> Double {
        let length = token.end - token.start
        // scanNumber capped the token at maxNumberBytes; the scratch holds that plus the NUL.
        UnsafeMutableRawPointer(numberScratch).copyMemory(
            from: text.input.baseAddress! + token.start,
            byteCount: length
        )
        numberScratch[length] = 0
        return UnsafeRawPointer(numberScratch).withMemoryRebound(to: CChar.self, capacity: length + 1) {
            strtod($0, nil)
        }
    }
}

/// Byte-level readers over one payload: validation of strings, escapes, UTF-8, literals and
/// numbers. Every method takes the read position `i` as `inout` and leaves it after what it
/// consumed.
struct JSONText {
    let input: UnsafeRawBufferPointer
    var end: Int { input.count }

    /// Validates the string starting at the `"` at `i`, leaving `i` after the closing `"`.
    ///
    /// - Returns: Whether the string contains escapes (and so differs from its raw bytes).
    func scanString(_ i: inout Int) throws(PayloadError) -> Bool {
        i += 1
        var hasEscapes = false
        while i < end {
            let byte = input[i]
            if byte >= 0x20 && byte < 0x80 {
                if byte == ASCII.quote {
                    i += 1
                    return hasEscapes
                }
                if byte == ASCII.backslash {
                    _ = try readEscape(&i)
                    hasEscapes = true
                } else {
                    i += 1
                }
            } else if byte < 0x20 {
                throw PayloadError.syntax.at(i)
            } else {
                try skipUTF8Sequence(&i)
            }
        }
        throw PayloadError.truncated.at(end)
    }

    /// Writes the decoded text of the already validated string body `start..<end` to
    /// `buffer`, from `offset` on.
    ///
    /// - Returns: The buffer's new length, or `nil` if it would exceed `limit` bytes.
    func appendDecoded(
        from start: Int,
        to end: Int,
        into buffer: UnsafeMutablePointer<UInt8>,
        at offset: Int,
        limit: Int
    ) throws(PayloadError) -> Int? {
        var i = start
        var length = offset
        while i < end {
            if input[i] == ASCII.backslash {
                let scalar = try readEscape(&i)
                guard let newLength = Self.writeUTF8(scalar, to: buffer, at: length, limit: limit) else { return nil }
                length = newLength
            } else {
                var runEnd = i + 1
                while runEnd < end && input[runEnd] != ASCII.backslash {
                    runEnd += 1
                }
                guard length + (runEnd - i) <= limit else { return nil }
                UnsafeMutableRawPointer(buffer + length).copyMemory(from: input.baseAddress! + i, byteCount: runEnd - i)
                length += runEnd - i
                i = runEnd
            }
        }
        return length
    }

    /// Reads the escape starting at the `\` at `i`, leaving `i` after it.
    ///
    /// - Returns: The Unicode scalar value it stands for; a surrogate pair gives one scalar.
    func readEscape(_ i: inout Int) throws(PayloadError) -> UInt32 {
        guard i + 1 < end else { throw PayloadError.truncated.at(end) }
        let scalar: UInt32
        switch input[i + 1] {
        case ASCII.quote: scalar = 0x22
        case ASCII.backslash: scalar = 0x5C
        case ASCII.slash: scalar = 0x2F
        case ASCII.lowerB: scalar = 0x08
        case ASCII.lowerF: scalar = 0x0C
        case ASCII.lowerN: scalar = 0x0A
        case ASCII.lowerR: scalar = 0x0D
        case ASCII.lowerT: scalar = 0x09
        case ASCII.lowerU:
            let escapeStart = i
            let unit = try readHex4(i + 2)
            i += 6
            switch unit {
            case 0xD800...0xDBFF:
                // A high surrogate must be followed at once by an escaped low surrogate.
                guard i < end else { throw PayloadError.truncated.at(end) }
                guard input[i] == ASCII.backslash else { throw PayloadError.syntax.at(i) }
                guard i + 1 < end else { throw PayloadError.truncated.at(end) }
                guard input[i + 1] == ASCII.lowerU else { throw PayloadError.syntax.at(i + 1) }
                let low = try readHex4(i + 2)
                guard (0xDC00...0xDFFF).contains(low) else { throw PayloadError.syntax.at(i) }
                i += 6
                return 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00)
            case 0xDC00...0xDFFF:
                throw PayloadError.syntax.at(escapeStart)
            default:
                return unit
            }
        default:
            throw PayloadError.syntax.at(i + 1)
        }
        i += 2
        return scalar
    }

    func readHex4(_ start: Int) throws(PayloadError) -> UInt32 {
        var value: UInt32 = 0
        for index in start..<(start + 4) {
            guard index < end else { throw PayloadError.truncated.at(end) }
            let byte = input[index]
            let digit: UInt8
            switch byte {
            case ASCII.zero...ASCII.nine: digit = byte &- ASCII.zero
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte &- UInt8(ascii: "a") &+ 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte &- UInt8(ascii: "A") &+ 10
            default: throw PayloadError.syntax.at(index)
            }
            value = value << 4 | UInt32(digit)
        }
        return value
    }

    /// Writes `scalar` as UTF-8 at `buffer[offset...]`, unless that would pass `limit`.
    ///
    /// - Returns: The new length, or `nil` when it does not fit.
    static func writeUTF8(
        _ scalar: UInt32,
        to buffer: UnsafeMutablePointer<UInt8>,
        at offset: Int,
        limit: Int
    ) -> Int? {
        let length = scalar < 0x80 ? 1 : scalar < 0x800 ? 2 : scalar < 0x10000 ? 3 : 4
        guard offset + length <= limit else { return nil }
        switch length {
        case 1:
            buffer[offset] = UInt8(scalar)
        case 2:
            buffer[offset] = UInt8(0xC0 | scalar >> 6)
            buffer[offset + 1] = UInt8(0x80 | scalar & 0x3F)
        case 3:
            buffer[offset] = UInt8(0xE0 | scalar >> 12)
            buffer[offset + 1] = UInt8(0x80 | scalar >> 6 & 0x3F)
            buffer[offset + 2] = UInt8(0x80 | scalar & 0x3F)
        default:
            buffer[offset] = UInt8(0xF0 | scalar >> 18)
            buffer[offset + 1] = UInt8(0x80 | scalar >> 12 & 0x3F)
            buffer[offset + 2] = UInt8(0x80 | scalar >> 6 & 0x3F)
            buffer[offset + 3] = UInt8(0x80 | scalar & 0x3F)
        }
        return offset + length
    }

    /// Steps over one well-formed multi-byte UTF-8 sequence at `i` (Unicode Table 3-7).
    func skipUTF8Sequence(_ i: inout Int) throws(PayloadError) {
        let length: Int
        // The second byte's range is what rules out overlong forms, UTF-16 surrogates
        // (ED A0..BF) and scalars above U+10FFFF (F4 90..).
        let secondRange: ClosedRange<UInt8>
        switch input[i] {
        case 0xC2...0xDF: length = 2; secondRange = 0x80...0xBF
        case 0xE0: length = 3; secondRange = 0xA0...0xBF
        case 0xE1...0xEC, 0xEE...0xEF: length = 3; secondRange = 0x80...0xBF
        case 0xED: length = 3; secondRange = 0x80...0x9F
        case 0xF0: length = 4; secondRange = 0x90...0xBF
        case 0xF1...0xF3: length = 4; secondRange = 0x80...0xBF
        case 0xF4: length = 4; secondRange = 0x80...0x8F
        default: throw PayloadError.syntax.at(i)
        }
        guard i + 1 < end else { throw PayloadError.truncated.at(end) }
        guard secondRange.contains(input[i + 1]) else { throw PayloadError.syntax.at(i + 1) }
        for index in (i + 2)..<(i + length) {
            guard index < end else { throw PayloadError.truncated.at(end) }
            guard input[index] & 0xC0 == 0x80 else { throw PayloadError.syntax.at(index) }
        }
        i += length
    }

    /// Matches `literal` (`true`, `false` or `null`) at `i`.
    func scanLiteral(_ i: inout Int, _ literal: StaticString) throws(PayloadError) {
        let expected = literal.utf8Start
        for k in 0..<literal.utf8CodeUnitCount {
            guard i < end else { throw PayloadError.truncated.at(end) }
            guard input[i] == expected[k] else { throw PayloadError.syntax.at(i) }
            i += 1
        }
    }

    /// After an object member or array element: skips whitespace, then either a `,` and the whitespace
    /// after it (returns false: more follows) or `closing` (returns true). Lives here, on the small struct,
    /// because calling a method of the large scanner from a mutating one copies the scanner.
    @inline(__always)
    func scanSeparator(_ i: inout Int, closing: UInt8) throws(PayloadError) -> Bool {
        skipWhitespace(&i)
        guard i < end else { throw PayloadError.truncated.at(end) }
        switch input[i] {
        case ASCII.comma:
            i += 1
            skipWhitespace(&i)
            guard i < end else { throw PayloadError.truncated.at(end) }
            return false
        case closing:
            i += 1
            return true
        default:
            throw PayloadError.syntax.at(i)
        }
    }

    @inline(__always)
    func skipWhitespace(_ i: inout Int) {
        while i < end {
            switch input[i] {
            case ASCII.space, ASCII.tab, ASCII.lineFeed, ASCII.carriageReturn: i += 1
            default: return
            }
        }
    }

    /// Scans a number at `i` under the strict JSON grammar.
    func scanNumber(_ i: inout Int) throws(PayloadError) -> NumberToken {
        var token = NumberToken(start: i)
        if input[i] == ASCII.minus {
            token.negative = true
            i += 1
            guard i < end else { throw PayloadError.truncated.at(end) }
        }
        // Integer part: a single 0, or a nonzero digit and more digits.
        let first = input[i]
        if first == ASCII.zero {
            i += 1
        } else if first > ASCII.zero && first <= ASCII.nine {
            repeat {
                token.addDigit(input[i] &- ASCII.zero, inFraction: false)
                i += 1
            } while i < end && Self.isDigit(input[i])
        } else {
            throw PayloadError.syntax.at(i)
        }
        // Fraction: a point and at least one digit.
        if i < end && input[i] == ASCII.dot {
            i += 1
            guard i < end else { throw PayloadError.truncated.at(end) }
            guard Self.isDigit(input[i]) else { throw PayloadError.syntax.at(i) }
            repeat {
                token.addDigit(input[i] &- ASCII.zero, inFraction: true)
                i += 1
            } while i < end && Self.isDigit(input[i])
        }
        // Exponent: e or E, an optional sign, at least one digit.
        if i < end && (input[i] == ASCII.lowerE || input[i] == ASCII.upperE) {
            i += 1
            guard i < end else { throw PayloadError.truncated.at(end) }
            var exponentNegative = false
            if input[i] == ASCII.plus || input[i] == ASCII.minus {
                exponentNegative = input[i] == ASCII.minus
                i += 1
                guard i < end else { throw PayloadError.truncated.at(end) }
            }
            guard Self.isDigit(input[i]) else { throw PayloadError.syntax.at(i) }
            var exponent = 0
            repeat {
                // Saturate: anything this large is infinity or zero anyway.
                if exponent < 1_000_000 {
                    exponent = exponent * 10 + Int(input[i] &- ASCII.zero)
                }
                i += 1
            } while i < end && Self.isDigit(input[i])
            token.exponent += exponentNegative ? -exponent : exponent
        }
        token.end = i
        let maxBytes = PayloadDecoder.maxNumberBytes
        guard i - token.start <= maxBytes else { throw PayloadError.syntax.at(token.start + maxBytes) }
        return token
    }

    @inline(__always)
    static func isDigit(_ byte: UInt8) -> Bool {
        byte >= ASCII.zero && byte <= ASCII.nine
    }
}

/// A number token and what the scanner learned about it on the way.
///
/// Its value is `significand * 10^exponent` (up to `dropped` digits), where the
/// significand keeps the first 19 significant digits.
struct NumberToken {
    var start: Int
    var end = 0
    var negative = false
    var significand: UInt64 = 0
    var significantDigits = 0
    var exponent = 0
    /// A nonzero digit did not fit in `significand`.
    var dropped = false

    @inline(__always)
    mutating func addDigit(_ digit: UInt8, inFraction: Bool) {
        if significantDigits < 19 {
            significand = significand &* 10 &+ UInt64(digit)
            // Leading zeros are not significant and cost nothing.
            if significand != 0 {
                significantDigits += 1
            }
            if inFraction {
                exponent -= 1
            }
        } else {
            if !inFraction {
                exponent += 1
            }
            if digit != 0 {
                dropped = true
            }
        }
    }

    /// Whether the value could reach ±infinity: it is below 10^(digits + exponent), and
    /// the largest double is about 1.8e308.
    var mayOverflow: Bool {
        significand != 0 && significantDigits + exponent > 308
    }
}

/// The bytes the scanner looks for.
enum ASCII {
    static let tab = UInt8(ascii: "\t")
    static let lineFeed = UInt8(ascii: "\n")
    static let carriageReturn = UInt8(ascii: "\r")
    static let space = UInt8(ascii: " ")
    static let quote = UInt8(ascii: "\"")
    static let plus = UInt8(ascii: "+")
    static let comma = UInt8(ascii: ",")
    static let minus = UInt8(ascii: "-")
    static let dot = UInt8(ascii: ".")
    static let slash = UInt8(ascii: "/")
    static let zero = UInt8(ascii: "0")
    static let nine = UInt8(ascii: "9")
    static let colon = UInt8(ascii: ":")
    static let upperE = UInt8(ascii: "E")
    static let openBracket = UInt8(ascii: "[")
    static let backslash = UInt8(ascii: "\\")
    static let closeBracket = UInt8(ascii: "]")
    static let underscore = UInt8(ascii: "_")
    static let lowerB = UInt8(ascii: "b")
    static let lowerE = UInt8(ascii: "e")
    static let lowerF = UInt8(ascii: "f")
    static let lowerN = UInt8(ascii: "n")
    static let lowerR = UInt8(ascii: "r")
    static let lowerT = UInt8(ascii: "t")
    static let lowerU = UInt8(ascii: "u")
    static let openBrace = UInt8(ascii: "{")
    static let closeBrace = UInt8(ascii: "}")
}
