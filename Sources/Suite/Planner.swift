import Foundation

/// Scales of a run: the same suite at growing size (DESIGN "Scales").
public enum Scale: String, Sendable, Codable, CaseIterable {
    case ci, mini, paper
}

/// One concrete stage: a template instantiated for one combination of its `over` axes.
public struct PlannedStage: Sendable, Equatable {
    public var suite: String
    public var id: String
    public var kind: String
    public var dataset: String?
    /// Values of the template's `over` axes.
    public var axes: [String: String]
    /// Template parameters with the scale's overrides applied.
    public var params: Params
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
    public var seed: Int { axes["seed"].flatMap(Int.init) ?? params.int("seed", default: 0) }
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
    public func instance(of id: String, for cell: [String: String]) -> PlannedStage? {
        guard let t = suite.stage(id) else { return nil }
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

/// Expands a suite into its stage DAG at a scale.
public struct Planner {
    public var executors: ExecutorRegistry
    /// Identity of a dataset by manifest name (its manifest entry and annotation files).
    public var datasetIdentity: (String) throws -> String

    public init(executors: ExecutorRegistry, datasetIdentity: @escaping (String) throws -> String) {
        self.executors = executors
        self.datasetIdentity = datasetIdentity
    }

    public func plan(_ suite: SuiteSpec, scale: Scale) throws -> Plan {
        let override = suite.scales[scale.rawValue]
        let axes = suite.axes.map { axis -> SuiteSpec.Axis in
            guard let only = override?.axes[axis.name] else { return axis }
            return SuiteSpec.Axis(name: axis.name, values: axis.values.filter(only.contains))
        }
        var cells: [[String: String]] = [[:]]
        for axis in axes {
            cells = cells.flatMap { cell in axis.values.map { cell.merging([axis.name: $0]) { $1 } } }
        }

        var stages: [PlannedStage] = []
        var byKey: [String: Int] = [:]
        var datasetIDs: [String: String] = [:]
        for template in suite.stages {
            guard let executor = executors[template.kind] else {
                throw PlanError.unknownKind(file: suite.file, line: template.line, stage: template.id, kind: template.kind,
                                            known: executors.kinds)
            }
            let dataset = override?.datasets[template.id] ?? template.dataset
            var params = template.params
            if let all = override?.params["*"] { params = params.merging(overrides: all) }
            if let mine = override?.params[template.id] { params = params.merging(overrides: mine) }
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
                // Instances that differ only in axes the kind does not read share an identity
                // through their inputs (e.g. fine-tunes of the same pretrained checkpoint).
                var dsID = "none"
                if let dataset {
                    if datasetIDs[dataset] == nil {
                        do { datasetIDs[dataset] = try datasetIdentity(dataset) } catch {
                            throw PlanError.unknownDataset(file: suite.file, stage: template.id, dataset: dataset, reason: "\(error)")
                        }
                    }
                    dsID = datasetIDs[dataset]!
                }
                // Axis values become parameters, typed as numbers where they are numbers, so a
                // stage configured by an axis in one suite and by a parameter in another has
                // the same identity and is run once.
                var resolved = params
                for (a, v) in axisValues where executor.axisParameters.contains(a) { resolved[a] = ParamValue(parsing: v) }
                let identityText = [
                    "kind=\(template.kind)", "code=\(executor.codeVersion)", "dataset=\(dataset ?? "")@\(dsID)",
                    "params=\(resolved.canonicalJSON)", "inputs=\(inputs.joined(separator: ","))",
                ].joined(separator: "\n")
                let stage = PlannedStage(suite: suite.name, id: template.id, kind: template.kind, dataset: dataset,
                                         axes: axisValues, params: resolved, inputs: inputs,
                                         identity: SHA256Text.hex(identityText))
                byKey[key] = stages.count
                stages.append(stage)
            }
        }
        return Plan(suite: suite, scale: scale, stages: stages, cells: cells)
    }

    static func key(_ id: String, _ axes: [String: String]) -> String {
        id + "|" + axes.keys.sorted().map { "\($0)=\(axes[$0]!)" }.joined(separator: ",")
    }
}
