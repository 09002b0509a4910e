import Foundation

/// HMDB-51. `annotations` is the `testTrainMulti_7030_splits` folder, one file per class and
/// split: `<class>_test_split<N>.txt` with lines `<name>.avi <code>`, code 1 = train,
/// 2 = test, 0 = unused. Videos: `<root>/<class>/<name>.avi`. Class ids: the class (folder)
/// names sorted bytewise, taken from the split files (the same names as the folders).
public enum HMDB51Adapter {
    public static let suffix = "_test_split"

    /// Classes and their split files for split `n`.
    static func splitFiles(_ folder: String, split n: Int) throws(DatasetError) -> [(String, String)] {
        let names: [String]
        do { names = try FileManager.default.contentsOfDirectory(atPath: folder) } catch {
            throw .missingFile(file: folder, detail: "HMDB-51 split folder")
        }
        let tail = "\(suffix)\(n).txt"
        let found = names.filter { $0.hasSuffix(tail) }.map { (String($0.dropLast(tail.count)), Dataset.join(folder, $0)) }
        guard !found.isEmpty else {
            throw .annotation(file: folder, line: nil, detail: "no <class>\(tail) files")
        }
        return found.sorted { Array($0.0.utf8).lexicographicallyPrecedes(Array($1.0.utf8)) }
    }

    static func load(_ entry: DatasetEntry, split: SplitName) throws(DatasetError) -> DatasetSplit {
        let folder = try Dataset.required(entry.annotations, "annotations", entry)
        let files = try splitFiles(folder, split: entry.splitNumber)
        let want = split == .train ? 1 : 2
        var records: [VideoRecord] = []
        for (label, (cls, file)) in files.enumerated() {
            for r in try TextTable.words(file) {
                guard r.fields.count == 2 else {
                    throw .annotation(file: file, line: r.line, detail: "expected '<name>.avi <code>', found '\(r.fields.joined(separator: " "))'")
                }
                let code = try TextTable.int(r.fields[1], "split code", file: file, line: r.line)
                guard (0...2).contains(code) else {
                    throw .annotation(file: file, line: r.line, detail: "split code \(code) is not 0 (unused), 1 (train) or 2 (test)")
                }
                guard code == want else { continue }
                let name = r.fields[0]
                records.append(VideoRecord(id: cls + "/" + (name as NSString).deletingPathExtension,
                                           source: Dataset.join(Dataset.join(entry.root, cls), name), label: label))
            }
        }
        return DatasetSplit(dataset: entry.name, format: .hmdb51, split: split, records: records, classes: files.map(\.0))
    }
}
