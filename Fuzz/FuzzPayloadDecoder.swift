// libFuzzer target: the payload decoder (JSON objects, SenML packs, bare numbers) under tight limits.
import Dispatch
import Foundation
import Synchronization
import VigilCore

nonisolated(unsafe) var decoders = [
    PayloadDecoder(format: .auto, limits: PayloadLimits(maxBytes: 4096, maxDepth: 4, maxFields: 16), timestampField: "ts", timestampUnit: .auto),
    PayloadDecoder(format: .senml, limits: PayloadLimits(), timestampField: nil, timestampUnit: .auto),
    PayloadDecoder(format: .json, limits: PayloadLimits(), timestampField: "meta.time", timestampUnit: .iso8601),
]

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ count: Int) -> Int32 {
    let bytes = UnsafeRawBufferPointer(start: data, count: count)
    for index in decoders.indices {
        do {
            try decoders[index].decode(bytes)
            for field in 0..<decoders[index].fieldCount {
                let value = decoders[index].fieldValue(field)
                precondition(value.isFinite, "a decoded value must be finite")
                _ = decoders[index].fieldEventTime(field, receivedAt: 1000)
                _ = decoders[index].withFieldName(field) { $0.count }
            }
        } catch {
            _ = error.reason
        }
    }
    return 0
}
