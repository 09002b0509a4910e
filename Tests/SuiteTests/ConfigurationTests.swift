import Foundation
@testable import Suite
import XCTest

/// Typed stage configurations: strict decoding of the committed suites' edits, identities from
/// the resolved configuration, origins, and run stores that survive a move.
final class ConfigurationTests: XCTestCase {
    var dir: URL!
    let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("config-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    /// The ci suite with one edit, planned with the standard stage kinds.
    func planEdited(_ find: String, _ replace: String, file: StaticString = #filePath, line: UInt = #line) throws -> Plan {
        let text = try String(contentsOf: repo.appendingPathComponent("Suites/ci.yaml"), encoding: .utf8)
        XCTAssertTrue(text.contains(find), "the ci suite no longer contains \(find)", file: file, line: line)
        let url = dir.appendingPathComponent("ci.yaml")
        try text.replacingOccurrences(of: find, with: replace).write(to: url, atomically: true, encoding: .utf8)
        let registry = StandardExecutors.registry(manifest: repo.appendingPathComponent("datasets.yaml"), scale: .ci,
                                                  cacheDirectory: dir.appendingPathComponent("cache"))
        let datasets = DatasetIdentifier(manifest: repo.appendingPathComponent("datasets.yaml"), scale: .ci)
        return try Planner(executors: registry, datasetIdentity: datasets.identity).plan(SuiteSpec.load(url), scale: .ci)
    }

    func testUneditedCISuitePlans() throws {
        let plan = try planEdited("epochs: 20", "epochs: 20")
        // R18 and R50: a pretraining, a supervised run, three fine-tunes and three probes each.
        XCTAssertEqual(plan.stages.count, 16)
    }

    /// Each edit a new user might make is one error naming file, line and key, with what is allowed.
    func testBadSuiteEditsNameFileLineAndKey() throws {
        let cases: [(String, String, key: String, says: String)] = [
            ("epochs: 20, batch: 16, lr: 0.48", "epoch: 20, batch: 16, lr: 0.48", "scales.ci.params.pretrain.epoch", "did you mean 'epochs'?"),
            ("{name: backbone, values: [r18, r50]}", "{name: backbone, values: [r18, r34]}", "axes.backbone", "one of: r18, r50"),
            ("augment: light", "augment: heavy", "scales.ci.params.*.augment", "one of: standard, light, none"),
            ("projection: mlp-bn", "projection: foo", "scales.ci.params.pretrain.projection", "one of: mlp, conv, mlp-bn, conv-bn"),
            ("preset: paper", "preset: bogus", "stages[0].params.preset", "one of: ci, mini, paper"),
            ("D: 3", "D: 4", "stages[0].params.D", "1 … 3"),
            ("D: 3", "D: 3, depth: 34", "stages[0].params.depth", "did you mean 'backbone'?"),
            ("epochs: 20, batch: 16, lr: 0.48", "epochs: 20, batch: 0, lr: 0.48", "scales.ci.params.pretrain.batch", "≥ 1"),
            ("epochs: 20, batch: 16, lr: 0.48", "epochs: -1, batch: 16, lr: 0.48", "scales.ci.params.pretrain.epochs", "≥ 1"),
            ("epochs: 20, batch: 16, lr: 0.48", "epochs: 20, batch: 16, lr: fast", "scales.ci.params.pretrain.lr", "expected a number"),
            ("alpha: 2", "alpha: 3", "stages[0].params.alpha", "must divide tau"),
            ("augment: light, workers: 1", "augmnt: light, workers: 1", "scales.ci.params.*.augmnt", "did you mean 'augment'?"),
            ("values: [random, kinetics, vthcl]", "values: [random, imagenet, kinetics, vthcl]", "axes.init", "would duplicate"),
        ]
        for (find, replace, key, says) in cases {
            XCTAssertThrowsError(try planEdited(find, replace), "\(replace) was accepted") { error in
                guard let e = error as? SuiteFileError else { return XCTFail("\(replace): \(type(of: error)) \(error)") }
                XCTAssertTrue(e.file.hasSuffix("ci.yaml"), "\(e)")
                XCTAssertNotNil(e.line, "\(replace): no line in \(e)")
                XCTAssertEqual(e.key, key, "\(replace): \(e)")
                XCTAssertTrue(e.description.contains(says), "\(replace): \(e)")
            }
        }
    }

    func testPlanRecordsWhereEachValueCameFrom() throws {
        let plan = try planEdited("epochs: 20", "epochs: 20")
        let pretrain = plan.stages.first { $0.id == "pretrain" }!
        XCTAssertEqual(pretrain.params["epochs"], .int(20))
        guard case .suite(let role, _, let line, let key)? = pretrain.origins["epochs"] else { return XCTFail("\(pretrain.origins)") }
        XCTAssertEqual(role, "scale ci"); XCTAssertNotNil(line); XCTAssertEqual(key, "scales.ci.params.pretrain.epochs")
        XCTAssertEqual(pretrain.origins["alpha"]?.description.hasPrefix("suite template"), true)
        XCTAssertEqual(pretrain.origins["tau"], .defaultValue)
        XCTAssertEqual(pretrain.origins["backbone"]?.description, "axis backbone")
        XCTAssertEqual(pretrain.origins["augment"]?.description.hasPrefix("scale ci, \"*\""), true)
        // Derived defaults are resolved to numbers, so the identity holds them.
        XCTAssertEqual(pretrain.params["negatives"], .int(4096))
        let text = PlanDescription(store: RunStore(root: dir), executors: StandardExecutors.registry()).explain(pretrain, schema: PretrainConfiguration.schema)
        XCTAssertTrue(text.contains("tau") && text.contains("← default") && text.contains("← axis backbone"), text)
    }

    let sharedSuite = """
    name: NAME
    title: "T"
    axes:
      - {name: init, values: [random, vthcl]}
      - {name: seed, values: [0, 1]}
    stages:
      - {id: pretrain, kind: pre, over: [seed], when: {init: vthcl}}
      - {id: fine, kind: fine, over: [init, seed], needs: [{stage: pretrain, when: {init: vthcl}}], params: {base: 0.6}}
    """

    func write(_ text: String, _ name: String, in folder: URL) throws {
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try text.write(to: folder.appendingPathComponent(name), atomically: true, encoding: .utf8)
    }

    /// A changed default changes the identity of every stage it reaches, and only those.
    func testChangingADefaultChangesIdentities() throws {
        try write(sharedSuite.replacingOccurrences(of: "NAME", with: "a"), "a.yaml", in: dir)
        let suite = try SuiteSpec.load(dir.appendingPathComponent("a.yaml"))
        let before = try Planner(executors: ExecutorRegistry([FakeExecutor(kind: "pre"), FakeExecutor(kind: "fine")]),
                                 datasetIdentity: { _ in "d" }).plan(suite, scale: .ci)
        let after = try Planner(executors: ExecutorRegistry([GenericFakeExecutor<FakeConfigurationNewDefault>(kind: "pre"), FakeExecutor(kind: "fine")]),
                                datasetIdentity: { _ in "d" }).plan(suite, scale: .ci)
        for (b, a) in zip(before.stages, after.stages) {
            XCTAssertEqual(b.key, a.key)
            switch (b.id, b.axes["init"]) {
            case ("pretrain", _), ("fine", "vthcl"?):
                XCTAssertNotEqual(a.identity, b.identity, "\(b.key): the default of its own or its input's `base` changed")
            default:
                XCTAssertEqual(a.identity, b.identity, "\(b.key) does not read the changed default")
            }
        }
    }

    /// The diagnosis settings of a fine-tune: written as their defaults (all labels, a trained
    /// encoder) they name the same stages as left out, so adding them kept every stored
    /// result; set otherwise they name new stages; a fraction of 0 is an error naming its key.
    func testFineTuneDiagnosisSettingsAndTheirDefaults() throws {
        let ci = "ucf101: {epochs: 15, batch: 16, lr: 0.1, milestones: [12], dropout: 0.0}"
        let plain = try planEdited(ci, ci)
        let key = { (p: Plan) in p.stages.filter { $0.id == "ucf101" }.map(\.identity) }
        let defaults = try planEdited(ci, "ucf101: {epochs: 15, batch: 16, lr: 0.1, milestones: [12], dropout: 0.0, label_fraction: 1, encoder_mode: train}")
        XCTAssertEqual(key(defaults), key(plain))
        for edit in ["label_fraction: 0.5", "encoder_mode: frozen", "encoder_mode: frozen-bn"] {
            let changed = try planEdited(ci, "ucf101: {epochs: 15, batch: 16, lr: 0.1, milestones: [12], dropout: 0.0, \(edit)}")
            XCTAssertTrue(Set(key(changed)).isDisjoint(with: key(plain)), edit)
        }
        XCTAssertThrowsError(try planEdited(ci, "ucf101: {epochs: 15, batch: 16, lr: 0.1, milestones: [12], dropout: 0.0, label_fraction: 0}")) {
            XCTAssertTrue("\($0)".contains("label_fraction"), "\($0)")
        }
    }

    /// The fine-tuning diagnosis suite: an axis value stands for settings, its `paper` value
    /// names Table 1's very stages (so they are shared), the others new ones configured as
    /// declared; a value's setting that no stage over the axis declares is an error naming it.
    func testAxisValuesStandForSettings() throws {
        let registry = StandardExecutors.registry(manifest: repo.appendingPathComponent("datasets.yaml"), scale: .small,
                                                  cacheDirectory: dir.appendingPathComponent("cache"))
        let planner = Planner(executors: registry, datasetIdentity: DatasetIdentifier(manifest: repo.appendingPathComponent("datasets.yaml"), scale: .small).identity)
        let diagnosis = try planner.plan(SuiteSpec.load(repo.appendingPathComponent("Suites/diagnosis/finetune.yaml")), scale: .small)
        let table1 = try planner.plan(SuiteSpec.load(repo.appendingPathComponent("Suites/table1.yaml")), scale: .small)
        let shared = Set(table1.stages.map(\.identity))
        let fineTunes = diagnosis.stages.filter { $0.kind == "finetune" }
        XCTAssertEqual(fineTunes.count, 2 * 2 * 7 * 3)
        for s in fineTunes {
            XCTAssertEqual(shared.contains(s.identity), s.axes["recipe"] == "paper", s.key)
        }
        let frozen = fineTunes.first { $0.axes["recipe"] == "frozen" }!
        XCTAssertEqual(frozen.params["encoder_mode"], .string("frozen"))
        let labels = fineTunes.first { $0.axes["recipe"] == "labels-25" }!
        XCTAssertEqual(labels.params["label_fraction"], .double(0.25))
        XCTAssertEqual(labels.params["epochs"], .int(60))
        XCTAssertEqual(labels.origins["epochs"]?.description.hasPrefix("axis recipe = labels-25"), true, "\(String(describing: labels.origins["epochs"]))")

        let text = try String(contentsOf: repo.appendingPathComponent("Suites/diagnosis/finetune.yaml"), encoding: .utf8)
        let bad = dir.appendingPathComponent("bad.yaml")
        try text.replacingOccurrences(of: "frozen: {encoder_mode: frozen}", with: "frozen: {encoder_mod: frozen}").write(to: bad, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try planner.plan(SuiteSpec.load(bad), scale: .small)) { e in
            XCTAssertTrue("\(e)".contains("axes[2].settings.frozen.encoder_mod"), "\(e)")
            XCTAssertTrue("\(e)".contains("did you mean 'encoder_mode'?"), "\(e)")
        }
    }

    /// The dataset identity holds no path: a clone of the checkout in another folder, with the
    /// same data, finds every stage of the first clone's store finished.
    func testCloneInAnotherFolderReusesTheRunStore() throws {
        let first = dir.appendingPathComponent("first"), second = dir.appendingPathComponent("elsewhere/second")
        try write(sharedSuite.replacingOccurrences(of: "NAME", with: "s").replacingOccurrences(of: "kind: fine,", with: "kind: fine, dataset: ucf101,"),
                  "s.yaml", in: first.appendingPathComponent("Suites"))
        try write("""
        datasets:
          - name: ucf101
            format: ucf101
            root: data/ucf/UCF-101
            annotations: data/ucf/ucfTrainTestlist
            split: 1
        """, "datasets.yaml", in: first)
        try write("a/v_a_g01_c01.avi 1\n", "trainlist01.txt", in: first.appendingPathComponent("data/ucf/ucfTrainTestlist"))
        try write("1 a\n", "classInd.txt", in: first.appendingPathComponent("data/ucf/ucfTrainTestlist"))
        try FileManager.default.createDirectory(at: second.deletingLastPathComponent(), withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: first, to: second)
        let store = dir.appendingPathComponent("shared-store")
        func environment(_ root: URL) throws -> SuiteEnvironment {
            try SuiteEnvironment(suitesDirectory: root.appendingPathComponent("Suites"), manifest: root.appendingPathComponent("datasets.yaml"),
                                 store: store, reports: root.appendingPathComponent("reports"), progress: ProgressSink(quiet: true),
                                 scale: .ci, executors: ExecutorRegistry([FakeExecutor(kind: "pre"), FakeExecutor(kind: "fine")]))
        }
        let a = try environment(first), planA = try a.plan("s", scale: .ci)
        try a.run(planA, jobs: 1)
        let b = try environment(second), planB = try b.plan("s", scale: .ci)
        XCTAssertEqual(planA.stages.map(\.identity), planB.stages.map(\.identity))
        for stage in planB.stages { XCTAssertNotNil(try b.store.result(stage.identity), "\(stage.key) is not finished in the clone") }
        // Editing an annotation file is a new dataset identity.
        try "a/v_a_g02_c01.avi 1\n".write(to: second.appendingPathComponent("data/ucf/ucfTrainTestlist/trainlist01.txt"), atomically: true, encoding: .utf8)
        let edited = try b.plan("s", scale: .ci)
        XCTAssertNotEqual(edited.stages.first { $0.id == "fine" }!.identity, planA.stages.first { $0.id == "fine" }!.identity)
    }

    /// Two suites sharing stages give one baseline cell per stage and metric, the same
    /// whichever suite ran first; and it checks clean against a store filled in the other order.
    func testBaselineIsIndependentOfSuiteOrder() throws {
        try write(sharedSuite.replacingOccurrences(of: "NAME", with: "one"), "one.yaml", in: dir.appendingPathComponent("Suites"))
        try write(sharedSuite.replacingOccurrences(of: "NAME", with: "two").replacingOccurrences(of: "values: [0, 1]", with: "values: [0]"),
                  "two.yaml", in: dir.appendingPathComponent("Suites"))
        func runAll(_ order: [String], store: String) throws -> Baseline {
            let env = try SuiteEnvironment(suitesDirectory: dir.appendingPathComponent("Suites"), manifest: dir.appendingPathComponent("none.yaml"),
                                           store: dir.appendingPathComponent(store), reports: dir.appendingPathComponent("reports"),
                                           progress: ProgressSink(quiet: true), scale: .ci,
                                           executors: ExecutorRegistry([FakeExecutor(kind: "pre"), FakeExecutor(kind: "fine")]))
            for name in order { try env.run(env.plan(name, scale: .ci), jobs: 1) }
            var pairs: [(stage: PlannedStage, result: StageResult)] = []
            for name in try env.allSuites() {
                for s in try env.plan(name, scale: .ci).stages { pairs.append((s, try env.store.result(s.identity)!)) }
            }
            return Baseline.from(stages: pairs, scale: .ci, learnedTolerance: 0.05)
        }
        let ab = try runAll(["one", "two"], store: "runs-ab"), ba = try runAll(["two", "one"], store: "runs-ba")
        XCTAssertEqual(ab, ba)
        let keys = ab.cells.map { "\($0.identity)/\($0.metric)" }
        XCTAssertEqual(Set(keys).count, keys.count, "duplicate cells")
        let shared = ab.cells.filter { $0.suites == ["one", "two"] }
        XCTAssertFalse(shared.isEmpty, "the seed-0 stages belong to both suites")
        let storeBA = RunStore(root: dir.appendingPathComponent("runs-ba"))
        XCTAssertEqual(ab.violations(results: try storeBA.allResults()), [])
    }

    /// `--seeds` replaces the seed axis: every seeded stage once per seed, the seed's origin
    /// the command line; a suite without a seed axis says so.
    func testSeedsReplaceTheSeedAxis() throws {
        try write(sharedSuite.replacingOccurrences(of: "NAME", with: "a"), "a.yaml", in: dir)
        let suite = try SuiteSpec.load(dir.appendingPathComponent("a.yaml"))
        let planner = Planner(executors: ExecutorRegistry([FakeExecutor(kind: "pre"), FakeExecutor(kind: "fine")]), datasetIdentity: { _ in "d" })
        let plan = try planner.plan(suite, scale: .ci, seeds: [0, 1, 2])
        XCTAssertEqual(plan.stages.filter { $0.id == "pretrain" }.map(\.seed), [0, 1, 2])
        XCTAssertEqual(plan.stages.filter { $0.id == "fine" }.count, 6)
        XCTAssertEqual(plan.stages[0].origins["seed"], .commandLine("--seeds"))
        // Seeds 0 and 1 are the same stages as without the flag.
        let plain = try planner.plan(suite, scale: .ci)
        XCTAssertEqual(Set(plain.stages.map(\.identity)).subtracting(plan.stages.map(\.identity)), [])
        try write("name: n\ntitle: T\naxes:\n  - {name: init, values: [random]}\nstages:\n  - {id: p, kind: pre}\n", "n.yaml", in: dir)
        XCTAssertThrowsError(try planner.plan(SuiteSpec.load(dir.appendingPathComponent("n.yaml")), scale: .ci, seeds: [0])) {
            XCTAssertTrue("\($0)".contains("--seeds needs a `seed` axis"), "\($0)")
        }
    }

    /// Before a run, a dataset whose root is missing is an error naming the manifest line and
    /// key; a plan alone reports it without failing (it also prices the paper scale).
    func testMissingDatasetRootStopsARunBeforeItStarts() throws {
        let folder = dir.appendingPathComponent("missing")
        try write(sharedSuite.replacingOccurrences(of: "NAME", with: "s").replacingOccurrences(of: "kind: fine,", with: "kind: fine, dataset: ucf101,"),
                  "s.yaml", in: folder.appendingPathComponent("Suites"))
        try write("datasets:\n  - name: ucf101\n    format: ucf101\n    root: data/nowhere\n    annotations: data/ann\n    split: 1\n", "datasets.yaml", in: folder)
        var env = try SuiteEnvironment(suitesDirectory: folder.appendingPathComponent("Suites"), manifest: folder.appendingPathComponent("datasets.yaml"),
                                       store: folder.appendingPathComponent("runs"), reports: folder.appendingPathComponent("reports"),
                                       progress: ProgressSink(quiet: true), scale: .paper,
                                       executors: ExecutorRegistry([FakeExecutor(kind: "pre"), FakeExecutor(kind: "fine")]))
        let plan = try env.plan("s", scale: .paper)
        let notes = DatasetIdentifier(manifest: env.manifest, scale: .paper).missingData(plan)
        XCTAssertEqual(notes.count, 1)
        XCTAssertTrue(notes[0].contains("datasets.yaml:4") && notes[0].contains("'root'"), notes[0])
        env.requireData = true
        XCTAssertThrowsError(try env.plan("s", scale: .paper)) { XCTAssertTrue("\($0)".contains("does not exist"), "\($0)") }
    }
}
