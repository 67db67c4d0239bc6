// The SenML pack and bare-number formats of PayloadScanner (the JSON object format, the
// shared string and number readers, and the storage live in PayloadDecoder.swift). The rules
// are documented on PayloadDecoder.

/// A SenML field name (RFC 8428 §4.3, plus `bver`), or what else it can be.
enum SenMLLabel: Equatable {
    case baseName, baseTime, baseUnit, baseValue, baseSum, baseVersion
    case name, unit, value, stringValue, boolValue, dataValue, sum, time, updateTime
    /// Not a label this decoder knows; must-understand names (ending in `_`) are caught separately.
    case unknown

    /// The label spelled by the `count` bytes at `bytes`.
    @inline(__always)
    init(_ bytes: UnsafeRawPointer, count: Int) {
        switch count {
        case 1:
            switch bytes.load(as: UInt8.self) {
            case UInt8(ascii: "n"): self = .name
            case UInt8(ascii: "u"): self = .unit
            case UInt8(ascii: "v"): self = .value
            case UInt8(ascii: "s"): self = .sum
            case UInt8(ascii: "t"): self = .time
            default: self = .unknown
            }
        case 2:
            switch UInt16(bytes.load(as: UInt8.self)) << 8 | UInt16(bytes.load(fromByteOffset: 1, as: UInt8.self)) {
            case Self.pair("b", "n"): self = .baseName
            case Self.pair("b", "t"): self = .baseTime
            case Self.pair("b", "u"): self = .baseUnit
            case Self.pair("b", "v"): self = .baseValue
            case Self.pair("b", "s"): self = .baseSum
            case Self.pair("v", "s"): self = .stringValue
            case Self.pair("v", "b"): self = .boolValue
            case Self.pair("v", "d"): self = .dataValue
            case Self.pair("u", "t"): self = .updateTime
            default: self = .unknown
            }
        case 4:
            let isVersion =
                bytes.load(as: UInt8.self) == UInt8(ascii: "b")
                && bytes.load(fromByteOffset: 1, as: UInt8.self) == UInt8(ascii: "v")
                && bytes.load(fromByteOffset: 2, as: UInt8.self) == UInt8(ascii: "e")
                && bytes.load(fromByteOffset: 3, as: UInt8.self) == UInt8(ascii: "r")
            self = isVersion ? .baseVersion : .unknown
        default:
            self = .unknown
        }
    }

    @inline(__always)
    private static func pair(_ first: Unicode.Scalar, _ second: Unicode.Scalar) -> UInt16 {
        UInt16(first.value) << 8 | UInt16(second.value)
    }
}

extension PayloadScanner {
    /// The newest SenML version this decoder implements (RFC 8428's).
    static let senMLVersion = 10.0
    /// Absolute SenML times from here on are rejected: the year 5138, as in ``TimestampParser``.
    static let senMLMaxAbsoluteTime = 1e11

    /// The base fields in force while a pack is scanned (RFC 8428 §4.1); the base name's bytes
    /// are in `baseName`.
    struct SenMLBase {
        var nameLength = 0
        var time = 0.0
        var value = 0.0
        var sum = 0.0
    }

    /// Which of the mutually exclusive value fields a record has.
    enum SenMLValueKind: Equatable {
        case none, number, bool, string, data
    }

    /// One record's own fields, gathered until its `}`: fields come in any order, and base fields
    /// set in a record apply to that record too.
    struct SenMLRecord {
        /// Offset of the record's `{`.
        var start: Int
        /// The body of the `n` string, `nameStart..<nameEnd`; `nameStart` is -1 when there is none.
        var nameStart = -1
        var nameEnd = 0
        var nameHasEscapes = false
        var valueKind = SenMLValueKind.none
        /// `v`, or 1/0 for `vb`.
        var value = 0.0
        var sum: Double?
        var time = 0.0

        init(start: Int) {
            self.start = start
        }

        /// Records that the record has a value field of `kind`; a second, different kind is an error.
        mutating func setValueKind(_ kind: SenMLValueKind, keyOffset: Int) throws(PayloadError) {
            guard valueKind == .none || valueKind == kind else { throw PayloadError.syntax.at(keyOffset) }
            valueKind = kind
        }
    }

    // MARK: - SenML

    /// Scans the SenML pack starting at the `[` at `i`, adding a metric per record with a
    /// numeric or boolean value (or a sum only).
    mutating func scanSenMLPack(_ i: inout Int) throws(PayloadError) {
        i += 1
        text.skipWhitespace(&i)
        guard i < end else { throw PayloadError.truncated.at(end) }
        if input[i] == ASCII.closeBracket {
            i += 1
            return
        }
        var base = SenMLBase()
        while true {
            guard input[i] == ASCII.openBrace else { throw PayloadError.syntax.at(i) }
            // The pack is depth 1, its records depth 2.
            guard limits.maxDepth >= 2 else { throw PayloadError.tooDeep.at(i) }
            try scanSenMLRecord(&i, base: &base)
            if try text.scanSeparator(&i, closing: ASCII.closeBracket) { return }
        }
    }

    /// Scans the record starting at the `{` at `i`, updating `base`, then resolves it.
    mutating func scanSenMLRecord(_ i: inout Int, base: inout SenMLBase) throws(PayloadError) {
        var record = SenMLRecord(start: i)
        i += 1
        text.skipWhitespace(&i)
        guard i < end else { throw PayloadError.truncated.at(end) }
        if input[i] == ASCII.closeBrace {
            i += 1
        } else {
            fields: while true {
                guard input[i] == ASCII.quote else { throw PayloadError.syntax.at(i) }
                let keyOffset = i
                let hasEscapes = try text.scanString(&i)
                let label = try senMLLabel(bodyStart: keyOffset + 1, bodyEnd: i - 1, hasEscapes: hasEscapes)
                text.skipWhitespace(&i)
                guard i < end else { throw PayloadError.truncated.at(end) }
                guard input[i] == ASCII.colon else { throw PayloadError.syntax.at(i) }
                i += 1
                text.skipWhitespace(&i)
                guard i < end else { throw PayloadError.truncated.at(end) }
                try scanSenMLField(label, &i, keyOffset: keyOffset, record: &record, base: &base)
                if try text.scanSeparator(&i, closing: ASCII.closeBrace) { break fields }
            }
        }
        try resolveSenMLRecord(record, base)
    }

    /// The label of the field name whose validated string body is `bodyStart..<bodyEnd`.
    ///
    /// - Throws: ``PayloadError/unsupported`` for a must-understand name (ending in `_`).
    mutating func senMLLabel(bodyStart: Int, bodyEnd: Int, hasEscapes: Bool) throws(PayloadError) -> SenMLLabel {
        let label: SenMLLabel
        if !hasEscapes {
            label = SenMLLabel(input.baseAddress! + bodyStart, count: bodyEnd - bodyStart)
        } else if let length = try text.appendDecoded(
            from: bodyStart, to: bodyEnd, into: stringScratch, at: 0, limit: 4
        ) {
            // Escaped names are rare; decoding lets `"\u0076"` be `v`, as any JSON reader sees it.
            label = SenMLLabel(UnsafeRawPointer(stringScratch), count: length)
        } else {
            label = .unknown
        }
        if label == .unknown {
            let last =
                hasEscapes
                ? try text.lastScalar(from: bodyStart, to: bodyEnd)
                : bodyEnd > bodyStart ? UInt32(input[bodyEnd - 1]) : nil
            if last == UInt32(ASCII.underscore) {
                throw PayloadError.unsupported.at(bodyStart - 1)
            }
        }
        return label
    }

    /// Scans the value at `i` of a field named `label`, into `record` or `base`.
    mutating func scanSenMLField(
        _ label: SenMLLabel,
        _ i: inout Int,
        keyOffset: Int,
        record: inout SenMLRecord,
        base: inout SenMLBase
    ) throws(PayloadError) {
        let valueOffset = i
        switch label {
        case .baseName:
            let body = try scanSenMLString(&i)
            guard
                let length = try text.appendString(
                    from: body.start, to: body.end, hasEscapes: body.hasEscapes,
                    into: baseName, at: 0, limit: limits.maxNameBytes
                )
            else { throw PayloadError.nameTooLong.at(valueOffset) }
            base.nameLength = length
        case .baseTime:
            base.time = try scanSenMLNumber(&i)
        case .baseValue:
            base.value = try scanSenMLNumber(&i)
        case .baseSum:
            base.sum = try scanSenMLNumber(&i)
        case .baseVersion:
            guard try scanSenMLNumber(&i) <= Self.senMLVersion else { throw PayloadError.unsupported.at(keyOffset) }
        case .baseUnit, .unit:
            _ = try scanSenMLString(&i)
        case .name:
            let body = try scanSenMLString(&i)
            record.nameStart = body.start
            record.nameEnd = body.end
            record.nameHasEscapes = body.hasEscapes
        case .value:
            try record.setValueKind(.number, keyOffset: keyOffset)
            record.value = try scanSenMLNumber(&i)
        case .boolValue:
            try record.setValueKind(.bool, keyOffset: keyOffset)
            switch input[i] {
            case ASCII.lowerT:
                try text.scanLiteral(&i, "true")
                record.value = 1
            case ASCII.lowerF:
                try text.scanLiteral(&i, "false")
                record.value = 0
            default:
                throw PayloadError.syntax.at(i)
            }
        case .stringValue:
            try record.setValueKind(.string, keyOffset: keyOffset)
            _ = try scanSenMLString(&i)
        case .dataValue:
            try record.setValueKind(.data, keyOffset: keyOffset)
            _ = try scanSenMLString(&i)
        case .sum:
            record.sum = try scanSenMLNumber(&i)
        case .time:
            record.time = try scanSenMLNumber(&i)
        case .updateTime:
            _ = try scanSenMLNumber(&i)
        case .unknown:
            // Validated like an array element (depth and all), and ignored.
            try scanValue(&i, depth: 2, collecting: false)
        }
    }

    /// Scans the string at `i`, which must be one, and returns its body's bounds.
    mutating func scanSenMLString(_ i: inout Int) throws(PayloadError) -> (start: Int, end: Int, hasEscapes: Bool) {
        guard input[i] == ASCII.quote else { throw PayloadError.syntax.at(i) }
        let start = i + 1
        let hasEscapes = try text.scanString(&i)
        return (start, i - 1, hasEscapes)
    }

    /// Scans and converts the number at `i`, which must be one.
    mutating func scanSenMLNumber(_ i: inout Int) throws(PayloadError) -> Double {
        let byte = input[i]
        guard byte == ASCII.minus || JSONText.isDigit(byte) else { throw PayloadError.syntax.at(i) }
        let token = try text.scanNumber(&i)
        return try Self.convert(token, text, numberScratch)
    }

    /// Resolves a scanned record against the base fields (RFC 8428 §4.6) and adds its metric.
    mutating func resolveSenMLRecord(_ record: SenMLRecord, _ base: SenMLBase) throws(PayloadError) {
        let hasValue = record.valueKind != .none || record.sum != nil
        guard hasValue || record.nameStart >= 0 else { return }  // base fields only
        // Name: bn + n. The base name already fits (it was checked when it was set).
        path.update(from: baseName, count: base.nameLength)
        pathLength = base.nameLength
        if record.nameStart >= 0 {
            guard
                let length = try text.appendString(
                    from: record.nameStart, to: record.nameEnd, hasEscapes: record.nameHasEscapes,
                    into: path, at: pathLength, limit: limits.maxNameBytes
                )
            else { throw PayloadError.nameTooLong.at(record.nameStart - 1) }
            pathLength = length
        }
        guard hasValue else { return }
        guard pathLength > 0 else { throw PayloadError.syntax.at(record.start) }
        let value: Double
        switch record.valueKind {
        case .number:
            value = base.value + record.value
        case .bool:
            value = record.value
        case .string, .data:
            return  // not a number; a sum beside it is not this measurement either
        case .none:
            value = base.sum + (record.sum ?? 0)
        }
        let time = base.time + record.time
        guard value.isFinite, time.isFinite else { throw PayloadError.nonFinite.at(record.start) }
        let limit = PayloadDecoder.senMLRelativeTimeLimit
        // Absolute from 2^28 on; relative below, and no further back than 2^28 seconds.
        guard time >= -limit, time < Self.senMLMaxAbsoluteTime else { throw PayloadError.badTimestamp.at(record.start) }
        try addMetric(value, at: record.start)
        times[fieldCount - 1] = time
    }

    // MARK: - Bare number

    /// Scans the number at `i` (the payload's first byte, a `-` or a digit) as the metric `value`.
    mutating func scanBareNumber(_ i: inout Int) throws(PayloadError) {
        let start = i
        let token = try text.scanNumber(&i)
        let value = try Self.convert(token, text, numberScratch)
        let name: StaticString = "value"
        let length = name.utf8CodeUnitCount
        guard length <= limits.maxNameBytes else { throw PayloadError.nameTooLong.at(start) }
        path.update(from: name.utf8Start, count: length)
        pathLength = length
        try addMetric(value, at: start)
    }
}

extension JSONText {
    /// Writes the text of the validated string body `start..<end` to `buffer` from `offset` on.
    ///
    /// - Returns: The buffer's new length, or `nil` if it would exceed `limit` bytes.
    func appendString(
        from start: Int,
        to end: Int,
        hasEscapes: Bool,
        into buffer: UnsafeMutablePointer<UInt8>,
        at offset: Int,
        limit: Int
    ) throws(PayloadError) -> Int? {
        guard hasEscapes else {
            // The common case: the string's bytes are its text.
            let length = end - start
            guard offset + length <= limit else { return nil }
            UnsafeMutableRawPointer(buffer + offset).copyMemory(from: input.baseAddress! + start, byteCount: length)
            return offset + length
        }
        return try appendDecoded(from: start, to: end, into: buffer, at: offset, limit: limit)
    }

    /// The last Unicode scalar of the validated string body `start..<end` (for a raw multi-byte
    /// character, only its last byte); `nil` for an empty string.
    func lastScalar(from start: Int, to end: Int) throws(PayloadError) -> UInt32? {
        guard start < end else { return nil }
        // The last raw byte is the last character unless an escape ends the string; escapes
        // are found only by reading from the start, as `\\` hides the meaning of the next byte.
        var i = start
        var last: UInt32 = 0
        while i < end {
            if input[i] == ASCII.backslash {
                last = try readEscape(&i)
            } else {
                last = UInt32(input[i])
                i += 1
            }
        }
        return last
    }
}
