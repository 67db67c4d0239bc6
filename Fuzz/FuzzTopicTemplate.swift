// libFuzzer target: topic template parsing, then matching topics against the parsed template.
import Dispatch
import Foundation
import Synchronization
import VigilCore

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ count: Int) -> Int32 {
    let bytes = UnsafeRawBufferPointer(start: data, count: count)
    // First line: the template; the rest: a topic to match.
    let split = bytes.firstIndex(of: 0x0A) ?? bytes.count
    let template = String(decoding: bytes[0..<split], as: UTF8.self)
    let topic = UnsafeRawBufferPointer(rebasing: bytes[min(split + 1, bytes.count)...])
    guard let parsed = try? TopicTemplate(template) else { return 0 }
    if let range = parsed.deviceRange(in: topic) {
        precondition(range.lowerBound >= 0 && range.upperBound <= topic.count, "device range out of the topic")
    }
    _ = parsed.device(in: String(decoding: topic, as: UTF8.self))
    return 0
}
