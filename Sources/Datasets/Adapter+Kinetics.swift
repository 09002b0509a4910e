import Foundation

/// Kinetics-400. Annotation CSVs (header `label,youtube_id,time_start,time_end,split[,is_cc]`)
/// for `train` and `test` (point `test` at the `val` CSV). Videos:
/// `<root>/<split column>/<label>/<youtube_id>_<start:06d>_<end:06d>.mp4`; labels keep their
/// spaces (`playing guitar`), and a folder with underscores (`playing_guitar`) or a layout
/// without the split folder (`<root>/<label>/…`) is accepted when it is the one on disk.
/// Class ids: the sorted labels of the train CSV.
public enum KineticsAdapter {
    public static let header = ["label", "youtube_id", "time_start", "time_end", "split"]
    /// The largest clip time accepted (seconds; a YouTube video is far shorter).
    public static let maxSeconds = 1e9

    /// `<youtube_id>_<start:06d>_<end:06d>.mp4`.
    public static func fileName(youtubeID: String, start: Int, end: Int) -> String {
        youtubeID + "_" + pad6(start) + "_" + pad6(end) + ".mp4"
    }

    static func pad6(_ v: Int) -> String {
        let s = String(v)
        return String(repeating: "0", count: max(0, 6 - s.count)) + s
    }

    struct Row { var label: String; var id: String; var start: Int; var end: Int; var split: String; var line: Int }

    static func rows(_ path: String) throws(DatasetError) -> [Row] {
        var out: [Row] = []
        for r in try TextTable.csv(path, header: header, minFields: 5) {
            let f = r.fields
            let label = f[0].trimmingCharacters(in: .whitespaces)
            guard !label.isEmpty else { throw .annotation(file: path, line: r.line, detail: "empty label") }
            let id = f[1].trimmingCharacters(in: .whitespaces)
            guard !id.isEmpty else { throw .annotation(file: path, line: r.line, detail: "empty youtube_id") }
            let s = try TextTable.double(f[2], "time_start", file: path, line: r.line)
            let e = try TextTable.double(f[3], "time_end", file: path, line: r.line)
            guard e > s else { throw .annotation(file: path, line: r.line, detail: "time_end \(f[3]) is not after time_start \(f[2])") }
            // Whole seconds name the clip's file; beyond this range they are no clip time
            // (and would not convert to an integer).
            guard s >= 0, e <= maxSeconds else {
                throw .annotation(file: path, line: r.line, detail: "time_start \(f[2]) / time_end \(f[3]) are not seconds in 0…\(Int(maxSeconds))")
            }
            out.append(Row(label: label, id: id, start: Int(s), end: Int(e), split: f[4].trimmingCharacters(in: .whitespaces), line: r.line))
        }
        return out
    }

    static func load(_ entry: DatasetEntry, split: SplitName) throws(DatasetError) -> DatasetSplit {
        let trainCSV = try Dataset.required(entry.train, "train", entry)
        let trainRows = try rows(trainCSV)
        let classes = Array(Set(trainRows.map(\.label))).sorted()
        let index = Dictionary(uniqueKeysWithValues: classes.enumerated().map { ($1, $0) })
        let csv = split == .train ? trainCSV : try Dataset.required(entry.test, "test", entry)
        let splitRows = split == .train ? trainRows : try rows(csv)
        var records: [VideoRecord] = []
        var seen = Set<String>()
        var folderCache: [String: String] = [:]
        for r in splitRows {
            guard let label = index[r.label] else {
                throw .annotation(file: csv, line: r.line, detail: "label '\(r.label)' does not occur in the train CSV \(trainCSV)")
            }
            let name = fileName(youtubeID: r.id, start: r.start, end: r.end)
            let key = r.split + "/" + r.label
            let folder: String
            if let f = folderCache[key] {
                folder = f
            } else {
                folder = labelFolder(root: entry.root, split: r.split, label: r.label)
                folderCache[key] = folder
            }
            let id = r.label + "/" + (name as NSString).deletingPathExtension
            guard seen.insert(id).inserted else {
                throw .annotation(file: csv, line: r.line, detail: "duplicate clip \(id)")
            }
            records.append(VideoRecord(id: id, source: Dataset.join(folder, name), label: label))
        }
        return DatasetSplit(dataset: entry.name, format: .kinetics400, split: split, records: records, classes: classes)
    }

    /// The folder holding a label's clips: the first that exists of `<root>/<split>/<label>`,
    /// the same with underscores, `<root>/<label>`, `<root>/<label with underscores>`; the
    /// first when none does.
    static func labelFolder(root: String, split: String, label: String) -> String {
        let underscored = label.replacingOccurrences(of: " ", with: "_")
        var candidates: [String] = []
        if !split.isEmpty {
            candidates += [Dataset.join(Dataset.join(root, split), label), Dataset.join(Dataset.join(root, split), underscored)]
        }
        candidates += [Dataset.join(root, label), Dataset.join(root, underscored)]
        return candidates.first(where: Dataset.isDirectory) ?? candidates[0]
    }
}
