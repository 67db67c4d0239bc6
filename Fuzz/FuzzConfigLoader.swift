// libFuzzer target: the YAML config loader (libyaml + strict decoding); every input is a config or a ConfigError.
import Dispatch
import Foundation
import Synchronization
import VigilIO

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ count: Int) -> Int32 {
    let text = String(decoding: UnsafeRawBufferPointer(start: data, count: count), as: UTF8.self)
    do {
        let config = try VigilConfig.parse(yaml: text, source: "fuzz")
        _ = config.warnings
        _ = try? config.topicTemplates()
    } catch {
        _ = error.description
    }
    return 0
}
