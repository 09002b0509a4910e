import Foundation
import Media
import Yams

/// The five dataset formats the suite reads.
public enum DatasetFormat: String, Codable, Sendable, CaseIterable {
    case kinetics400, ucf101, hmdb51, ava, epic55
}

/// Decode options of a manifest entry (`decode:` mapping).
public struct DecodeOptions: Codable, Sendable, Equatable {
    /// Resize so the shorter side is this many pixels (nil keeps the stored size).
    public var shortSide: Int?
    /// Resample to this frame rate (nil keeps the native rate).
    public var fps: Double?
    /// swscale resize filter (`bilinear` by default).
    public var filter: ScaleFilter?

    enum CodingKeys: String, CodingKey {
        case shortSide = "short_side", fps, filter
    }

    public init(shortSide: Int? = nil, fps: Double? = nil, filter: ScaleFilter? = nil) {
        self.shortSide = shortSide
        self.fps = fps
        self.filter = filter
    }

    public var spec: DecodeSpec { DecodeSpec(shortSide: shortSide, fps: fps, filter: filter ?? .bilinear) }
}

/// One dataset of `datasets.yaml`. Paths are resolved against the manifest's folder after
/// `{scale}` substitution; which keys a format needs is listed in `DatasetEntry.requiredKeys`.
///
/// | key | formats | meaning |
/// | --- | --- | --- |
/// | `name`, `format`, `root` | all | id, format, folder of videos / frame folders |
/// | `split` | ucf101, hmdb51 | official split 1, 2 or 3 (default 1) |
/// | `annotations` | ucf101, hmdb51 | folder of split files (`ucfTrainTestlist/`, `testTrainMulti_7030_splits/`) |
/// | `train`, `test` | kinetics400, ava | annotation CSV of each split |
/// | `train` | epic55 | `EPIC_train_action_labels.csv` |
/// | `test` | epic55 | optional list of held-out video ids (one per line) |
/// | `label_map` | ava | action list pbtxt |
/// | `train_exclusions`, `test_exclusions` | ava | optional excluded-timestamps CSVs |
/// | `train_proposals`, `test_proposals` | ava | optional person-proposal CSVs |
/// | `verb_classes`, `noun_classes`, `video_info` | epic55 | class lists; optional per-video fps |
/// | `decode` | all | `{short_side, fps, filter}` |
public struct DatasetEntry: Codable, Sendable, Equatable {
    public var name: String
    public var format: DatasetFormat
    public var root: String
    public var split: Int?
    public var annotations: String?
    public var train: String?
    public var test: String?
    public var labelMap: String?
    public var trainExclusions: String?
    public var testExclusions: String?
    public var trainProposals: String?
    public var testProposals: String?
    public var verbClasses: String?
    public var nounClasses: String?
    public var videoInfo: String?
    public var decode: DecodeOptions?

    /// The manifest this entry came from and the line of each key (for error messages);
    /// not part of the YAML.
    public var origin = Origin()

    public struct Origin: Sendable, Equatable {
        public var file = ""
        public var line: Int?
        public var keyLines: [String: Int] = [:]
        public init() {}
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case name, format, root, split, annotations, train, test
        case labelMap = "label_map"
        case trainExclusions = "train_exclusions", testExclusions = "test_exclusions"
        case trainProposals = "train_proposals", testProposals = "test_proposals"
        case verbClasses = "verb_classes", nounClasses = "noun_classes", videoInfo = "video_info"
        case decode
    }

    public init(name: String, format: DatasetFormat, root: String) {
        self.name = name
        self.format = format
        self.root = root
    }

    /// Keys a format needs besides `name`, `format` and `root`.
    public static func requiredKeys(_ format: DatasetFormat) -> [String] {
        switch format {
        case .kinetics400: return ["train", "test"]
        case .ucf101, .hmdb51: return ["annotations"]
        case .ava: return ["train", "test", "label_map"]
        case .epic55: return ["train", "verb_classes", "noun_classes"]
        }
    }

    /// Keys meaningful for a format (all others are rejected).
    static func allowedKeys(_ format: DatasetFormat) -> Set<String> {
        var keys: Set<String> = ["name", "format", "root", "decode"]
        switch format {
        case .kinetics400: keys.formUnion(["train", "test"])
        case .ucf101, .hmdb51: keys.formUnion(["annotations", "split"])
        case .ava: keys.formUnion(["train", "test", "label_map", "train_exclusions", "test_exclusions",
                                   "train_proposals", "test_proposals"])
        case .epic55: keys.formUnion(["train", "test", "verb_classes", "noun_classes", "video_info"])
        }
        return keys
    }

    /// The annotation files and folders a format may name, declared once: path resolution,
    /// path checks and the dataset's identity all read this list.
    nonisolated(unsafe) static let annotationKeys: [(String, WritableKeyPath<DatasetEntry, String?>)] = [
        ("annotations", \.annotations), ("train", \.train), ("test", \.test), ("label_map", \.labelMap),
        ("train_exclusions", \.trainExclusions), ("test_exclusions", \.testExclusions),
        ("train_proposals", \.trainProposals), ("test_proposals", \.testProposals),
        ("verb_classes", \.verbClasses), ("noun_classes", \.nounClasses), ("video_info", \.videoInfo),
    ]

    /// The annotation files (and folders) this entry names, by manifest key.
    public var annotationFiles: [(key: String, path: String)] {
        Self.annotationKeys.compactMap { key, path in self[keyPath: path].map { (key, $0) } }
    }

    /// Path-valued keys and their values.
    var pathKeys: [(String, String?)] {
        [("root", root)] + Self.annotationKeys.map { ($0.0, self[keyPath: $0.1]) }
    }

    /// A manifest error about `key` of this entry.
    func error(_ key: String?, _ detail: String) -> DatasetError {
        .manifest(file: origin.file, line: key.flatMap { origin.keyLines[$0] } ?? origin.line, key: key,
                  detail: "dataset '\(name)': \(detail)")
    }

    /// The official split number (1 by default).
    public var splitNumber: Int { split ?? 1 }
}

/// `datasets.yaml`: `datasets:` is a list of `DatasetEntry` mappings.
public struct DatasetManifest: Sendable, Equatable {
    public var file: String
    public var datasets: [DatasetEntry]

    /// Reads and validates a manifest: syntax, known keys per format, value types, required
    /// keys, unique names, and that every path exists. `scale` replaces `{scale}` in paths;
    /// relative paths are resolved against the manifest's folder. Errors name the file, the
    /// line and the key.
    public static func load(_ path: String, scale: String = "ci", checkPaths: Bool = true) throws(DatasetError) -> DatasetManifest {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw .manifest(file: path, line: nil, key: nil, detail: "no such manifest file")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw .manifest(file: path, line: nil, key: nil, detail: "not UTF-8 text")
        }
        var manifest = try parse(text, file: path, scale: scale)
        let base = (path as NSString).deletingLastPathComponent
        for i in manifest.datasets.indices {
            manifest.datasets[i].resolvePaths(relativeTo: base.isEmpty ? "." : base)
            if checkPaths { try manifest.datasets[i].checkPaths() }
        }
        return manifest
    }

    /// Parses manifest text (no path resolution or existence checks).
    public static func parse(_ text: String, file: String, scale: String = "ci") throws(DatasetError) -> DatasetManifest {
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch let e as YamlError {
            throw .manifest(file: file, line: YamlSupport.line(of: e), key: nil, detail: "YAML syntax: \(YamlSupport.problem(of: e))")
        } catch {
            throw .manifest(file: file, line: nil, key: nil, detail: "YAML: \(error)")
        }
        guard let root, let top = root.mapping else {
            throw .manifest(file: file, line: root?.mark?.line, key: nil, detail: "expected a mapping with a 'datasets' list")
        }
        var list: Node.Sequence?
        for (k, v) in top {
            guard let key = k.string else { continue }
            guard key == "datasets" else {
                throw .manifest(file: file, line: k.mark?.line, key: key, detail: "unknown key (expected 'datasets')")
            }
            if v.null != nil { list = Node.Sequence([]); continue }
            guard let seq = v.sequence else {
                throw .manifest(file: file, line: v.mark?.line, key: key, detail: "expected a list of datasets")
            }
            list = seq
        }
        guard let list else { throw .manifest(file: file, line: 1, key: "datasets", detail: "missing required key") }
        var entries: [DatasetEntry] = []
        var seen: [String: Int] = [:]
        for item in list {
            let entry = try parseEntry(item, file: file, scale: scale)
            if let first = seen[entry.name] {
                throw entry.error("name", "duplicate name (first defined at line \(first))")
            }
            seen[entry.name] = entry.origin.keyLines["name"] ?? 0
            entries.append(entry)
        }
        return DatasetManifest(file: file, datasets: entries)
    }

    static func parseEntry(_ node: Node, file: String, scale: String) throws(DatasetError) -> DatasetEntry {
        guard let map = node.mapping else {
            throw .manifest(file: file, line: node.mark?.line, key: nil, detail: "a dataset entry must be a mapping")
        }
        var lines: [String: Int] = [:]
        var values: [String: Node] = [:]
        for (k, v) in map {
            guard let key = k.string else {
                throw .manifest(file: file, line: k.mark?.line, key: nil, detail: "keys must be strings")
            }
            lines[key] = k.mark?.line
            values[key] = v
        }
        func fail(_ key: String?, _ detail: String) -> DatasetError {
            .manifest(file: file, line: key.flatMap { lines[$0] } ?? node.mark?.line, key: key, detail: detail)
        }
        func string(_ key: String) throws(DatasetError) -> String? {
            guard let v = values[key] else { return nil }
            guard let s = v.scalar?.string, !s.isEmpty else {
                throw fail(key, "expected a non-empty string")
            }
            return s.replacingOccurrences(of: "{scale}", with: scale)
        }
        guard let formatText = try string("format") else { throw fail(nil, "missing required key 'format'") }
        guard let format = DatasetFormat(rawValue: formatText) else {
            throw fail("format", "unknown format '\(formatText)' (expected one of \(DatasetFormat.allCases.map(\.rawValue).joined(separator: " | ")))")
        }
        let allowed = DatasetEntry.allowedKeys(format)
        for (k, _) in map {
            let key = k.string!
            guard allowed.contains(key) else {
                let all = Set(DatasetEntry.CodingKeys.allCases.map(\.rawValue))
                let why = all.contains(key) ? "not used by format \(format.rawValue)" : "unknown key"
                throw fail(key, "\(why) (allowed: \(allowed.sorted().joined(separator: ", ")))")
            }
        }
        guard let name = try string("name") else { throw fail(nil, "missing required key 'name'") }
        guard let root = try string("root") else { throw fail(nil, "missing required key 'root'") }
        var entry = DatasetEntry(name: name, format: format, root: root)
        entry.annotations = try string("annotations")
        entry.train = try string("train")
        entry.test = try string("test")
        entry.labelMap = try string("label_map")
        entry.trainExclusions = try string("train_exclusions")
        entry.testExclusions = try string("test_exclusions")
        entry.trainProposals = try string("train_proposals")
        entry.testProposals = try string("test_proposals")
        entry.verbClasses = try string("verb_classes")
        entry.nounClasses = try string("noun_classes")
        entry.videoInfo = try string("video_info")
        if let v = values["split"] {
            guard let n = v.scalar.flatMap({ Int.construct(from: $0) }), (1...3).contains(n) else {
                throw fail("split", "expected an official split number 1, 2 or 3")
            }
            entry.split = n
        }
        if let v = values["decode"] {
            guard let m = v.mapping else { throw fail("decode", "expected a mapping {short_side, fps, filter}") }
            var d = DecodeOptions()
            for (k, dv) in m {
                let key = k.string ?? ""
                let line = k.mark?.line
                switch key {
                case "short_side":
                    guard let n = dv.scalar.flatMap({ Int.construct(from: $0) }), n > 0 else {
                        throw .manifest(file: file, line: line, key: "decode.short_side", detail: "expected a positive integer")
                    }
                    d.shortSide = n
                case "fps":
                    guard let x = dv.scalar.flatMap({ Double.construct(from: $0) }), x > 0, x.isFinite else {
                        throw .manifest(file: file, line: line, key: "decode.fps", detail: "expected a positive number")
                    }
                    d.fps = x
                case "filter":
                    guard let s = dv.scalar?.string, let f = ScaleFilter(rawValue: s) else {
                        throw .manifest(file: file, line: line, key: "decode.filter",
                                        detail: "expected one of \(ScaleFilter.allCases.map(\.rawValue).joined(separator: ", "))")
                    }
                    d.filter = f
                default:
                    throw .manifest(file: file, line: line, key: "decode.\(key)", detail: "unknown key (allowed: short_side, fps, filter)")
                }
            }
            entry.decode = d
        }
        entry.origin.file = file
        entry.origin.line = node.mark?.line
        entry.origin.keyLines = lines
        for key in DatasetEntry.requiredKeys(format) where values[key] == nil {
            throw fail(nil, "dataset '\(name)': missing required key '\(key)' for format \(format.rawValue)")
        }
        return entry
    }

    /// The entry called `name`.
    public func entry(_ name: String) throws(DatasetError) -> DatasetEntry {
        guard let e = datasets.first(where: { $0.name == name }) else {
            throw .manifest(file: file, line: nil, key: nil,
                            detail: "no dataset named '\(name)' (have: \(datasets.map(\.name).joined(separator: ", ")))")
        }
        return e
    }
}

extension DatasetEntry {
    mutating func resolvePaths(relativeTo base: String) {
        func resolve(_ p: String?) -> String? {
            guard let p else { return nil }
            if p.hasPrefix("/") { return p }
            let expanded = (p as NSString).expandingTildeInPath
            if expanded.hasPrefix("/") { return expanded }
            return base == "." ? p : (base as NSString).appendingPathComponent(p)
        }
        root = resolve(root)!
        for (_, path) in Self.annotationKeys { self[keyPath: path] = resolve(self[keyPath: path]) }
    }

    /// Every path-valued key must name an existing file or folder.
    public func checkPaths() throws(DatasetError) {
        for (key, value) in pathKeys {
            guard let value else { continue }
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: value, isDirectory: &isDir) else {
                throw error(key, "\(value) does not exist")
            }
            let wantsDir = key == "root" || key == "annotations"
            if wantsDir != isDir.boolValue {
                throw error(key, "\(value) is \(isDir.boolValue ? "a folder" : "a file"), expected \(wantsDir ? "a folder" : "a file")")
            }
        }
    }
}

/// Line numbers out of Yams' errors.
enum YamlSupport {
    static func line(of e: YamlError) -> Int? {
        switch e {
        case .scanner(_, _, let mark, _), .parser(_, _, let mark, _), .composer(_, _, let mark, _): return mark.line
        default: return nil
        }
    }

    static func problem(of e: YamlError) -> String {
        switch e {
        case .scanner(let c, let p, _, _), .parser(let c, let p, _, _), .composer(let c, let p, _, _):
            return c.map { "\($0.text): \(p)" } ?? p
        default: return "\(e)"
        }
    }
}
