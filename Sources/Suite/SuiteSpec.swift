import Foundation
import Yams

/// A declarative suite (`Suites/*.yaml`): axes, stage templates, per-scale overrides, the
/// report layout and the paper's reference numbers.
///
/// ```yaml
/// name: table2a
/// title: "Table 2a — visual tempo α"
/// axes:
///   - {name: backbone, values: [r18, r50]}
///   - {name: alpha, values: [1, 2, 4]}
///   - {name: seed, values: [0, 1, 2]}
/// stages:
///   - id: pretrain
///     kind: pretrain
///     dataset: kinetics400
///     over: [backbone, alpha, seed]        # one instance per combination of these axes
///     params: {epochs: 200}
///   - id: ucf101
///     kind: finetune
///     dataset: ucf101
///     over: [backbone, alpha, seed]
///     needs: [{stage: pretrain}]           # the pretrain instance with the same axis values
/// scales:
///   ci: {axes: {backbone: [r18], seed: [0]}, params: {pretrain: {epochs: 2}}}
/// ```
public struct SuiteSpec: Sendable {
    public struct Axis: Sendable, Equatable {
        public var name: String
        public var values: [String]
        public var line: Int? = nil
        /// Settings a value stands for (`settings: {frozen: {encoder_mode: frozen}}`): applied
        /// to the stages that go over the axis and declare them, after the scale's parameters.
        public var settings: [String: Params] = [:]
        /// Line of each key of `settings`, per value.
        public var settingLines: [String: [String: Int]] = [:]
    }

    public struct Need: Sendable, Equatable {
        public var stage: String
        /// The dependency applies only to cells matching this filter (e.g. `init: vthcl`).
        public var when: [String: [String]]
    }

    public struct StageTemplate: Sendable {
        public var id: String
        public var kind: String
        public var dataset: String?
        public var over: [String]
        public var when: [String: [String]]
        public var needs: [Need]
        public var params: Params
        public var line: Int?
        /// Position in `stages` (errors name `stages[i].params.KEY`).
        public var index: Int = 0
        /// Line of each key of `params`.
        public var paramLines: [String: Int] = [:]
    }

    public struct ScaleOverride: Sendable {
        /// Restricts axes to these values at this scale.
        public var axes: [String: [String]]
        /// Parameter overrides per stage id (`"*"` applies to every stage).
        public var params: [String: Params]
        /// Replaces a stage's dataset per stage id (e.g. synthetic stand-ins at small scales).
        public var datasets: [String: String]
        /// Line of each parameter key, per stage id.
        public var paramLines: [String: [String: Int]] = [:]
    }

    public struct MetricRef: Sendable, Equatable { public var stage: String; public var metric: String }

    public struct Column: Sendable {
        public var label: String
        public var parts: [MetricRef]
        public var filter: [String: [String]]
    }

    public struct Report: Sendable {
        public var file: String
        public var rows: [String]
        public var rowLabels: [String: String]
        public var columns: [Column]
        /// Metrics are fractions; show them as percentages like the paper.
        public var percent: Bool
        public var notes: [String]
    }

    public enum ReferenceValue: Sendable, Equatable {
        case number(Double)
        case text(String)
    }

    public struct ReferenceRow: Sendable {
        public var cell: [String: String]
        public var values: [String: [ReferenceValue]]
    }

    public struct QuotedRow: Sendable {
        public var label: String
        public var values: [String: [ReferenceValue]]
    }

    /// A conclusion of the paper, checked against stored results: the mean of `metric`
    /// over cells matching `better` exceeds the mean of `thanMetric` (default: `metric`) over
    /// cells matching `than`. An omitted filter matches every cell, so
    /// `{metric: icm.object_density, than_metric: icm.background_density}` compares two
    /// metrics of the same stages.
    public struct Claim: Sendable {
        public var text: String
        public var metric: MetricRef
        public var better: [String: [String]]
        public var than: [String: [String]]
        public var thanMetric: MetricRef? = nil
    }

    public struct NotReproducible: Sendable {
        public var when: [String: [String]]
        public var reason: String
    }

    public var file: String
    public var name: String
    public var title: String
    public var description: String?
    public var axes: [Axis]
    public var stages: [StageTemplate]
    public var scales: [String: ScaleOverride]
    public var report: Report?
    public var reference: [ReferenceRow]
    public var quoted: [QuotedRow]
    public var notReproducible: [NotReproducible]
    public var claims: [Claim] = []
    /// Hash of the file's bytes (provenance).
    public var contentHash: String

    public func stage(_ id: String) -> StageTemplate? { stages.first { $0.id == id } }
    public func axis(_ name: String) -> Axis? { axes.first { $0.name == name } }
}

extension SuiteSpec {
    static let topKeys: Set<String> = ["name", "title", "description", "axes", "stages", "scales", "report",
                                       "reference", "quoted", "not_reproducible", "claims"]

    /// Parses and validates a suite file.
    public static func load(_ url: URL) throws -> SuiteSpec {
        let (r, root) = try YAMLReader.load(url)
        let top = try r.mapping(root, "", allowed: topKeys, required: ["name", "title", "axes", "stages"])
        let name = try r.string(top["name"]!, "name")

        var axes: [Axis] = []
        for (i, node) in try r.list(top["axes"]!, "axes").enumerated() {
            let m = try r.mapping(node, "axes[\(i)]", allowed: ["name", "values", "settings"], required: ["name", "values"])
            let axisName = try r.string(m["name"]!, "axes[\(i)].name")
            let values = try r.list(m["values"]!, "axes[\(i)].values").map { try r.scalarText($0, "axes[\(i)].values") }
            guard !values.isEmpty else { throw r.fail(node, "axes[\(i)].values", "an axis needs at least one value") }
            guard !axes.contains(where: { $0.name == axisName }) else { throw r.fail(node, "axes[\(i)].name", "axis '\(axisName)' declared twice") }
            var axis = Axis(name: axisName, values: values, line: node.mark?.line)
            if let bundles = m["settings"] {
                for (value, b) in try r.entries(bundles, "axes[\(i)].settings") {
                    let key = "axes[\(i)].settings.\(value)"
                    guard values.contains(value) else {
                        throw r.fail(b, key, "'\(value)' is not a value of axis '\(axisName)' (\(values.joined(separator: ", ")))")
                    }
                    axis.settings[value] = try r.params(b, key)
                    axis.settingLines[value] = try r.lines(b, key)
                }
            }
            axes.append(axis)
        }
        let axisNames = Set(axes.map(\.name))
        func checkFilter(_ f: [String: [String]], _ node: Node, _ key: String) throws {
            for (axis, values) in f {
                guard let a = axes.first(where: { $0.name == axis }) else {
                    throw r.fail(node, key, "unknown axis '\(axis)' (axes: \(axisNames.sorted().joined(separator: ", ")))")
                }
                for v in values where !a.values.contains(v) {
                    throw r.fail(node, key, "'\(v)' is not a value of axis '\(axis)' (\(a.values.joined(separator: ", ")))")
                }
            }
        }

        var stages: [StageTemplate] = []
        for (i, node) in try r.list(top["stages"]!, "stages").enumerated() {
            let key = "stages[\(i)]"
            let m = try r.mapping(node, key, allowed: ["id", "kind", "dataset", "over", "when", "needs", "params"],
                                  required: ["id", "kind"])
            let id = try r.string(m["id"]!, "\(key).id")
            guard !stages.contains(where: { $0.id == id }) else { throw r.fail(node, "\(key).id", "stage id '\(id)' used twice") }
            let over = try m["over"].map { try r.list($0, "\(key).over").map { try r.string($0, "\(key).over") } } ?? []
            for a in over where !axisNames.contains(a) { throw r.fail(m["over"], "\(key).over", "unknown axis '\(a)'") }
            let when = try m["when"].map { try r.filter($0, "\(key).when") } ?? [:]
            try checkFilter(when, m["when"] ?? node, "\(key).when")
            var needs: [Need] = []
            let needNodes: [Node] = try m["needs"].map { try r.list($0, "\(key).needs") } ?? []
            for (j, n) in needNodes.enumerated() {
                if n.scalar != nil {
                    needs.append(Need(stage: try r.string(n, "\(key).needs[\(j)]"), when: [:]))
                } else {
                    let nm = try r.mapping(n, "\(key).needs[\(j)]", allowed: ["stage", "when"], required: ["stage"])
                    let f = try nm["when"].map { try r.filter($0, "\(key).needs[\(j)].when") } ?? [:]
                    try checkFilter(f, n, "\(key).needs[\(j)].when")
                    needs.append(Need(stage: try r.string(nm["stage"]!, "\(key).needs[\(j)].stage"), when: f))
                }
            }
            for need in needs where !stages.contains(where: { $0.id == need.stage }) {
                throw r.fail(m["needs"], "\(key).needs", "'\(need.stage)' is not an earlier stage of this suite")
            }
            stages.append(StageTemplate(id: id, kind: try r.string(m["kind"]!, "\(key).kind"),
                                        dataset: try m["dataset"].map { try r.string($0, "\(key).dataset") },
                                        over: over, when: when, needs: needs,
                                        params: try m["params"].map { try r.params($0, "\(key).params") } ?? [:],
                                        line: node.mark?.line, index: i,
                                        paramLines: try m["params"].map { try r.lines($0, "\(key).params") } ?? [:]))
        }

        var scales: [String: ScaleOverride] = [:]
        if let s = top["scales"] {
            for (scale, node) in try r.entries(s, "scales") {
                let key = "scales.\(scale)"
                let m = try r.mapping(node, key, allowed: ["axes", "params", "datasets"])
                let restrict = try m["axes"].map { try r.filter($0, "\(key).axes") } ?? [:]
                try checkFilter(restrict, m["axes"] ?? node, "\(key).axes")
                var params: [String: Params] = [:], paramLines: [String: [String: Int]] = [:]
                for (stageID, p) in try m["params"].map({ try r.entries($0, "\(key).params") }) ?? [] {
                    guard stageID == "*" || stages.contains(where: { $0.id == stageID }) else {
                        throw r.fail(p, "\(key).params.\(stageID)", "no stage with this id (stages: \(stages.map(\.id).joined(separator: ", ")))")
                    }
                    params[stageID] = try r.params(p, "\(key).params.\(stageID)")
                    paramLines[stageID] = try r.lines(p, "\(key).params.\(stageID)")
                }
                var datasets: [String: String] = [:]
                for (stageID, d) in try m["datasets"].map({ try r.entries($0, "\(key).datasets") }) ?? [] {
                    guard stages.contains(where: { $0.id == stageID }) else {
                        throw r.fail(d, "\(key).datasets.\(stageID)", "no stage with this id")
                    }
                    datasets[stageID] = try r.string(d, "\(key).datasets.\(stageID)")
                }
                guard Scale(rawValue: scale) != nil else {
                    throw r.fail(node, key, "unknown scale (scales: \(Scale.allCases.map(\.rawValue).joined(separator: ", ")))")
                }
                scales[scale] = ScaleOverride(axes: restrict, params: params, datasets: datasets, paramLines: paramLines)
            }
        }

        var report: Report? = nil
        if let node = top["report"] {
            let m = try r.mapping(node, "report", allowed: ["file", "rows", "row_labels", "columns", "percent", "notes"],
                                  required: ["file", "columns"])
            let rows = try m["rows"].map { try r.list($0, "report.rows").map { try r.string($0, "report.rows") } } ?? []
            for a in rows where !axisNames.contains(a) { throw r.fail(m["rows"], "report.rows", "unknown axis '\(a)'") }
            var columns: [Column] = []
            for (i, c) in try r.list(m["columns"]!, "report.columns").enumerated() {
                let key = "report.columns[\(i)]"
                let cm = try r.mapping(c, key, allowed: ["label", "metrics", "where"], required: ["label", "metrics"])
                var parts: [MetricRef] = []
                for p in try r.list(cm["metrics"]!, "\(key).metrics") {
                    // "stage.metric"
                    let text = try r.string(p, "\(key).metrics")
                    guard let dot = text.firstIndex(of: "."), stages.contains(where: { $0.id == String(text[..<dot]) }) else {
                        throw r.fail(p, "\(key).metrics", "'\(text)' must be <stage id>.<metric> with a stage of this suite")
                    }
                    parts.append(MetricRef(stage: String(text[..<dot]), metric: String(text[text.index(after: dot)...])))
                }
                let f = try cm["where"].map { try r.filter($0, "\(key).where") } ?? [:]
                try checkFilter(f, c, "\(key).where")
                columns.append(Column(label: try r.string(cm["label"]!, "\(key).label"), parts: parts, filter: f))
            }
            var rowLabels: [String: String] = [:]
            for (k, v) in try m["row_labels"].map({ try r.entries($0, "report.row_labels") }) ?? [] {
                rowLabels[k] = try r.string(v, "report.row_labels.\(k)")
            }
            report = Report(file: try r.string(m["file"]!, "report.file"), rows: rows, rowLabels: rowLabels, columns: columns,
                            percent: try m["percent"].map { try r.bool($0, "report.percent") } ?? true,
                            notes: try m["notes"].map { try r.list($0, "report.notes").map { try r.string($0, "report.notes") } } ?? [])
        }

        func referenceValues(_ node: Node, _ key: String) throws -> [String: [ReferenceValue]] {
            var out: [String: [ReferenceValue]] = [:]
            for (label, v) in try r.entries(node, key) {
                guard report?.columns.contains(where: { $0.label == label }) ?? true else {
                    throw r.fail(v, "\(key).\(label)", "no report column with this label")
                }
                let items = v.sequence != nil ? try r.list(v, "\(key).\(label)") : [v]
                out[label] = try items.map { item in
                    if let d = item.float ?? item.int.map(Double.init), item.tag.description.hasSuffix("float") || item.tag.description.hasSuffix("int") {
                        return .number(d)
                    }
                    return .text(try r.string(item, "\(key).\(label)"))
                }
            }
            return out
        }

        var reference: [ReferenceRow] = []
        let referenceNodes: [Node] = try top["reference"].map { try r.list($0, "reference") } ?? []
        for (i, node) in referenceNodes.enumerated() {
            let m = try r.mapping(node, "reference[\(i)]", allowed: ["cell", "values"], required: ["cell", "values"])
            let cellFilter = try r.filter(m["cell"]!, "reference[\(i)].cell")
            try checkFilter(cellFilter, node, "reference[\(i)].cell")
            reference.append(ReferenceRow(cell: cellFilter.mapValues { $0[0] },
                                          values: try referenceValues(m["values"]!, "reference[\(i)].values")))
        }
        var quoted: [QuotedRow] = []
        let quotedNodes: [Node] = try top["quoted"].map { try r.list($0, "quoted") } ?? []
        for (i, node) in quotedNodes.enumerated() {
            let m = try r.mapping(node, "quoted[\(i)]", allowed: ["label", "values"], required: ["label", "values"])
            quoted.append(QuotedRow(label: try r.string(m["label"]!, "quoted[\(i)].label"),
                                    values: try referenceValues(m["values"]!, "quoted[\(i)].values")))
        }
        var notReproducible: [NotReproducible] = []
        let nrNodes: [Node] = try top["not_reproducible"].map { try r.list($0, "not_reproducible") } ?? []
        for (i, node) in nrNodes.enumerated() {
            let m = try r.mapping(node, "not_reproducible[\(i)]", allowed: ["when", "reason"], required: ["when", "reason"])
            let f = try r.filter(m["when"]!, "not_reproducible[\(i)].when")
            try checkFilter(f, node, "not_reproducible[\(i)].when")
            notReproducible.append(NotReproducible(when: f, reason: try r.string(m["reason"]!, "not_reproducible[\(i)].reason")))
        }

        var claims: [Claim] = []
        let claimNodes: [Node] = try top["claims"].map { try r.list($0, "claims") } ?? []
        for (i, node) in claimNodes.enumerated() {
            let key = "claims[\(i)]"
            let m = try r.mapping(node, key, allowed: ["text", "metric", "better", "than", "than_metric"], required: ["text", "metric"])
            func metricRef(_ field: String) throws -> MetricRef {
                let text = try r.string(m[field]!, "\(key).\(field)")
                guard let dot = text.firstIndex(of: "."), stages.contains(where: { $0.id == String(text[..<dot]) }) else {
                    throw r.fail(m[field], "\(key).\(field)", "'\(text)' must be <stage id>.<metric> with a stage of this suite")
                }
                return MetricRef(stage: String(text[..<dot]), metric: String(text[text.index(after: dot)...]))
            }
            guard m["than"] != nil || m["than_metric"] != nil else {
                throw r.fail(node, key, "a claim needs `than` (cells to compare with) or `than_metric` (a metric to compare with)")
            }
            let better = try m["better"].map { try r.filter($0, "\(key).better") } ?? [:]
            let than = try m["than"].map { try r.filter($0, "\(key).than") } ?? [:]
            try checkFilter(better, node, "\(key).better"); try checkFilter(than, node, "\(key).than")
            claims.append(Claim(text: try r.string(m["text"]!, "\(key).text"), metric: try metricRef("metric"),
                                better: better, than: than, thanMetric: try m["than_metric"].map { _ in try metricRef("than_metric") }))
        }

        let bytes = (try? Data(contentsOf: url)) ?? Data()
        var spec = SuiteSpec(file: url.path, name: name, title: try r.string(top["title"]!, "title"),
                         description: try top["description"].map { try r.string($0, "description") },
                         axes: axes, stages: stages, scales: scales, report: report, reference: reference,
                         quoted: quoted, notReproducible: notReproducible,
                         contentHash: SHA256Text.hex(bytes))
        spec.claims = claims
        return spec
    }
}

/// Does a cell (axis → value) satisfy a filter (axis → allowed values)? Axes the cell
/// lacks do not constrain.
func matches(_ cell: [String: String], _ filter: [String: [String]]) -> Bool {
    filter.allSatisfy { axis, values in cell[axis].map(values.contains) ?? true }
}
