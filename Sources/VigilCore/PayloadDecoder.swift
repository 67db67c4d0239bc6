// TEMPORARY STUB: replaced by the decoder branch.
package enum TimestampUnit: Sendable { case auto, seconds, milliseconds, iso8601 }
package struct PayloadLimits: Sendable { package var maxBytes = 65536; package var maxDepth = 8; package var maxFields = 64; package var maxNameBytes = 256; package init() {} }
package struct PayloadError: Error, Sendable, Equatable { package var reason: String; package var offset: Int? }
package struct PayloadDecoder {
    package init(limits: PayloadLimits, timestampField: String?, timestampUnit: TimestampUnit) {}
    package mutating func decode(_ bytes: UnsafeRawBufferPointer) throws(PayloadError) {}
    package var fieldCount: Int { 0 }
    package func withFieldName<R>(_ index: Int, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R { try body(UnsafeRawBufferPointer(start: nil, count: 0)) }
    package func fieldValue(_ index: Int) -> Double { 0 }
    package var eventTime: Double? { nil }
}
