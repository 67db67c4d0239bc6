import Foundation
import VigilIO

/// An ``MQTTClientHandler`` that records connects, refusals and disconnects, and counts messages by the decimal
/// sequence number each payload starts with (`"17"`, `"17 ..."`): distinct and total.
package final class RecordingHandler: MQTTClientHandler {
    package let connects = Awaitable<Int>(0)
    /// Nonzero CONNACK codes and nonzero disconnect codes, in order.
    package let failures = Awaitable<[String]>([])
    package let subscribed = Awaitable<Int>(0)
    /// (distinct sequence numbers seen, messages received).
    package let received = Awaitable<(distinct: Int, total: Int)>((0, 0))
    private let seen = Awaitable<Set<Int>>([])
    /// Time spent per message, to play a consumer slower than its publisher (a backlog builds at the broker).
    private let delayMicroseconds: UInt32

    package init(delayMicroseconds: UInt32 = 0) { self.delayMicroseconds = delayMicroseconds }

    package func mqttMessage(topic: UnsafeRawBufferPointer, payload: UnsafeRawBufferPointer) {
        if delayMicroseconds > 0 { usleep(delayMicroseconds) }
        var number = 0
        var digits = 0
        for byte in payload {
            guard byte >= 0x30, byte <= 0x39, digits < 18 else { break }
            number = number * 10 + Int(byte - 0x30)
            digits += 1
        }
        var isNew = false
        seen.update { isNew = $0.insert(number).inserted }
        received.update { counts in counts = (counts.distinct + (isNew ? 1 : 0), counts.total + 1) }
    }

    package func mqttConnected(code: Int32, description: String) {
        if code == 0 { connects.update { $0 += 1 } } else { failures.update { $0.append("connack \(code): \(description)") } }
    }

    package func mqttDisconnected(code: Int32, description: String) {
        if code != 0 { failures.update { $0.append("disconnect \(code): \(description)") } }
    }

    package func mqttSubscribed(granted: [Int32]) { subscribed.update { $0 += 1 } }
}
