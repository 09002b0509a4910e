import Foundation

/// The typed configuration of one stage kind: a `Codable` struct whose options are
/// `@Setting` properties, each declared once with its default, doc line and constraint
/// (PySlowFast's defaults tree, typed). Suite parameters decode into it strictly: unknown
/// keys, wrong types, values out of range and unknown enum values are errors naming the
/// suite file, line and key.
public protocol StageConfiguration: Codable, Sendable {
    /// Every setting at its default.
    init()
    /// Fills settings whose defaults derive from others (e.g. a preset's batch size) and
    /// checks constraints between settings; throws `ConfigurationIssue` naming the key.
    mutating func finish() throws
}

extension StageConfiguration {
    public mutating func finish() throws {}
}

/// A problem with one setting found after decoding (a constraint between settings).
public struct ConfigurationIssue: Error, CustomStringConvertible {
    public var key: String
    public var message: String
    public init(key: String, _ message: String) { self.key = key; self.message = message }
    public var description: String { "'\(key)': \(message)" }
}

/// Where a resolved setting's value came from (shown by `bench plan --explain`).
public enum SettingOrigin: Sendable, Equatable, CustomStringConvertible {
    /// The configuration's declared default.
    case defaultValue
    /// A default computed from other settings (e.g. "preset ci").
    case derived(String)
    /// A suite file: `role` is "suite template", "scale ci" or "scale ci, \"*\"".
    case suite(role: String, file: String, line: Int?, key: String)
    /// An axis value of the cell.
    case axis(name: String, file: String, line: Int?)
    /// A command-line flag.
    case commandLine(String)

    public var description: String {
        switch self {
        case .defaultValue: return "default"
        case .derived(let why): return "default, derived from \(why)"
        case let .suite(role, file, line, key):
            return "\(role) (\(URL(fileURLWithPath: file).lastPathComponent)\(line.map { ":\($0)" } ?? "") \(key))"
        case let .axis(name, _, _): return "axis \(name)"
        case .commandLine(let flag): return "command line \(flag)"
        }
    }

    var file: String? {
        switch self {
        case .suite(_, let f, _, _), .axis(_, let f, _): return f
        default: return nil
        }
    }
    var line: Int? {
        switch self {
        case .suite(_, _, let l, _), .axis(_, _, let l): return l
        default: return nil
        }
    }
    var key: String? {
        switch self {
        case .suite(_, _, _, let k): return k
        case .axis(let name, _, _): return "axes.\(name)"
        default: return nil
        }
    }
}

/// A value written for a setting, with where it was written.
public struct SourcedValue: Sendable, Equatable {
    public var value: ParamValue
    public var origin: SettingOrigin
    public init(_ value: ParamValue, _ origin: SettingOrigin) { self.value = value; self.origin = origin }
}

/// One declared setting, as `bench plan --explain` and the errors describe it.
public struct SettingInfo: Sendable {
    public var name: String
    public var doc: String
    public var typeName: String
    public var constraint: SettingConstraint
    /// nil: no fixed default (derived from other settings).
    public var defaultValue: ParamValue?
    let accept: @Sendable (ParamValue) -> Result<ParamValue, SettingRejection>
}

/// The settings of a configuration type, in declaration order.
public struct ConfigurationSchema: Sendable {
    public var settings: [SettingInfo]
    public var names: [String] { settings.map(\.name) }
    public func setting(_ name: String) -> SettingInfo? { settings.first { $0.name == name } }

    /// Read from a default instance: every `@Setting` property, keyed by its snake-case name.
    public init<C: StageConfiguration>(_ type: C.Type) {
        settings = Mirror(reflecting: C()).children.compactMap { child in
            guard let label = child.label, label.hasPrefix("_"), let s = child.value as? AnySetting else { return nil }
            let setting = UnsafeSendable(s)
            return SettingInfo(name: Self.snakeCase(String(label.dropFirst())), doc: s.doc, typeName: s.typeName,
                               constraint: s.constraint, defaultValue: s.currentParam,
                               accept: { setting.value.accept($0) })
        }
    }

    /// `fastWidth` → `fast_width`; `D` stays `D` (the inverse of JSONDecoder's snake-case rule).
    static func snakeCase(_ name: String) -> String {
        var out = ""
        var previousLower = false
        for ch in name {
            if ch.isUppercase && previousLower { out += "_" + ch.lowercased() } else { out.append(ch) }
            previousLower = ch.isLowercase || ch.isNumber
        }
        return out
    }

    /// A schema of names only (for suggestions across kinds).
    init(names: [String]) {
        settings = names.map { SettingInfo(name: $0, doc: "", typeName: "", constraint: .any, defaultValue: nil, accept: { .success($0) }) }
    }

    /// The closest declared name to a misspelt key, if one is close.
    public func suggestion(for key: String) -> String? {
        // Settings people reach for under another name.
        let renamed = ["depth": "backbone", "arch": "backbone", "epoch": "epochs", "batch_size": "batch", "learning_rate": "lr"]
        if let other = renamed[key], names.contains(other) { return other }
        let scored = names.map { ($0, Self.editDistance(key.lowercased(), $0.lowercased())) }
        guard let best = scored.min(by: { $0.1 < $1.1 }) else { return nil }
        let limit = max(1, min(3, best.0.count / 3))
        if best.1 <= limit { return best.0 }
        return names.first { $0.hasPrefix(key) || key.hasPrefix($0) && $0.count >= 3 }
    }

    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        guard !a.isEmpty else { return b.count }
        guard !b.isEmpty else { return a.count }
        var row = Array(0...b.count)
        for i in 1...a.count {
            var previous = row[0]
            row[0] = i
            for j in 1...b.count {
                let current = row[j]
                row[j] = a[i - 1] == b[j - 1] ? previous : 1 + min(previous, row[j], row[j - 1])
                previous = current
            }
        }
        return row[b.count]
    }
}

/// A Mirror child is not Sendable; the settings it wraps are immutable value types.
struct UnsafeSendable<T>: @unchecked Sendable { let value: T; init(_ v: T) { value = v } }

/// A stage's configuration after resolution: every setting with its value (defaults
/// included) and its origin. `params` is what the stage's identity hashes.
public struct ResolvedConfiguration: Sendable, Equatable {
    public var params: Params
    public var origins: [String: SettingOrigin]
    /// Declaration order, for printing.
    public var order: [String]
}

extension StageConfiguration {
    public static var schema: ConfigurationSchema { ConfigurationSchema(Self.self) }

    /// Decodes `layers` (in order; later values replace earlier ones) strictly into the
    /// configuration. `kind` names the stage kind in messages; `fallback` locates errors
    /// found between settings that no single written value caused.
    public static func resolve(_ layers: [(key: String, value: SourcedValue)], kind: String,
                               fallback: (file: String, line: Int?, key: String)) throws -> (Self, ResolvedConfiguration) {
        let schema = Self.schema
        var values: [String: ParamValue] = [:]
        var origins: [String: SettingOrigin] = [:]
        for (key, sourced) in layers {
            func fail(_ message: String) -> SuiteFileError {
                SuiteFileError(file: sourced.origin.file ?? fallback.file, line: sourced.origin.line ?? fallback.line,
                               key: sourced.origin.key ?? key, message: message)
            }
            guard let setting = schema.setting(key) else {
                let hint = schema.suggestion(for: key).map { " (did you mean '\($0)'?)" } ?? ""
                throw fail("unknown setting '\(key)' for \("aeiou".contains(kind.first ?? "x") ? "an" : "a") \(kind) stage\(hint); its settings: \(schema.names.joined(separator: ", "))")
            }
            switch setting.accept(sourced.value) {
            case .success(let v): values[key] = v; origins[key] = sourced.origin
            case .failure(let r): throw fail("\(kind) setting '\(key)': \(r.message)")
            }
        }
        var config = try decode(values, schema: schema)
        do { try config.finish() } catch let issue as ConfigurationIssue {
            let o = origins[issue.key]
            throw SuiteFileError(file: o?.file ?? fallback.file, line: o?.line ?? fallback.line,
                                 key: o?.key ?? "\(fallback.key).\(issue.key)", message: "\(kind) setting '\(issue.key)': \(issue.message)")
        }
        let resolved = try encode(config)
        for name in schema.names where origins[name] == nil {
            origins[name] = schema.setting(name)?.defaultValue == nil ? .derived("other settings") : .defaultValue
        }
        return (config, ResolvedConfiguration(params: resolved, origins: origins, order: schema.names))
    }

    /// The configuration a stored resolution describes (used when a stage runs).
    public static func decode(resolved params: Params) throws -> Self {
        try decode(params, schema: schema)
    }

    static func decode(_ values: Params, schema: ConfigurationSchema) throws -> Self {
        var object: [String: Any] = [:]
        for s in schema.settings {
            if let v = values[s.name] ?? s.defaultValue { object[s.name] = v.jsonObject } else { object[s.name] = NSNull() }
        }
        let data = try JSONSerialization.data(withJSONObject: object)
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return try decoder.decode(Self.self, from: data)
    }

    /// Every setting as a canonical value (unset optionals left out).
    static func encode(_ config: Self) throws -> Params {
        var out: Params = [:]
        for child in Mirror(reflecting: config).children {
            guard let label = child.label, label.hasPrefix("_"), let s = child.value as? AnySetting else { continue }
            if let v = s.currentParam { out[ConfigurationSchema.snakeCase(String(label.dropFirst()))] = v }
        }
        return out
    }
}

extension ParamValue {
    /// The value as a JSONSerialization object.
    var jsonObject: Any {
        switch self {
        case .int(let v): return v
        case .double(let v): return v
        case .bool(let v): return v
        case .string(let v): return v
        case .list(let v): return v.map(\.jsonObject)
        case .map(let v): return v.mapValues(\.jsonObject)
        }
    }
}
