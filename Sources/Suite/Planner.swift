import Foundation

/// Scales of a run: the same suite at growing size (DESIGN "Scales").
public enum Scale: String, Sendable, Codable, CaseIterable {
    case ci, small, mini, paper
}

/// One concrete stage: a template instantiated for one combination of its `over` axes.
public struct PlannedStage: Sendable, Equatable {
    public var suite: String
    public var id: String
    public var kind: String
    public var dataset: String?
    /// Values of the template's `over` axes.
    public var axes: [String: String]
    /// The kind's full configuration (every setting, defaults included), resolved from the
    /// template, the scale's overrides and the axis values.
    public var params: Params
    /// Where each setting's value came from (`bench plan --explain`).
    public var origins: [String: SettingOrigin] = [:]
    /// Settings in declaration order.
    public var settingOrder: [String] = []
    /// Identities of the stages this one reads (checkpoints), in `needs` order.
    public var inputs: [String]
    /// Hash of kind, code version, dataset identity, resolved params and inputs: a finished
    /// stage with the same identity is reused, never rerun.
    public var identity: String

    /// `pretrain[alpha=2,backbone=r18,seed=0]`.
    public var key: String {
        "\(id)[" + axes.keys.sorted().map { "\($0)=\(axes[$0]!)" }.joined(separator: ",") + "]"
    }
    public var shortIdentity: String { String(identity.prefix(16)) }
    public var seed: Int { params["seed"]?.intValue ?? 0 }
}

/// The DAG of a suite at a scale: stages in dependency order, and the report's cells.
public struct Plan: Sendable {
    public var suite: SuiteSpec
    public var scale: Scale
    public var stages: [PlannedStage]
    /// Every combination of the (scale-restricted) axes.
    public var cells: [[String: String]]

    public func stage(identity: String) -> PlannedStage? { stages.first { $0.identity == identity } }

    /// The reason a cell is not reproducible offline, if any.
    public func notReproducibleReason(_ cell: [String: String]) -> String? {
        suite.notReproducible.first { matches(cell, $0.when) }?.reason
    }

    /// The instance of stage `id` serving `cell`, if the cell runs it.
    /// A cell outside the template's `when` has none: a report row of another
    /// initialisation must not show a pretraining's numbers as its own.
    public func instance(of id: String, for cell: [String: String]) -> PlannedStage? {
        guard let t = suite.stage(id), matches(cell, t.when) else { return nil }
        let axes = Dictionary(uniqueKeysWithValues: t.over.compactMap { a in cell[a].map { (a, $0) } })
        return stages.first { $0.id == id && $0.axes == axes }
    }
}

public enum PlanError: Error, CustomStringConvertible {
    case unknownKind(file: String, line: Int?, stage: String, kind: String, known: [String])
    case unknownDataset(file: String, stage: String, dataset: String, reason: String)

    public var description: String {
        switch self {
        case let .unknownKind(file, line, stage, kind, known):
            return "\(file)\(line.map { ":\($0)" } ?? ""): stage '\(stage)': unknown kind '\(kind)' (known: \(known.joined(separator: ", ")))"
        case let .unknownDataset(file, stage, dataset, reason):
            return "\(file): stage '\(stage)': dataset '\(dataset)': \(reason)"
        }
    }
}

/// Expands a suite into its stage DAG at a scale, validating every stage's configuration.
public struct Planner {
    public var executors: ExecutorRegistry
    /// Identity of a dataset by manifest name (its manifest entry and annotation files).
    public var datasetIdentity: (String) throws -> String

    public init(executors: ExecutorRegistry, datasetIdentity: @escaping (String) throws -> String) {
        self.executors = executors
        self.datasetIdentity = datasetIdentity
    }

    /// `seeds` (from `--seeds`) replaces the values of the suite's `seed` axis at this scale.
    public func plan(_ suite: SuiteSpec, scale: Scale, seeds: [Int]? = nil) throws -> Plan {
        let override = suite.scales[scale.rawValue]
        var axes = suite.axes.map { axis -> SuiteSpec.Axis in
            guard let only = override?.axes[axis.name] else { return axis }
            return SuiteSpec.Axis(name: axis.name, values: axis.values.filter(only.contains), line: axis.line)
        }
        if let seeds {
            guard let i = axes.firstIndex(where: { $0.name == "seed" }) else {
                throw SuiteFileError(file: suite.file, line: nil, key: "axes",
                                     message: "--seeds needs a `seed` axis, and this suite has none (axes: \(axes.map(\.name).joined(separator: ", ")))")
            }
            axes[i].values = seeds.map(String.init)
        }
        var cells: [[String: String]] = [[:]]
        for axis in axes {
            cells = cells.flatMap { cell in axis.values.map { cell.merging([axis.name: $0]) { $1 } } }
        }
        let scaleKey = "scales.\(scale.rawValue).params"
        try checkSharedKeys(suite, override: override, scaleKey: scaleKey)
        try checkAxisSettings(suite)

        var stages: [PlannedStage] = []
        var byKey: [String: Int] = [:]
        var datasetIDs: [String: String] = [:]
        for template in suite.stages {
            guard let executor = executors[template.kind] else {
                throw PlanError.unknownKind(file: suite.file, line: template.line, stage: template.id, kind: template.kind,
                                            known: executors.kinds)
            }
            let schema = executor.schema
            let dataset = override?.datasets[template.id] ?? template.dataset
            // Layers in precedence order: template, the scale's "*" (keys this kind declares),
            // the scale's entry for this stage, then the cell's axis values.
            var layers: [(key: String, value: SourcedValue)] = []
            for k in template.params.keys.sorted() {
                layers.append((k, SourcedValue(template.params[k]!, .suite(role: "suite template", file: suite.file,
                    line: template.paramLines[k] ?? template.line, key: "stages[\(template.index)].params.\(k)"))))
            }
            if let all = override?.params["*"] {
                for k in all.keys.sorted() where schema.setting(k) != nil {
                    layers.append((k, SourcedValue(all[k]!, .suite(role: "scale \(scale.rawValue), \"*\"", file: suite.file,
                        line: override?.paramLines["*"]?[k], key: "\(scaleKey).*.\(k)"))))
                }
            }
            if let mine = override?.params[template.id] {
                for k in mine.keys.sorted() {
                    layers.append((k, SourcedValue(mine[k]!, .suite(role: "scale \(scale.rawValue)", file: suite.file,
                        line: override?.paramLines[template.id]?[k], key: "\(scaleKey).\(template.id).\(k)"))))
                }
            }
            for cell in cells where matches(cell, template.when) && suite.notReproducible.allSatisfy({ !matches(cell, $0.when) }) {
                let axisValues = Dictionary(uniqueKeysWithValues: template.over.map { ($0, cell[$0]!) })
                var inputs: [String] = []
                for need in template.needs where matches(cell, need.when) {
                    guard let needed = suite.stage(need.stage) else { continue }
                    let neededAxes = Dictionary(uniqueKeysWithValues: needed.over.map { ($0, cell[$0]!) })
                    let key = Self.key(need.stage, neededAxes)
                    if let i = byKey[key] { inputs.append(stages[i].identity) }
                }
                let key = Self.key(template.id, axisValues)
                if byKey[key] != nil { continue }
                var dsID = "none"
                if let dataset {
                    if datasetIDs[dataset] == nil {
                        do { datasetIDs[dataset] = try datasetIdentity(dataset) } catch {
                            throw PlanError.unknownDataset(file: suite.file, stage: template.id, dataset: dataset, reason: "\(error)")
                        }
                    }
                    dsID = datasetIDs[dataset]!
                }
                // An axis named like a setting sets it (the same stage configured by an axis in
                // one suite and by a parameter in another has one identity); other axes reach
                // a stage only through its inputs (a fine-tune's α through its pretraining).
                var cellLayers = layers
                // Settings an axis value stands for, then axes named like a setting.
                for a in template.over.sorted() {
                    guard let axis = suite.axis(a), let bundle = axis.settings[axisValues[a]!] else { continue }
                    let index = suite.axes.firstIndex { $0.name == a }!
                    for k in bundle.keys.sorted() where schema.setting(k) != nil {
                        cellLayers.append((k, SourcedValue(bundle[k]!, .suite(role: "axis \(a) = \(axisValues[a]!)", file: suite.file,
                            line: axis.settingLines[axisValues[a]!]?[k] ?? axis.line, key: "axes[\(index)].settings.\(axisValues[a]!).\(k)"))))
                    }
                }
                for a in template.over.sorted() where schema.setting(a) != nil {
                    let line = suite.axis(a)?.line
                    let origin: SettingOrigin = a == "seed" && seeds != nil ? .commandLine("--seeds") : .axis(name: a, file: suite.file, line: line)
                    cellLayers.append((a, SourcedValue(ParamValue(parsing: axisValues[a]!), origin)))
                }
                let resolved = try executor.resolve(cellLayers, fallback: (suite.file, template.line, "stages[\(template.index)]"))
                let identityText = [
                    "kind=\(template.kind)", "code=\(executor.codeVersion)", "dataset=\(dataset ?? "")@\(dsID)",
                    "config=\(resolved.params.canonicalJSON)", "inputs=\(inputs.joined(separator: ","))",
                ].joined(separator: "\n")
                var stage = PlannedStage(suite: suite.name, id: template.id, kind: template.kind, dataset: dataset,
                                         axes: axisValues, params: resolved.params, inputs: inputs,
                                         identity: SHA256Text.hex(identityText))
                stage.origins = resolved.origins
                stage.settingOrder = resolved.order
                byKey[key] = stages.count
                stages.append(stage)
            }
        }
        let plan = Plan(suite: suite, scale: scale, stages: stages, cells: cells)
        try checkAxesDistinguishCells(plan, axes: axes)
        return plan
    }

    /// A `"*"` key applies to the stages whose kind declares it; one that no stage of the
    /// suite declares is a typo.
    func checkSharedKeys(_ suite: SuiteSpec, override: SuiteSpec.ScaleOverride?, scaleKey: String) throws {
        guard let all = override?.params["*"] else { return }
        var known = Set<String>()
        for t in suite.stages { if let e = executors[t.kind] { known.formUnion(e.schema.names) } }
        for k in all.keys.sorted() where !known.contains(k) {
            let schema = ConfigurationSchema(names: known.sorted())
            let hint = schema.suggestion(for: k).map { " (did you mean '\($0)'?)" } ?? ""
            throw SuiteFileError(file: suite.file, line: override?.paramLines["*"]?[k], key: "\(scaleKey).*.\(k)",
                                 message: "no stage of this suite has a setting '\(k)'\(hint); settings: \(known.sorted().joined(separator: ", "))")
        }
    }

    /// A setting an axis value stands for must be declared by a stage that goes over the axis:
    /// otherwise it would change nothing (a typo, or a stage that forgot the axis in `over`).
    func checkAxisSettings(_ suite: SuiteSpec) throws {
        for (index, axis) in suite.axes.enumerated() {
            var known = Set<String>()
            for t in suite.stages where t.over.contains(axis.name) { if let e = executors[t.kind] { known.formUnion(e.schema.names) } }
            for value in axis.values {
                for k in (axis.settings[value] ?? [:]).keys.sorted() where !known.contains(k) {
                    let hint = ConfigurationSchema(names: known.sorted()).suggestion(for: k).map { " (did you mean '\($0)'?)" } ?? ""
                    throw SuiteFileError(file: suite.file, line: axis.settingLines[value]?[k] ?? axis.line, key: "axes[\(index)].settings.\(value).\(k)",
                                         message: "no stage going over axis '\(axis.name)' has a setting '\(k)'\(hint)")
                }
            }
        }
    }

    /// Two values of an axis that give the same stages in every cell would duplicate a
    /// table's rows silently (e.g. an `init` value that no `when` or `needs` names).
    func checkAxesDistinguishCells(_ plan: Plan, axes: [SuiteSpec.Axis]) throws {
        for axis in axes where axis.values.count > 1 {
            var groups: [String: [String: [String]]] = [:]
            for cell in plan.cells {
                let rest = cell.filter { $0.key != axis.name }
                let groupKey = Self.key("", rest)
                let ids = plan.suite.stages.compactMap { plan.instance(of: $0.id, for: cell)?.identity }  // instance honours `when`
                guard !ids.isEmpty, plan.notReproducibleReason(cell) == nil else { continue }
                groups[groupKey, default: [:]][cell[axis.name]!] = ids.sorted()
            }
            for (_, byValue) in groups {
                let values = axis.values.filter { byValue[$0] != nil }
                for (i, a) in values.enumerated() {
                    for b in values[(i + 1)...] where byValue[a] == byValue[b] {
                        throw SuiteFileError(file: plan.suite.file, line: axis.line, key: "axes.\(axis.name)",
                                             message: "values '\(a)' and '\(b)' give the same stages: no stage reads '\(axis.name)' as a setting and no `when` or `needs` filter tells them apart, so their cells would duplicate each other")
                    }
                }
            }
        }
    }

    static func key(_ id: String, _ axes: [String: String]) -> String {
        id + "|" + axes.keys.sorted().map { "\($0)=\(axes[$0]!)" }.joined(separator: ",")
    }
}
