import Foundation

/// UCF-101. `annotations` is the `ucfTrainTestlist` folder: `classInd.txt` (`id Class`,
/// 1-based), `trainlist0N.txt` (`Class/v_Class_gGG_cCC.avi label`), `testlist0N.txt`
/// (path only; the label comes from the folder). Videos: `<root>/<Class>/v_<Class>_gGG_cCC.avi`.
/// Quirk: folder `HandstandPushups` holds `v_HandStandPushups_*` files; the class is always
/// taken from the folder, never from the file name. The lists have CRLF line endings.
public enum UCF101Adapter {
    static func classIndex(_ path: String) throws(DatasetError) -> [String] {
        var byID: [Int: String] = [:]
        for r in try TextTable.words(path) {
            guard r.fields.count == 2 else {
                throw .annotation(file: path, line: r.line, detail: "expected 'id Class', found \(r.fields.joined(separator: " "))")
            }
            let id = try TextTable.int(r.fields[0], "class id", file: path, line: r.line)
            guard id >= 1 else { throw .annotation(file: path, line: r.line, detail: "class ids are 1-based, found \(id)") }
            guard byID[id] == nil else { throw .annotation(file: path, line: r.line, detail: "duplicate class id \(id)") }
            if let other = byID.first(where: { $0.value == r.fields[1] })?.key {
                throw .annotation(file: path, line: r.line, detail: "class '\(r.fields[1])' listed twice (ids \(other) and \(id))")
            }
            byID[id] = r.fields[1]
        }
        guard !byID.isEmpty else { throw .annotation(file: path, line: nil, detail: "no classes") }
        let n = byID.count
        guard byID.keys.sorted() == Array(1...n) else {
            throw .annotation(file: path, line: nil, detail: "class ids are not 1...\(n)")
        }
        return (1...n).map { byID[$0]! }
    }

    static func load(_ entry: DatasetEntry, split: SplitName) throws(DatasetError) -> DatasetSplit {
        let folder = try Dataset.required(entry.annotations, "annotations", entry)
        let classes = try classIndex(Dataset.join(folder, "classInd.txt"))
        let index = Dictionary(uniqueKeysWithValues: classes.enumerated().map { ($1, $0) })
        let list = Dataset.join(folder, "\(split == .train ? "trainlist" : "testlist")0\(entry.splitNumber).txt")
        var records: [VideoRecord] = []
        var seen = Set<String>()
        for r in try TextTable.words(list) {
            let path = r.fields[0]
            let parts = path.split(separator: "/")
            guard parts.count == 2 else {
                throw .annotation(file: list, line: r.line, detail: "expected 'Class/v_Class_gGG_cCC.avi', found '\(path)'")
            }
            let cls = String(parts[0])
            guard let label = index[cls] else {
                throw .annotation(file: list, line: r.line, detail: "class folder '\(cls)' is not in classInd.txt")
            }
            if split == .train {
                guard r.fields.count >= 2 else {
                    throw .annotation(file: list, line: r.line, detail: "expected 'path label'")
                }
                let given = try TextTable.int(r.fields[1], "label", file: list, line: r.line)
                guard given == label + 1 else {
                    throw .annotation(file: list, line: r.line,
                                      detail: "label \(given) disagrees with classInd.txt, where '\(cls)' is \(label + 1)")
                }
            }
            let id = (path as NSString).deletingPathExtension
            guard seen.insert(id).inserted else { throw .annotation(file: list, line: r.line, detail: "duplicate video \(path)") }
            records.append(VideoRecord(id: id, source: Dataset.join(entry.root, path), label: label))
        }
        return DatasetSplit(dataset: entry.name, format: .ucf101, split: split, records: records, classes: classes)
    }
}
