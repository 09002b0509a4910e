// Epic-Kitchens-55 annotations: `train CSV ~~~ verb classes ~~~ noun classes ~~~ video info ~~~
// held-out video list`.
@testable import Datasets
import Foundation

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let p = parts(bytes(data, size), 5)
    let train = write(p[0], "train.csv", in: "epic"), verbs = write(p[1], "verbs.csv", in: "epic"),
        nouns = write(p[2], "nouns.csv", in: "epic"), info = write(p[3], "info.csv", in: "epic"),
        test = write(p[4], "test.txt", in: "epic")
    let files = [train, verbs, nouns, info, test]
    let entry = DatasetEntry.fuzz(format: .epic55, keys: ["train": train, "verb_classes": verbs, "noun_classes": nouns,
                                                          "video_info": info, "test": test])
    for split in [SplitName.train, .test] {
        do { _ = try Dataset.load(entry, split: split) } catch { expectNamed(error, files, "epic") }
    }
    return 0
}
