import Foundation

/// One line of a delimited text file, with its 1-based line number for error messages.
public struct TextRow: Sendable, Equatable {
    public var line: Int
    public var fields: [String]
}

/// Minimal RFC 4180 reading (quoted fields with `""` escapes and embedded commas) plus
/// whitespace-separated lists, tolerant of a UTF-8 BOM, CRLF line endings (UCF-101's split
/// files have them) and blank lines. Quoted fields may not span lines (no dataset here
/// needs it); an unterminated quote is an error naming the file and line.
public enum TextTable {
    /// The lines of `path` (without terminators), numbered from 1.
    public static func lines(_ path: String) throws(DatasetError) -> [(line: Int, text: String)] {
        guard FileManager.default.fileExists(atPath: path) else {
            throw .missingFile(file: path, detail: "annotation file")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw .annotation(file: path, line: nil, detail: "cannot be read")
        }
        guard var text = String(data: data, encoding: .utf8) else {
            throw .annotation(file: path, line: nil, detail: "is not UTF-8 text")
        }
        if text.hasPrefix("\u{FEFF}") { text.removeFirst() }
        var out: [(Int, String)] = []
        var n = 0
        // Split on "\n" only: "\r\n" is one grapheme in Swift, so split by unicode scalars.
        for raw in text.unicodeScalars.split(separator: "\n", omittingEmptySubsequences: false) {
            n += 1
            var s = String(String.UnicodeScalarView(raw))
            while s.hasSuffix("\r") { s.removeLast() }
            out.append((n, s))
        }
        return out
    }

    /// Comma-separated rows; blank lines skipped. `header`: when given, the first non-blank
    /// line must start with these column names (and is skipped); `minFields`: every row must
    /// have at least this many fields.
    public static func csv(_ path: String, header: [String]? = nil, minFields: Int = 1) throws(DatasetError) -> [TextRow] {
        var rows: [TextRow] = []
        var sawHeader = header == nil
        for (n, text) in try lines(path) {
            if text.trimmingCharacters(in: .whitespaces).isEmpty { continue }
            let fields = try splitCSV(text, file: path, line: n)
            if !sawHeader {
                sawHeader = true
                let got = fields.map { $0.trimmingCharacters(in: .whitespaces) }
                guard got.count >= header!.count, Array(got.prefix(header!.count)) == header! else {
                    throw .annotation(file: path, line: n,
                                      detail: "expected header \(header!.joined(separator: ",")), found \(text)")
                }
                continue
            }
            guard fields.count >= minFields else {
                throw .annotation(file: path, line: n, detail: "expected at least \(minFields) comma-separated fields, found \(fields.count): \(text)")
            }
            rows.append(TextRow(line: n, fields: fields))
        }
        return rows
    }

    /// Whitespace-separated rows; blank lines skipped.
    public static func words(_ path: String) throws(DatasetError) -> [TextRow] {
        try lines(path).compactMap { (n, text) in
            let f = text.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            return f.isEmpty ? nil : TextRow(line: n, fields: f)
        }
    }

    /// Splits one CSV line.
    public static func splitCSV(_ line: String, file: String, line n: Int) throws(DatasetError) -> [String] {
        var fields: [String] = []
        var cur = ""
        var inQuotes = false
        var chars = Array(line)
        var i = 0
        while i < chars.count {
            let c = chars[i]
            if inQuotes {
                if c == "\"" {
                    if i + 1 < chars.count, chars[i + 1] == "\"" { cur.append("\""); i += 1 } else { inQuotes = false }
                } else {
                    cur.append(c)
                }
            } else if c == "\"" && cur.isEmpty {
                inQuotes = true
            } else if c == "," {
                fields.append(cur)
                cur = ""
            } else {
                cur.append(c)
            }
            i += 1
        }
        if inQuotes { throw .annotation(file: file, line: n, detail: "unterminated quoted field") }
        fields.append(cur)
        chars.removeAll()
        return fields
    }

    /// One CSV field, quoted when it holds a comma, a quote or leading/trailing spaces.
    public static func quote(_ field: String) -> String {
        if field.contains(",") || field.contains("\"") || field.hasPrefix(" ") || field.hasSuffix(" ") {
            return "\"" + field.replacingOccurrences(of: "\"", with: "\"\"") + "\""
        }
        return field
    }

    static func int(_ s: String, _ what: String, file: String, line: Int) throws(DatasetError) -> Int {
        guard let v = Int(s.trimmingCharacters(in: .whitespaces)) else {
            throw .annotation(file: file, line: line, detail: "\(what) '\(s)' is not an integer")
        }
        return v
    }

    static func double(_ s: String, _ what: String, file: String, line: Int) throws(DatasetError) -> Double {
        guard let v = Double(s.trimmingCharacters(in: .whitespaces)), v.isFinite else {
            throw .annotation(file: file, line: line, detail: "\(what) '\(s)' is not a number")
        }
        return v
    }
}
