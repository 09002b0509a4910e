import ArgumentParser
import Foundation
import Suite

/// `bench settings [KIND]`: every setting of every stage kind, declared once in its typed
/// configuration, with default, what it accepts and its doc line.
struct SettingsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "settings",
        abstract: "List the settings of each stage kind: default, allowed values and meaning.",
        discussion: "A suite's `params`, its scale overrides and its axes set these; anything else is an error.")
    @Argument(help: "A stage kind (default: every kind).") var kind: String?
    @Flag(help: "A Markdown table per kind.") var markdown = false

    func run() throws {
        let registry = StandardExecutors.registry()
        let kinds = kind.map { [$0] } ?? registry.kinds
        for k in kinds {
            guard let executor = registry[k] else {
                throw ValidationError("unknown stage kind '\(k)' (kinds: \(registry.kinds.joined(separator: ", ")))")
            }
            print(Self.describe(kind: k, schema: executor.schema, markdown: markdown))
        }
    }

    static func describe(kind: String, schema: ConfigurationSchema, markdown: Bool) -> String {
        func value(_ s: SettingInfo) -> String { s.defaultValue.map(\.description) ?? "(derived)" }
        func accepts(_ s: SettingInfo) -> String {
            let c = s.constraint.text
            if case .choices = s.constraint { return c }
            return c.isEmpty ? s.typeName : "\(s.typeName), \(c)"
        }
        if markdown {
            var out = "### `\(kind)`\n\n| setting | default | accepts | meaning |\n| --- | --- | --- | --- |\n"
            for s in schema.settings { out += "| `\(s.name)` | \(value(s)) | \(accepts(s)) | \(s.doc) |\n" }
            return out
        }
        var out = "\(kind):\n"
        let width = schema.names.map(\.count).max() ?? 8
        for s in schema.settings {
            out += "  " + s.name.padding(toLength: width, withPad: " ", startingAt: 0) + "  "
                + value(s).padding(toLength: 12, withPad: " ", startingAt: 0) + "  \(accepts(s)) — \(s.doc)\n"
        }
        return out
    }
}
