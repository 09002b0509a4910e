import ArgumentParser
import Foundation
import Suite

/// Options shared by the suite commands.
struct SuiteOptions: ParsableArguments {
    @Option(help: "Scale: ci (synthetic data, minutes: the regression gate), small (the ci data with large test splits, 3 seeds: about 1.5 hours), mini (hours on a CPU) or paper (the paper's settings).")
    var scale: Scale = .ci

    @Option(help: "Folder of suite files.")
    var suites = "Suites"

    @Option(help: "Dataset manifest.")
    var manifest = "datasets.yaml"

    @Option(help: "Run store: one folder per stage, with its checkpoints and result.")
    var store = "runs"

    @Option(help: "Where reports are written (default: reports for the ci scale, reports/SCALE for the others, so each scale's reports stand beside the ci ones).")
    var reports: String?

    /// `--reports`, or the scale's own folder.
    var reportsFolder: String { reports ?? (scale == .ci ? "reports" : "reports/\(scale.rawValue)") }

    @Option(help: "Clip cache folder (decoded frames in HDF5).")
    var cache = "cache"

    @Option(help: "Stages run at the same time (independent stages only).")
    var jobs = 1

    @Option(help: ArgumentHelp("Seeds of every stage, replacing the suites' seed axis: a count N (seeds 0…N−1) or a list such as 0,1,2.",
                               valueName: "n|list"))
    var seeds: String?

    @Flag(help: "No progress output.")
    var quiet = false

    /// `--seeds` as a list: "3" → 0, 1, 2; "4,7" → 4, 7.
    static func parseSeeds(_ text: String) throws -> [Int] {
        if !text.contains(","), let n = Int(text) {
            guard n >= 1 else { throw ValidationError("--seeds \(text): a count must be at least 1") }
            return Array(0..<n)
        }
        let parts = text.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        let values = parts.compactMap { Int($0) }
        guard values.count == parts.count, !values.isEmpty, values.allSatisfy({ $0 >= 0 }) else {
            throw ValidationError("--seeds \(text): expected a count (3) or a list of non-negative integers (0,1,2)")
        }
        guard Set(values).count == values.count else { throw ValidationError("--seeds \(text): a seed is listed twice") }
        return values
    }

    func validate() throws {
        guard jobs >= 1 else { throw ValidationError("--jobs must be at least 1, got \(jobs)") }
        if let seeds { _ = try Self.parseSeeds(seeds) }
        guard FileManager.default.fileExists(atPath: suites) else {
            throw ValidationError("suite folder '\(suites)' does not exist (run from the repository root or pass --suites)")
        }
    }

    func environment() throws -> SuiteEnvironment {
        var env = try SuiteEnvironment(suitesDirectory: URL(fileURLWithPath: suites), manifest: URL(fileURLWithPath: manifest),
                                       store: URL(fileURLWithPath: store), reports: URL(fileURLWithPath: reportsFolder),
                                       progress: ProgressSink(quiet: quiet), scale: scale, cacheDirectory: URL(fileURLWithPath: cache))
        env.seeds = try seeds.map(Self.parseSeeds)
        return env
    }
}

extension Scale: ExpressibleByArgument {}

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run", abstract: "Run one suite's stages (finished stages are reused), then write its report.")
    @Argument(help: "Suite name (a file Suites/NAME.yaml).") var suite: String
    @OptionGroup var options: SuiteOptions
    @OptionGroup(title: "Executor") var executor: ExecutorOptions

    func run() throws {
        if executor.isSlurm { return try executor.submit(suites: [suite], options: options) }
        var env = try options.environment()
        if !executor.confirmPaperScale { try env.refuseUnaffordable(scale: options.scale) }
        _ = try env.plan(suite, scale: options.scale)  // every setting checked before anything is written
        try env.prepareDatasets(scale: options.scale)
        env.requireData = true
        let plan = try env.plan(suite, scale: options.scale)
        try env.run(plan, jobs: options.jobs)
        try env.writeReport(plan)
    }
}

struct AllCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "all",
        abstract: "Run every suite, then write every report.",
        discussion: """
        At the ci scale (the default) the synthetic datasets are generated first when missing. \
        Interrupt at any time: a rerun reuses finished stages and resumes the interrupted one \
        from its last checkpoint. At the paper scale it prints the cost instead of starting, \
        unless the stages go to a cluster (--executor slurm, docs/slurm.md).
        """)
    @OptionGroup var options: SuiteOptions
    @OptionGroup(title: "Executor") var executor: ExecutorOptions

    func run() throws {
        if executor.isSlurm { return try executor.submit(suites: nil, options: options) }
        var env = try options.environment()
        if !executor.confirmPaperScale { try env.refuseUnaffordable(scale: options.scale) }
        for name in try env.allSuites() { _ = try env.plan(name, scale: options.scale) }  // checked before anything is written
        try env.prepareDatasets(scale: options.scale)
        env.requireData = true
        let plans = try env.allSuites().map { try env.plan($0, scale: options.scale) }
        for plan in plans { try env.run(plan, jobs: options.jobs) }
        let provenance = env.provenance()
        for plan in plans { try env.writeReport(plan, provenance: provenance) }
        try env.writeReportsIndex(plans)
    }
}

struct ListCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list", abstract: "List suites and the state of their stages at a scale.")
    @OptionGroup var options: SuiteOptions
    @Flag(help: "One JSON object per suite.") var json = false

    func run() throws {
        let env = try options.environment()
        for name in try env.allSuites() {
            let plan = try env.plan(name, scale: options.scale)
            let done = try plan.stages.filter { try env.store.result($0.identity) != nil }.count
            if json {
                var obj: [String: Any] = ["suite": name, "title": plan.suite.title, "scale": options.scale.rawValue,
                                          "stages": plan.stages.count, "finished": done]
                if case let jobs = try SlurmListing.json(plan, options: options), !jobs.isEmpty { obj["slurm_jobs"] = jobs }
                print(String(decoding: try JSONSerialization.data(withJSONObject: obj, options: [.sortedKeys]), as: UTF8.self))
            } else {
                print("\(name.padding(toLength: 10, withPad: " ", startingAt: 0)) \(done)/\(plan.stages.count) stages finished  \(plan.suite.title)")
                for line in try SlurmListing.lines(plan, options: options) { print(line) }
            }
        }
    }
}

struct PlanCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plan",
        abstract: "Show a suite's stage DAG, what is cached, and a cost estimate, without running.",
        discussion: """
        Every stage's configuration is validated as `bench run` would. With --explain, a \
        stage's resolved settings are printed with where each value came from (default, \
        suite template, scale override, axis).
        """)
    @Argument(help: "Suite name, or 'all': every suite, each shared stage once, with the whole scale's cost (what `bench all` runs).") var suite: String
    @OptionGroup var options: SuiteOptions
    @Option(help: ArgumentHelp("Print the resolved settings of a stage: its id (every instance) or a key such as 'pretrain[backbone=r18,seed=0]'.",
                               valueName: "stage"))
    var explain: String?
    @Option(help: "Add each training stage's data-parallel cost on this many ranks (one GPU a rank at the paper scale, one machine like this one otherwise).")
    var ranks = 1
    @Option(help: "Interconnect bandwidth between ranks, Gbit/s, for --ranks.")
    var linkGbits = 10.0
    @Flag(help: "With 'all': one JSON line a distinct stage (key, kind, identity, multiply–adds, estimated and, once run, stored wall seconds).")
    var json = false

    func validate() throws {
        guard ranks >= 1 else { throw ValidationError("--ranks must be at least 1, got \(ranks)") }
        guard linkGbits > 0 else { throw ValidationError("--link-gbits must be positive, got \(linkGbits)") }
        guard !json || suite == "all" else { throw ValidationError("--json is for 'bench plan all'") }
    }

    func run() throws {
        let env = try options.environment()
        if suite == "all" {
            guard explain == nil, ranks == 1 else { throw ValidationError("--explain and --ranks take one suite, not all") }
            print(try env.describeAllPlans(scale: options.scale, json: json), terminator: "")
            return
        }
        let plan = try env.plan(suite, scale: options.scale)
        guard let explain else {
            print(try env.describePlan(plan, ranks: ranks, linkGbits: linkGbits), terminator: "")
            let jobs = try SlurmListing.lines(plan, options: options)
            if !jobs.isEmpty { print("slurm jobs:\n" + jobs.joined(separator: "\n")) }
            for problem in DatasetIdentifier(manifest: env.manifest, scale: options.scale).missingData(plan) {
                let what = options.scale == .paper ? "`bench run` would stop here" : "`bench run` and `bench all` generate the synthetic data when they are missing"
                print("note: \(problem) (\(what))")
            }
            return
        }
        let chosen = plan.stages.filter { $0.id == explain || $0.key == explain }
        guard !chosen.isEmpty else {
            throw ValidationError("no stage '\(explain)' in \(suite) at scale \(options.scale.rawValue); stages: \(plan.stages.map(\.key).joined(separator: ", "))")
        }
        let describer = PlanDescription(store: env.store, executors: env.executors)
        print(chosen.map { describer.explain($0, schema: env.executors[$0.kind]?.schema) }.joined(separator: "\n"))
    }
}

struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report", abstract: "Rewrite reports/*.md from stored results (nothing is run).")
    @Argument(help: "Suite name (default: every suite).") var suite: String?
    @OptionGroup var options: SuiteOptions

    func run() throws {
        let env = try options.environment()
        let names = try suite.map { [$0] } ?? env.allSuites()
        let plans = try names.map { try env.plan($0, scale: options.scale) }
        let provenance = env.provenance()
        for plan in plans { try env.writeReport(plan, provenance: provenance) }
        if suite == nil { try env.writeReportsIndex(plans) }
    }
}

struct CheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Compare stored results with a baseline; non-zero exit listing every cell outside its tolerance.",
        discussion: """
        Cells are keyed by stage identity and metric, so a stage shared by several suites is \
        one cell whatever order the suites ran in. Results computed on the baseline's numeric \
        platform (CPU, thread count, OpenBLAS kernel, ranks) must match it exactly. On another \
        platform counts and constants must still match exactly; losses may move 2 % of their \
        value; other metrics by the tolerance written into the baseline (--tolerance: its \
        default covers the spread a change of thread count was measured to cause, \
        docs/statistics.md).
        """)
    @OptionGroup var options: SuiteOptions
    @Option(help: "Baseline JSON to check against.") var baseline: String?
    @Option(help: "Write a baseline from the current results instead.") var writeBaseline: String?
    @Option(help: "Absolute tolerance of learned metrics (accuracies, mAP) written into a new baseline, used for results from another numeric platform.") var tolerance = 0.25

    func validate() throws {
        guard (baseline == nil) != (writeBaseline == nil) else {
            throw ValidationError("give exactly one of --baseline FILE and --write-baseline FILE")
        }
        guard tolerance >= 0, tolerance.isFinite else { throw ValidationError("--tolerance must be a non-negative number, got \(tolerance)") }
    }

    func run() throws {
        let env = try options.environment()
        var stages: [(stage: PlannedStage, result: StageResult)] = []
        var missing: [String] = []
        for name in try env.allSuites() {
            for stage in try env.plan(name, scale: options.scale).stages {
                if let r = try env.store.result(stage.identity) { stages.append((stage, r)) } else { missing.append("\(name) \(stage.key)") }
            }
        }
        if let path = writeBaseline {
            guard missing.isEmpty else {
                throw ValidationError("cannot write a baseline: \(missing.count) stages have no result (\(missing.prefix(3).joined(separator: "; "))…); run `bench all --scale \(options.scale.rawValue)` first")
            }
            let b = Baseline.from(stages: stages, scale: options.scale, learnedTolerance: tolerance)
            try b.write(to: URL(fileURLWithPath: path))
            print("wrote \(path): \(b.cells.count) cells of \(Set(b.cells.map(\.identity)).count) stages")
            return
        }
        let b = try Baseline.load(URL(fileURLWithPath: baseline!))
        guard b.scale == options.scale.rawValue else {
            throw ValidationError("\(baseline!) is a baseline of the \(b.scale) scale, not \(options.scale.rawValue)")
        }
        let results = stages.map(\.result)
        let violations = b.violations(results: results)
        if b.isExact(for: results) {
            print("numeric platform \(b.numerics!) is the baseline's: every cell must match exactly")
        } else {
            let here = Set(results.compactMap(\.numerics)).sorted().joined(separator: " | ")
            print("numeric platform \(here.isEmpty ? "unrecorded" : here) differs from the baseline's (\(b.numerics ?? "unrecorded")): "
                  + "counts and constants exactly, learned metrics within each cell's tolerance")
        }
        if violations.isEmpty {
            print("ok: \(b.cells.count) cells within tolerance of \(baseline!)")
        } else {
            for v in violations { print(v) }
            print("\(violations.count) of \(b.cells.count) cells outside tolerance")
            throw ExitCode(1)
        }
    }
}
