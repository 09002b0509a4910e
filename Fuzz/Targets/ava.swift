// AVA annotations through the dataset adapter: `label map pbtxt ~~~ train CSV ~~~ val CSV ~~~
// train exclusions ~~~ val proposals`.
@testable import Datasets
import Foundation

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let p = parts(bytes(data, size), 5)
    let map = write(p[0], "labels.pbtxt", in: "ava"), train = write(p[1], "train.csv", in: "ava"),
        test = write(p[2], "val.csv", in: "ava"), excluded = write(p[3], "excluded.csv", in: "ava"),
        proposals = write(p[4], "proposals.csv", in: "ava")
    let entry = DatasetEntry.fuzz(format: .ava, keys: ["label_map": map, "train": train, "test": test,
                                                       "train_exclusions": excluded, "test_proposals": proposals])
    for split in [SplitName.train, .test] {
        do { _ = try Dataset.load(entry, split: split) } catch { expectNamed(error, [map, train, test, excluded, proposals], "ava") }
    }
    return 0
}
