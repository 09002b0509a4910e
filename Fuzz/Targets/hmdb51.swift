// HMDB-51 split files: `class names, one a line ~~~ file of the first class ~~~ …`; each
// class gets `<class>_test_split1.txt` (names with '/' or NUL are dropped: not file names).
@testable import Datasets
import Foundation

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let p = parts(bytes(data, size), 5)
    clear("hmdb")
    let folder = (scratch as NSString).appendingPathComponent("hmdb")
    let names = String(decoding: p[0], as: UTF8.self).split(separator: "\n").map(String.init)
        .filter { !$0.isEmpty && !$0.contains("/") && !$0.contains("\0") && $0.utf8.count < 200 }
    var files = [folder]
    for (i, name) in names.prefix(4).enumerated() { files.append(write(p[i + 1], name + "_test_split1.txt", in: "hmdb")) }
    if names.isEmpty { write(Data(), ".keep", in: "hmdb") }
    let entry = DatasetEntry.fuzz(format: .hmdb51, keys: ["annotations": folder])
    for split in [SplitName.train, .test] {
        do { _ = try Dataset.load(entry, split: split) } catch { expectNamed(error, files, "hmdb51") }
    }
    return 0
}
