import Foundation

/// Epic-Kitchens-55 (action anticipation). `train`: `EPIC_train_action_labels.csv` (columns
/// `uid,participant_id,video_id,narration,start_timestamp,stop_timestamp,start_frame,
/// stop_frame,verb,verb_class,noun,noun_class,all_nouns,all_noun_classes`, timestamps
/// `HH:MM:SS.ss`); `verb_classes` / `noun_classes`: `EPIC_verb_classes.csv` /
/// `EPIC_noun_classes.csv` (`id,class_key,…`); `video_info` (optional):
/// `EPIC_video_info.csv` (`video,resolution,duration,fps`) for per-video frame rates, 60
/// otherwise. Frames: `<root>/<participant>/<video>/frame_%010d.jpg` (1-based numbers).
/// Test labels are not public, so `test` names a file of held-out video ids; without it
/// every 7th video in sorted order is held out (**choice**: about 40 of the 272 videos, as in
/// the paper's 232 / 40 split).
public enum EpicAdapter {
    public static let header = ["uid", "participant_id", "video_id", "narration", "start_timestamp", "stop_timestamp",
                                "start_frame", "stop_frame", "verb", "verb_class", "noun", "noun_class",
                                "all_nouns", "all_noun_classes"]
    public static let defaultFPS = 60.0
    public static let framePattern = "frame_%010d.jpg"

    /// Seconds of `HH:MM:SS.ss` (also `MM:SS.ss`, or plain seconds).
    public static func seconds(_ text: String, file: String, line: Int) throws(DatasetError) -> Double {
        let parts = text.trimmingCharacters(in: .whitespaces).split(separator: ":", omittingEmptySubsequences: false)
        guard (1...3).contains(parts.count) else {
            throw .annotation(file: file, line: line, detail: "timestamp '\(text)' is not HH:MM:SS.ss")
        }
        var total = 0.0
        for (i, p) in parts.enumerated() {
            // `v < 60` before `Int(v)`: a huge hour count is an error, not a conversion trap.
            guard let v = Double(p), v >= 0, v.isFinite, i == parts.count - 1 || i == 0 || (v < 60 && Double(Int(v)) == v) else {
                throw .annotation(file: file, line: line, detail: "timestamp '\(text)' is not HH:MM:SS.ss")
            }
            if i > 0 && v >= 60 { throw .annotation(file: file, line: line, detail: "timestamp '\(text)' has a field ≥ 60") }
            total = total * 60 + v
        }
        guard total <= 1e9 else { throw .annotation(file: file, line: line, detail: "timestamp '\(text)' is out of range (over 10⁹ s)") }
        return total
    }

    /// `HH:MM:SS.ss` of a time in seconds.
    public static func timestamp(_ t: Double) -> String {
        let cs = Int((t * 100).rounded())
        let h = cs / 360_000, m = (cs / 6000) % 60, s = (cs / 100) % 60, c = cs % 100
        func two(_ v: Int) -> String { v < 10 ? "0\(v)" : "\(v)" }
        return "\(two(h)):\(two(m)):\(two(s)).\(two(c))"
    }

    static func classList(_ path: String) throws(DatasetError) -> [String] {
        var byID: [Int: String] = [:]
        let rows = try TextTable.csv(path, minFields: 2)
        for (i, r) in rows.enumerated() {
            if i == 0, Int(r.fields[0]) == nil { continue }  // header
            let id = try TextTable.int(r.fields[0], "class id", file: path, line: r.line)
            guard byID[id] == nil else { throw .annotation(file: path, line: r.line, detail: "duplicate class id \(id)") }
            byID[id] = r.fields[1]
        }
        let n = byID.count
        guard n > 0, byID.keys.sorted() == Array(0..<n) else {
            throw .annotation(file: path, line: nil, detail: "class ids are not 0..<\(n)")
        }
        return (0..<n).map { byID[$0]! }
    }

    static func videoFPS(_ path: String) throws(DatasetError) -> [String: Double] {
        try videoInfo(path).mapValues(\.fps)
    }

    /// Per video: frame rate and duration in seconds (`EPIC_video_info.csv`).
    static func videoInfo(_ path: String) throws(DatasetError) -> [String: (fps: Double, duration: Double)] {
        var out: [String: (fps: Double, duration: Double)] = [:]
        for r in try TextTable.csv(path, header: ["video", "resolution", "duration", "fps"], minFields: 4) {
            let fps = try TextTable.double(r.fields[3], "fps", file: path, line: r.line)
            guard fps > 0 else { throw .annotation(file: path, line: r.line, detail: "fps must be positive") }
            let duration = try TextTable.double(r.fields[2], "duration", file: path, line: r.line)
            guard duration > 0 else { throw .annotation(file: path, line: r.line, detail: "duration must be positive") }
            out[r.fields[0].trimmingCharacters(in: .whitespaces)] = (fps, duration)
        }
        return out
    }

    static func load(_ entry: DatasetEntry, split: SplitName) throws(DatasetError) -> DatasetSplit {
        let verbs = try classList(try Dataset.required(entry.verbClasses, "verb_classes", entry))
        let nouns = try classList(try Dataset.required(entry.nounClasses, "noun_classes", entry))
        let info = try entry.videoInfo.map { (p) throws(DatasetError) in try videoInfo(p) } ?? [:]
        let fpsByVideo = info.mapValues(\.fps)
        let csv = try Dataset.required(entry.train, "train", entry)
        var segments: [String: [EpicSegment]] = [:]
        var participant: [String: String] = [:]
        var uids = Set<Int>()
        for r in try TextTable.csv(csv, header: Array(header.prefix(12)), minFields: 12) {
            let f = r.fields
            let uid = try TextTable.int(f[0], "uid", file: csv, line: r.line)
            guard uids.insert(uid).inserted else { throw .annotation(file: csv, line: r.line, detail: "duplicate uid \(uid)") }
            let video = f[2].trimmingCharacters(in: .whitespaces)
            participant[video] = f[1].trimmingCharacters(in: .whitespaces)
            let start = try seconds(f[4], file: csv, line: r.line)
            let stop = try seconds(f[5], file: csv, line: r.line)
            guard stop >= start else { throw .annotation(file: csv, line: r.line, detail: "stop_timestamp is before start_timestamp") }
            // Past the video's end (beyond one frame of rounding) the segment cannot be observed.
            if let v = info[video], stop > v.duration + 1 / v.fps {
                throw .annotation(file: csv, line: r.line,
                                  detail: "stop_timestamp \(f[5]) is past the end of \(video) (\(v.duration) s in \(entry.videoInfo ?? "video_info"))")
            }
            let verb = try TextTable.int(f[9], "verb_class", file: csv, line: r.line)
            let noun = try TextTable.int(f[11], "noun_class", file: csv, line: r.line)
            guard verbs.indices.contains(verb) else { throw .annotation(file: csv, line: r.line, detail: "verb_class \(verb) is not in the verb classes") }
            guard nouns.indices.contains(noun) else { throw .annotation(file: csv, line: r.line, detail: "noun_class \(noun) is not in the noun classes") }
            segments[video, default: []].append(EpicSegment(
                uid: uid, narration: f[3], start: start, stop: stop,
                startFrame: try TextTable.int(f[6], "start_frame", file: csv, line: r.line),
                stopFrame: try TextTable.int(f[7], "stop_frame", file: csv, line: r.line), verb: verb, noun: noun))
        }
        let videos = segments.keys.sorted()
        let held: Set<String>
        if let list = entry.test {
            held = Set(try TextTable.words(list).map { $0.fields[0] })
        } else {
            held = Set(videos.enumerated().filter { $0.offset % 7 == 6 }.map(\.element))
        }
        var records: [VideoRecord] = []
        for video in videos where held.contains(video) == (split == .test) {
            let folder = Dataset.join(Dataset.join(entry.root, participant[video]!), video)
            records.append(VideoRecord(id: video, source: folder, isFrameFolder: true, fps: fpsByVideo[video] ?? defaultFPS,
                                       segments: segments[video]!.sorted { ($0.start, $0.uid) < ($1.start, $1.uid) }))
        }
        return DatasetSplit(dataset: entry.name, format: .epic55, split: split, records: records, classes: verbs, nouns: nouns)
    }
}
