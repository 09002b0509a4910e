import Foundation

/// Renders a suite's table in the paper's layout from stored results only, with its noise
/// floor (`docs/statistics.md`) and the data of its chart.
public struct ReportWriter {
    /// Fewer test units than this give no test-set interval (`Statistics.minimumUnits`).
    public var minimumUnits: Int
    public init(minimumUnits: Int = Statistics.minimumUnits) { self.minimumUnits = minimumUnits }

    /// Mean and (sample) standard deviation.
    static func meanStd(_ xs: [Double]) -> (Double, Double?) { (Statistics.mean(xs), Statistics.standardDeviation(xs)) }

    func format(_ x: Double, percent: Bool) -> String { String(format: "%.1f", percent ? x * 100 : x) }

    func reference(_ suite: SuiteSpec, row: [String: String], column: SuiteSpec.Column) -> [SuiteSpec.ReferenceValue]? {
        var context = row
        for (axis, values) in column.filter where values.count == 1 { context[axis] = values[0] }
        return suite.reference.first { ref in ref.cell.allSatisfy { context[$0.key] == $0.value } }?.values[column.label]
    }

    // MARK: The table's cells

    /// One metric of one table cell: its runs (one per seed) and their spread.
    struct Part {
        var metric: SuiteSpec.MetricRef
        var runs: [MetricRun]
        /// False when the metric's stage serves no cell of this row (its `when` excludes it):
        /// shown as "–", not as a missing run.
        var applies = true
        var values: [Double] { runs.map(\.value) }
        var mean: Double { Statistics.mean(values) }
        var std: Double? { Statistics.standardDeviation(values) }
        /// The test-set samples when every run stored per-item values or resampling data.
        var samples: [Statistics.ItemSample]? {
            let s = runs.compactMap(\.sample)
            return s.count == runs.count && !s.isEmpty ? s : nil
        }
        /// Percentile bootstrap interval of the cell mean over the test set (units resampled,
        /// each run's metric recomputed), and the bootstrap variance of that mean (nil without
        /// per-item values or resampling data, or when no replicate is defined).
        var bootstrap: (lower: Double, upper: Double, variance: Double)?
        /// What was resampled, for the noise floor: "32 items", "2 videos, mAP recomputed".
        var resampled: String? {
            guard bootstrap != nil, let s = samples else { return nil }
            let counts = Set(s.map(\.count)).sorted(), units = Set(s.map(\.unit)).sorted(), methods = Set(s.map(\.method)).sorted()
            var text = counts.map(String.init).joined(separator: "/") + " " + units.joined(separator: "/")
            if methods != ["mean"] { text += ", " + methods.joined(separator: "/") }
            return text
        }
    }

    enum CellState {
        case notReproducible(String)
        /// No metric of the column belongs to this row.
        case notApplicable
        case notRun
        case measured([Part], missing: Int)
    }

    struct Cell {
        var row: [String: String]
        var column: SuiteSpec.Column
        var reference: [SuiteSpec.ReferenceValue]?
        var state: CellState
        var parts: [Part] { if case .measured(let p, _) = state { return p } else { return [] } }
    }

    struct Table {
        var rows: [[String: String]]
        /// rows × columns.
        var cells: [[Cell]]
        var footnotes: [String]
        var seeds: Set<Int>
    }

    func rowLabel(_ report: SuiteSpec.Report, _ row: [String: String]) -> [String] {
        report.rows.map { report.rowLabels[row[$0]!] ?? row[$0]! }
    }

    /// The cells of a suite's table from stored results.
    func table(plan: Plan, results: [String: StageResult]) -> Table {
        let suite = plan.suite, report = suite.report!
        // Row combinations in axis order, restricted to the plan's scale.
        var rows: [[String: String]] = [[:]]
        for axisName in report.rows {
            let values = plan.cells.compactMap { $0[axisName] }.reduce(into: [String]()) { if !$0.contains($1) { $0.append($1) } }
            rows = rows.flatMap { r in values.map { r.merging([axisName: $0]) { $1 } } }
        }
        var footnotes: [String] = []
        var seeds = Set<Int>()
        let cells = rows.map { row in
            report.columns.map { column -> Cell in
                let ref = reference(suite, row: row, column: column)
                if let reason = plan.notReproducibleReason(row.merging(column.filter.compactMapValues { $0.count == 1 ? $0[0] : nil }) { a, _ in a }) {
                    if !footnotes.contains(reason) { footnotes.append(reason) }
                    return Cell(row: row, column: column, reference: ref, state: .notReproducible(reason))
                }
                let inCell: ([String: String]) -> Bool = { c in row.allSatisfy { c[$0.key] == $0.value } && matches(c, column.filter) }
                var parts: [Part] = []
                var missing = 0
                for metric in column.parts {
                    let runs = plan.runs(metric, where: inCell, results: results, minimumUnits: minimumUnits)
                    let planned = Set(plan.cells.filter(inCell).compactMap { plan.instance(of: metric.stage, for: $0)?.identity })
                    missing += planned.filter { results[$0]?.metrics[metric.metric] == nil }.count
                    var part = Part(metric: metric, runs: runs, applies: !planned.isEmpty)
                    if let samples = part.samples, case let reps = Statistics.bootstrap(samples, statistic: { Statistics.mean($0) }),
                       !reps.isEmpty {
                        let sorted = reps.sorted(), tail = (1 - Statistics.confidence) / 2
                        part.bootstrap = (Statistics.quantile(sorted: sorted, tail), Statistics.quantile(sorted: sorted, 1 - tail),
                                          Statistics.variance(reps))
                    }
                    parts.append(part)
                }
                if !parts.contains(where: \.applies) { return Cell(row: row, column: column, reference: ref, state: .notApplicable) }
                if parts.contains(where: { $0.applies && $0.runs.isEmpty }) { return Cell(row: row, column: column, reference: ref, state: .notRun) }
                for p in parts { for r in p.runs { seeds.insert(r.seed) } }
                return Cell(row: row, column: column, reference: ref, state: .measured(parts, missing: missing))
            }
        }
        return Table(rows: rows, cells: cells, footnotes: footnotes, seeds: seeds)
    }

    // MARK: Markdown

    /// The Markdown report of one suite; `chart` is the relative path of its chart, embedded
    /// under the table.
    public func render(plan: Plan, results: [String: StageResult], provenance: Provenance, chart: String? = nil) -> String {
        let suite = plan.suite
        guard let report = suite.report else { return "# \(suite.title)\n\n(This suite has no table.)\n" }
        var out = "# \(suite.title)\n\n"
        if let d = suite.description { out += d + "\n\n" }
        out += "Scale **\(plan.scale.rawValue)**. Each cell: ours (mean ± std over n seeds), then the paper's number and the difference (ours − paper)"
        out += report.percent ? ", in %.\n\n" : ".\n\n"

        let table = table(plan: plan, results: results)
        let header = report.rows.map { $0 } + report.columns.map(\.label)
        out += "| " + header.joined(separator: " | ") + " |\n"
        out += "|" + header.map { _ in " --- " }.joined(separator: "|") + "|\n"
        for (row, cells) in zip(table.rows, table.cells) {
            var texts = rowLabel(report, row)
            for cell in cells {
                let paper = cell.reference.map { "paper " + paperText($0, percent: false) }
                switch cell.state {
                case .notReproducible(let reason):
                    texts.append("not reproducible offline [\(table.footnotes.firstIndex(of: reason)! + 1)]" + (paper.map { " (\($0))" } ?? ""))
                case .notApplicable:
                    texts.append("–" + (paper.map { " (\($0))" } ?? ""))
                case .notRun:
                    texts.append("not run" + (paper.map { " (\($0))" } ?? ""))
                case .measured(let parts, let missing):
                    var text = "**" + parts.map { p in
                        guard p.applies else { return "–" }
                        return format(p.mean, percent: report.percent) + (p.std.map { " ± " + format($0, percent: report.percent) } ?? "")
                    }.joined(separator: " / ") + "**"
                    let ns = parts.filter(\.applies).map { String($0.runs.count) }
                    var notes = ["n = " + (Set(ns).count == 1 ? ns[0] : ns.joined(separator: " / "))]
                    if let ref = cell.reference, let paper {
                        let diffs = zip(parts, ref).map { p, r -> String in
                            guard p.applies, case .number(let x) = r else { return "n/a" }
                            return String(format: "%+.1f", (report.percent ? p.mean * 100 : p.mean) - x)
                        }
                        notes.append(paper + ", Δ " + diffs.joined(separator: " / "))
                    }
                    text += " (" + notes.joined(separator: "; ") + ")"
                    if missing > 0 { text += " (\(missing) runs missing)" }
                    texts.append(text)
                }
            }
            out += "| " + texts.joined(separator: " | ") + " |\n"
        }
        for q in suite.quoted {
            var cells = [q.label + " (quoted)"] + Array(repeating: "", count: max(0, report.rows.count - 1))
            for column in report.columns { cells.append(q.values[column.label].map { paperText($0, percent: false) } ?? "–") }
            out += "| " + cells.joined(separator: " | ") + " |\n"
        }
        if !table.footnotes.isEmpty {
            out += "\n" + table.footnotes.enumerated().map { "[\($0.offset + 1)] \($0.element)" }.joined(separator: "\n") + "\n"
        }
        if !report.notes.isEmpty { out += "\n" + report.notes.map { "- " + $0 }.joined(separator: "\n") + "\n" }
        if !suite.quoted.isEmpty { out += "\nRows marked (quoted) are prior work as the paper reports it, not run here.\n" }
        if let chart {
            out += "\n![Our cells (mean and error bar) beside the paper's numbers](\(chart))\n\n"
            out += "Dots: ours, with the seed-to-seed standard deviation as error bar (n ≥ 2), or the 95 % test-set interval "
            out += "(one seed with per-item results); diamonds: the paper.\n"
        }
        // The claims stand in the report too: a suite run on its own (`bench run`, another
        // reports folder) has no index to carry them.
        if !suite.claims.isEmpty {
            out += "\n## Claims\n\nEach judged at \(Int(Statistics.confidence * 100)) % confidence: **holds** when the interval "
            out += "of the paired difference lies above 0, **contradicted** when below, **inconclusive** otherwise "
            out += "(`docs/statistics.md`; intervals per claim, not corrected for the number of claims).\n\n"
            out += ClaimJudge(plan: plan, results: results).bullets
        }
        out += noiseFloor(report: report, table: table)
        out += skippedItems(plan: plan, results: results)

        out += "\n## Provenance\n\n"
        out += "| | |\n| --- | --- |\n"
        out += "| git commit | `\(provenance.gitCommit)` |\n"
        out += "| suite | `\(URL(fileURLWithPath: suite.file).lastPathComponent)` sha256 `\(suite.contentHash.prefix(16))` |\n"
        out += "| manifest | sha256 `\(provenance.manifestHash.prefix(16))` |\n"
        out += "| scale | \(plan.scale.rawValue) |\n"
        out += "| seeds | \(table.seeds.isEmpty ? "–" : table.seeds.sorted().map(String.init).joined(separator: ", ")) |\n"
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

    /// The "Skipped items" section: per finished stage, how many items it left out and why,
    /// with their names in a collapsible list. Results stored before names were recorded
    /// count their skipped videos (`skipped_bad_videos`) without naming them.
    func skippedItems(plan: Plan, results: [String: StageResult]) -> String {
        var rows = "", lists = ""
        var finished = 0
        for stage in plan.stages {
            guard let r = results[stage.identity] else { continue }
            finished += 1
            var reasons = r.skipped.filter { !$0.value.isEmpty }.sorted { $0.key < $1.key }.map { ($0.key, $0.value.count) }
            let named = reasons.reduce(0) { $0 + $1.1 }
            let counted = r.counts["skipped_bad_videos"] ?? 0
            if counted > named { reasons.append(("undecodable (names not recorded)", counted - named)) }
            let total = reasons.reduce(0) { $0 + $1.1 }
            guard total > 0 else { continue }
            rows += "| \(stage.key) | `\(stage.shortIdentity)` | \(total) | "
            rows += reasons.map { "\($0.0) (\($0.1))" }.joined(separator: "; ") + " |\n"
            guard named > 0 else { continue }
            lists += "\n<details><summary>\(stage.key): \(named) skipped item\(named == 1 ? "" : "s") by name</summary>\n\n"
            for (reason, names) in r.skipped.sorted(by: { $0.key < $1.key }) where !names.isEmpty {
                lists += "\(reason) (\(names.count)):\n\n" + names.map { "- `\($0)`\n" }.joined() + "\n"
            }
            lists += "</details>\n"
        }
        var out = "\n## Skipped items\n\n"
        guard !rows.isEmpty else {
            return out + (finished == 0 ? "No stage has finished yet.\n" : "None: every finished stage used every item of its dataset.\n")
        }
        out += "Items a stage left out (videos that failed to decode are skipped, not fatal; `bench datasets check` lists them "
        out += "before a run).\n\n| stage | identity | skipped | why |\n| --- | --- | ---: | --- |\n" + rows + lists
        return out
    }

    /// Per metric: its spread summed up over the table's cells.
    struct NoiseFloor {
        var metric: SuiteSpec.MetricRef
        var cells: Int
        /// Fewest and most seeds of a cell.
        var seeds: ClosedRange<Int>
        /// Pooled seed-to-seed standard deviation, √(Σ (n_i − 1) s_i² / Σ (n_i − 1)).
        var seedStd: Double?
        /// Test-set 95 % half-widths of the cells that have per-item values.
        var halfWidths: [Double]
        /// Mean bootstrap variance of a cell mean.
        var cellVariance: Double?
        /// What the cells' bootstraps resampled (distinct descriptions, in cell order).
        var resampled: [String]
        var smallestDifference: Double? {
            Statistics.smallestDecidableDifference(seedStd: seedStd, n: seeds.lowerBound, cellVariance: cellVariance)
        }
    }

    func noiseFloors(_ table: Table) -> [NoiseFloor] {
        var order: [SuiteSpec.MetricRef] = []
        var parts: [String: [Part]] = [:]
        var seen = Set<String>()
        for cell in table.cells.joined() {
            for p in cell.parts where p.applies {
                let name = "\(p.metric.stage).\(p.metric.metric)"
                // Cells served by the same runs (a stage shared by several rows) count once.
                guard seen.insert(name + " " + p.runs.map(\.identity).sorted().joined(separator: ",")).inserted else { continue }
                if parts[name] == nil { order.append(p.metric) }
                parts[name, default: []].append(p)
            }
        }
        return order.map { metric in
            let ps = parts["\(metric.stage).\(metric.metric)"]!
            let dof = ps.map { $0.runs.count - 1 }.reduce(0, +)
            let ss = ps.compactMap { p in p.std.map { Double(p.runs.count - 1) * $0 * $0 } }.reduce(0, +)
            let boots = ps.compactMap(\.bootstrap)
            let counts = ps.map(\.runs.count)
            return NoiseFloor(metric: metric, cells: ps.count, seeds: counts.min()!...counts.max()!,
                              seedStd: dof > 0 ? (ss / Double(dof)).squareRoot() : nil,
                              halfWidths: boots.map { ($0.upper - $0.lower) / 2 },
                              cellVariance: boots.isEmpty ? nil : Statistics.mean(boots.map(\.variance)),
                              resampled: ps.compactMap(\.resampled).reduce(into: []) { if !$0.contains($1) { $0.append($1) } })
        }
    }

    /// The "Noise floor" section: per metric, how much the numbers move and the smallest
    /// difference a claim on them could call; per cell, its test-set half-width.
    func noiseFloor(report: SuiteSpec.Report, table: Table) -> String {
        let floors = noiseFloors(table)
        guard !floors.isEmpty else { return "" }
        let unit = report.percent ? " (points)" : ""
        let f = { (x: Double) in NumberText.plain(x, percent: report.percent) }
        var out = "\n## Noise floor\n\n"
        out += "Seed-to-seed std: pooled over the cells, from repeated seeds. Test-set half-width: half the percentile-bootstrap "
        out += "95 % interval of a cell's mean when its test set is resampled: test items for accuracies and class-mean recalls, "
        out += "test videos for mAP, the metric recomputed on every resample (the resampled column). Smallest decidable Δ: the 95 % half-width of a difference "
        out += "between two such cells, t · √(2 s²/n + 2 v) with v a cell mean's bootstrap variance — a true difference below "
        out += "it is never called (see `docs/statistics.md`).\n\n"
        out += "| metric | cells | seeds per cell | seed-to-seed std\(unit) | test-set 95 % half-width\(unit) | smallest decidable Δ\(unit) | resampled |\n"
        out += "| --- | ---: | ---: | ---: | ---: | ---: | --- |\n"
        for nf in floors {
            let seeds = nf.seeds.lowerBound == nf.seeds.upperBound ? "\(nf.seeds.lowerBound)" : "\(nf.seeds.lowerBound)–\(nf.seeds.upperBound)"
            let std = nf.seedStd.map(f) ?? "– (one seed)"
            var half = minimumUnits > 1 ? "– (no per-item results, or fewer than \(minimumUnits) test units)" : "– (no per-item results)"
            if let lo = nf.halfWidths.min(), let hi = nf.halfWidths.max() {
                half = lo == hi || f(lo) == f(hi) ? "±" + f(hi) : "±" + f(lo) + " to ±" + f(hi)
                if nf.halfWidths.count < nf.cells { half += " (\(nf.halfWidths.count) of \(nf.cells) cells)" }
            }
            let mdd = nf.smallestDifference.map(f) ?? "not estimable"
            let resampled = nf.resampled.isEmpty ? "–" : nf.resampled.joined(separator: "; ")
            out += "| `\(nf.metric.stage).\(nf.metric.metric)` | \(nf.cells) | \(seeds) | \(std) | \(half) | \(mdd) | \(resampled) |\n"
        }
        // Per cell, when any has per-item values: the table's layout, half-widths only.
        guard table.cells.joined().contains(where: { $0.parts.contains { $0.bootstrap != nil } }) else { return out }
        out += "\nTest-set 95 % half-width per cell\(unit):\n\n"
        let header = report.rows + report.columns.map(\.label)
        out += "| " + header.joined(separator: " | ") + " |\n|" + header.map { _ in " --- " }.joined(separator: "|") + "|\n"
        for (row, cells) in zip(table.rows, table.cells) {
            let texts = rowLabel(report, row) + cells.map { cell in
                cell.parts.isEmpty ? "–" : cell.parts.map { p in p.bootstrap.map { "±" + f(($0.upper - $0.lower) / 2) } ?? "–" }.joined(separator: " / ")
            }
            out += "| " + texts.joined(separator: " | ") + " |\n"
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

    // MARK: Chart

    /// The SVG chart of the table's cells: one panel per metric, a row per cell, ours with
    /// error bars beside the paper's numbers. Nil when no cell has a number to show.
    public func chart(plan: Plan, results: [String: StageResult]) -> String? {
        guard let report = plan.suite.report else { return nil }
        let table = table(plan: plan, results: results)
        let scale = report.percent ? 100.0 : 1.0
        var order: [String] = []
        var panels: [String: SVGChart.DotPanel] = [:]
        // Columns contributing to a metric's panel: name a row by its column too when several do.
        var columnsOf: [String: Set<String>] = [:]
        for cell in table.cells.joined() {
            for metric in cell.column.parts { columnsOf["\(metric.stage).\(metric.metric)", default: []].insert(cell.column.label) }
        }
        var shownRuns: [String: [Set<String>]] = [:]
        for (row, cells) in zip(table.rows, table.cells) {
            for cell in cells {
                for (i, metric) in cell.column.parts.enumerated() {
                    let name = "\(metric.stage).\(metric.metric)"
                    // A stage that does not serve this row has no dot in it.
                    if case .notApplicable = cell.state { continue }
                    if cell.parts.count > i, !cell.parts[i].applies { continue }
                    if panels[name] == nil {
                        order.append(name)
                        let single = columnsOf[name]!.count == 1 && cell.column.parts.count == 1
                        panels[name] = SVGChart.DotPanel(title: single ? "\(cell.column.label) (\(name))" : name, rows: [])
                    }
                    // A row is named by the row axes its stage runs over; rows that the same
                    // runs serve (a pretraining shared by every initialisation row) are shown once.
                    let over = plan.suite.stage(metric.stage)?.over ?? report.rows
                    var label = report.rows.filter(over.contains).map { report.rowLabels[row[$0]!] ?? row[$0]! }.joined(separator: " · ")
                    if columnsOf[name]!.count > 1 { label += (label.isEmpty ? "" : " · ") + cell.column.label }
                    if label.isEmpty { label = metric.stage }
                    let identities = Set(cell.parts.count > i ? cell.parts[i].runs.map(\.identity) : [])
                    if !identities.isEmpty, shownRuns[name, default: []].contains(identities) { continue }
                    if !identities.isEmpty { shownRuns[name, default: []].append(identities) }
                    var paper: Double? = nil
                    if let ref = cell.reference, i < ref.count, case .number(let x) = ref[i] { paper = x }
                    var dot = SVGChart.DotRow(label: label, paper: paper)
                    switch cell.state {
                    case .notReproducible: dot.note = "not reproducible offline"
                    case .notApplicable: continue  // skipped above; kept for exhaustiveness
                    case .notRun: dot.note = "not run"
                    case .measured(let parts, _):
                        let p = parts[i]
                        dot.ours = p.mean * scale
                        dot.note = "n = \(p.runs.count)"
                        if let s = p.std {
                            dot.error = (p.mean * scale - s * scale, p.mean * scale + s * scale)
                        } else if let b = p.bootstrap {
                            dot.error = (b.lower * scale, b.upper * scale); dot.note += ", 95 % CI"
                        }
                    }
                    panels[name]!.rows.append(dot)
                }
            }
        }
        let shown = order.map { panels[$0]! }.filter { $0.rows.contains { $0.ours != nil || $0.paper != nil } }
        guard shown.contains(where: { $0.rows.contains { $0.ours != nil } }) else { return nil }
        return SVGChart.dots(title: plan.suite.title, subtitle: "scale \(plan.scale.rawValue)", unit: report.percent ? "%" : "value",
                             panels: shown)
    }
}
