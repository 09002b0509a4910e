// A safetensors file (checkpoints): the 8-byte header length, the JSON header, the data.
@testable import Tensors
import Foundation

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let path = write(bytes(data, size), "checkpoint.safetensors")
    do { _ = try Safetensors.read(URL(fileURLWithPath: path)) } catch { expectNamed(error, [path], "safetensors") }
    return 0
}
