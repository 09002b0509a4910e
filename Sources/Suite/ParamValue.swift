import Foundation

/// A configuration value as written in a suite file: number, string, bool, list or map.
/// Canonical JSON of these values (sorted keys) is what stage identities hash.
public indirect enum ParamValue: Codable, Equatable, Hashable, Sendable, CustomStringConvertible {
    case int(Int)
    case double(Double)
    case bool(Bool)
    case string(String)
    case list([ParamValue])
    case map([String: ParamValue])

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let v = try? c.decode(Bool.self) { self = .bool(v); return }
        if let v = try? c.decode(Int.self) { self = .int(v); return }
        if let v = try? c.decode(Double.self) { self = .double(v); return }
        if let v = try? c.decode(String.self) { self = .string(v); return }
        if let v = try? c.decode([ParamValue].self) { self = .list(v); return }
        if let v = try? c.decode([String: ParamValue].self) { self = .map(v); return }
        throw DecodingError.dataCorruptedError(in: c, debugDescription: "expected a number, string, bool, list or map")
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .int(let v): try c.encode(v)
        case .double(let v): try c.encode(v)
        case .bool(let v): try c.encode(v)
        case .string(let v): try c.encode(v)
        case .list(let v): try c.encode(v)
        case .map(let v): try c.encode(v)
        }
    }

    /// A scalar written as text: an integer, a number, true/false, or a string.
    public init(parsing text: String) {
        if let i = Int(text) { self = .int(i) } else if let d = Double(text) { self = .double(d) }
        else if text == "true" || text == "false" { self = .bool(text == "true") } else { self = .string(text) }
    }

    /// Canonical JSON text (sorted keys, no spaces).
    public var canonicalJSON: String {
        switch self {
        case .int(let v): return "\(v)"
        case .double(let v): return v == v.rounded() && abs(v) < 1e15 ? "\(Int(v)).0" : "\(v)"
        case .bool(let v): return v ? "true" : "false"
        case .string(let v):
            let data = try! JSONEncoder().encode(v)
            return String(decoding: data, as: UTF8.self)
        case .list(let v): return "[" + v.map(\.canonicalJSON).joined(separator: ",") + "]"
        case .map(let v):
            return "{" + v.keys.sorted().map { ParamValue.string($0).canonicalJSON + ":" + v[$0]!.canonicalJSON }.joined(separator: ",") + "}"
        }
    }

    public var description: String {
        if case .string(let s) = self { return s }
        return canonicalJSON
    }

    public var intValue: Int? {
        switch self {
        case .int(let v): return v
        case .double(let v) where v == v.rounded(): return Int(v)
        case .string(let s): return Int(s)
        default: return nil
        }
    }
    public var doubleValue: Double? {
        switch self {
        case .int(let v): return Double(v)
        case .double(let v): return v
        case .string(let s): return Double(s)
        default: return nil
        }
    }
    public var stringValue: String? {
        switch self {
        case .string(let s): return s
        case .int, .double, .bool: return description
        default: return nil
        }
    }
    public var boolValue: Bool? { if case .bool(let b) = self { return b }; return nil }
}

/// Named parameters of a stage.
public typealias Params = [String: ParamValue]

extension Dictionary where Key == String, Value == ParamValue {
    public var canonicalJSON: String { ParamValue.map(self).canonicalJSON }
}
