import Foundation

/// What a setting accepts beyond its type: a numeric range (inclusive, either end open) or
/// a list of allowed values (enums derive theirs from their cases).
public enum SettingConstraint: Sendable, Equatable {
    case any
    case range(min: Double?, max: Double?)
    /// Strictly greater than zero.
    case positive
    case choices([String])

    /// `≥ 1`, `0 … 1`, `one of: a, b`.
    public var text: String {
        switch self {
        case .any: return ""
        case let .range(lo, hi):
            func f(_ x: Double) -> String { x == x.rounded() && abs(x) < 1e15 ? "\(Int(x))" : "\(x)" }
            switch (lo, hi) {
            case let (lo?, hi?): return "\(f(lo)) … \(f(hi))"
            case let (lo?, nil): return "≥ \(f(lo))"
            case let (nil, hi?): return "≤ \(f(hi))"
            default: return ""
            }
        case .positive: return "> 0"
        case .choices(let c): return "one of: " + c.joined(separator: ", ")
        }
    }

    func check(_ x: Double) -> Bool {
        switch self {
        case let .range(lo, hi): return (lo.map { x >= $0 } ?? true) && (hi.map { x <= $0 } ?? true)
        case .positive: return x > 0
        default: return true
        }
    }
}

/// A type a setting can hold, with its conversion from a suite-file value. `typeName` is
/// what an error says was expected.
public protocol SettingValue: Codable, Sendable {
    static var typeName: String { get }
    /// The value in canonical form, or nil for an unset optional.
    var paramValue: ParamValue? { get }
    /// Converts a suite value (an integer where a number is expected is fine; a string is
    /// not a number); nil when the type does not match.
    static func from(_ value: ParamValue) -> Self?
    /// Values an enum allows (nil for open types).
    static var choices: [String]? { get }
}

extension SettingValue {
    public static var choices: [String]? { nil }
}

extension Int: SettingValue {
    public static var typeName: String { "an integer" }
    public var paramValue: ParamValue? { .int(self) }
    public static func from(_ value: ParamValue) -> Int? {
        switch value {
        case .int(let v): return v
        case .double(let v) where v == v.rounded() && abs(v) < 1e15: return Int(v)
        default: return nil
        }
    }
}

extension Double: SettingValue {
    public static var typeName: String { "a number" }
    public var paramValue: ParamValue? { .double(self) }
    public static func from(_ value: ParamValue) -> Double? {
        switch value {
        case .int(let v): return Double(v)
        case .double(let v): return v
        default: return nil
        }
    }
}

extension Bool: SettingValue {
    public static var typeName: String { "true or false" }
    public var paramValue: ParamValue? { .bool(self) }
    public static func from(_ value: ParamValue) -> Bool? { value.boolValue }
}

extension String: SettingValue {
    public static var typeName: String { "a string" }
    public var paramValue: ParamValue? { .string(self) }
    public static func from(_ value: ParamValue) -> String? {
        if case .string(let s) = value { return s }
        return nil
    }
}

extension Array: SettingValue where Element == Double {
    public static var typeName: String { "a list of numbers" }
    public var paramValue: ParamValue? { .list(map { .double($0) }) }
    public static func from(_ value: ParamValue) -> [Double]? {
        guard case .list(let xs) = value else { return nil }
        let out = xs.compactMap(Double.from)
        return out.count == xs.count ? out : nil
    }
}

extension Optional: SettingValue where Wrapped: SettingValue {
    public static var typeName: String { Wrapped.typeName }
    public var paramValue: ParamValue? { self?.paramValue }
    public static func from(_ value: ParamValue) -> Wrapped?? { Wrapped.from(value).map { .some($0) } }
    public static var choices: [String]? { Wrapped.choices }
}

/// An enum setting: its raw values are the allowed values.
public protocol SettingEnum: SettingValue, RawRepresentable, CaseIterable where RawValue == String {}

extension SettingEnum {
    public static var typeName: String { "one of " + allCases.map(\.rawValue).joined(separator: ", ") }
    public var paramValue: ParamValue? { .string(rawValue) }
    public static func from(_ value: ParamValue) -> Self? {
        // Axis values arrive as text; `1` for a string enum is the text "1".
        value.stringValue.flatMap(Self.init(rawValue:))
    }
    public static var choices: [String]? { allCases.map(\.rawValue) }
}

/// One option of a stage configuration, declared once with its default, a doc line and
/// what it accepts:
///
/// ```swift
/// @Setting("training epochs", .range(min: 1, max: nil)) var epochs = 200
/// ```
///
/// The suite-file key is the property name in snake case (`fastWidth` → `fast_width`).
@propertyWrapper
public struct Setting<Value: SettingValue>: Codable, Sendable {
    public var wrappedValue: Value
    public let doc: String
    public let constraint: SettingConstraint

    public init(wrappedValue: Value, _ doc: String, _ constraint: SettingConstraint = .any) {
        self.wrappedValue = wrappedValue
        self.doc = doc
        self.constraint = Value.choices.map { .choices($0) } ?? constraint
    }

    // Decoding carries values only: docs and constraints are read from a default instance.
    public init(from decoder: Decoder) throws {
        wrappedValue = try Value(from: decoder)
        doc = ""; constraint = .any
    }

    public func encode(to encoder: Encoder) throws { try wrappedValue.encode(to: encoder) }
}

/// Type-erased view of a `Setting` for the schema.
protocol AnySetting {
    var currentParam: ParamValue? { get }
    var doc: String { get }
    var constraint: SettingConstraint { get }
    var typeName: String { get }
    /// The value converted and checked, or a message saying what was expected.
    func accept(_ value: ParamValue) -> Result<ParamValue, SettingRejection>
}

struct SettingRejection: Error { var message: String }

extension Setting: AnySetting {
    var currentParam: ParamValue? { wrappedValue.paramValue }
    var typeName: String { Value.typeName }

    func accept(_ value: ParamValue) -> Result<ParamValue, SettingRejection> {
        guard let v = Value.from(value), let canonical = v.paramValue else {
            if case .choices(let allowed) = constraint {
                return .failure(SettingRejection(message: "'\(value)' is not allowed (\(constraint.text))"))
            }
            return .failure(SettingRejection(message: "expected \(Value.typeName), got \(value.kindDescription) '\(value)'"))
        }
        func inRange(_ p: ParamValue) -> Bool {
            switch p {
            case .int(let x): return constraint.check(Double(x))
            case .double(let x): return x.isFinite && constraint.check(x)
            case .list(let xs): return xs.allSatisfy(inRange)
            default: return true
            }
        }
        if case .choices(let allowed) = constraint, !allowed.contains(canonical.description) {
            return .failure(SettingRejection(message: "'\(value)' is not allowed (\(constraint.text))"))
        }
        guard inRange(canonical) else {
            return .failure(SettingRejection(message: "\(value) is out of range (allowed: \(constraint.text))"))
        }
        return .success(canonical)
    }
}

extension ParamValue {
    /// "a number", "a string", … for error messages.
    var kindDescription: String {
        switch self {
        case .int: return "an integer"
        case .double: return "a number"
        case .bool: return "a boolean"
        case .string: return "the string"
        case .list: return "a list"
        case .map: return "a mapping"
        }
    }
}
