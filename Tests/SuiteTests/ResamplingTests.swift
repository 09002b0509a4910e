import Foundation
import Protocols
@testable import Suite
import XCTest

/// Hand-made resampling data: two test videos (v1, v2) and six test items.
enum Tiny {
    /// Run A (the `AVAFrameMAPUnitsTests` case). Class 1: instances v1, v2; ranked TP v1,
    /// FP v2, FP v1, TP v2. Class 2: instance v2; ranked FP v1, TP v2. mAP 0.625; v1 drawn
    /// twice 1; v2 drawn twice 0.75.
    static let a = try! AVAFrameMAPUnits(videos: ["v1", "v2"], classes: [
        .init(id: 1, groundTruth: [1, 1], ranked: [1, 2, 0, 3]), .init(id: 2, groundTruth: [0, 1], ranked: [0, 3]),
    ])
    /// Run B on the same videos. Class 1 ranked FP v1, TP v1, TP v2 of 2: precision 0, ½, ⅔
    /// → ⅔; class 2 TP v2 of 1 → 1; mAP 5/6. v1 twice: class 1 FP FP TP TP of 2 → ½, class
    /// 2 drops out → ½. v2 twice: class 1 TP TP of 2 → 1, class 2 TP TP of 2 → 1 → 1.
    static let b = try! AVAFrameMAPUnits(videos: ["v1", "v2"], classes: [
        .init(id: 1, groundTruth: [1, 1], ranked: [0, 1, 3]), .init(id: 2, groundTruth: [0, 1], ranked: [3]),
    ])
    /// Labels 0 0 0 1 2 2, hits ✓ ✗ ✗ ✓ ✓ ✗: class-mean recall 11/18.
    static let recall = try! ClassRecallItems(labels: [0, 0, 0, 1, 2, 2], hits: [true, false, false, true, true, false])

    static func sample(_ u: AVAFrameMAPUnits) -> Statistics.ItemSample { Statistics.ItemSample(.frameMAP(u), testSet: "ava") }
}

/// Recomputing mAP and class-mean recall on bootstrap draws.
final class ResamplingStatisticsTests: XCTestCase {
    /// The metric on given draws (unit indices with repetition), by hand (see `Tiny`).
    func testValueOnAGivenDraw() {
        let a = Tiny.sample(Tiny.a), b = Tiny.sample(Tiny.b)
        XCTAssertEqual(a.count, 2); XCTAssertEqual(a.unit, "videos")
        XCTAssertEqual(a.value(over: [0, 1]), 0.625)
        XCTAssertEqual(a.value(over: [1, 0]), 0.625, "a draw's order does not matter")
        XCTAssertEqual(try XCTUnwrap(a.value(over: [0, 0])), 1, accuracy: 1e-12)
        XCTAssertEqual(try XCTUnwrap(a.value(over: [1, 1])), 0.75, accuracy: 1e-12)
        XCTAssertEqual(try XCTUnwrap(b.value(over: [0, 1])), 5.0 / 6, accuracy: 1e-12)
        XCTAssertEqual(try XCTUnwrap(b.value(over: [0, 0])), 0.5, accuracy: 1e-12)
        XCTAssertEqual(try XCTUnwrap(b.value(over: [1, 1])), 1, accuracy: 1e-12)
        // Class-mean recall: the draw {2, 2, 3, 4, 3, 3} weighs items (0, 0, 2, 3, 1, 0): class 0
        // 0/2, class 1 3/3, class 2 1/1 → 2/3.
        let r = Statistics.ItemSample(.classMeanRecall(Tiny.recall), testSet: "epic")
        XCTAssertEqual(r.unit, "items")
        XCTAssertEqual(try XCTUnwrap(r.value(over: [0, 1, 2, 3, 4, 5])), 11.0 / 18, accuracy: 1e-15)
        XCTAssertEqual(try XCTUnwrap(r.value(over: [2, 2, 3, 4, 3, 3])), 2.0 / 3, accuracy: 1e-15)
        let mean = Statistics.ItemSample(items: [1, 0, 0, 1, 1, 0], testSet: "epic")
        XCTAssertEqual(mean.value(over: [2, 2, 3, 4, 3, 3]), 4.0 / 6)
    }

    /// The bootstrap's replicates are the metric on the draws of `Generator(seed:)`, m units
    /// each, in order: replayed by hand they agree exactly, for means (so existing intervals
    /// are unchanged) and for mAP. The same seed gives the same replicates; another seed others.
    func testReplicatesAreTheMetricOnTheSeededDraws() {
        let items: [Double] = [1, 0, 1, 1, 0, 0, 1]
        for sample in [Statistics.ItemSample(items: items, testSet: "t"), Tiny.sample(Tiny.a)] {
            let reps = Statistics.bootstrap([sample], replicates: 300) { $0[0] }
            var rng = Statistics.Generator(seed: Statistics.bootstrapSeed)
            let replayed = (0..<300).map { _ in sample.value(over: (0..<sample.count).map { _ in rng.index(below: sample.count) })! }
            XCTAssertEqual(reps, replayed)
            XCTAssertEqual(Statistics.bootstrap([sample], replicates: 300) { $0[0] }, reps, "seeded: deterministic")
            XCTAssertNotEqual(Statistics.bootstrap([sample], replicates: 300, seed: 7) { $0[0] }, reps)
        }
    }

    /// With two videos a draw is {v1, v1}, {v2, v2} (¼ each) or one of each (½), so every
    /// replicate is one of three values at those frequencies; runs on the same videos share
    /// their draws, so A − B takes exactly the three paired differences, and its variance
    /// approaches the exact one of that three-point distribution.
    func testMAPReplicatesFollowTheDrawDistribution() {
        let reps = Statistics.bootstrap([Tiny.sample(Tiny.a)]) { $0[0] }
        XCTAssertEqual(reps.count, Statistics.replicates)
        XCTAssertTrue(reps.allSatisfy { abs($0 - 1) < 1e-12 || abs($0 - 0.75) < 1e-12 || $0 == 0.625 }, "\(Set(reps))")
        XCTAssertEqual(Double(reps.filter { $0 == 0.625 }.count) / Double(reps.count), 0.5, accuracy: 0.04)
        XCTAssertEqual(Double(reps.filter { abs($0 - 1) < 1e-12 }.count) / Double(reps.count), 0.25, accuracy: 0.04)

        let diffs = Statistics.bootstrap([Tiny.sample(Tiny.a), Tiny.sample(Tiny.b)]) { $0[0] - $0[1] }
        let values: [(Double, Double)] = [(1 - 0.5, 0.25), (0.75 - 1, 0.25), (0.625 - 5.0 / 6, 0.5)]
        XCTAssertTrue(diffs.allSatisfy { d in values.contains { abs($0.0 - d) < 1e-12 } }, "\(Set(diffs))")
        let m = values.reduce(0) { $0 + $1.0 * $1.1 }
        let exact = values.reduce(0) { $0 + ($1.0 - m) * ($1.0 - m) * $1.1 }
        XCTAssertEqual(exact, 0.0980903, accuracy: 1e-6)
        XCTAssertEqual(Statistics.variance(diffs), exact, accuracy: 0.006)
        // Another test set draws its own indices: the twin of A on "other" does not move with A.
        var twin = Tiny.sample(Tiny.a); twin.testSet = "other"
        XCTAssertFalse(Statistics.bootstrap([Tiny.sample(Tiny.a), twin]) { $0[0] - $0[1] }.allSatisfy { $0 == 0 })
        XCTAssertTrue(Statistics.bootstrap([Tiny.sample(Tiny.a), Tiny.sample(Tiny.a)]) { $0[0] - $0[1] }.allSatisfy { $0 == 0 })
    }

    /// A draw with no ground-truth instance has no mAP: that replicate is left out.
    func testUndefinedReplicatesAreLeftOut() throws {
        // Video v0 has nothing: the draw (v0, v0), one of the 4 equally likely draws of two
        // units, has no instance; every other draw contains v1 and scores 1.
        let u = try AVAFrameMAPUnits(videos: ["v0", "v1"], classes: [.init(id: 1, groundTruth: [0, 1], ranked: [3])])
        let reps = Statistics.bootstrap([Tiny.sample(u)]) { $0[0] }
        XCTAssertEqual(Double(reps.count) / Double(Statistics.replicates), 0.75, accuracy: 0.04)
        XCTAssertTrue(reps.allSatisfy { $0 == 1 })
        let none = try AVAFrameMAPUnits(videos: ["v0"], classes: [])
        XCTAssertNil(Statistics.bootstrapMeanInterval([Tiny.sample(none)]))
    }
}

/// Reports and claims on mAP and a class-mean recall through a suite, and stored results
/// with and without resampling data.
final class ResamplingReportTests: XCTestCase {
    var dir: URL!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("resampling-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }
    override func tearDownWithError() throws { try FileManager.default.removeItem(at: dir) }

    let suite = """
        name: detection
        title: "Detection table"
        axes:
          - {name: backbone, values: [r18]}
          - {name: alpha, values: [1, 2]}
          - {name: seed, values: [0]}
        stages:
          - id: ava
            kind: table
            dataset: ava
            over: [backbone, alpha, seed]
        report:
          file: detection.md
          rows: [backbone, alpha]
          columns:
            - {label: mAP, metrics: [ava.mAP]}
            - {label: recall, metrics: [ava.recall]}
        claims:
          - {text: "A beats B on AVA", metric: ava.mAP, better: {alpha: 2}, than: {alpha: 1}}
        """

    func run() throws -> (Plan, [String: StageResult], RunStore) {
        let url = dir.appendingPathComponent("detection.yaml")
        try suite.write(to: url, atomically: true, encoding: .utf8)
        let executor = TableExecutor()
        executor.outcomes = [
            "2,0": StageOutcome(metrics: ["mAP": 0.625, "recall": Tiny.recall.classMeanRecall],
                                resampling: ["mAP": .frameMAP(Tiny.a), "recall": .classMeanRecall(Tiny.recall)]),
            "1,0": StageOutcome(metrics: ["mAP": 5.0 / 6, "recall": Tiny.recall.classMeanRecall],
                                resampling: ["mAP": .frameMAP(Tiny.b), "recall": .classMeanRecall(Tiny.recall)]),
        ]
        let registry = ExecutorRegistry([executor])
        let plan = try Planner(executors: registry, datasetIdentity: { _ in "d" }).plan(SuiteSpec.load(url), scale: .ci)
        let store = RunStore(root: dir.appendingPathComponent("runs"))
        let results = try Runner(store: store, executors: registry, progress: ProgressSink(quiet: true)).run(plan)
        return (plan, results, store)
    }

    func render(_ plan: Plan, _ results: [String: StageResult]) -> String {
        // The tiny cases have 2 videos and 6 items: below the reports' minimum, so the
        // mechanics are checked with it lowered (and the minimum itself below).
        ReportWriter(minimumUnits: 1).render(plan: plan, results: results,
                              provenance: Provenance(gitCommit: "abc", manifestHash: "m", versions: [], machine: "t", date: "d"))
    }

    /// The percentile interval of A's mAP over its three possible values {0.625 (½), 0.75, 1
    /// (¼ each)} is [0.625, 1]: half-width 18.75 points; B's over {0.5, 5/6, 1} is [0.5, 1]:
    /// 25 points. The claim's test-set variance is that of the paired differences A − B.
    func testMAPGetsAnIntervalAndTheClaimUsesTheResampledVariance() throws {
        let (plan, results, _) = try run()
        let md = render(plan, results)
        let row = try XCTUnwrap(md.split(separator: "\n").first { $0.hasPrefix("| `ava.mAP` |") }, md)
        XCTAssertEqual(String(row), "| `ava.mAP` | 2 | 1 | – (one seed) | ±18.8 to ±25.0 | \(NumberText.plain(try XCTUnwrap(smallest(md)), percent: true)) | 2 videos, mAP recomputed |")
        let recall = try XCTUnwrap(md.split(separator: "\n").first { $0.hasPrefix("| `ava.recall` |") }, md)
        XCTAssertTrue(recall.hasSuffix("| 6 items, class-mean recall recomputed |"), String(recall))
        XCTAssertTrue(md.contains("| r18 | 2 | ±18.8 | ±"), md)
        XCTAssertTrue(md.contains("| r18 | 1 | ±25.0 | ±"), md)

        let judge = ClaimJudge(plan: plan, results: results, minimumUnits: 1)
        let e = try XCTUnwrap(judge.evaluate(plan.suite.claims[0]))
        XCTAssertEqual(e.comparison.difference, 0.625 - 5.0 / 6, accuracy: 1e-12)
        XCTAssertEqual(e.resampledUnit, "videos")
        XCTAssertTrue(e.itemsBetter && e.itemsThan)
        let reps = Statistics.bootstrap([Tiny.sample(Tiny.a), Tiny.sample(Tiny.b)]) { $0[0] - $0[1] }
        XCTAssertEqual(e.comparison.standardError!, Statistics.variance(reps).squareRoot(), accuracy: 1e-12)
        XCTAssertEqual(e.comparison.degreesOfFreedom, .infinity)
        XCTAssertTrue(judge.line(plan.suite.claims[0]).contains("over test videos"), judge.line(plan.suite.claims[0]))
        XCTAssertEqual(e.comparison.verdict, .inconclusive)

        // At the default minimum two test videos give no interval: three distinct draws say
        // nothing about the test set. The noise floor and the claim say so.
        let strict = ClaimJudge(plan: plan, results: results)
        XCTAssertNil(try XCTUnwrap(strict.evaluate(plan.suite.claims[0])).comparison.interval)
        XCTAssertTrue(strict.line(plan.suite.claims[0]).contains("fewer than \(Statistics.minimumUnits) test units"))
        let plain = ReportWriter().render(plan: plan, results: results,
                                          provenance: Provenance(gitCommit: "abc", manifestHash: "m", versions: [], machine: "t", date: "d"))
        let strictRow = try XCTUnwrap(plain.split(separator: "\n").first { $0.hasPrefix("| `ava.mAP` |") }, plain)
        XCTAssertTrue(strictRow.contains("– (no per-item results, or fewer than 8 test units)"), String(strictRow))
    }

    /// The smallest decidable Δ printed in the mAP row, recomputed from the cells' variances.
    func smallest(_ md: String) -> Double? {
        let va = Statistics.variance(Statistics.bootstrap([Tiny.sample(Tiny.a)]) { $0[0] })
        let vb = Statistics.variance(Statistics.bootstrap([Tiny.sample(Tiny.b)]) { $0[0] })
        return Statistics.smallestDecidableDifference(seedStd: nil, n: 1, cellVariance: (va + vb) / 2)
    }

    /// Resampling data round-trips through result.json; a result stored without it (before
    /// it was recorded) loads with none, and the report and claim fall back to "no per-item results".
    func testStoredResultsRoundTripAndOldOnesStillLoad() throws {
        let (plan, results, store) = try run()
        let stage = try XCTUnwrap(plan.stages.first { $0.axes["alpha"] == "2" })
        let stored = try XCTUnwrap(store.result(stage.identity))
        XCTAssertEqual(stored, results[stage.identity])
        XCTAssertEqual(stored.resampling["mAP"]?.frameMAP, Tiny.a)
        XCTAssertEqual(stored.resampling["recall"]?.classMeanRecall, Tiny.recall)
        XCTAssertEqual(stored.resampling["mAP"]?.value, 0.625)

        var old: [String: StageResult] = [:]
        for s in plan.stages {
            let url = store.directory(s.identity).appendingPathComponent("result.json")
            var object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
            XCTAssertNotNil(object.removeValue(forKey: "resampling"))
            try JSONSerialization.data(withJSONObject: object).write(to: url)
            let r = try XCTUnwrap(store.result(s.identity))
            XCTAssertEqual(r.resampling, [:])
            XCTAssertEqual(r.metrics, results[s.identity]!.metrics)
            old[s.identity] = r
        }
        let md = render(plan, old)
        let row = try XCTUnwrap(md.split(separator: "\n").first { $0.hasPrefix("| `ava.mAP` |") }, md)
        XCTAssertEqual(String(row), "| `ava.mAP` | 2 | 1 | – (one seed) | – (no per-item results) | not estimable | – |")
        XCTAssertTrue(ClaimJudge(plan: plan, results: old).line(plan.suite.claims[0]).contains("no interval: one seed and no test-set resampling"))
    }

    /// Stored resampling data that does not fit is refused, naming the file and the key.
    func testBadResamplingDataNamesFileAndKey() throws {
        let (plan, _, store) = try run()
        let stage = try XCTUnwrap(plan.stages.first { $0.axes["alpha"] == "2" })
        let url = store.directory(stage.identity).appendingPathComponent("result.json")
        let original = try String(contentsOf: url, encoding: .utf8)
        var object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(original.utf8)) as? [String: Any])
        var resampling = try XCTUnwrap(object["resampling"] as? [String: Any])
        resampling["mAP"] = ["frameMAP": ["videos": ["v1", "v2"], "classes": [["id": 1, "groundTruth": [1, 1], "ranked": [9]]]]]
        object["resampling"] = resampling
        try JSONSerialization.data(withJSONObject: object).write(to: url)
        XCTAssertThrowsError(try store.result(stage.identity)) { error in
            guard let e = error as? SuiteFileError else { return XCTFail("\(error)") }
            XCTAssertEqual(e.file, url.path)
            XCTAssertEqual(e.key, "resampling.mAP.frameMAP.classes")
            XCTAssertTrue(e.message.contains("class 1 ranks entry 9, outside 0..<4"), e.message)
        }
        resampling["mAP"] = [String: Any]()
        object["resampling"] = resampling
        try JSONSerialization.data(withJSONObject: object).write(to: url)
        XCTAssertThrowsError(try store.result(stage.identity)) { error in
            guard let e = error as? SuiteFileError else { return XCTFail("\(error)") }
            XCTAssertEqual(e.key, "resampling.mAP")
            XCTAssertTrue(e.message.contains("exactly one of classMeanRecall and frameMAP, found none"), e.message)
        }
    }

    /// An executor's resampling data must give back its stored metric on the whole test set.
    func testExecutorsStoreOnlyConsistentResamplingData() throws {
        let (plan, _, _) = try run()
        let stage = plan.stages[0]
        let data: [String: ResamplingData] = ["mAP": .frameMAP(Tiny.a), "recall": .classMeanRecall(Tiny.recall)]
        XCTAssertEqual(try consistentResampling(data, metrics: ["mAP": 0.625, "recall": Tiny.recall.classMeanRecall], stage: stage), data)
        XCTAssertThrowsError(try consistentResampling(data, metrics: ["mAP": 0.6, "recall": Tiny.recall.classMeanRecall], stage: stage)) {
            XCTAssertTrue("\($0)".contains("the resampling data of mAP gives 0.625, not the metric's 0.6"), "\($0)")
        }
        XCTAssertThrowsError(try consistentResampling(data, metrics: ["mAP": 0.625], stage: stage)) {
            XCTAssertTrue("\($0)".contains("not the metric's absent value"), "\($0)")
        }
    }
}
