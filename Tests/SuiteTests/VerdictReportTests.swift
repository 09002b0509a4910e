import Foundation
@testable import Suite
import XCTest
#if canImport(FoundationXML)
import FoundationXML
#endif

/// A stage kind whose metrics and per-item values the test sets per cell.
final class TableExecutor: StageExecutor, @unchecked Sendable {
    typealias Configuration = FakeConfiguration
    let kind = "table"
    let codeVersion = "1"
    /// "alpha,seed" → metrics and per-item values.
    var outcomes: [String: StageOutcome] = [:]
    func run(_ stage: PlannedStage, config: FakeConfiguration, context: StageContext) throws -> StageOutcome {
        if let log = epochLog {
            try log.write(to: context.workDirectory.appendingPathComponent("epochs.json"))
        }
        return outcomes["\(stage.axes["alpha"] ?? "-"),\(stage.seed)"] ?? StageOutcome(metrics: [:])
    }
    var epochLog: Data?
}

/// Claims as statistical statements, the noise floor and the charts of a report.
final class VerdictReportTests: XCTestCase {
    var dir: URL!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("verdicts-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    func suite(seeds: [Int]) -> String {
        """
        name: verdicts
        title: "Verdict table"
        axes:
          - {name: backbone, values: [r18]}
          - {name: alpha, values: [1, 2]}
          - {name: seed, values: [\(seeds.map(String.init).joined(separator: ", "))]}
        stages:
          - id: ucf
            kind: table
            dataset: ucf101
            over: [backbone, alpha, seed]
        report:
          file: verdicts.md
          rows: [backbone, alpha]
          columns:
            - {label: UCF, metrics: [ucf.acc]}
        reference:
          - {cell: {backbone: r18, alpha: 2}, values: {UCF: 80.6}}
        claims:
          - {text: "VTHCL beats random", metric: ucf.acc, better: {alpha: 2}, than: {alpha: 1}}
          - {text: "trained beats untrained", metric: ucf.acc, than_metric: ucf.acc0}
        """
    }

    /// Plans and runs the suite with the given outcomes; returns the plan and its results.
    func run(seeds: [Int], _ outcomes: [String: StageOutcome], epochLog: Data? = nil) throws -> (Plan, [String: StageResult], ExecutorRegistry) {
        let url = dir.appendingPathComponent("verdicts.yaml")
        try suite(seeds: seeds).write(to: url, atomically: true, encoding: .utf8)
        let executor = TableExecutor()
        executor.outcomes = outcomes
        executor.epochLog = epochLog
        let registry = ExecutorRegistry([executor])
        let plan = try Planner(executors: registry, datasetIdentity: { _ in "d" }).plan(SuiteSpec.load(url), scale: .ci)
        let results = try Runner(store: RunStore(root: dir.appendingPathComponent("runs")), executors: registry,
                                 progress: ProgressSink(quiet: true)).run(plan)
        return (plan, results, registry)
    }

    static func items(_ correct: Int, of count: Int) -> [Double] { (0..<count).map { $0 < correct ? 1 : 0 } }

    /// The hand-worked three-seed case of StatisticsTests, through the suite: seeds pair up,
    /// d = (0.10, 0.05, 0.05), interval [−0.5, 13.8] points.
    func testThreeSeedsWithoutItemsAreInconclusive() throws {
        let (plan, results, _) = try run(seeds: [0, 1, 2], [
            "2,0": StageOutcome(metrics: ["acc": 0.80]), "2,1": StageOutcome(metrics: ["acc": 0.75]),
            "2,2": StageOutcome(metrics: ["acc": 0.70]),
            // Random's seeds in another order than VTHCL's values: pairing is by seed.
            "1,2": StageOutcome(metrics: ["acc": 0.65]), "1,0": StageOutcome(metrics: ["acc": 0.70]),
            "1,1": StageOutcome(metrics: ["acc": 0.70]),
        ])
        let judge = ClaimJudge(plan: plan, results: results)
        let line = judge.line(plan.suite.claims[0])
        XCTAssertEqual(line, "VTHCL beats random: **inconclusive** (n = 3; Δ = 6.7 points, 95 % CI [−0.5, 13.8] over seeds; 75.0 vs 68.3, ucf.acc).")
        // The second claim's metric is not stored: nothing to judge.
        XCTAssertTrue(judge.line(plan.suite.claims[1]).contains("not measured"), judge.line(plan.suite.claims[1]))
    }

    /// A seed one side lacks is left out: d = (0.10, 0.05), SE = 0.025, t_{0.975,1} = 12.706.
    func testUnpairedSeedsAreLeftOut() throws {
        let (plan, results, _) = try run(seeds: [0, 1, 2], [
            "2,0": StageOutcome(metrics: ["acc": 0.80]), "2,1": StageOutcome(metrics: ["acc": 0.75]),
            "2,2": StageOutcome(metrics: ["acc": 0.70]),
            "1,0": StageOutcome(metrics: ["acc": 0.70]), "1,1": StageOutcome(metrics: ["acc": 0.70]),
        ])
        let line = ClaimJudge(plan: plan, results: results).line(plan.suite.claims[0])
        XCTAssertEqual(line, "VTHCL beats random: **inconclusive** (n = 2; Δ = 7.5 points, 95 % CI [−24.3, 39.3] over seeds; 1 unpaired run left out; 77.5 vs 70.0, ucf.acc).")
    }

    func testOneSeedWithoutItemsIsInconclusiveWithoutInterval() throws {
        let (plan, results, _) = try run(seeds: [0], [
            "2,0": StageOutcome(metrics: ["acc": 0.656]), "1,0": StageOutcome(metrics: ["acc": 0.781]),
        ])
        let line = ClaimJudge(plan: plan, results: results).line(plan.suite.claims[0])
        XCTAssertEqual(line, "VTHCL beats random: **inconclusive** (n = 1; Δ = −12.5 points, no interval: one seed and no test-set resampling (no per-item results, or fewer than 8 test units); 65.6 vs 78.1, ucf.acc).")
    }

    /// One seed with per-item values: the test-set bootstrap decides a large difference
    /// (36 of 40 against 8 of 40) and the other sign is contradicted.
    func testOneSeedWithItemsUsesTheBootstrap() throws {
        let (plan, results, _) = try run(seeds: [0], [
            "2,0": StageOutcome(metrics: ["acc": 0.9], perItem: ["acc": Self.items(36, of: 40)]),
            "1,0": StageOutcome(metrics: ["acc": 0.2], perItem: ["acc": Self.items(8, of: 40)]),
        ])
        let judge = ClaimJudge(plan: plan, results: results)
        let e = try XCTUnwrap(judge.evaluate(plan.suite.claims[0]))
        XCTAssertEqual(e.comparison.verdict, .holds)
        XCTAssertTrue(e.itemsBetter && e.itemsThan)
        XCTAssertTrue(judge.line(plan.suite.claims[0]).contains("over test items"), judge.line(plan.suite.claims[0]))
        var reversed = plan.suite.claims[0]
        swap(&reversed.better, &reversed.than)
        XCTAssertEqual(judge.evaluate(reversed)?.comparison.verdict, .contradicted)
    }

    /// `than_metric` pairs the two metrics within each run, item by item: 24 of 40 correct
    /// against the same items with 6 of them wrong. Paired, the difference 0.15 has
    /// SE = √(0.15 · 0.85 / 40) = 0.056 and holds; resampled independently it would not
    /// (SE ≈ 0.11).
    func testThanMetricIsPairedWithinEachRun() throws {
        let trained = Self.items(24, of: 40)
        var untrained = trained
        for i in 0..<6 { untrained[i] = 0 }
        let (plan, results, _) = try run(seeds: [0], [
            "2,0": StageOutcome(metrics: ["acc": 0.6, "acc0": 0.45], perItem: ["acc": trained, "acc0": untrained]),
            "1,0": StageOutcome(metrics: ["acc": 0.6, "acc0": 0.45], perItem: ["acc": trained, "acc0": untrained]),
        ])
        let e = try XCTUnwrap(ClaimJudge(plan: plan, results: results).evaluate(plan.suite.claims[1]))
        XCTAssertEqual(e.comparison.n, 1)
        XCTAssertEqual(e.comparison.difference, 0.15, accuracy: 1e-12)
        XCTAssertEqual(e.comparison.standardError!, (0.15 * 0.85 / 40).squareRoot(), accuracy: 0.008)
        XCTAssertEqual(e.comparison.verdict, .holds)
    }

    /// Cells show mean ± std with n; the noise floor names each metric's seed-to-seed std,
    /// the cells' test-set half-widths and the smallest decidable difference.
    func testReportShowsNAndNoiseFloor() throws {
        var outcomes: [String: StageOutcome] = [:]
        for (seed, (v, r)) in [(24, 20), (30, 22), (27, 18)].enumerated() {
            outcomes["2,\(seed)"] = StageOutcome(metrics: ["acc": Double(v) / 40], perItem: ["acc": Self.items(v, of: 40)])
            outcomes["1,\(seed)"] = StageOutcome(metrics: ["acc": Double(r) / 40], perItem: ["acc": Self.items(r, of: 40)])
        }
        let (plan, results, _) = try run(seeds: [0, 1, 2], outcomes)
        let md = ReportWriter().render(plan: plan, results: results,
                                       provenance: Provenance(gitCommit: "abc", manifestHash: "m", versions: [], machine: "test", date: "today"),
                                       chart: "figures/verdicts-cells.svg")
        // VTHCL: 0.600, 0.750, 0.675 → 67.5 ± 7.5; paper 80.6 → Δ −13.1.
        XCTAssertTrue(md.contains("| r18 | 2 | **67.5 ± 7.5** (n = 3; paper 80.6, Δ -13.1) |"), md)
        XCTAssertTrue(md.contains("| r18 | 1 | **50.0 ± 5.0** (n = 3) |"), md)
        XCTAssertTrue(md.contains("![Our cells (mean and error bar) beside the paper's numbers](figures/verdicts-cells.svg)"), md)
        XCTAssertTrue(md.contains("## Noise floor"), md)
        // Pooled std: √((2 · 7.5² + 2 · 5²) / 4) = 6.4 points.
        let row = try XCTUnwrap(md.split(separator: "\n").first { $0.hasPrefix("| `ucf.acc` |") }, md)
        XCTAssertTrue(row.hasPrefix("| `ucf.acc` | 2 | 3 | 6.4 | ±"), String(row))
        XCTAssertTrue(md.contains("Test-set 95 % half-width per cell (points):"), md)
        XCTAssertTrue(md.contains("| seeds | 0, 1, 2 |"), md)
    }

    /// A stage limited by `when` serves only its own rows: another initialisation's row shows
    /// "–" for its metrics, not the pretraining's numbers as its own, and the noise floor and
    /// the chart count it once.
    func testStagesOutsideTheirWhenLeaveTheirRowsEmpty() throws {
        let url = dir.appendingPathComponent("when.yaml")
        try """
        name: when
        title: "When table"
        axes:
          - {name: backbone, values: [r18]}
          - {name: init, values: [random, vthcl]}
          - {name: seed, values: [0, 1]}
        stages:
          - id: pretrain
            kind: table
            dataset: kinetics400
            over: [backbone, seed]
            when: {init: vthcl}
          - id: ucf
            kind: table
            dataset: ucf101
            over: [backbone, init, seed]
            needs: [{stage: pretrain, when: {init: vthcl}}]
        report:
          file: when.md
          rows: [init]
          columns:
            - {label: UCF, metrics: [ucf.acc]}
            - {label: "kNN", metrics: [pretrain.knn]}
            - {label: "kNN / UCF", metrics: [pretrain.knn, ucf.acc]}
        """.write(to: url, atomically: true, encoding: .utf8)
        let executor = TableExecutor()
        executor.outcomes = ["-,0": StageOutcome(metrics: ["acc": 0.5, "knn": 0.7]),
                             "-,1": StageOutcome(metrics: ["acc": 0.6, "knn": 0.8])]
        let registry = ExecutorRegistry([executor])
        let plan = try Planner(executors: registry, datasetIdentity: { _ in "d" }).plan(SuiteSpec.load(url), scale: .ci)
        XCTAssertNil(plan.instance(of: "pretrain", for: ["backbone": "r18", "init": "random", "seed": "0"]))
        XCTAssertNotNil(plan.instance(of: "pretrain", for: ["backbone": "r18", "init": "vthcl", "seed": "0"]))
        let results = try Runner(store: RunStore(root: dir.appendingPathComponent("runs")), executors: registry,
                                 progress: ProgressSink(quiet: true)).run(plan)
        let md = ReportWriter().render(plan: plan, results: results,
                                       provenance: Provenance(gitCommit: "abc", manifestHash: "m", versions: [], machine: "test", date: "today"))
        XCTAssertTrue(md.contains("| random | **55.0 ± 7.1** (n = 2) | – | **– / 55.0 ± 7.1** (n = 2) |"), md)
        XCTAssertTrue(md.contains("| vthcl | **55.0 ± 7.1** (n = 2) | **75.0 ± 7.1** (n = 2) | **75.0 ± 7.1 / 55.0 ± 7.1** (n = 2) |"), md)
        let floor = try XCTUnwrap(md.split(separator: "\n").first { $0.hasPrefix("| `pretrain.knn` |") }, md)
        XCTAssertTrue(floor.hasPrefix("| `pretrain.knn` | 1 | 2 |"), String(floor))
        let svg = try XCTUnwrap(ReportWriter().chart(plan: plan, results: results))
        XCTAssertEqual(svg.components(separatedBy: "n = 2").count - 1, 3, svg)  // pretrain.knn once, ucf.acc for both rows
    }

    /// A result file written before `perItem` existed still loads (with none).
    func testOldResultsWithoutPerItemStillLoad() throws {
        let (plan, results, _) = try run(seeds: [0], ["2,0": StageOutcome(metrics: ["acc": 0.5], perItem: ["acc": [1, 0]])])
        let stage = plan.stages.first { $0.axes["alpha"] == "2" }!
        let store = RunStore(root: dir.appendingPathComponent("runs"))
        XCTAssertEqual(try store.result(stage.identity)?.perItem, ["acc": [1, 0]])
        let url = store.directory(stage.identity).appendingPathComponent("result.json")
        var object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        object.removeValue(forKey: "perItem")
        try JSONSerialization.data(withJSONObject: object).write(to: url)
        let old = try XCTUnwrap(store.result(stage.identity))
        XCTAssertEqual(old.perItem, [:])
        XCTAssertEqual(old.metrics, results[stage.identity]!.metrics)
    }

    /// The publisher writes the table's chart and each epoch log's curves as SVG under
    /// reports/figures, links them from the report, and the SVG is well-formed XML.
    func testReportsEmbedWellFormedCharts() throws {
        let log = #"{"values": [{"epoch": 0, "loss": 5.1, "loss.res5": 5.0, "knn_top1": 0.12}, {"epoch": 1, "loss": 4.2, "loss.res5": 4.0}, {"epoch": 2, "loss": 3.5, "loss.res5": 3.4, "knn_top1": 0.41, "lr": 0.1}]}"#
        let (plan, _, _) = try run(seeds: [0, 1], [
            "2,0": StageOutcome(metrics: ["acc": 0.70]), "2,1": StageOutcome(metrics: ["acc": 0.74]),
            "1,0": StageOutcome(metrics: ["acc": 0.60], perItem: ["acc": Self.items(6, of: 10)]),
            "1,1": StageOutcome(metrics: ["acc": 0.62], perItem: ["acc": Self.items(6, of: 10)]),
        ], epochLog: Data(log.utf8))
        let reports = dir.appendingPathComponent("reports")
        let publisher = ReportPublisher(store: RunStore(root: dir.appendingPathComponent("runs")), reports: reports,
                                        progress: ProgressSink(quiet: true))
        try publisher.writeReport(plan, provenance: Provenance(gitCommit: "abc", manifestHash: "m", versions: [], machine: "t", date: "d"))
        try publisher.writeReportsIndex([plan])
        let md = try String(contentsOf: reports.appendingPathComponent("verdicts.md"), encoding: .utf8)
        XCTAssertTrue(md.contains("](figures/verdicts-cells.svg)"), md)
        XCTAssertTrue(md.contains("## Training curves"), md)
        // The claims stand in the report itself, each line as the index prints it, above the noise floor.
        let judge = ClaimJudge(plan: plan, results: try publisher.results(plan))
        for claim in plan.suite.claims { XCTAssertTrue(md.contains("- " + judge.line(claim) + "\n"), md) }
        let claims = try XCTUnwrap(md.range(of: "## Claims")), noise = try XCTUnwrap(md.range(of: "## Noise floor"))
        XCTAssertLessThan(claims.lowerBound, noise.lowerBound)
        let figures = try FileManager.default.contentsOfDirectory(atPath: reports.appendingPathComponent("figures").path).sorted()
        // One table chart and one curve chart per stage (four stages), all linked, so none is pruned.
        XCTAssertEqual(figures.count, 5, "\(figures)")
        for name in figures {
            XCTAssertTrue(md.contains("](figures/\(name))"), name)
            let svg = try Data(contentsOf: reports.appendingPathComponent("figures").appendingPathComponent(name))
            try assertWellFormed(svg, name)
            if let out = ProcessInfo.processInfo.environment["TEMPO_CHART_DIR"] {
                try svg.write(to: URL(fileURLWithPath: out).appendingPathComponent(name))
            }
        }
        let chart = try String(contentsOf: reports.appendingPathComponent("figures/verdicts-cells.svg"), encoding: .utf8)
        for text in ["Verdict table", "paper", "n = 2", "r18 · 2"] { XCTAssertTrue(chart.contains(text), text) }
        let curves = try String(contentsOf: reports.appendingPathComponent("figures").appendingPathComponent(figures.first { $0.hasSuffix("-curves.svg") }!), encoding: .utf8)
        for text in ["epoch", "loss.res5", "accuracy (%)", "learning rate"] { XCTAssertTrue(curves.contains(text), text) }
        let index = try String(contentsOf: reports.appendingPathComponent("README.md"), encoding: .utf8)
        XCTAssertTrue(index.contains("- VTHCL beats random: **"), index)

        // A chart of a stage that is gone is pruned like the PNG figures.
        try Data("<svg/>".utf8).write(to: reports.appendingPathComponent("figures/verdicts-old-curves.svg"))
        try publisher.pruneFigures()
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: reports.appendingPathComponent("figures").path).sorted(), figures)
    }

    func testChartTextIsEscaped() throws {
        let svg = SVGChart.dots(title: "A <b> & \"c\"", subtitle: "s", unit: "%", panels: [
            SVGChart.DotPanel(title: "p", rows: [SVGChart.DotRow(label: "x < y", ours: 1, error: (0.5, 1.5), paper: 2)]),
        ])
        try assertWellFormed(Data(svg.utf8), "escaped")
        XCTAssertTrue(svg.contains("A &lt;b&gt; &amp; &quot;c&quot;"))
        XCTAssertNil(SVGChart.epochCurves(Data("{}".utf8), title: "t", subtitle: "s"))
    }

    /// A row label longer than the label column widens the chart (it was cut at the left
    /// edge): the label's right-anchored x leaves room for ~6.8 px a character.
    func testLongRowLabelsWidenTheChart() throws {
        func viewWidth(_ label: String) throws -> Double {
            let svg = SVGChart.dots(title: "t", subtitle: "s", unit: "%", panels: [
                SVGChart.DotPanel(title: "p", rows: [SVGChart.DotRow(label: label, ours: 1, error: nil, paper: nil)]),
            ])
            let box = try XCTUnwrap(svg.components(separatedBy: "viewBox=\"0 0 ").dropFirst().first)
            return try XCTUnwrap(Double(box.prefix { $0 != " " }))
        }
        XCTAssertEqual(try viewWidth("3D-ResNet18 · Random"), 760)
        let long = "3D-ResNet18 · VTHCL, tempo pairing broken (negative control)"
        XCTAssertEqual(try viewWidth(long), 760 + Double(long.count) * 6.8 + 20 - 330, accuracy: 0.01)
    }

    func assertWellFormed(_ data: Data, _ name: String, file: StaticString = #filePath, line: UInt = #line) throws {
        final class Root: NSObject, XMLParserDelegate {
            var root: String?
            func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
                        attributes: [String: String] = [:]) { if root == nil { root = name } }
        }
        let parser = XMLParser(data: data)
        let delegate = Root()
        parser.delegate = delegate
        XCTAssertTrue(parser.parse(), "\(name): \(parser.parserError.map { "\($0)" } ?? "not well-formed")", file: file, line: line)
        XCTAssertEqual(delegate.root, "svg", name, file: file, line: line)
    }
}
