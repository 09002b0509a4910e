import Foundation

/// AVA v2.2. Ground-truth CSVs without header, one row per (box, action):
/// `video_id,timestamp,x1,y1,x2,y2,action_id,person_id`, coordinates in [0, 1]. Keyframes are
/// at 1 Hz, seconds 902–1798; with frames extracted at 30 fps from second 900, keyframe
/// `sec` is frame `(sec − 900) · 30` (0-based; file number + 1 in `<id>/<id>_%06d.jpg`).
/// `label_map`: the action-list pbtxt (`item { name: "…" id: N }`, or `label_id: N`); rows
/// whose action is not in it are dropped, as the official evaluator does. Excluded-timestamps
/// CSVs (`video_id,timestamp`) remove keyframes. Proposal CSVs: `video_id,timestamp,x1,y1,x2,y2,
/// [action_id,]score`. Sources: `<root>/<video_id>/` frame folders, else
/// `<root>/<video_id>.{mp4,mkv,webm,avi}`.
public enum AVAAdapter {
    public static let frameRate = 30.0
    public static let firstSecond = 902
    public static let lastSecond = 1798
    /// The 60 classes the official v2.2 evaluation scores.
    public static let evaluatedActions: [Int] = [1, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 17, 20, 22, 24, 26, 27, 28, 29,
                                                  30, 34, 36, 37, 38, 41, 43, 45, 46, 47, 48, 49, 51, 52, 54, 56, 57, 58, 59, 60,
                                                  61, 62, 63, 64, 65, 66, 67, 68, 69, 70, 72, 73, 74, 76, 77, 78, 79, 80]

    /// 0-based frame index of keyframe second `sec`.
    public static func frameIndex(second sec: Int) -> Int { (sec - 900) * Int(frameRate) }

    /// Frame file name pattern inside a video's folder.
    public static func framePattern(videoID: String) -> String { videoID + "_%06d.jpg" }

    struct Key: Hashable { var video: String; var second: Int }

    /// Parses a box row's coordinates.
    static func box(_ f: [String], file: String, line: Int) throws(DatasetError) -> (Double, Double, Double, Double) {
        var c: [Double] = []
        for (i, name) in ["x1", "y1", "x2", "y2"].enumerated() {
            c.append(try TextTable.double(f[2 + i], name, file: file, line: line))
        }
        if let problem = boxProblem(c) { throw .annotation(file: file, line: line, detail: problem) }
        c = c.map { min(1, max(0, $0)) }
        return (c[0], c[1], c[2], c[3])
    }

    /// The one rule for an AVA box `[x1, y1, x2, y2]`, shared by the dataset adapter and the
    /// evaluator (`bench eval ava`): normalised coordinates (within 0.001 of [0, 1]),
    /// `x1 ≤ x2` and `y1 ≤ y2`. Nil when the box is valid, else what is wrong.
    public static func boxProblem(_ c: [Double]) -> String? {
        for (v, name) in zip(c, ["x1", "y1", "x2", "y2"]) where !(-0.001...1.001).contains(v) {
            return "\(name) = \(v) is outside [0, 1] (coordinates are normalised)"
        }
        guard c[0] <= c[2], c[1] <= c[3] else { return "box has x1 > x2 or y1 > y2" }
        return nil
    }

    static func second(_ s: String, file: String, line: Int) throws(DatasetError) -> Int {
        let t = try TextTable.int(s, "timestamp", file: file, line: line)
        guard (firstSecond...lastSecond).contains(t) else {
            throw .annotation(file: file, line: line, detail: "timestamp \(t) is outside the keyframe range \(firstSecond)–\(lastSecond)")
        }
        return t
    }

    /// Ground truth: per (video, second), boxes with their merged actions, in file order.
    static func groundTruth(_ path: String, actions: [Int: String]) throws(DatasetError) -> [Key: [AVABox]] {
        var out: [Key: [AVABox]] = [:]
        for r in try TextTable.csv(path, minFields: 7) {
            let f = r.fields
            let video = f[0].trimmingCharacters(in: .whitespaces)
            let sec = try second(f[1], file: path, line: r.line)
            let (x1, y1, x2, y2) = try box(f, file: path, line: r.line)
            let action = try TextTable.int(f[6], "action_id", file: path, line: r.line)
            let person = f.count > 7 && !f[7].isEmpty ? try TextTable.int(f[7], "person_id", file: path, line: r.line) : -1
            let key = Key(video: video, second: sec)
            var boxes = out[key] ?? []
            guard actions[action] != nil else {
                out[key] = boxes  // the keyframe still exists, the action is not scored
                continue
            }
            if let i = boxes.firstIndex(where: { $0.x1 == x1 && $0.y1 == y1 && $0.x2 == x2 && $0.y2 == y2 && $0.personID == person }) {
                if !boxes[i].actions.contains(action) { boxes[i].actions.append(action) }
            } else {
                boxes.append(AVABox(x1: x1, y1: y1, x2: x2, y2: y2, actions: [action], personID: person))
            }
            out[key] = boxes
        }
        return out
    }

    static func proposals(_ path: String) throws(DatasetError) -> [Key: [AVABox]] {
        var out: [Key: [AVABox]] = [:]
        for r in try TextTable.csv(path, minFields: 7) {
            let f = r.fields
            let sec = try second(f[1], file: path, line: r.line)
            let (x1, y1, x2, y2) = try box(f, file: path, line: r.line)
            let score = try TextTable.double(f[f.count >= 8 ? 7 : 6], "score", file: path, line: r.line)
            out[Key(video: f[0].trimmingCharacters(in: .whitespaces), second: sec), default: []]
                .append(AVABox(x1: x1, y1: y1, x2: x2, y2: y2, actions: [], score: score))
        }
        return out
    }

    static func exclusions(_ path: String) throws(DatasetError) -> Set<Key> {
        var out = Set<Key>()
        for r in try TextTable.csv(path, minFields: 2) {
            out.insert(Key(video: r.fields[0].trimmingCharacters(in: .whitespaces),
                           second: try TextTable.int(r.fields[1], "timestamp", file: path, line: r.line)))
        }
        return out
    }

    /// The source of a video: frame folder, else a video file with a known extension.
    static func source(root: String, video: String) -> (String, Bool) {
        let folder = Dataset.join(root, video)
        if Dataset.isDirectory(folder) { return (folder, true) }
        for ext in ["mp4", "mkv", "webm", "avi"] {
            let p = folder + "." + ext
            if Dataset.exists(p) { return (p, false) }
        }
        return (folder, true)
    }

    static func load(_ entry: DatasetEntry, split: SplitName) throws(DatasetError) -> DatasetSplit {
        let map = try LabelMap.read(try Dataset.required(entry.labelMap, "label_map", entry))
        let csv = try Dataset.required(split == .train ? entry.train : entry.test, split.rawValue, entry)
        let gt = try groundTruth(csv, actions: map)
        let props = try (split == .train ? entry.trainProposals : entry.testProposals).map { (p) throws(DatasetError) in try proposals(p) } ?? [:]
        let excluded = try (split == .train ? entry.trainExclusions : entry.testExclusions).map { (p) throws(DatasetError) in try exclusions(p) } ?? []
        var byVideo: [String: [Int]] = [:]
        for key in Set(gt.keys).union(props.keys) { byVideo[key.video, default: []].append(key.second) }
        var records: [VideoRecord] = []
        for video in byVideo.keys.sorted() {
            let seconds = byVideo[video]!.sorted()
            let (src, isFolder) = source(root: entry.root, video: video)
            var record = VideoRecord(id: video, source: src, isFrameFolder: isFolder, fps: frameRate)
            record.excludedSeconds = excluded.filter { $0.video == video }.map(\.second).sorted()
            for sec in seconds {
                let key = Key(video: video, second: sec)
                if excluded.contains(key) { continue }
                record.keyframes.append(AVAKeyframe(second: sec, frameIndex: frameIndex(second: sec),
                                                    boxes: gt[key] ?? [], proposals: props[key] ?? []))
            }
            records.append(record)
        }
        let ids = map.keys.sorted()
        return DatasetSplit(dataset: entry.name, format: .ava, split: split, records: records,
                            classes: ids.map { map[$0]! }, actionNames: map)
    }
}

/// AVA's action-list pbtxt: `item { name: "…" id: N }` blocks (also `label_id: N`, as the
/// ActivityNet 2019 list spells it); other fields (`label_type`) are ignored.
public enum LabelMap {
    public static func read(_ path: String) throws(DatasetError) -> [Int: String] {
        var map: [Int: String] = [:]
        var inItem = false
        var name: String?
        var id: Int?
        var itemLine = 0
        for (n, raw) in try TextTable.lines(path) {
            var rest = Substring(raw.trimmingCharacters(in: .whitespaces))
            while !rest.isEmpty {
                rest = rest.drop(while: { $0 == " " || $0 == "\t" })
                if rest.isEmpty || rest.hasPrefix("#") { break }
                if rest.hasPrefix("item") && !inItem {
                    rest = rest.dropFirst(4).drop(while: { $0 == " " || $0 == "\t" })
                    guard rest.hasPrefix("{") else { throw .annotation(file: path, line: n, detail: "expected '{' after 'item'") }
                    rest = rest.dropFirst()
                    inItem = true; name = nil; id = nil; itemLine = n
                } else if rest.hasPrefix("}") {
                    guard inItem else { throw .annotation(file: path, line: n, detail: "unbalanced '}'") }
                    rest = rest.dropFirst()
                    inItem = false
                    guard let name, let id else {
                        throw .annotation(file: path, line: itemLine, detail: "item without both 'name' and 'id' (or 'label_id')")
                    }
                    guard map[id] == nil else { throw .annotation(file: path, line: itemLine, detail: "duplicate id \(id)") }
                    map[id] = name
                } else if inItem, let colon = rest.firstIndex(of: ":") {
                    let key = rest[..<colon].trimmingCharacters(in: .whitespaces)
                    rest = rest[rest.index(after: colon)...].drop(while: { $0 == " " || $0 == "\t" })
                    var value: String
                    if rest.hasPrefix("\"") {
                        let body = rest.dropFirst()
                        guard let close = body.firstIndex(of: "\"") else {
                            throw .annotation(file: path, line: n, detail: "unterminated string")
                        }
                        value = String(body[..<close])
                        rest = body[body.index(after: close)...]
                    } else {
                        let end = rest.firstIndex(where: { $0 == " " || $0 == "\t" || $0 == "}" }) ?? rest.endIndex
                        value = String(rest[..<end])
                        rest = rest[end...]
                    }
                    switch key {
                    case "name", "display_name": if key == "name" || name == nil { name = value }
                    case "id", "label_id":
                        guard let v = Int(value) else { throw .annotation(file: path, line: n, detail: "\(key) '\(value)' is not an integer") }
                        id = v
                    default: break
                    }
                } else {
                    throw .annotation(file: path, line: n, detail: "unexpected text '\(rest)'")
                }
            }
        }
        if inItem { throw .annotation(file: path, line: itemLine, detail: "item not closed") }
        guard !map.isEmpty else { throw .annotation(file: path, line: nil, detail: "no items") }
        return map
    }
}
