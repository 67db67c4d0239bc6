// libFuzzer target: the recording reader (JSONL and CSV) over a file holding the input.
import Dispatch
import Foundation
import Synchronization
import Foundation
import VigilIO

let folder = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-fuzz-\(getpid())").path

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ count: Int) -> Int32 {
    try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    // The first byte picks the format; the rest is the file.
    let isCSV = count > 0 && data[0] & 1 == 1
    let path = folder + (isCSV ? "/input.csv" : "/input.jsonl")
    let body = Data(bytes: data + min(count, 1), count: max(0, count - 1))
    guard FileManager.default.createFile(atPath: path, contents: body) else { return 0 }
    guard let reader = try? RecordingReader(inputs: [RecordingInput(path: path, device: isCSV ? "d" : nil)]) else { return 0 }
    var messages = 0
    while messages < 100_000, (try? reader.next({ _ in messages += 1 })) == true {}
    return 0
}
