// AVA's label-map pbtxt, through both readers: the dataset adapter's and the evaluator's.
@testable import Datasets
@testable import Protocols
import Foundation

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = bytes(data, size)
    let path = write(input, "labels.pbtxt")
    do { _ = try LabelMap.read(path) } catch { expectNamed(error, [path], "LabelMap.read") }
    do { _ = try AVAFiles.readLabelMap(path) } catch { expectNamed(error, [path], "AVAFiles.readLabelMap") }
    return 0
}
