/// Why a message (or part of one) was not scored. Every drop is counted under one of these.
package enum DropReason: Int, CaseIterable, Sendable {
    // Producer side (router).
    case topicMismatch
    case oversized
    case ringFull
    case shutdown
    // Consumer side (payload decoding and limits).
    case notJSON
    case truncated
    case syntax
    case tooDeep
    case tooManyFields
    case nameTooLong
    case nonFinite
    case badTimestamp
    case noMetrics
    case trailingData
    case unsupported
    case metricLimit
    case other

    /// The `reason` label, as in `vigil_messages_dropped_total{reason="..."}`.
    package var label: String {
        switch self {
        case .topicMismatch: "topic_mismatch"
        case .oversized: "too_large"
        case .ringFull: "ring_full"
        case .shutdown: "shutdown"
        case .notJSON: "not_json"
        case .truncated: "truncated"
        case .syntax: "syntax"
        case .tooDeep: "too_deep"
        case .tooManyFields: "too_many_fields"
        case .nameTooLong: "name_too_long"
        case .nonFinite: "non_finite"
        case .badTimestamp: "bad_timestamp"
        case .noMetrics: "no_metrics"
        case .trailingData: "trailing_data"
        case .unsupported: "unsupported"
        case .metricLimit: "metric_limit"
        case .other: "other"
        }
    }

    private static let byLabel: [String: DropReason] = Dictionary(uniqueKeysWithValues: allCases.map { ($0.label, $0) })

    /// The reason for a label produced elsewhere (a payload error's `reason`); unknown labels map to `other`.
    package init(label: String) {
        self = Self.byLabel[label] ?? .other
    }
}
