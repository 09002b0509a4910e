import Datasets
import Foundation
import Media
import Networks

/// Errors that stop a suite command before it runs anything.
public struct SuiteCommandError: Error, CustomStringConvertible {
    public var message: String
    public init(message: String) { self.message = message }
    public var description: String { message }
}

/// What the suite commands share, wired together: suite file → plan → run → store →
/// report. Each concern lives in its own type: `SuiteCatalog` (suite files), `Planner`
/// (stage DAG and identities, with `DatasetIdentifier`), `Runner` and `RunStore`,
/// `ReportPublisher` (tables, index, figures; claims by `ClaimJudge`), `CostModel` and
/// `PlanDescription` (what `bench plan` prints), `Provenance`.
public struct SuiteEnvironment {
    public var catalog: SuiteCatalog
    public var manifest: URL
    public var store: RunStore
    public var reports: URL
    public var progress: ProgressSink
    public var executors: ExecutorRegistry
    public var scale: Scale
    /// Seeds replacing every suite's `seed` axis (`--seeds`), or nil for the suites' own.
    public var seeds: [Int]? = nil
    /// Whether planning requires every dataset file to exist (before a run starts).
    public var requireData = false

    public init(suitesDirectory: URL, manifest: URL, store: URL, reports: URL, progress: ProgressSink,
                scale: Scale, cacheDirectory: URL = URL(fileURLWithPath: "cache"), executors: ExecutorRegistry? = nil) throws {
        self.catalog = SuiteCatalog(directory: suitesDirectory); self.manifest = manifest
        // Under MPI the ranks run the same stages: rank 0 alone speaks.
        self.store = RunStore(root: store); self.reports = reports
        self.progress = DataParallel.isWriter ? progress : ProgressSink(quiet: true)
        self.scale = scale
        self.executors = executors ?? StandardExecutors.registry(manifest: manifest, scale: scale, cacheDirectory: cacheDirectory)
    }

    public var suitesDirectory: URL { catalog.directory }
    public func allSuites() throws -> [String] { try catalog.allSuites() }
    public func load(_ name: String) throws -> SuiteSpec { try catalog.load(name) }

    public var publisher: ReportPublisher { ReportPublisher(store: store, reports: reports, progress: progress) }

    public func plan(_ name: String, scale: Scale) throws -> Plan {
        let datasets = DatasetIdentifier(manifest: manifest, scale: scale, checkPaths: requireData)
        return try Planner(executors: executors, datasetIdentity: datasets.identity).plan(load(name), scale: scale, seeds: seeds)
    }

    /// Runs a plan's unfinished stages. Under MPI the ranks go through the stages together,
    /// one at a time (`jobs` applies to a single process).
    public func run(_ plan: Plan, jobs: Int) throws {
        let ranks = DataParallel.group.size
        progress.log("suite   \(plan.suite.name) at scale \(plan.scale.rawValue): \(plan.stages.count) stages"
                     + (ranks > 1 ? " on \(ranks) ranks" + (jobs > 1 ? " (one stage at a time: --jobs \(jobs) ignored)" : "") : ""))
        try Runner(store: store, executors: executors, progress: progress, jobs: jobs).run(plan)
    }

    /// Generates the synthetic datasets the ci scale reads when they are missing (under MPI,
    /// rank 0 while the others wait).
    public func prepareDatasets(scale: Scale) throws {
        if DataParallel.isWriter { try StandardExecutors.prepareDatasets(manifest: manifest, scale: scale, progress: progress) }
        try DataParallel.group.barrier()
    }

    public func provenance() -> Provenance { Provenance.collect(manifest: manifest, output: reports) }

    public func results(_ plan: Plan) throws -> [String: StageResult] { try publisher.results(plan) }

    /// Writes a suite's report. Pass one `provenance` for a batch of reports: computed per
    /// report, the git state would count the reports already written as uncommitted changes.
    /// Under MPI, rank 0 alone writes reports.
    public func writeReport(_ plan: Plan, provenance given: Provenance? = nil) throws {
        guard DataParallel.isWriter else { return }
        try publisher.writeReport(plan, provenance: given ?? provenance())
    }

    public func writeReportsIndex(_ plans: [Plan]) throws {
        guard DataParallel.isWriter else { return }
        try publisher.writeReportsIndex(plans)
    }

    func pruneFigures() throws { try publisher.pruneFigures() }

    /// The DAG, what is cached, and the estimated cost.
    public func describePlan(_ plan: Plan, ranks: Int = 1, linkGbits: Double = 10) throws -> String {
        try PlanDescription(store: store, executors: executors).describe(plan, ranks: ranks, linkGbits: linkGbits)
    }

    /// Every suite at a scale, each distinct stage once, with the whole scale's cost (or, with
    /// `json`, a JSON line a stage: `PlanDescription.jsonLines`).
    public func describeAllPlans(scale: Scale, json: Bool = false) throws -> String {
        let plans = try allSuites().map { try plan($0, scale: scale) }
        if json { return try PlanDescription(store: store, executors: executors).jsonLines(plans) }
        var dataSeconds: Double? = nil
        let identifier = DatasetIdentifier(manifest: manifest, scale: scale)
        if let synthetic = SyntheticScale(rawValue: scale.rawValue), plans.contains(where: { !identifier.missingData($0).isEmpty }) {
            dataSeconds = CostModel.dataSeconds(SyntheticConfig.preset(synthetic))
        }
        return try PlanDescription(store: store, executors: executors).describeAll(plans, dataSeconds: dataSeconds)
    }

    /// At the paper scale nothing starts: the cost is printed instead.
    public func refuseUnaffordable(scale: Scale) throws {
        guard scale == .paper else { return }
        let plans = try allSuites().map { try plan($0, scale: .paper) }
        throw SuiteCommandError(message: try PlanDescription(store: store, executors: executors).paperRefusal(plans))
    }
}
