// UCF-101 split lists: `classInd.txt ~~~ trainlist01.txt ~~~ testlist01.txt`.
@testable import Datasets
import Foundation

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let p = parts(bytes(data, size), 3)
    let files = [write(p[0], "classInd.txt", in: "ucf"), write(p[1], "trainlist01.txt", in: "ucf"),
                 write(p[2], "testlist01.txt", in: "ucf")]
    let entry = DatasetEntry.fuzz(format: .ucf101, keys: ["annotations": (scratch as NSString).appendingPathComponent("ucf")])
    for split in [SplitName.train, .test] {
        do { _ = try Dataset.load(entry, split: split) } catch { expectNamed(error, files, "ucf101") }
    }
    return 0
}
