// Kinetics-400 annotation CSVs: `train.csv ~~~ val.csv`, loaded through the adapter.
@testable import Datasets
import Foundation

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let p = parts(bytes(data, size), 2)
    let train = write(p[0], "train.csv"), test = write(p[1], "val.csv")
    let entry = DatasetEntry.fuzz(format: .kinetics400, keys: ["train": train, "test": test])
    for split in [SplitName.train, .test] {
        do { _ = try Dataset.load(entry, split: split) } catch { expectNamed(error, [train, test], "kinetics") }
    }
    return 0
}
