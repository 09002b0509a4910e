import ArgumentParser
import Foundation
import Suite

/// Options shared by the suite commands.
struct SuiteOptions: ParsableArguments {
    @Option(help: "Scale: ci (synthetic data, minutes), mini (hours on a CPU) or paper (the paper's settings).")
    var scale: Scale = .ci

    @Option(help: "Folder of suite files.")
    var suites = "Suites"

    @Option(help: "Dataset manifest.")
    var manifest = "datasets.yaml"

    @Option(help: "Run store: one folder per stage, with its checkpoints and result.")
    var store = "runs"

    @Option(help: "Where reports are written.")
    var reports = "reports"

    @Option(help: "Clip cache folder (decoded frames in HDF5).")
    var cache = "cache"

    @Option(help: "Stages run at the same time (independent stages only).")
    var jobs = 1

    @Flag(help: "No progress output.")
    var quiet = false

    func validate() throws {
        guard jobs >= 1 else { throw ValidationError("--jobs must be at least 1, got \(jobs)") }
        guard FileManager.default.fileExists(atPath: suites) else {
            throw ValidationError("suite folder '\(suites)' does not exist (run from the repository root or pass --suites)")
        }
    }

    func environment() throws -> SuiteEnvironment {
        try SuiteEnvironment(suitesDirectory: URL(fileURLWithPath: suites), manifest: URL(fileURLWithPath: manifest),
                             store: URL(fileURLWithPath: store), reports: URL(fileURLWithPath: reports),
                             progress: ProgressSink(quiet: quiet), scale: scale, cacheDirectory: URL(fileURLWithPath: cache))
    }
}

extension Scale: ExpressibleByArgument {}

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run", abstract: "Run one suite's stages (finished stages are reused), then write its report.")
    @Argument(help: "Suite name (a file Suites/NAME.yaml).") var suite: String
    @OptionGroup var options: SuiteOptions

    func run() throws {
        let env = try options.environment()
        try env.refuseUnaffordable(scale: options.scale)
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
        from its last checkpoint. At the paper scale it prints the cost instead of starting.
        """)
    @OptionGroup var options: SuiteOptions

    func run() throws {
        let env = try options.environment()
        try env.refuseUnaffordable(scale: options.scale)
        try env.prepareDatasets(scale: options.scale)
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
                let obj: [String: Any] = ["suite": name, "title": plan.suite.title, "scale": options.scale.rawValue,
                                          "stages": plan.stages.count, "finished": done]
                print(String(decoding: try JSONSerialization.data(withJSONObject: obj, options: [.sortedKeys]), as: UTF8.self))
            } else {
                print("\(name.padding(toLength: 10, withPad: " ", startingAt: 0)) \(done)/\(plan.stages.count) stages finished  \(plan.suite.title)")
            }
        }
    }
}

struct PlanCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plan", abstract: "Show a suite's stage DAG, what is cached, and a cost estimate, without running.")
    @Argument(help: "Suite name.") var suite: String
    @OptionGroup var options: SuiteOptions

    func run() throws {
        let env = try options.environment()
        print(try env.describePlan(env.plan(suite, scale: options.scale)))
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
        abstract: "Compare stored results with a baseline; non-zero exit listing every cell outside its tolerance.")
    @OptionGroup var options: SuiteOptions
    @Option(help: "Baseline JSON to check against.") var baseline: String?
    @Option(help: "Write a baseline from the current results instead.") var writeBaseline: String?
    @Option(help: "Absolute tolerance written into a new baseline.") var tolerance = 0.05

    func validate() throws {
        guard (baseline == nil) != (writeBaseline == nil) else {
            throw ValidationError("give exactly one of --baseline FILE and --write-baseline FILE")
        }
    }

    func run() throws {
        let env = try options.environment()
        let results = try env.allSuites().flatMap { name -> [StageResult] in
            let plan = try env.plan(name, scale: options.scale)
            return try plan.stages.compactMap { try env.store.result($0.identity) }
        }
        if let path = writeBaseline {
            try Baseline.from(results: results, scale: options.scale) { _ in tolerance }.write(to: URL(fileURLWithPath: path))
            print("wrote \(path): \(results.reduce(0) { $0 + $1.metrics.count }) cells")
            return
        }
        let b = try Baseline.load(URL(fileURLWithPath: baseline!))
        let violations = b.violations(results: results)
        if violations.isEmpty {
            print("ok: \(b.cells.count) cells within tolerance of \(baseline!)")
        } else {
            for v in violations { print(v) }
            print("\(violations.count) of \(b.cells.count) cells outside tolerance")
            throw ExitCode(1)
        }
    }
}
