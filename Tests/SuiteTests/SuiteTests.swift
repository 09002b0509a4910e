import Foundation
@testable import Media
@testable import Suite
import XCTest

/// The settings of the test kinds.
struct FakeConfiguration: StageConfiguration {
    @Setting("encoder") var backbone = Backbone.r18
    @Setting("seed", .range(min: 0, max: nil)) var seed = 0
    @Setting("tempo", .range(min: 1, max: nil)) var alpha = 2
    @Setting("the metric before seed and inputs", .range(min: 0, max: 1)) var base = 0.5
    init() {}
}

/// The same settings with another default for `base`: a changed default.
struct FakeConfigurationNewDefault: StageConfiguration {
    @Setting("encoder") var backbone = Backbone.r18
    @Setting("seed", .range(min: 0, max: nil)) var seed = 0
    @Setting("tempo", .range(min: 1, max: nil)) var alpha = 2
    @Setting("the metric before seed and inputs", .range(min: 0, max: 1)) var base = 0.55
    init() {}
}

/// A stage kind for tests: metric = base + 0.01·seed (+ the inputs' metrics), counting runs.
final class GenericFakeExecutor<C: StageConfiguration>: StageExecutor, @unchecked Sendable {
    let kind: String
    let codeVersion = "1"
    /// Whether it stands for a trainer (runs on every rank).
    let dataParallel: Bool
    var runs: [String] = []
    var failOnce: Set<String> = []
    private let lock = NSLock()
    init(kind: String, dataParallel: Bool = false) { self.kind = kind; self.dataParallel = dataParallel }

    func run(_ stage: PlannedStage, config: C, context: StageContext) throws -> StageOutcome {
        lock.lock(); defer { lock.unlock() }
        runs.append(stage.key)
        if failOnce.remove(stage.id) != nil { throw NSError(domain: "test", code: 1) }
        let base = stage.params["base"]!.doubleValue!
        let fromInputs = context.inputs.compactMap { $0.metrics["acc"] }.reduce(0, +)
        return StageOutcome(metrics: ["acc": base + 0.01 * Double(stage.seed) + fromInputs * 0.1], counts: ["samples": 10])
    }
}
typealias FakeExecutor = GenericFakeExecutor<FakeConfiguration>

final class SuiteTests: XCTestCase {
    var dir: URL!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("suite-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    let suiteText = """
    name: demo
    title: "Demo table"
    axes:
      - {name: backbone, values: [r18, r50]}
      - {name: init, values: [random, imagenet, vthcl]}
      - {name: seed, values: [0, 1]}
    stages:
      - id: pretrain
        kind: pre
        over: [backbone, seed]
        when: {init: vthcl}
        params: {base: 0.2}
      - id: ucf
        kind: fine
        over: [backbone, init, seed]
        needs: [{stage: pretrain, when: {init: vthcl}}]
        params: {base: 0.6}
    scales:
      ci: {axes: {backbone: [r18]}, params: {ucf: {base: 0.5}}}
    report:
      file: demo.md
      rows: [backbone, init]
      columns:
        - {label: UCF, metrics: [ucf.acc]}
    reference:
      - {cell: {backbone: r18, init: random}, values: {UCF: 68.0}}
    quoted:
      - {label: "Prior", values: {UCF: 61.2}}
    not_reproducible:
      - {when: {init: imagenet}, reason: "needs ImageNet weights"}
    """

    func write(_ text: String, _ name: String = "demo.yaml") throws -> URL {
        let url = dir.appendingPathComponent(name)
        try text.write(to: url, atomically: true, encoding: .utf8)
        return url
    }

    func registry() -> (ExecutorRegistry, FakeExecutor, FakeExecutor) {
        let pre = FakeExecutor(kind: "pre"), fine = FakeExecutor(kind: "fine")
        return (ExecutorRegistry([pre, fine]), pre, fine)
    }

    func testPlanExpandsMatrixWithNeedsAndScale() throws {
        let suite = try SuiteSpec.load(write(suiteText))
        let (reg, _, _) = registry()
        let planner = Planner(executors: reg, datasetIdentity: { _ in "d" })
        let paper = try planner.plan(suite, scale: .paper)
        // pretrain: 2 backbones × 2 seeds; ucf: 2 × (random, vthcl) × 2 seeds (imagenet is not reproducible).
        XCTAssertEqual(paper.stages.filter { $0.id == "pretrain" }.count, 4)
        XCTAssertEqual(paper.stages.filter { $0.id == "ucf" }.count, 8)
        let vthcl = paper.stages.first { $0.id == "ucf" && $0.axes == ["backbone": "r50", "init": "vthcl", "seed": "1"] }!
        let pre = paper.stages.first { $0.id == "pretrain" && $0.axes == ["backbone": "r50", "seed": "1"] }!
        XCTAssertEqual(vthcl.inputs, [pre.identity])
        XCTAssertTrue(paper.stages.first { $0.id == "ucf" && $0.axes["init"] == "random" }!.inputs.isEmpty)
        let ci = try planner.plan(suite, scale: .ci)
        XCTAssertEqual(ci.stages.count, 2 + 4)
        XCTAssertEqual(ci.stages.first { $0.id == "ucf" }!.params["base"], .double(0.5))
        XCTAssertEqual(ci.stages.first { $0.id == "ucf" }!.params["alpha"], .int(2), "defaults are part of the resolution")
        // A parameter change changes the identity of the stage and of what depends on it.
        let other = try planner.plan(SuiteSpec.load(write(suiteText.replacingOccurrences(of: "base: 0.2", with: "base: 0.3"), "b.yaml")), scale: .ci)
        XCTAssertNotEqual(other.stages[0].identity, ci.stages[0].identity)
        XCTAssertNotEqual(other.stages.first { $0.axes["init"] == "vthcl" }!.identity, ci.stages.first { $0.axes["init"] == "vthcl" }!.identity)
        XCTAssertEqual(other.stages.first { $0.axes["init"] == "random" }!.identity, ci.stages.first { $0.axes["init"] == "random" }!.identity)
    }

    /// A stage configured by an axis in one suite and by a parameter in another is the same
    /// stage: one identity, run once.
    func testAxisValuesAndParametersShareIdentities() throws {
        let (reg, _, _) = registry()
        let planner = Planner(executors: reg, datasetIdentity: { _ in "d" })
        let a = try planner.plan(SuiteSpec.load(write("""
        name: a
        title: A
        axes:
          - {name: alpha, values: [1, 2]}
        stages:
          - {id: pretrain, kind: pre, over: [alpha], params: {base: 0.2}}
        """, "a.yaml")), scale: .ci)
        let b = try planner.plan(SuiteSpec.load(write("""
        name: b
        title: B
        axes:
          - {name: seed, values: [0]}
        stages:
          - {id: other, kind: pre, params: {base: 0.2, alpha: 2}}
        """, "b2.yaml")), scale: .ci)
        XCTAssertEqual(a.stages.first { $0.axes["alpha"] == "2" }!.identity, b.stages[0].identity)
        XCTAssertNotEqual(a.stages.first { $0.axes["alpha"] == "1" }!.identity, b.stages[0].identity)
    }

    func testErrorsNameFileLineAndKey() throws {
        let bad = suiteText.replacingOccurrences(of: "    params: {base: 0.2}", with: "    parms: {base: 0.2}")
        XCTAssertThrowsError(try SuiteSpec.load(write(bad, "bad.yaml"))) { error in
            let e = error as! SuiteFileError
            XCTAssertTrue(e.file.hasSuffix("bad.yaml"))
            XCTAssertEqual(e.line, 12)
            XCTAssertEqual(e.key, "stages[0].parms")
        }
        let badAxis = suiteText.replacingOccurrences(of: "when: {init: vthcl}", with: "when: {init: simclr}")
        XCTAssertThrowsError(try SuiteSpec.load(write(badAxis, "axis.yaml"))) { error in
            XCTAssertTrue("\(error)".contains("'simclr' is not a value of axis 'init'"), "\(error)")
            XCTAssertTrue("\(error)".contains("axis.yaml:"), "\(error)")
        }
        let badNeed = suiteText.replacingOccurrences(of: "{stage: pretrain, when", with: "{stage: pretrian, when")
        XCTAssertThrowsError(try SuiteSpec.load(write(badNeed, "need.yaml"))) { XCTAssertTrue("\($0)".contains("pretrian"), "\($0)") }
        let (reg, _, _) = registry()
        let unknownKind = suiteText.replacingOccurrences(of: "kind: pre\n", with: "kind: pretrain\n")
        XCTAssertThrowsError(try Planner(executors: reg, datasetIdentity: { _ in "" }).plan(SuiteSpec.load(write(unknownKind, "k.yaml")), scale: .ci)) {
            XCTAssertTrue("\($0)".contains("k.yaml:8: stage 'pretrain': unknown kind 'pretrain'"), "\($0)")
        }
    }

    func testRunnerReusesFinishedStagesAndResumesAfterFailure() throws {
        let suite = try SuiteSpec.load(write(suiteText))
        let (reg, pre, fine) = registry()
        let plan = try Planner(executors: reg, datasetIdentity: { _ in "d" }).plan(suite, scale: .ci)
        let store = RunStore(root: dir.appendingPathComponent("runs"))
        fine.failOnce = ["ucf"]
        let runner = Runner(store: store, executors: reg, progress: ProgressSink(quiet: true))
        XCTAssertThrowsError(try runner.run(plan))
        let finishedBefore = try store.allResults().count
        XCTAssertGreaterThanOrEqual(finishedBefore, 2, "stages finished before the failure are kept")
        let results = try runner.run(plan)
        XCTAssertEqual(results.count, plan.stages.count)
        XCTAssertEqual(pre.runs.count, 2, "pretrain ran once per instance, then was reused")
        let again = try runner.run(plan)
        XCTAssertEqual(again, results)
        XCTAssertEqual(pre.runs.count + fine.runs.count, 2 + 5, "a third run reruns nothing")
        // The vthcl fine-tune saw its pretrain's metric.
        let v = plan.stages.first { $0.id == "ucf" && $0.axes == ["backbone": "r18", "init": "vthcl", "seed": "1"] }!
        XCTAssertEqual(results[v.identity]!.metrics["acc"]!, 0.5 + 0.01 + (0.2 + 0.01) * 0.1, accuracy: 1e-12)
    }

    func testConcurrentJobsGiveTheSameResults() throws {
        let suite = try SuiteSpec.load(write(suiteText))
        let (reg, _, _) = registry()
        let plan = try Planner(executors: reg, datasetIdentity: { _ in "d" }).plan(suite, scale: .paper)
        let a = try Runner(store: RunStore(root: dir.appendingPathComponent("a")), executors: reg,
                           progress: ProgressSink(quiet: true), jobs: 3).run(plan)
        let b = try Runner(store: RunStore(root: dir.appendingPathComponent("b")), executors: registry().0,
                           progress: ProgressSink(quiet: true), jobs: 1).run(plan)
        XCTAssertEqual(a.mapValues(\.metrics), b.mapValues(\.metrics))
    }

    func testReportShowsOursPaperDifferenceAndReasons() throws {
        let suite = try SuiteSpec.load(write(suiteText))
        let (reg, _, _) = registry()
        let plan = try Planner(executors: reg, datasetIdentity: { _ in "d" }).plan(suite, scale: .ci)
        let results = try Runner(store: RunStore(root: dir.appendingPathComponent("runs")), executors: reg,
                                 progress: ProgressSink(quiet: true)).run(plan)
        let md = ReportWriter().render(plan: plan, results: results,
                                       provenance: Provenance(gitCommit: "abc", manifestHash: "m", versions: [("FFmpeg", "5.1")],
                                                              machine: "test", date: "today"))
        // random: seeds 0, 1 → 50.0, 51.0 → mean 50.5 ± 0.7; paper 68.0 → Δ −17.5.
        XCTAssertTrue(md.contains("| r18 | random | **50.5 ± 0.7** (n = 2; paper 68.0, Δ -17.5) |"), md)
        XCTAssertTrue(md.contains("| r18 | imagenet | not reproducible offline [1] |"), md)
        XCTAssertTrue(md.contains("[1] needs ImageNet weights"), md)
        XCTAssertTrue(md.contains("| Prior (quoted) |  | 61.2 |"), md)
        XCTAssertTrue(md.contains("| git commit | `abc` |"), md)
    }

    /// Skipped items: the report lists, per stage, how many were skipped and why, with the
    /// names in a collapsible list; results stored before names were recorded are counted.
    func testReportListsSkippedItemsPerStage() throws {
        let suite = try SuiteSpec.load(write(suiteText))
        let (reg, _, _) = registry()
        let plan = try Planner(executors: reg, datasetIdentity: { _ in "d" }).plan(suite, scale: .ci)
        var results = try Runner(store: RunStore(root: dir.appendingPathComponent("runs")), executors: reg,
                                 progress: ProgressSink(quiet: true)).run(plan)
        let provenance = Provenance(gitCommit: "abc", manifestHash: "m", versions: [], machine: "test", date: "today")
        XCTAssertTrue(ReportWriter().render(plan: plan, results: results, provenance: provenance)
            .contains("## Skipped items\n\nNone: every finished stage used every item of its dataset.\n"))

        let named = plan.stages.first { $0.id == "pretrain" }!, unnamed = plan.stages.first { $0.id == "ucf" }!
        results[named.identity]!.skipped = DataAccess.skipped([
            BadVideo(id: "b/y", path: "/data/k400/train/b/y.mp4", kind: "truncated", message: "m"),
            BadVideo(id: "a/x", path: "/data/k400/train/a/x.mp4", kind: "truncated", message: "m"),
            BadVideo(id: "c/z", path: "/elsewhere/c/z.mp4", kind: "corrupt", message: "m"),
        ], root: "/data/k400/")
        results[named.identity]!.counts["skipped_bad_videos"] = 3
        results[unnamed.identity]!.counts["skipped_bad_videos"] = 2  // stored before names were recorded
        let md = ReportWriter().render(plan: plan, results: results, provenance: provenance)
        XCTAssertTrue(md.contains("| \(named.key) | `\(named.shortIdentity)` | 3 | undecodable: corrupt (1); undecodable: truncated (2) |"), md)
        XCTAssertTrue(md.contains("| \(unnamed.key) | `\(unnamed.shortIdentity)` | 2 | undecodable (names not recorded) (2) |"), md)
        XCTAssertTrue(md.contains("<details><summary>\(named.key): 3 skipped items by name</summary>"), md)
        XCTAssertTrue(md.contains("undecodable: truncated (2):\n\n- `train/a/x.mp4`\n- `train/b/y.mp4`\n"), md)
        XCTAssertTrue(md.contains("undecodable: corrupt (1):\n\n- `/elsewhere/c/z.mp4`\n"), md)
        XCTAssertFalse(md.contains("<details><summary>\(unnamed.key)"), "no names to list for the old result")
        XCTAssertLessThan(md.range(of: "## Skipped items")!.lowerBound, md.range(of: "## Provenance")!.lowerBound)
    }

    /// The skipped names round-trip through result.json; a result stored without them
    /// decodes with none (its counts unchanged).
    func testSkippedNamesAreStoredAndOldResultsDecode() throws {
        let suite = try SuiteSpec.load(write(suiteText))
        let (reg, _, _) = registry()
        let plan = try Planner(executors: reg, datasetIdentity: { _ in "d" }).plan(suite, scale: .ci)
        let store = RunStore(root: dir.appendingPathComponent("runs"))
        var result = try Runner(store: store, executors: reg, progress: ProgressSink(quiet: true)).run(plan).values.first!
        result.skipped = ["undecodable: empty": ["a.mp4"]]
        try store.save(result)
        XCTAssertEqual(try store.result(result.identity)?.skipped, ["undecodable: empty": ["a.mp4"]])
        let url = store.directory(result.identity).appendingPathComponent("result.json")
        var json = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        json["skipped"] = nil
        try JSONSerialization.data(withJSONObject: json).write(to: url)
        let old = try XCTUnwrap(try store.result(result.identity))
        XCTAssertEqual(old.skipped, [:])
        XCTAssertEqual(old.counts, result.counts)
        XCTAssertEqual(old.identity, result.identity)
    }

    /// Claims compare cells (`better`/`than`) or two metrics of the same cells
    /// (`than_metric`); one with neither is an error naming the file and line.
    func testClaimsCompareCellsOrMetrics() throws {
        let text = suiteText + """

        claims:
          - {text: "VTHCL beats random", metric: ucf.acc, better: {init: vthcl}, than: {init: random}}
          - {text: "above chance", metric: ucf.acc, than_metric: ucf.chance}
        """
        let suite = try SuiteSpec.load(write(text))
        XCTAssertEqual(suite.claims.count, 2)
        XCTAssertNil(suite.claims[0].thanMetric)
        XCTAssertEqual(suite.claims[0].than, ["init": ["random"]])
        XCTAssertEqual(suite.claims[1].thanMetric, SuiteSpec.MetricRef(stage: "ucf", metric: "chance"))
        XCTAssertEqual(suite.claims[1].better, [:])
        let bad = suiteText + """

        claims:
          - {text: "incomplete", metric: ucf.acc}
        """
        XCTAssertThrowsError(try SuiteSpec.load(write(bad, "bad.yaml"))) { error in
            XCTAssertTrue("\(error)".contains("bad.yaml") && "\(error)".contains("than_metric"), "\(error)")
        }
    }

    /// Figures no report links to any more are removed; linked ones stay.
    func testUnlinkedFiguresArePruned() throws {
        let reports = dir.appendingPathComponent("reports"), figures = reports.appendingPathComponent("figures")
        try FileManager.default.createDirectory(at: figures, withIntermediateDirectories: true)
        try "![ICM](figures/icm-new-0.png)\n".write(to: reports.appendingPathComponent("figure4.md"), atomically: true, encoding: .utf8)
        for name in ["icm-new-0.png", "icm-old-0.png"] {
            try Data([1]).write(to: figures.appendingPathComponent(name))
        }
        let (reg, _, _) = registry()
        let env = try SuiteEnvironment(suitesDirectory: dir, manifest: dir.appendingPathComponent("datasets.yaml"),
                                       store: dir.appendingPathComponent("runs"), reports: reports,
                                       progress: ProgressSink(quiet: true), scale: .ci, executors: reg)
        try env.pruneFigures()
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: figures.path), ["icm-new-0.png"])
    }

    func testBaselineCheckFailsOnPerturbation() throws {
        let suite = try SuiteSpec.load(write(suiteText))
        let (reg, _, _) = registry()
        let plan = try Planner(executors: reg, datasetIdentity: { _ in "d" }).plan(suite, scale: .ci)
        let results = Array(try Runner(store: RunStore(root: dir.appendingPathComponent("runs")), executors: reg,
                                       progress: ProgressSink(quiet: true)).run(plan).values)
        let pairs = plan.stages.map { s in (s, results.first { r in r.identity == s.identity }!) }
        let baseline = Baseline.from(stages: pairs, scale: .ci, learnedTolerance: 0.01)
        XCTAssertEqual(baseline.violations(results: results), [])
        let url = dir.appendingPathComponent("base.json")
        try baseline.write(to: url)
        var perturbed = try Baseline.load(url)
        perturbed.cells[0].expected += 0.05
        let v = perturbed.violations(results: results)
        XCTAssertEqual(v.count, 1)
        XCTAssertTrue(v[0].contains(perturbed.cells[0].stage) && v[0].contains("demo") && v[0].contains("acc"), v[0])
        // Counts are exact: one more sample is a violation.
        let countCell = baseline.cells.firstIndex { $0.metric == "count.samples" }!
        XCTAssertEqual(baseline.cells[countCell].tolerance, 0)
        var counted = baseline
        counted.cells[countCell].expected += 1
        XCTAssertEqual(counted.violations(results: results).count, 1)
    }

    func testBaselineIsExactOnItsOwnNumericPlatformOnly() throws {
        let suite = try SuiteSpec.load(write(suiteText))
        let (reg, _, _) = registry()
        let plan = try Planner(executors: reg, datasetIdentity: { _ in "d" }).plan(suite, scale: .ci)
        let results = Array(try Runner(store: RunStore(root: dir.appendingPathComponent("runs")), executors: reg,
                                       progress: ProgressSink(quiet: true)).run(plan).values)
        // Every result records the platform that fixed its rounding.
        XCTAssertTrue(results.allSatisfy { $0.numerics == Runner.numericPlatform() })
        XCTAssertTrue(Runner.numericPlatform().contains("threads; OpenBLAS kernel"))
        let pairs = plan.stages.map { s in (s, results.first { r in r.identity == s.identity }!) }
        var baseline = Baseline.from(stages: pairs, scale: .ci, learnedTolerance: 0.25)
        XCTAssertEqual(baseline.numerics, Runner.numericPlatform())
        XCTAssertTrue(baseline.isExact(for: results))
        // A learned metric off by 1e-6: inside the 0.25 tolerance, but not exact.
        let cell = baseline.cells.firstIndex { $0.metric == "acc" }!
        baseline.cells[cell].expected += 1e-6
        let v = baseline.violations(results: results)
        XCTAssertEqual(v.count, 1)
        XCTAssertTrue(v[0].contains("exactly"), v[0])
        // The same results computed on another platform are held to the tolerance.
        let elsewhere = results.map { r -> StageResult in var r = r; r.numerics = "other CPU; 1 threads; OpenBLAS kernel Zen; 1 rank(s)"; return r }
        XCTAssertFalse(baseline.isExact(for: elsewhere))
        XCTAssertEqual(baseline.violations(results: elsewhere), [])
        baseline.cells[cell].expected += 0.3
        XCTAssertEqual(baseline.violations(results: elsewhere).count, 1)
        // Results stored before the platform was recorded are never exact.
        let unrecorded = results.map { r -> StageResult in var r = r; r.numerics = nil; return r }
        XCTAssertFalse(baseline.isExact(for: unrecorded))
        // A baseline written before the field existed decodes without one.
        let url = dir.appendingPathComponent("old.json")
        var old = baseline; old.numerics = nil
        try old.write(to: url)
        XCTAssertNil(try Baseline.load(url).numerics)
    }
}
