// libFuzzer target: the checkpoint file decoder and the engine's record loader. The CRC is checked first, so
// the input's last 4 bytes are replaced by the right CRC half of the time: the fuzzer then reaches the records.
import Dispatch
import Foundation
import Synchronization
import VigilCore
import VigilIO

nonisolated(unsafe) var iteration = 0

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ count: Int) -> Int32 {
    var bytes = Array(UnsafeRawBufferPointer(start: data, count: count))
    iteration += 1
    if iteration % 2 == 0, bytes.count >= 4 {
        let crc = bytes.withUnsafeBytes { CheckpointFile.fuzzingCRC(UnsafeRawBufferPointer(rebasing: $0[0..<bytes.count - 4])) }
        withUnsafeBytes(of: crc.littleEndian) { for i in 0..<4 { bytes[bytes.count - 4 + i] = $0[i] } }
    }
    let file = bytes.withUnsafeBytes { try? CheckpointFile.decode($0) }
    // The records alone too: the engine must refuse any record without trapping.
    var engine = DetectionEngine(settings: DetectionSettings(), decoder: PayloadDecoder(format: .auto, limits: PayloadLimits(), timestampField: nil, timestampUnit: .auto))
    _ = try? engine.restore(records: file?.records ?? [bytes], now: 1000)
    return 0
}
