/// Why a telemetry payload was rejected by ``PayloadDecoder``.
///
/// A struct wrapping a private code, so new reasons can be added later without breaking
/// any `switch` over them. Compare against the static members:
///
/// ```swift
/// do {
///     try decoder.decode(bytes)
/// } catch {
///     if error == .truncated { ... }
///     metrics.rejected(reason: error.reason)  // "truncated"
/// }
/// ```
///
/// - Note: Equality compares the reason only, not ``offset``: `error == .syntax` holds for a
///   syntax error at any byte. Read ``offset`` for where it was detected.
package struct PayloadError: Error, Sendable, Equatable, CustomStringConvertible {
    private enum Code: Sendable, Equatable {
        case notJSON
        case truncated
        case syntax
        case tooLarge
        case tooDeep
        case tooManyFields
        case nameTooLong
        case nonFinite
        case badTimestamp
        case noMetrics
        case trailingData
        case unsupported
    }

    private var code: Code

    /// The byte offset in the payload where the problem was detected, when meaningful.
    package var offset: Int?

    private init(_ code: Code, offset: Int? = nil) {
        self.code = code
        self.offset = offset
    }

    /// The first non-whitespace byte cannot start the configured format (for JSON objects, it is
    /// not `{`); this includes empty and all-whitespace input.
    package static var notJSON: PayloadError { PayloadError(.notJSON) }
    /// The input ended inside the payload: in a key, a value, or before the closing `}` or `]`.
    package static var truncated: PayloadError { PayloadError(.truncated) }
    /// A byte that the JSON grammar does not allow at that position; ``offset`` points at it.
    ///
    /// In a SenML pack, also an element that is not an object, a known field of the wrong JSON
    /// type, a second kind of value in one record (at its name), and a record with a value but an
    /// empty resolved name (at the record's `{`).
    package static var syntax: PayloadError { PayloadError(.syntax) }
    /// The payload is larger than ``PayloadLimits/maxBytes``; detected before scanning.
    package static var tooLarge: PayloadError { PayloadError(.tooLarge) }
    /// Objects and arrays are nested deeper than ``PayloadLimits/maxDepth``.
    package static var tooDeep: PayloadError { PayloadError(.tooDeep) }
    /// The payload has more metrics than ``PayloadLimits/maxFields``.
    package static var tooManyFields: PayloadError { PayloadError(.tooManyFields) }
    /// A flattened, dotted field name (or a SenML base name, or resolved name `bn + n`) is longer
    /// than ``PayloadLimits/maxNameBytes``.
    package static var nameTooLong: PayloadError { PayloadError(.nameTooLong) }
    /// A number is valid JSON but overflows `Double` to ±infinity (such as `1e400`), or a SenML
    /// value, sum or time does once its base field is added.
    package static var nonFinite: PayloadError { PayloadError(.nonFinite) }
    /// The timestamp field is present but is not a valid timestamp for the configured unit, or a
    /// SenML record's time is at or after 1e11 (absolute) or more than 2^28 s in the past (relative).
    package static var badTimestamp: PayloadError { PayloadError(.badTimestamp) }
    /// The payload is valid but holds no metric: an object without a numeric or boolean field, or
    /// a SenML pack (the empty `[]` included) without a record that has a number, boolean or sum.
    package static var noMetrics: PayloadError { PayloadError(.noMetrics) }
    /// Something other than whitespace follows the payload's value (the closing `}` of the
    /// object, the `]` of the pack, or the bare number).
    package static var trailingData: PayloadError { PayloadError(.trailingData) }
    /// The payload uses something Vigil does not implement and must not ignore: a SenML
    /// must-understand field (its name ends in `_`, RFC 8428 §4.4) or a SenML `bver` above 10.
    package static var unsupported: PayloadError { PayloadError(.unsupported) }

    /// Returns `self` with ``offset`` set; used by the decoder when it throws.
    package func at(_ offset: Int?) -> PayloadError {
        var copy = self
        copy.offset = offset
        return copy
    }

    /// A stable snake_case label for metrics and logs, such as `"not_json"` or `"too_deep"`.
    package var reason: String {
        switch code {
        case .notJSON: "not_json"
        case .truncated: "truncated"
        case .syntax: "syntax"
        case .tooLarge: "too_large"
        case .tooDeep: "too_deep"
        case .tooManyFields: "too_many_fields"
        case .nameTooLong: "name_too_long"
        case .nonFinite: "non_finite"
        case .badTimestamp: "bad_timestamp"
        case .noMetrics: "no_metrics"
        case .trailingData: "trailing_data"
        case .unsupported: "unsupported"
        }
    }

    /// The reason, followed by the byte offset when there is one: `"syntax at byte 7"`.
    package var description: String {
        if let offset {
            return "\(reason) at byte \(offset)"
        }
        return reason
    }

    package static func == (lhs: PayloadError, rhs: PayloadError) -> Bool {
        lhs.code == rhs.code
    }
}
