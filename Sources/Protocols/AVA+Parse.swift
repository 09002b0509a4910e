import Datasets
import Foundation

/// Readers of the AVA evaluation files. Every reader has a text form (`parse…`, with the
/// file name used in errors) and a path form (`read…`). Blank lines are skipped; any
/// other line that does not fit throws ``AVAError/malformedLine(file:line:reason:)``.
public enum AVAFiles {
    // MARK: Ground truth and detections

    /// Ground-truth CSV: `video_id,timestamp,x1,y1,x2,y2,action_id[,person_id]`.
    public static func parseGroundTruth(_ text: String, file: String) throws -> [AVAGroundTruthRow] {
        var rows: [AVAGroundTruthRow] = []
        try forEachRecord(text, file: file) { fields, line in
            let common = try commonColumns(fields, file: file, line: line)
            // Ground truth follows the dataset adapter's box rule, so `bench eval ava` and
            // `datasets check` accept the same files (detector boxes may overhang the frame).
            let b = common.box
            if let problem = AVAAdapter.boxProblem([b.x1, b.y1, b.x2, b.y2]) {
                throw AVAError.malformedLine(file: file, line: line, reason: problem)
            }
            let person = fields.count == 8 ? try number(fields[7], "person_id", file: file, line: line) : 1
            rows.append(AVAGroundTruthRow(keyframe: common.keyframe, box: common.box,
                                          actionID: common.actionID, personID: person))
        }
        return rows
    }

    /// Detections CSV: `video_id,timestamp,x1,y1,x2,y2,action_id,score`. A seven-column
    /// row scores 1, as in the official reader.
    public static func parseDetections(_ text: String, file: String) throws -> [AVADetectionRow] {
        var rows: [AVADetectionRow] = []
        try forEachRecord(text, file: file) { fields, line in
            let common = try commonColumns(fields, file: file, line: line)
            let score = fields.count == 8 ? try number(fields[7], "score", file: file, line: line) : 1
            rows.append(AVADetectionRow(keyframe: common.keyframe, box: common.box,
                                        actionID: common.actionID, score: score))
        }
        return rows
    }

    /// Excluded-timestamps CSV: `video_id,timestamp`.
    public static func parseExclusions(_ text: String, file: String) throws -> Set<AVAKeyframe> {
        var keys = Set<AVAKeyframe>()
        try forEachRecord(text, file: file) { fields, line in
            guard fields.count == 2 else {
                throw AVAError.malformedLine(file: file, line: line, reason: "expected 2 columns (video_id,timestamp), found \(fields.count)")
            }
            keys.insert(try keyframe(fields, file: file, line: line))
        }
        return keys
    }

    public static func readGroundTruth(_ path: String) throws -> [AVAGroundTruthRow] {
        try parseGroundTruth(try contents(of: path), file: path)
    }

    public static func readDetections(_ path: String) throws -> [AVADetectionRow] {
        try parseDetections(try contents(of: path), file: path)
    }

    public static func readExclusions(_ path: String) throws -> Set<AVAKeyframe> {
        try parseExclusions(try contents(of: path), file: path)
    }

    public static func readLabelMap(_ path: String) throws -> AVALabelMap {
        try parseLabelMap(try contents(of: path), file: path)
    }

    // MARK: Label map

    /// A pbtxt label map: top-level blocks (`item { … }` or `label { … }`) each holding a
    /// string `name` (or `display_name`) and an integer `id` (or `label_id`); other
    /// fields (`label_type: PERSON_MOVEMENT`) and `#` comments are ignored. Ids must be
    /// positive (the official evaluator requires 1-indexed classes) and unique.
    public static func parseLabelMap(_ text: String, file: String) throws -> AVALabelMap {
        var tokens = PbtxtTokens(text: text, file: file)
        var classes: [AVAClass] = []
        var seen: [Int: Int] = [:]
        while let (token, line) = try tokens.next() {
            guard case .word = token.kind else {
                throw AVAError.malformedLine(file: file, line: line, reason: "expected a block name such as 'item', found '\(token.text)'")
            }
            try tokens.expect(.open, after: token.text)
            var name: String?, id: Int?
            let blockLine = line
            while true {
                guard let (field, fieldLine) = try tokens.next() else {
                    throw AVAError.malformedLine(file: file, line: blockLine, reason: "block '\(token.text)' is not closed")
                }
                if field.kind == .close { break }
                guard field.kind == .word else {
                    throw AVAError.malformedLine(file: file, line: fieldLine, reason: "expected a field name, found '\(field.text)'")
                }
                guard let (next, valueLine) = try tokens.next() else {
                    throw AVAError.malformedLine(file: file, line: fieldLine, reason: "field '\(field.text)' has no value")
                }
                if next.kind == .open {
                    try tokens.skipBlock(openedAt: valueLine)
                    continue
                }
                guard next.kind == .colon, let (value, _) = try tokens.next(), value.kind == .word || value.kind == .string else {
                    throw AVAError.malformedLine(file: file, line: valueLine, reason: "field '\(field.text)' needs ': value'")
                }
                switch field.text {
                case "name", "display_name":
                    guard value.kind == .string else {
                        throw AVAError.malformedLine(file: file, line: valueLine, reason: "\(field.text) must be a quoted string")
                    }
                    if field.text == "name" || name == nil { name = value.text }
                case "id", "label_id":
                    guard value.kind == .word, let n = Int(value.text) else {
                        throw AVAError.malformedLine(file: file, line: valueLine, reason: "\(field.text) '\(value.text)' is not an integer")
                    }
                    guard n >= 1 else {
                        throw AVAError.malformedLine(file: file, line: valueLine, reason: "class ids start at 1, found \(n)")
                    }
                    id = n
                default:
                    continue
                }
            }
            guard let id else {
                throw AVAError.malformedLine(file: file, line: blockLine, reason: "block '\(token.text)' has no id or label_id")
            }
            if let first = seen[id] {
                throw AVAError.malformedLine(file: file, line: blockLine, reason: "class id \(id) already defined on line \(first)")
            }
            seen[id] = blockLine
            classes.append(AVAClass(id: id, name: name ?? ""))
        }
        return AVALabelMap(classes: classes)
    }

    // MARK: Helpers

    static func contents(of path: String) throws -> String {
        do {
            return try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            let reason = FileManager.default.fileExists(atPath: path) ? "\(error.localizedDescription)" : "no such file"
            throw AVAError.unreadable(file: path, reason: reason)
        }
    }

    /// Calls `body(fields, lineNumber)` for every non-blank line, fields split as CSV
    /// (double quotes group, `""` escapes a quote) and trimmed of surrounding blanks.
    static func forEachRecord(_ text: String, file: String,
                              _ body: ([Substring], Int) throws -> Void) throws {
        var lineNumber = 0
        // "\r\n" is a single Character in Swift, so both line ends are separators.
        for rawLine in text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" }) {
            lineNumber += 1
            let line = rawLine.hasSuffix("\r") ? rawLine.dropLast() : rawLine
            if line.allSatisfy({ $0 == " " || $0 == "\t" }) { continue }
            try body(try splitCSV(line, file: file, line: lineNumber), lineNumber)
        }
    }

    static func splitCSV(_ line: Substring, file: String, line number: Int) throws -> [Substring] {
        guard line.contains("\"") else {
            return line.split(separator: ",", omittingEmptySubsequences: false).map(trimmed)
        }
        var fields: [Substring] = []
        var field = "", quoted = false, index = line.startIndex
        while index < line.endIndex {
            let c = line[index]
            if quoted {
                if c == "\"" {
                    let next = line.index(after: index)
                    if next < line.endIndex && line[next] == "\"" { field.append("\""); index = next } else { quoted = false }
                } else {
                    field.append(c)
                }
            } else if c == "\"" {
                quoted = true
            } else if c == "," {
                fields.append(trimmed(Substring(field))); field = ""
            } else {
                field.append(c)
            }
            index = line.index(after: index)
        }
        guard !quoted else { throw AVAError.malformedLine(file: file, line: number, reason: "unterminated quoted field") }
        fields.append(trimmed(Substring(field)))
        return fields
    }

    static func trimmed(_ s: Substring) -> Substring {
        var s = s
        while let f = s.first, f == " " || f == "\t" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" { s = s.dropLast() }
        return s
    }

    static func keyframe(_ fields: [Substring], file: String, line: Int) throws -> AVAKeyframe {
        guard !fields[0].isEmpty else {
            throw AVAError.malformedLine(file: file, line: line, reason: "empty video_id")
        }
        guard let timestamp = Int(fields[1]) else {
            throw AVAError.malformedLine(file: file, line: line, reason: "timestamp '\(fields[1])' is not an integer second")
        }
        return AVAKeyframe(videoID: String(fields[0]), timestamp: timestamp)
    }

    static func number(_ field: Substring, _ what: String, file: String, line: Int) throws -> Double {
        guard let v = Double(field), v.isFinite else {
            throw AVAError.malformedLine(file: file, line: line, reason: "\(what) '\(field)' is not a finite number")
        }
        return v
    }

    static func commonColumns(_ fields: [Substring], file: String, line: Int) throws
        -> (keyframe: AVAKeyframe, box: AVABox, actionID: Int) {
        guard fields.count == 7 || fields.count == 8 else {
            throw AVAError.malformedLine(file: file, line: line,
                                         reason: "expected 7 or 8 columns (video_id,timestamp,x1,y1,x2,y2,action_id[,score or person_id]), found \(fields.count)")
        }
        let key = try keyframe(fields, file: file, line: line)
        let names = ["x1", "y1", "x2", "y2"]
        let c = try (0..<4).map { try number(fields[2 + $0], names[$0], file: file, line: line) }
        guard let action = Int(fields[6]) else {
            throw AVAError.malformedLine(file: file, line: line, reason: "action_id '\(fields[6])' is not an integer")
        }
        return (key, AVABox(x1: c[0], y1: c[1], x2: c[2], y2: c[3]), action)
    }
}

/// A tokenizer for the subset of protobuf text format used by label maps.
struct PbtxtTokens {
    enum Kind: Equatable { case word, string, open, close, colon }
    struct Token { let kind: Kind; let text: String }

    let scalars: [Character]
    let file: String
    var index = 0
    var line = 1

    init(text: String, file: String) {
        self.scalars = Array(text)
        self.file = file
    }

    /// The next token and the line it starts on, or nil at the end.
    mutating func next() throws -> (Token, Int)? {
        while index < scalars.count {
            let c = scalars[index]
            if c == "\n" || c == "\r\n" { line += 1; index += 1; continue }
            if c.isWhitespace || c == "," || c == ";" { index += 1; continue }
            if c == "#" {
                while index < scalars.count && !(scalars[index] == "\n" || scalars[index] == "\r\n") { index += 1 }
                continue
            }
            break
        }
        guard index < scalars.count else { return nil }
        let c = scalars[index], startLine = line
        switch c {
        case "{": index += 1; return (Token(kind: .open, text: "{"), startLine)
        case "}": index += 1; return (Token(kind: .close, text: "}"), startLine)
        case ":": index += 1; return (Token(kind: .colon, text: ":"), startLine)
        case "\"", "'":
            index += 1
            var text = ""
            while index < scalars.count && scalars[index] != c {
                if scalars[index] == "\n" || scalars[index] == "\r\n" {
                    throw AVAError.malformedLine(file: file, line: startLine, reason: "unterminated string")
                }
                if scalars[index] == "\\" && index + 1 < scalars.count { index += 1 }
                text.append(scalars[index])
                index += 1
            }
            guard index < scalars.count else {
                throw AVAError.malformedLine(file: file, line: startLine, reason: "unterminated string")
            }
            index += 1
            return (Token(kind: .string, text: text), startLine)
        default:
            var text = ""
            while index < scalars.count {
                let d = scalars[index]
                if d.isWhitespace || "{}:\"'#,;".contains(d) { break }
                text.append(d)
                index += 1
            }
            return (Token(kind: .word, text: text), startLine)
        }
    }

    mutating func expect(_ kind: Kind, after what: String) throws {
        let startLine = line
        guard let (token, tokenLine) = try next() else {
            throw AVAError.malformedLine(file: file, line: startLine, reason: "unexpected end of file after '\(what)'")
        }
        guard token.kind == kind else {
            throw AVAError.malformedLine(file: file, line: tokenLine, reason: "expected '{' after '\(what)', found '\(token.text)'")
        }
    }

    /// Skips a nested block whose `{` has just been read.
    mutating func skipBlock(openedAt openLine: Int) throws {
        var depth = 1
        while depth > 0 {
            guard let (token, _) = try next() else {
                throw AVAError.malformedLine(file: file, line: openLine, reason: "block opened here is not closed")
            }
            if token.kind == .open { depth += 1 } else if token.kind == .close { depth -= 1 }
        }
    }
}
