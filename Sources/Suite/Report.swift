import Foundation

/// Renders a suite's table in the paper's layout from stored results only.
public struct ReportWriter {
    public init() {}

    /// Mean and (sample) standard deviation.
    static func meanStd(_ xs: [Double]) -> (Double, Double?) {
        let m = xs.reduce(0, +) / Double(xs.count)
        guard xs.count > 1 else { return (m, nil) }
        let v = xs.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(xs.count - 1)
        return (m, v.squareRoot())
    }

    func format(_ x: Double, percent: Bool) -> String { String(format: "%.1f", percent ? x * 100 : x) }

    func reference(_ suite: SuiteSpec, row: [String: String], column: SuiteSpec.Column) -> [SuiteSpec.ReferenceValue]? {
        var context = row
        for (axis, values) in column.filter where values.count == 1 { context[axis] = values[0] }
        return suite.reference.first { ref in ref.cell.allSatisfy { context[$0.key] == $0.value } }?.values[column.label]
    }

    /// The Markdown report of one suite.
    public func render(plan: Plan, results: [String: StageResult], provenance: Provenance) -> String {
        let suite = plan.suite
        guard let report = suite.report else { return "# \(suite.title)\n\n(This suite has no table.)\n" }
        var out = "# \(suite.title)\n\n"
        if let d = suite.description { out += d + "\n\n" }
        out += "Scale **\(plan.scale.rawValue)**. Each cell: ours (mean ± std over seeds), then the paper's number and the difference (ours − paper)"
        out += report.percent ? ", in %.\n\n" : ".\n\n"

        // Row combinations in axis order, restricted to the plan's scale.
        var rows: [[String: String]] = [[:]]
        for axisName in report.rows {
            let values = plan.cells.compactMap { $0[axisName] }.reduce(into: [String]()) { if !$0.contains($1) { $0.append($1) } }
            rows = rows.flatMap { r in values.map { r.merging([axisName: $0]) { $1 } } }
        }
        let header = report.rows.map { $0 } + report.columns.map(\.label)
        out += "| " + header.joined(separator: " | ") + " |\n"
        out += "|" + header.map { _ in " --- " }.joined(separator: "|") + "|\n"
        var footnotes: [String] = []
        var seedsUsed = Set<String>()
        for row in rows {
            var cells = report.rows.map { report.rowLabels[row[$0]!] ?? row[$0]! }
            for column in report.columns {
                if let reason = plan.notReproducibleReason(row.merging(column.filter.compactMapValues { $0.count == 1 ? $0[0] : nil }) { a, _ in a }) {
                    if !footnotes.contains(reason) { footnotes.append(reason) }
                    let paper = reference(suite, row: row, column: column).map { " (paper " + paperText($0, percent: false) + ")" } ?? ""
                    cells.append("not reproducible offline [\(footnotes.firstIndex(of: reason)! + 1)]\(paper)")
                    continue
                }
                let matching = plan.cells.filter { c in row.allSatisfy { c[$0.key] == $0.value } && matches(c, column.filter) }
                var partValues: [[Double]] = column.parts.map { _ in [] }
                var missing = 0
                for cell in matching {
                    for (i, part) in column.parts.enumerated() {
                        guard let stage = plan.instance(of: part.stage, for: cell) else { continue }
                        if let r = results[stage.identity], let v = r.metrics[part.metric] {
                            partValues[i].append(v)
                            if let s = cell["seed"] { seedsUsed.insert(s) }
                        } else {
                            missing += 1
                        }
                    }
                }
                let ref = reference(suite, row: row, column: column)
                if partValues.contains(where: \.isEmpty) {
                    cells.append("not run" + (ref.map { " (paper " + paperText($0, percent: false) + ")" } ?? ""))
                    continue
                }
                let stats = partValues.map(Self.meanStd)
                var text = "**" + stats.map { m, s in
                    format(m, percent: report.percent) + (s.map { " ± " + format($0, percent: report.percent) } ?? "")
                }.joined(separator: " / ") + "**"
                if missing > 0 { text += " (\(missing) runs missing)" }
                if let ref {
                    text += " (paper " + paperText(ref, percent: false)
                    let diffs = zip(stats, ref).map { st, r -> String in
                        guard case .number(let p) = r else { return "n/a" }
                        let ours = report.percent ? st.0 * 100 : st.0
                        return String(format: "%+.1f", ours - p)
                    }
                    text += ", Δ " + diffs.joined(separator: " / ") + ")"
                }
                cells.append(text)
            }
            out += "| " + cells.joined(separator: " | ") + " |\n"
        }
        for q in suite.quoted {
            var cells = [q.label + " (quoted)"] + Array(repeating: "", count: max(0, report.rows.count - 1))
            for column in report.columns { cells.append(q.values[column.label].map { paperText($0, percent: false) } ?? "–") }
            out += "| " + cells.joined(separator: " | ") + " |\n"
        }
        if !footnotes.isEmpty {
            out += "\n" + footnotes.enumerated().map { "[\($0.offset + 1)] \($0.element)" }.joined(separator: "\n") + "\n"
        }
        if !report.notes.isEmpty { out += "\n" + report.notes.map { "- " + $0 }.joined(separator: "\n") + "\n" }
        if !suite.quoted.isEmpty { out += "\nRows marked (quoted) are prior work as the paper reports it, not run here.\n" }

        out += "\n## Provenance\n\n"
        out += "| | |\n| --- | --- |\n"
        out += "| git commit | `\(provenance.gitCommit)` |\n"
        out += "| suite | `\(URL(fileURLWithPath: suite.file).lastPathComponent)` sha256 `\(suite.contentHash.prefix(16))` |\n"
        out += "| manifest | sha256 `\(provenance.manifestHash.prefix(16))` |\n"
        out += "| scale | \(plan.scale.rawValue) |\n"
        out += "| seeds | \(seedsUsed.isEmpty ? "–" : seedsUsed.sorted().joined(separator: ", ")) |\n"
        for (name, version) in provenance.versions { out += "| \(name) | \(version) |\n" }
        out += "| machine | \(provenance.machine) |\n"
        out += "| generated | \(provenance.date) |\n"
        out += "\nWall time per stage:\n\n| stage | identity | wall time | finished |\n| --- | --- | ---: | --- |\n"
        for stage in plan.stages {
            guard let r = results[stage.identity] else {
                out += "| \(stage.key) | `\(stage.shortIdentity)` | not run | |\n"
                continue
            }
            out += "| \(stage.key) | `\(stage.shortIdentity)` | \(ProgressSink.duration(r.wallSeconds)) | \(r.finishedAt) |\n"
        }
        return out
    }

    func paperText(_ values: [SuiteSpec.ReferenceValue], percent: Bool) -> String {
        values.map { v -> String in
            switch v {
            case .number(let x): return String(format: "%.1f", x)
            case .text(let t): return t
            }
        }.joined(separator: " / ")
    }
}
