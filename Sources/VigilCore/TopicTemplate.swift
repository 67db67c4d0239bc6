/// A topic template that names where the device id sits in a topic, such as `devices/{device}/telemetry`.
///
/// Levels are literals, `{device}` (exactly one, a whole level), `+` (any one level) or a final `#` (any rest).
/// Matching works on the topic's bytes and allocates nothing: it is called on the MQTT network thread for
/// every message.
///
/// ```swift
/// let template = try TopicTemplate("devices/{device}/telemetry")
/// topic.withUnsafeBytes { template.deviceRange(in: $0) }   // 8..<12 for "devices/d-17/telemetry"
/// ```
package struct TopicTemplate: Sendable, Equatable, CustomStringConvertible {
    package enum Level: Sendable, Equatable {
        case literal([UInt8])
        case device
        case anyLevel
        case anyRest
    }

    package struct ParseError: Error, Sendable, Equatable, CustomStringConvertible {
        package var template: String
        package var message: String
        package var description: String { "topic template '\(template)': \(message)" }
        package init(template: String, message: String) {
            self.template = template
            self.message = message
        }
    }

    package let levels: [Level]
    package let description: String

    package init(_ template: String) throws(ParseError) {
        func fail(_ message: String) -> ParseError { ParseError(template: template, message: message) }
        guard !template.isEmpty else { throw fail("is empty") }
        let parts = template.split(separator: "/", omittingEmptySubsequences: false)
        var levels: [Level] = []
        var deviceLevels = 0
        for (index, part) in parts.enumerated() {
            switch part {
            case "{device}":
                levels.append(.device)
                deviceLevels += 1
            case "+":
                levels.append(.anyLevel)
            case "#":
                guard index == parts.count - 1 else { throw fail("'#' must be the last level") }
                levels.append(.anyRest)
            default:
                if part.contains("{") || part.contains("}") {
                    throw fail("'{device}' must be a whole topic level (found '\(part)')")
                }
                if part.contains("+") || part.contains("#") {
                    throw fail("wildcards must be whole topic levels (found '\(part)')")
                }
                levels.append(.literal(Array(part.utf8)))
            }
        }
        guard deviceLevels == 1 else {
            throw fail(deviceLevels == 0 ? "needs one '{device}' level" : "has more than one '{device}' level")
        }
        self.levels = levels
        self.description = template
    }

    /// The byte range of the device id inside `topic`, or `nil` when the topic does not fit the template.
    ///
    /// An empty device level (`devices//telemetry`) does not fit.
    /// - Complexity: O(topic length), no allocation.
    package func deviceRange(in topic: UnsafeRawBufferPointer) -> Range<Int>? {
        let slash = UInt8(ascii: "/")
        var position = 0
        var device: Range<Int>? = nil
        for (index, level) in levels.enumerated() {
            if case .anyRest = level { return device }
            // The end of this topic level.
            var end = position
            while end < topic.count && topic[end] != slash { end += 1 }
            switch level {
            case .literal(let bytes):
                guard end - position == bytes.count else { return nil }
                for offset in 0..<bytes.count where topic[position + offset] != bytes[offset] { return nil }
            case .device:
                guard end > position else { return nil }
                device = position..<end
            case .anyLevel, .anyRest:
                break
            }
            let isLast = index == levels.count - 1
            if isLast {
                return end == topic.count ? device : nil
            }
            guard end < topic.count else { return nil }  // the topic has fewer levels than the template
            position = end + 1
        }
        return nil
    }

    /// Convenience for tests and cold paths.
    package func device(in topic: String) -> String? {
        var topic = topic
        return topic.withUTF8 { utf8 in
            let raw = UnsafeRawBufferPointer(utf8)
            return deviceRange(in: raw).map { String(decoding: raw[$0], as: UTF8.self) }
        }
    }
}
