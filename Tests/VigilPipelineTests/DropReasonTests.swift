import Testing
import VigilCore
import VigilPipeline

@Suite struct DropReasonTests {
    /// Every payload error is counted under its own reason, with the same label, never as `other`.
    @Test(arguments: [
        PayloadError.notJSON, .truncated, .syntax, .tooLarge, .tooDeep, .tooManyFields, .nameTooLong, .nonFinite,
        .badTimestamp, .noMetrics, .trailingData, .unsupported,
    ])
    func everyPayloadErrorHasItsOwnReason(error: PayloadError) {
        let reason = DropReason(label: error.reason)
        #expect(reason != .other)
        #expect(reason.label == error.reason)
        #expect(DropReason(.payload(error)) == reason)
    }

    @Test func labelsAreUniqueAndUnknownLabelsAreOther() {
        #expect(Set(DropReason.allCases.map(\.label)).count == DropReason.allCases.count)
        #expect(DropReason(label: "no_such_reason") == .other)
        #expect(DropReason(label: "unsupported") == .unsupported)
    }
}
