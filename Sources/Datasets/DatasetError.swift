import Media

/// Every failure of the datasets module. Each case names the file at fault and, where
/// there is one, the line (1-based) and the manifest key, so a bad manifest or a damaged
/// annotation file can be fixed without guessing.
public enum DatasetError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A manifest (`datasets.yaml`) problem: syntax, unknown key, wrong type, missing
    /// required key, or a path that does not exist.
    case manifest(file: String, line: Int?, key: String?, detail: String)
    /// An annotation file (CSV, split list, label map) is malformed or inconsistent.
    case annotation(file: String, line: Int?, detail: String)
    /// A file the dataset needs is absent.
    case missingFile(file: String, detail: String)
    /// Decoding or encoding a video failed.
    case media(MediaError)
    /// The caller asked for something the dataset cannot give.
    case invalidArgument(String)

    public var description: String {
        switch self {
        case let .manifest(file, line, key, detail):
            var s = file
            if let line { s += ":\(line)" }
            s += ":"
            if let key { s += " key '\(key)':" }
            return s + " " + detail
        case let .annotation(file, line, detail):
            return line.map { "\(file):\($0): \(detail)" } ?? "\(file): \(detail)"
        case let .missingFile(file, detail):
            return "\(file): no such file (\(detail))"
        case let .media(e):
            return e.description
        case let .invalidArgument(detail):
            return detail
        }
    }

    /// The file the error is about (empty for `invalidArgument`).
    public var file: String {
        switch self {
        case .manifest(let f, _, _, _), .annotation(let f, _, _), .missingFile(let f, _): return f
        case .media(let e): return e.file
        case .invalidArgument: return ""
        }
    }
}

extension DatasetError {
    /// Runs a media call, wrapping its error.
    static func media<T>(_ body: () throws(MediaError) -> T) throws(DatasetError) -> T {
        do { return try body() } catch { throw .media(error) }
    }
}
