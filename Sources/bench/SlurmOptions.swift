import ArgumentParser
import Foundation
import Networks
import Suite

/// Where `bench run` and `bench all` run their stages.
enum ExecutorKind: String, ExpressibleByArgument, CaseIterable {
    case local, slurm
}

/// `--executor slurm` and the job settings of the Slurm executor (docs/slurm.md).
struct ExecutorOptions: ParsableArguments {
    @Option(help: "Where stages run: local (in this process) or slurm (one sbatch job per stage, dependencies as afterok).")
    var executor: ExecutorKind = .local

    @Option(help: ArgumentHelp("Slurm job settings from the `slurm:` block of a YAML file (keys: partition, time, cpus_per_task, gpus_per_task, ranks, mpi, signal_seconds, extra_args, poll_seconds); the options below override it.",
                               valueName: "file"))
    var slurmConfig: String?

    @Option(help: "Slurm partition of the jobs (sbatch --partition).")
    var partition: String?

    @Option(name: .customLong("time"), help: ArgumentHelp("Time limit of each job (sbatch --time): minutes, HH:MM:SS or D-HH:MM:SS.", valueName: "limit"))
    var timeLimit: String?

    @Option(help: "CPUs per task (sbatch --cpus-per-task); also the jobs' kernel thread count unless TEMPO_THREADS is set.")
    var cpusPerTask: Int?

    @Option(help: "GPUs per task (sbatch --gpus-per-task); reserved for a GPU backend, this build computes on the CPU.")
    var gpusPerTask: Int?

    @Option(help: "Data-parallel ranks of each training stage (sbatch --ntasks on one node, the ranks started with srun; --cpus-per-task is per rank).")
    var ranks: Int?

    @Option(help: ArgumentHelp("The PMI srun starts the ranks with (srun --mpi=TYPE; default pmix, the only one Open MPI joins through).",
                               valueName: "type"))
    var mpi: String?

    @Option(help: "Seconds before the time limit at which a job is signalled to stop and requeue itself (sbatch --signal=B:USR1@N; default 300).")
    var signalSeconds: Int?

    @Option(name: .customLong("sbatch-arg"), parsing: .unconditionalSingleValue,
            help: ArgumentHelp("A further sbatch argument, passed as given; repeat for several (--sbatch-arg=--account=vision).", valueName: "arg"))
    var sbatchArguments: [String] = []

    @Option(help: "Seconds between job state polls of --wait (default 30).")
    var pollSeconds: Double?

    @Option(help: ArgumentHelp("The bench executable the jobs run (default: this one; it must be reachable from the compute nodes).", valueName: "path"))
    var benchPath: String?

    @Flag(help: "With --executor slurm: wait until every job has ended, then write the reports.")
    var wait = false

    @Flag(help: "Start the paper scale locally anyway instead of printing its cost (it needs days of GPU time).")
    var confirmPaperScale = false

    var isSlurm: Bool { executor == .slurm }

    func validate() throws {
        if !isSlurm {
            let given = [("--slurm-config", slurmConfig != nil), ("--partition", partition != nil), ("--time", timeLimit != nil),
                         ("--cpus-per-task", cpusPerTask != nil), ("--gpus-per-task", gpusPerTask != nil), ("--ranks", ranks != nil), ("--mpi", mpi != nil),
                         ("--signal-seconds", signalSeconds != nil), ("--sbatch-arg", !sbatchArguments.isEmpty),
                         ("--poll-seconds", pollSeconds != nil), ("--bench-path", benchPath != nil), ("--wait", wait)]
            if let first = given.first(where: \.1) { throw ValidationError("\(first.0) applies to the Slurm executor: add --executor slurm") }
        }
        if let t = timeLimit, !SlurmSettings.isTimeLimit(t) {
            throw ValidationError("--time \(t): not a Slurm time limit (minutes such as 90, HH:MM:SS, or D-HH:MM:SS)")
        }
        for (name, value) in [("--cpus-per-task", cpusPerTask), ("--gpus-per-task", gpusPerTask), ("--ranks", ranks), ("--signal-seconds", signalSeconds)] {
            if let value, value < 1 { throw ValidationError("\(name) must be at least 1, got \(value)") }
        }
        if let mpi, !SlurmSettings.isMPIType(mpi) {
            throw ValidationError("--mpi \(mpi): not an srun MPI type (pmix, pmix_v4, pmi2, …: `srun --mpi=list` lists them)")
        }
        if let p = pollSeconds, !(p > 0) { throw ValidationError("--poll-seconds must be positive, got \(p)") }
        if let path = slurmConfig, !FileManager.default.fileExists(atPath: path) { throw ValidationError("--slurm-config \(path): no such file") }
        if let path = benchPath, !FileManager.default.isExecutableFile(atPath: path) {
            throw ValidationError("--bench-path \(path): not an executable file")
        }
    }

    /// The file's `slurm:` block, with the options given here on top.
    func settings() throws -> SlurmSettings {
        var s = try slurmConfig.map { try SlurmSettings.load(URL(fileURLWithPath: $0)) } ?? SlurmSettings()
        if let partition { s.partition = partition }
        if let timeLimit { s.timeLimit = timeLimit }
        if let cpusPerTask { s.cpusPerTask = cpusPerTask }
        if let gpusPerTask { s.gpusPerTask = gpusPerTask }
        if let ranks { s.ranks = ranks }
        if let mpi { s.mpi = mpi }
        if let signalSeconds { s.signalSeconds = signalSeconds }
        if let pollSeconds { s.pollSeconds = pollSeconds }
        s.extraArguments += sbatchArguments
        return s
    }

    /// The path of the running executable (what the jobs start unless --bench-path says otherwise).
    static func currentExecutable() -> String {
        let proc = "/proc/self/exe"
        if FileManager.default.fileExists(atPath: proc) { return URL(fileURLWithPath: proc).resolvingSymlinksInPath().path }
        // Without /proc (not Linux): the path it was started by, made absolute.
        return URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL.path
    }

    /// The executor for `options`, with absolute paths (the jobs may start in another folder).
    static func executor(_ settings: SlurmSettings, options: SuiteOptions, benchPath: String?,
                         dataParallelKinds: Set<String> = []) -> SlurmExecutor {
        let abs = { (p: String) in URL(fileURLWithPath: p).standardizedFileURL.path }
        var pass = ["--scale", options.scale.rawValue, "--suites", abs(options.suites), "--manifest", abs(options.manifest),
                    "--store", abs(options.store), "--cache", abs(options.cache)]
        if let seeds = options.seeds { pass += ["--seeds", seeds] }
        let command = SlurmJobCommand(executable: benchPath ?? currentExecutable(), options: pass,
                                      workingDirectory: FileManager.default.currentDirectoryPath)
        return SlurmExecutor(settings: settings, store: RunStore(root: URL(fileURLWithPath: abs(options.store))), command: command,
                             progress: ProgressSink(quiet: options.quiet), scale: options.scale, dataParallelKinds: dataParallelKinds)
    }

    /// `bench run|all --executor slurm`: submits the suites' unfinished stages (nil: every
    /// suite); with --wait, waits for the jobs and writes the reports.
    func submit(suites names: [String]?, options: SuiteOptions) throws {
        var env = try options.environment()
        let suites = try names ?? env.allSuites()
        for name in suites { _ = try env.plan(name, scale: options.scale) }  // every setting checked before anything is written
        if options.scale == .paper {
            var problems: [String] = []
            for name in suites {
                for p in DatasetIdentifier(manifest: env.manifest, scale: .paper).missingData(try env.plan(name, scale: .paper))
                    where !problems.contains(p) { problems.append(p) }
            }
            for p in problems { print("note: \(p) (the jobs need it on the cluster's shared filesystem)") }
        } else {
            try env.prepareDatasets(scale: options.scale)
            env.requireData = true
        }
        let plans = try suites.map { try env.plan($0, scale: options.scale) }
        let executor = Self.executor(try settings(), options: options, benchPath: benchPath,
                                     dataParallelKinds: env.executors.dataParallelKinds)
        let summary = try executor.submit(plans)
        print("slurm: submitted \(summary.submitted.count) jobs; \(summary.reused.count) already pending or running; "
              + "\(summary.finished) stages already finished")
        guard wait else { return }
        try executor.wait(plans)
        let provenance = env.provenance()
        for plan in plans { try env.writeReport(plan, provenance: provenance) }
        if names == nil { try env.writeReportsIndex(plans) }
    }
}

/// The job lines `bench list` and `bench plan` print under a suite (nothing when no job was
/// ever submitted for it).
enum SlurmListing {
    static func jobs(_ plans: [Plan], options: SuiteOptions) throws -> [SlurmExecutor.JobStatus] {
        let executor = ExecutorOptions.executor(SlurmSettings(), options: options, benchPath: nil)
        guard try !executor.records(plans).isEmpty else { return [] }
        return try executor.status(plans, withoutSlurm: true)
    }

    static func lines(_ plan: Plan, options: SuiteOptions) throws -> [String] {
        try jobs([plan], options: options).map { "  \($0.label)  \($0.line)" }
    }

    static func json(_ plan: Plan, options: SuiteOptions) throws -> [[String: Any]] {
        try jobs([plan], options: options).map {
            ["stage": $0.label, "job": $0.record.jobID, "state": $0.finished ? "FINISHED" : $0.state.name, "log": $0.record.log]
        }
    }
}

/// `bench cancel`: cancels the Slurm jobs of a suite (or of every suite) still pending or running.
struct CancelCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cancel",
        abstract: "Cancel the Slurm jobs of a suite's stages that are still pending or running (scancel), and forget them.",
        discussion: """
        Finished stages keep their results; a later `bench run SUITE --executor slurm` submits \
        the cancelled stages again, and they resume from their checkpoints.
        """)
    @Argument(help: "Suite name (default: every suite).") var suite: String?
    @OptionGroup var options: SuiteOptions

    func run() throws {
        let env = try options.environment()
        let plans = try (suite.map { [$0] } ?? env.allSuites()).map { try env.plan($0, scale: options.scale) }
        let executor = ExecutorOptions.executor(SlurmSettings(), options: options, benchPath: nil)
        let cancelled = try executor.cancel(plans)
        for c in cancelled { print("cancelled job \(c.jobID)  \(c.label)") }
        print("cancelled \(cancelled.count) job\(cancelled.count == 1 ? "" : "s")")
    }
}

/// `bench job stage|cache`: what a Slurm job runs (not for direct use).
struct JobCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "job", abstract: "Run one Slurm job's work: one stage, or one dataset's clip cache.",
        shouldDisplay: false, subcommands: [JobStageCommand.self, JobCacheCommand.self])
}

struct JobStageCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stage", abstract: "Run exactly one stage, after checking the stages it needs are finished; a finished stage exits 0.")
    @Argument(help: "Suite name.") var suite: String
    @Argument(help: "The stage's identity (its run store folder).") var identity: String
    @OptionGroup var options: SuiteOptions

    func run() throws {
        // The job script forwards Slurm's signal ahead of the time limit as SIGUSR1, and Slurm
        // sends SIGTERM (SIGKILL KillWait seconds later) when it requeues, preempts or cancels
        // the job: a training stage then checkpoints after its current step and stops. On
        // several ranks a stop request is not honoured (the ranks would see it at different
        // steps), so SIGTERM keeps its default and ends the rank at once: when srun ends the
        // step because another rank died, this one is not left waiting in a collective for
        // KillWait's SIGKILL.
        signal(SIGUSR1) { _ in TrainingLoop.requestStop() }
        if DataParallel.group.size == 1 { signal(SIGTERM) { _ in TrainingLoop.requestStop() } }
        let env = try options.environment()
        let plan = try env.plan(suite, scale: options.scale)
        do {
            try env.runStage(identity: identity, of: plan)
        } catch let failure as StageFailure where failure.underlying is StoppedOnRequest {
            // Stopped for a requeue with its checkpoint written: say so and end at once with
            // EX_TEMPFAIL, before exit handlers close the clip cache under its loader threads.
            FileHandle.standardError.write(Data("bench: \(failure)\n".utf8))
            _exit(75)
        }
    }
}

struct JobCacheCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cache", abstract: "Decode every video of a dataset (both splits) into the clip cache its stages read.")
    @Argument(help: "Dataset name in the manifest.") var dataset: String
    @OptionGroup var options: SuiteOptions

    func run() throws {
        let env = try options.environment()
        try env.fillCache(dataset: dataset, scale: options.scale, cacheDirectory: URL(fileURLWithPath: options.cache))
    }
}
