import Foundation
import Yams

/// An error in a suite or baseline file, naming the file, the line and the key.
public struct SuiteFileError: Error, CustomStringConvertible, Equatable {
    public var file: String
    public var line: Int?
    public var key: String
    public var message: String

    public var description: String {
        "\(file)\(line.map { ":\($0)" } ?? ""): \(key.isEmpty ? "" : "'\(key)': ")\(message)"
    }
}

/// Reads YAML nodes into typed values, checking keys and types and reporting
/// `file:line: 'key': problem` for anything unexpected.
struct YAMLReader {
    let file: String

    static func load(_ url: URL) throws -> (YAMLReader, Node) {
        let reader = YAMLReader(file: url.path)
        guard let text = try? String(contentsOf: url, encoding: .utf8) else {
            throw SuiteFileError(file: url.path, line: nil, key: "", message: "cannot read the file")
        }
        do {
            guard let node = try Yams.compose(yaml: text) else {
                throw SuiteFileError(file: url.path, line: nil, key: "", message: "the file is empty")
            }
            return (reader, node)
        } catch let error as SuiteFileError {
            throw error
        } catch let error as YamlError {
            throw SuiteFileError(file: url.path, line: Self.line(of: error), key: "", message: "not valid YAML: \(error)")
        }
    }

    static func line(of error: YamlError) -> Int? {
        switch error {
        case .scanner(_, _, let mark, _), .parser(_, _, let mark, _), .composer(_, _, let mark, _): return mark.line
        default: return nil
        }
    }

    func fail(_ node: Node?, _ key: String, _ message: String) -> SuiteFileError {
        SuiteFileError(file: file, line: node?.mark?.line, key: key, message: message)
    }

    /// A mapping's entries; keys outside `allowed` and missing `required` keys are errors.
    func mapping(_ node: Node, _ key: String, allowed: Set<String>, required: Set<String> = []) throws -> [String: Node] {
        guard let m = node.mapping else { throw fail(node, key, "expected a mapping") }
        var out: [String: Node] = [:]
        for (k, v) in m {
            guard let name = k.string else { throw fail(k, key, "keys must be strings") }
            guard allowed.contains(name) else {
                throw fail(k, key.isEmpty ? name : "\(key).\(name)",
                           "unknown key (expected one of: \(allowed.sorted().joined(separator: ", ")))")
            }
            out[name] = v
        }
        for r in required.sorted() where out[r] == nil {
            throw fail(node, key.isEmpty ? r : "\(key).\(r)", "missing required key")
        }
        return out
    }

    /// A mapping with free-form string keys.
    func entries(_ node: Node, _ key: String) throws -> [(String, Node)] {
        guard let m = node.mapping else { throw fail(node, key, "expected a mapping") }
        return try m.map { k, v in
            guard let name = k.string else { throw fail(k, key, "keys must be strings") }
            return (name, v)
        }
    }

    func list(_ node: Node, _ key: String) throws -> [Node] {
        guard let s = node.sequence else { throw fail(node, key, "expected a list") }
        return Array(s)
    }

    func string(_ node: Node, _ key: String) throws -> String {
        guard let s = node.scalar?.string else { throw fail(node, key, "expected a string") }
        return s
    }

    func int(_ node: Node, _ key: String) throws -> Int {
        guard let v = node.int else { throw fail(node, key, "expected an integer") }
        return v
    }

    func double(_ node: Node, _ key: String) throws -> Double {
        guard node.scalar != nil, let v = node.float ?? node.int.map(Double.init) else { throw fail(node, key, "expected a number") }
        return v
    }

    func bool(_ node: Node, _ key: String) throws -> Bool {
        guard let v = node.bool else { throw fail(node, key, "expected true or false") }
        return v
    }

    /// Scalars keep their YAML type (int, float, bool, string).
    func param(_ node: Node, _ key: String) throws -> ParamValue {
        switch node {
        case .scalar:
            if let b = node.bool, node.tag.description.hasSuffix("bool") { return .bool(b) }
            if let i = node.int, node.tag.description.hasSuffix("int") { return .int(i) }
            if let d = node.float, node.tag.description.hasSuffix("float") { return .double(d) }
            return .string(node.string ?? "")
        case .sequence(let s): return .list(try s.map { try param($0, key) })
        case .mapping: return .map(try params(node, key))
        case .alias: throw fail(node, key, "YAML aliases are not supported here")
        }
    }

    func params(_ node: Node, _ key: String) throws -> Params {
        var out: Params = [:]
        for (k, v) in try entries(node, key) { out[k] = try param(v, "\(key).\(k)") }
        return out
    }

    /// The line of each key of a mapping.
    func lines(_ node: Node, _ key: String) throws -> [String: Int] {
        var out: [String: Int] = [:]
        guard let m = node.mapping else { throw fail(node, key, "expected a mapping") }
        for (k, _) in m { if let name = k.string, let line = k.mark?.line { out[name] = line } }
        return out
    }

    /// `{axis: value or [values]}` → axis → set of values (as strings).
    func filter(_ node: Node, _ key: String) throws -> [String: [String]] {
        var out: [String: [String]] = [:]
        for (axis, v) in try entries(node, key) {
            if v.sequence != nil {
                out[axis] = try list(v, "\(key).\(axis)").map { try scalarText($0, "\(key).\(axis)") }
            } else {
                out[axis] = [try scalarText(v, "\(key).\(axis)")]
            }
        }
        return out
    }

    func scalarText(_ node: Node, _ key: String) throws -> String {
        guard let s = node.scalar?.string else { throw fail(node, key, "expected a scalar value") }
        return s
    }
}
