import Foundation

/// One stored run of a metric: what the claim test and the noise floor read.
struct MetricRun {
    var identity: String
    var seed: Int
    /// Values of the axes runs are paired on (besides the seed).
    var key: [String: String]
    var value: Double
    /// What the test-set bootstrap resamples for this run (nil when the stage stored nothing
    /// for the metric): its per-item values when `value` is their mean (`perItem`), else
    /// the data to recompute it from (`resampling`: a class-mean recall's items, frame mAP's
    /// per-video outcome). Samples of one test set are resampled together.
    var sample: Statistics.ItemSample?
    var hasItems: Bool { sample != nil }
}

extension StageResult {
    /// The bootstrap sample of `metric`: `perItem` values when stored (non-empty), else its
    /// `resampling` data, else nil. Test set: the stage's dataset, or `identity` without one.
    /// Nil too with fewer than `minimumUnits` units to resample.
    func sample(_ metric: String, identity: String, minimumUnits: Int = Statistics.minimumUnits) -> Statistics.ItemSample? {
        let testSet = dataset ?? identity
        let sample: Statistics.ItemSample
        if let items = perItem[metric], !items.isEmpty {
            sample = Statistics.ItemSample(items: items, testSet: testSet)
        } else if let items = resampling[metric]?.classMeanRecall {
            sample = Statistics.ItemSample(.classMeanRecall(items), testSet: testSet)
        } else if let units = resampling[metric]?.frameMAP {
            sample = Statistics.ItemSample(.frameMAP(units), testSet: testSet)
        } else {
            return nil
        }
        return sample.count >= minimumUnits ? sample : nil
    }
}

extension Plan {
    /// The stored runs of `metric` over the cells matching `filter`, one per stage instance.
    func runs(_ metric: SuiteSpec.MetricRef, _ filter: [String: [String]], results: [String: StageResult],
              pairAxes: Set<String> = [], minimumUnits: Int = Statistics.minimumUnits) -> [MetricRun] {
        runs(metric, where: { matches($0, filter) }, results: results, pairAxes: pairAxes, minimumUnits: minimumUnits)
    }

    /// The same over the cells satisfying `inCell`.
    func runs(_ metric: SuiteSpec.MetricRef, where inCell: ([String: String]) -> Bool, results: [String: StageResult],
              pairAxes: Set<String> = [], minimumUnits: Int = Statistics.minimumUnits) -> [MetricRun] {
        var out: [MetricRun] = []
        var seen = Set<String>()
        for cell in cells where inCell(cell) {
            guard let stage = instance(of: metric.stage, for: cell), seen.insert(stage.identity).inserted,
                  let r = results[stage.identity], let v = r.metrics[metric.metric] else { continue }
            out.append(MetricRun(identity: stage.identity, seed: r.seed, key: stage.axes.filter { pairAxes.contains($0.key) },
                                 value: v, sample: r.sample(metric.metric, identity: stage.identity, minimumUnits: minimumUnits)))
        }
        return out
    }
}

/// Judges a suite's claims from stored results: a paired comparison over seeds combined
/// with the test-set bootstrap (`Statistics.pairedComparison`, `docs/statistics.md`).
public struct ClaimJudge {
    public var plan: Plan
    public var results: [String: StageResult]
    /// Fewer test units than this give no test-set interval (`Statistics.minimumUnits`).
    public var minimumUnits: Int
    public init(plan: Plan, results: [String: StageResult], minimumUnits: Int = Statistics.minimumUnits) {
        self.plan = plan; self.results = results; self.minimumUnits = minimumUnits
    }

    /// Every claim of the suite as a Markdown bullet, one line each (the report and the
    /// index print the same list).
    public var bullets: String { plan.suite.claims.map { "- " + line($0) + "\n" }.joined() }

    /// A claim's comparison and what it was computed from.
    public struct Evaluation {
        public var comparison: Statistics.Comparison
        /// Means of the paired runs of each side.
        public var meanBetter: Double
        public var meanThan: Double
        /// Whether each side's test-set uncertainty entered (every paired run had per-item
        /// values or resampling data).
        public var itemsBetter: Bool
        public var itemsThan: Bool
        /// What the bootstrap resampled: "items", "videos" (frame mAP), or nil when nothing was.
        public var resampledUnit: String?
        /// Runs with no partner on the other side (left out).
        public var unpaired: Int
    }

    struct PairKey: Hashable { var seed: Int; var axes: [String: String] }

    /// The claim's comparison, or nil when a side has no stored run or no runs pair up.
    public func evaluate(_ claim: SuiteSpec.Claim) -> Evaluation? {
        let other = claim.thanMetric ?? claim.metric
        // Runs are paired on the seed and on every axis both stages run over that neither
        // filter names (the backbone, say); a `than_metric` claim on one stage pairs within each run.
        let filtered = Set(claim.better.keys).union(claim.than.keys)
        let overA = Set(plan.suite.stage(claim.metric.stage)?.over ?? []), overB = Set(plan.suite.stage(other.stage)?.over ?? [])
        let pairAxes = overA.intersection(overB).subtracting(filtered).subtracting(["seed"])
        let a = plan.runs(claim.metric, claim.better, results: results, pairAxes: pairAxes, minimumUnits: minimumUnits)
        let b = plan.runs(other, claim.than, results: results, pairAxes: pairAxes, minimumUnits: minimumUnits)
        guard !a.isEmpty, !b.isEmpty else { return nil }
        let groupsA = Dictionary(grouping: a.indices) { PairKey(seed: a[$0].seed, axes: a[$0].key) }
        let groupsB = Dictionary(grouping: b.indices) { PairKey(seed: b[$0].seed, axes: b[$0].key) }
        let keys = Set(groupsA.keys).intersection(groupsB.keys)
        guard !keys.isEmpty else { return nil }
        let seeds = Set(keys.map(\.seed)).sorted()
        let keysBySeed = seeds.map { s in keys.filter { $0.seed == s }.sorted { "\($0.axes.sorted { $0.key < $1.key })" < "\($1.axes.sorted { $0.key < $1.key })" } }
        let pairedA = keys.flatMap { groupsA[$0]! }, pairedB = keys.flatMap { groupsB[$0]! }

        // d_s: per seed, the mean over its paired keys of (mean of A's runs − mean of B's runs).
        func differences(_ valueA: (Int) -> Double, _ valueB: (Int) -> Double) -> [Double] {
            keysBySeed.map { ks in
                Statistics.mean(ks.map { k in
                    Statistics.mean(groupsA[k]!.map(valueA)) - Statistics.mean(groupsB[k]!.map(valueB))
                })
            }
        }
        let d = differences({ a[$0].value }, { b[$0].value })

        // The test-set part: resample the test set's units (jointly for runs on one test set),
        // recompute every run's metric on the draw (a mean of per-item values, or the mAP or
        // class-mean recall recomputed) and from those the mean difference; a side without
        // resampling data for every run stays fixed. v_items is the variance of the replicates.
        let itemsA = pairedA.allSatisfy { a[$0].hasItems }, itemsB = pairedB.allSatisfy { b[$0].hasItems }
        var itemVariance: Double? = nil
        var resampledUnit: String? = nil
        if itemsA || itemsB {
            var samples: [Statistics.ItemSample] = []
            var slotA: [Int: Int] = [:], slotB: [Int: Int] = [:]
            if itemsA { for i in pairedA.sorted() { slotA[i] = samples.count; samples.append(a[i].sample!) } }
            if itemsB { for i in pairedB.sorted() { slotB[i] = samples.count; samples.append(b[i].sample!) } }
            let reps = Statistics.bootstrap(samples) { means in
                Statistics.mean(differences({ slotA[$0].map { means[$0] } ?? a[$0].value },
                                            { slotB[$0].map { means[$0] } ?? b[$0].value }))
            }
            if !reps.isEmpty {
                itemVariance = Statistics.variance(reps)
                let units = Set(samples.map(\.unit))
                resampledUnit = units.count == 1 ? units.first! : "items"
            }
        }
        let pairedIdentities = Set(pairedA.map { a[$0].identity } + pairedB.map { b[$0].identity })
        let unpaired = Set(a.map(\.identity) + b.map(\.identity)).subtracting(pairedIdentities).count
        return Evaluation(comparison: Statistics.pairedComparison(differences: d, itemVariance: itemVariance),
                          meanBetter: Statistics.mean(pairedA.map { a[$0].value }),
                          meanThan: Statistics.mean(pairedB.map { b[$0].value }),
                          itemsBetter: itemsA && itemVariance != nil, itemsThan: itemsB && itemVariance != nil,
                          resampledUnit: resampledUnit, unpaired: unpaired)
    }

    /// One line of the index: the claim, its verdict, n, the difference and its interval.
    public func line(_ claim: SuiteSpec.Claim) -> String {
        let other = claim.thanMetric ?? claim.metric
        let percent = plan.suite.report?.percent ?? true
        let names = other == claim.metric ? "\(claim.metric.stage).\(claim.metric.metric)"
            : "\(claim.metric.stage).\(claim.metric.metric) vs \(other.stage).\(other.metric)"
        guard let e = evaluate(claim) else {
            let planned = plan.cells.contains { matches($0, claim.better) } && plan.cells.contains { matches($0, claim.than) }
            if !planned { return "\(claim.text): not run at the \(plan.scale.rawValue) scale (its axes leave these cells out)." }
            let measured = !plan.runs(claim.metric, claim.better, results: results).isEmpty
                && !plan.runs(other, claim.than, results: results).isEmpty
            return measured ? "\(claim.text): not judged (no runs pair up by seed, \(names))."
                : "\(claim.text): not measured (stages not finished)."
        }
        let c = e.comparison
        let f = { (x: Double) in NumberText.plain(x, percent: percent) }
        let unit = percent ? " points" : ""
        var text = "\(claim.text): **\(c.verdict.rawValue)** (n = \(c.n); Δ = \(f(c.difference))\(unit)"
        if let i = c.interval {
            let unit = "test " + (e.resampledUnit ?? "items")
            let over = c.n >= 2 ? (e.itemsBetter || e.itemsThan ? "over seeds and \(unit)" : "over seeds") : "over \(unit)"
            text += ", \(Int(Statistics.confidence * 100)) % CI [\(f(i.lower)), \(f(i.upper))] \(over)"
        } else {
            text += ", no interval: one seed and no test-set resampling ("
                + (minimumUnits > 1 ? "no per-item results, or fewer than \(minimumUnits) test units)" : "no per-item results)")
        }
        if e.unpaired > 0 { text += "; \(e.unpaired) unpaired run\(e.unpaired == 1 ? "" : "s") left out" }
        return text + "; \(f(e.meanBetter)) vs \(f(e.meanThan)), \(names))."
    }
}

/// Numbers as the reports print them.
enum NumberText {
    /// One decimal for percentages (×100), two otherwise, with a real minus sign and no "−0.0".
    static func plain(_ x: Double, percent: Bool, decimals: Int? = nil) -> String {
        let places = decimals ?? (percent ? 1 : 2)
        var s = String(format: "%.\(places)f", percent ? x * 100 : x)
        if s.hasPrefix("-") {
            s.removeFirst()
            if s.allSatisfy({ $0 == "0" || $0 == "." }) { return s }
            return "−" + s
        }
        return s
    }
}
