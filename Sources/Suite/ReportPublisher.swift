import Foundation

/// Writes the reports of a run store: one Markdown table per suite (with its figures
/// copied beside it), the index `reports/README.md` with each suite's claims, and the
/// removal of figures no report links to any more.
public struct ReportPublisher {
    public var store: RunStore
    public var reports: URL
    public var progress: ProgressSink
    public init(store: RunStore, reports: URL, progress: ProgressSink) { self.store = store; self.reports = reports; self.progress = progress }

    public func results(_ plan: Plan) throws -> [String: StageResult] {
        var out: [String: StageResult] = [:]
        for s in plan.stages { if let r = try store.result(s.identity) { out[s.identity] = r } }
        return out
    }

    /// Writes a suite's report. Pass one `provenance` for a batch of reports: computed per
    /// report, the git state would count the reports already written as uncommitted changes.
    public func writeReport(_ plan: Plan, provenance given: Provenance) throws {
        guard let report = plan.suite.report else { return }
        try FileManager.default.createDirectory(at: reports, withIntermediateDirectories: true)
        let stored = try results(plan)
        let folder = reports.appendingPathComponent("figures")
        // The chart of the table's cells, embedded under the table.
        var chartLink: String? = nil
        if let svg = ReportWriter().chart(plan: plan, results: stored) {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            let name = "\(plan.suite.name)-cells.svg"
            try svg.write(to: folder.appendingPathComponent(name), atomically: true, encoding: .utf8)
            chartLink = "figures/\(name)"
        }
        var md = ReportWriter().render(plan: plan, results: stored, provenance: given, chart: chartLink)
        // The suite's claims and their verdicts, under the table, as in the index: a suite
        // run on its own (`bench run`, another reports folder) has no index to carry them.
        if !plan.suite.claims.isEmpty {
            let judge = ClaimJudge(plan: plan, results: stored)
            var section = "## Claims\n\nEach judged at \(Int(Statistics.confidence * 100)) % confidence: **holds** when the interval "
            section += "of the paired difference lies above 0, **contradicted** when below, **inconclusive** otherwise "
            section += "(`docs/statistics.md`; intervals per claim, not corrected for the number of claims).\n\n"
            for claim in plan.suite.claims { section += "- " + judge.line(claim) + "\n" }
            section += "\n"
            if let at = md.range(of: "## Noise floor") { md.insert(contentsOf: section, at: at.lowerBound) } else { md += "\n" + section }
        }
        // Figures (artifacts named figure.N) are copied beside the report and embedded.
        var figures = ""
        for stage in plan.stages {
            guard let r = stored[stage.identity] else { continue }
            for key in r.artifacts.keys.filter({ $0.hasPrefix("figure.") }).sorted() {
                try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
                let name = "\(plan.suite.name)-\(stage.shortIdentity)-\(key.dropFirst("figure.".count)).png"
                let target = folder.appendingPathComponent(name)
                try? FileManager.default.removeItem(at: target)
                try FileManager.default.copyItem(at: store.directory(stage.identity).appendingPathComponent(r.artifacts[key]!), to: target)
                figures += "\n**\(stage.key)**, figure \(key.dropFirst("figure.".count)):\n\n![ICM](figures/\(name))\n"
            }
        }
        if !figures.isEmpty { md += "\n## Figures\n" + figures }
        // Training curves of every stage that kept an epoch log.
        var curves = ""
        for stage in plan.stages {
            let logURL = store.directory(stage.identity).appendingPathComponent("epochs.json")
            // Stages finished before their kind kept a log have none.
            guard stored[stage.identity] != nil, FileManager.default.fileExists(atPath: logURL.path) else { continue }
            guard let svg = SVGChart.epochCurves(try Data(contentsOf: logURL), title: stage.key,
                                                 subtitle: "\(stage.kind) on \(stage.dataset ?? "–"), stage \(stage.shortIdentity)")
            else { continue }
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            let name = "\(plan.suite.name)-\(stage.shortIdentity)-curves.svg"
            try svg.write(to: folder.appendingPathComponent(name), atomically: true, encoding: .utf8)
            curves += "\n**\(stage.key)**:\n\n![Training curves of \(stage.key)](figures/\(name))\n"
        }
        if !curves.isEmpty { md += "\n## Training curves\n\nPer epoch, from the stage's epoch log (`epochs.json` in the run store).\n" + curves }
        let url = reports.appendingPathComponent(report.file)
        try md.write(to: url, atomically: true, encoding: .utf8)
        progress.log("report  \(url.path)")
    }

    /// `reports/README.md`: the results section for the scale that produced the reports,
    /// with each suite's claims checked against the stored numbers.
    public func writeReportsIndex(_ plans: [Plan]) throws {
        try FileManager.default.createDirectory(at: reports, withIntermediateDirectories: true)
        let scale = plans.first?.scale.rawValue ?? "?"
        var out = "# Results at the \(scale) scale\n\n"
        out += "Generated by `bench report` from the stored results of `bench all --scale \(scale)`; "
        out += "every number below links back to a stage result in the run store. "
        if scale == "ci" {
            out += "The ci scale trains quarter-width R18 and R50 networks on 32-pixel crops of small synthetic datasets for a few "
            out += "hundred steps, one seed: it checks that every protocol runs end to end and that its numbers do not drift "
            out += "(the regression gate), not that the paper's absolute numbers are reached; with 32–36 test videos a set most "
            out += "of its claims cannot be decided. The `small` scale exists for that.\n\n"
        } else if scale == "small" {
            out += "The small scale runs the ci recipe (quarter-width networks, 32-pixel crops, the same training sets) "
            out += "on three seeds with test splits of about 1,100 videos a recognition set, so that a 95 % interval of an "
            out += "accuracy is about ±3 points and its claims can be decided. The ci scale's results are in [../README.md](../README.md).\n\n"
        } else {
            out += "\n\n"
        }
        if scale == "ci" {
            let others = Scale.allCases.filter { $0 != .ci }.map(\.rawValue).filter {
                FileManager.default.fileExists(atPath: reports.appendingPathComponent($0).appendingPathComponent("README.md").path)
            }
            if !others.isEmpty {
                out += "Other scales: " + others.map { "[\($0)](\($0)/README.md)" }.joined(separator: ", ") + " (same suites, their own reports).\n\n"
            }
        }
        out += "Each claim is judged at \(Int(Statistics.confidence * 100)) % confidence: **holds** when the interval of the difference "
        out += "lies above 0, **contradicted** when below, **inconclusive** otherwise. n counts seeds; the interval pairs runs by "
        out += "seed and adds the test-set uncertainty where per-item results are stored ([method](\(scale == "ci" ? "" : "../")../docs/statistics.md); "
        out += "intervals are per claim, not corrected for the number of claims).\n\n"
        for plan in plans {
            let stored = try results(plan)
            out += "## [\(plan.suite.title)](\(plan.suite.report?.file ?? ""))\n\n"
            out += "\(stored.count) of \(plan.stages.count) stages finished.\n\n"
            let judge = ClaimJudge(plan: plan, results: stored)
            for claim in plan.suite.claims { out += "- " + judge.line(claim) + "\n" }
            if !plan.suite.claims.isEmpty { out += "\n" }
        }
        try out.write(to: reports.appendingPathComponent("README.md"), atomically: true, encoding: .utf8)
        try pruneFigures()
    }

    /// Removes files of `reports/figures` that no report links to any more (figures are named
    /// by stage identity, so a changed stage leaves its old figures behind). Runs with the
    /// index, i.e. only once every suite's report has been rewritten.
    func pruneFigures() throws {
        let folder = reports.appendingPathComponent("figures")
        let fm = FileManager.default
        guard let names = try? fm.contentsOfDirectory(atPath: folder.path) else { return }
        var linked = Set<String>()
        for md in try fm.contentsOfDirectory(atPath: reports.path) where md.hasSuffix(".md") {
            let text = try String(contentsOf: reports.appendingPathComponent(md), encoding: .utf8)
            for part in text.components(separatedBy: "](figures/").dropFirst() {
                if let end = part.firstIndex(of: ")") { linked.insert(String(part[..<end])) }
            }
        }
        for name in names where !linked.contains(name) {
            try fm.removeItem(at: folder.appendingPathComponent(name))
            progress.log("removed reports/figures/\(name) (no report links to it)")
        }
    }
}
