import Foundation
@testable import Suite
import XCTest

/// Answers sbatch, squeue, sacct and scancel like a cluster whose job states the test sets.
final class FakeSlurm: CommandRunning, @unchecked Sendable {
    private let lock = NSLock()
    private(set) var calls: [[String]] = []
    var nextID = 100
    /// Job id → state name; jobs not listed are unknown to squeue.
    var states: [String: String] = [:]
    /// Jobs sacct still knows (accounting storage enabled when non-nil).
    var accounting: [String: String]? = nil
    var sbatchFails = false

    func set(_ id: String, _ state: String) { lock.lock(); states[id] = state; lock.unlock() }
    var sbatchCalls: [[String]] { lock.lock(); defer { lock.unlock() }; return calls.filter { $0.first == "sbatch" } }

    func run(_ a: [String]) throws -> CommandOutput {
        lock.lock(); defer { lock.unlock() }
        calls.append(a)
        switch a.first {
        case "sbatch":
            if sbatchFails { return CommandOutput(status: 1, stdout: "", stderr: "sbatch: error: invalid partition specified: gpu") }
            nextID += 1
            states["\(nextID)"] = "PENDING"
            return CommandOutput(status: 0, stdout: "\(nextID);tempo\n", stderr: "")
        case "squeue":
            let ids = a[a.firstIndex(of: "-j")! + 1].split(separator: ",").map(String.init)
            let known = ids.filter { states[$0] != nil }
            if known.isEmpty { return CommandOutput(status: 1, stdout: "", stderr: "slurm_load_jobs error: Invalid job id specified\n") }
            let reason = { (s: String) in s == "PENDING" ? "Dependency" : s == "FAILED" ? "NonZeroExitCode" : "None" }
            return CommandOutput(status: 0, stdout: known.map { "\($0)|\(states[$0]!)|\(reason(states[$0]!))\n" }.joined(), stderr: "")
        case "sacct":
            guard let accounting else { return CommandOutput(status: 1, stdout: "", stderr: "Slurm accounting storage is disabled\n") }
            let ids = a[a.firstIndex(of: "-j")! + 1].split(separator: ",").map(String.init)
            return CommandOutput(status: 0, stdout: ids.compactMap { id in accounting[id].map { "\(id)|\($0)|1:0\n" } }.joined(), stderr: "")
        case "scancel":
            for id in a.dropFirst() { states[id] = "CANCELLED" }
            return CommandOutput(status: 0, stdout: "", stderr: "")
        default:
            throw SlurmError.commandNotFound(a.first ?? "")
        }
    }
}

final class SlurmTests: XCTestCase {
    var dir: URL!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("slurm-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    let suiteText = """
    name: demo
    title: "Demo table"
    axes:
      - {name: init, values: [random, vthcl]}
      - {name: seed, values: [0]}
    stages:
      - id: pretrain
        kind: pre
        dataset: kin
        over: [seed]
        when: {init: vthcl}
        params: {base: 0.2}
      - id: ucf
        kind: fine
        dataset: ucf
        over: [init, seed]
        needs: [{stage: pretrain, when: {init: vthcl}}]
        params: {base: 0.6}
    report:
      file: demo.md
      rows: [init]
      columns:
        - {label: UCF, metrics: [ucf.acc]}
    """

    func plan() throws -> Plan {
        let url = dir.appendingPathComponent("demo.yaml")
        try suiteText.write(to: url, atomically: true, encoding: .utf8)
        return try Planner(executors: registry, datasetIdentity: { _ in "d" }).plan(SuiteSpec.load(url), scale: .ci)
    }

    /// `pre` stands for a trainer (data-parallel), `fine` for a stage rank 0 runs alone.
    let registry = ExecutorRegistry([FakeExecutor(kind: "pre", dataParallel: true), FakeExecutor(kind: "fine")])

    func executor(_ fake: FakeSlurm, settings: SlurmSettings = SlurmSettings()) -> SlurmExecutor {
        let command = SlurmJobCommand(executable: "/opt/tempo/bench", options: ["--scale", "ci", "--store", dir.appendingPathComponent("runs").path],
                                      workingDirectory: "/work/tempo")
        return SlurmExecutor(settings: settings, store: RunStore(root: dir.appendingPathComponent("runs")), command: command,
                             runner: fake, progress: ProgressSink(quiet: true), scale: .ci, dataParallelKinds: registry.dataParallelKinds)
    }

    func dependency(_ call: [String]) -> String? {
        call.first { $0.hasPrefix("--dependency=") }.map { String($0.dropFirst("--dependency=".count)) }
    }

    func result(for stage: PlannedStage) -> StageResult {
        StageResult(identity: stage.identity, suite: stage.suite, stage: stage.id, kind: stage.kind, key: stage.key, axes: stage.axes,
                    params: stage.params, dataset: stage.dataset, inputs: stage.inputs, codeVersion: "1", metrics: ["acc": 0.5],
                    artifacts: [:], counts: [:], seed: 0, configHash: "", checkpointHash: nil, wallSeconds: 1, startedAt: "",
                    finishedAt: "", scale: "ci", machine: "m", perItem: [:])
    }

    // MARK: submission

    /// One cache job per dataset first, then each stage after its cache and its inputs' jobs.
    func testSubmissionWiresCacheAndInputDependencies() throws {
        let plan = try plan()
        let fake = FakeSlurm()
        let summary = try executor(fake).submit([plan])
        XCTAssertEqual(summary.submitted.map(\.label), ["cache[kin]", "pretrain[seed=0]", "cache[ucf]", "ucf[init=random,seed=0]", "ucf[init=vthcl,seed=0]"])
        let calls = fake.sbatchCalls
        XCTAssertEqual(calls.count, 5)
        XCTAssertNil(dependency(calls[0]), "the cache job needs nothing")
        XCTAssertEqual(dependency(calls[1]), "afterok:101")
        XCTAssertNil(dependency(calls[2]))
        XCTAssertEqual(dependency(calls[3]), "afterok:103", "random init: only the ucf cache")
        XCTAssertEqual(dependency(calls[4]), "afterok:103:102", "vthcl: the cache and the pretraining job")
        XCTAssertTrue(calls.allSatisfy { $0.starts(with: ["sbatch", "--parsable"]) })
        // The record of each stage: job id, resolved log path, dependencies.
        let vthcl = plan.stages.first { $0.axes["init"] == "vthcl" }!
        let record = try XCTUnwrap(executor(fake).record(.stage(vthcl)))
        XCTAssertEqual(record.jobID, "105")
        XCTAssertEqual(record.dependencies, ["103", "102"])
        XCTAssertTrue(record.log.hasSuffix("/slurm/logs/ucf-\(vthcl.identity.prefix(16))-105.log"), record.log)
        XCTAssertEqual(record.suite, "demo")
        let script = try String(contentsOfFile: record.script, encoding: .utf8)
        XCTAssertTrue(script.contains("/opt/tempo/bench job stage demo \(vthcl.identity) --scale ci"), script)
    }

    /// A second submission while the jobs are pending submits nothing; failed or vanished
    /// jobs are submitted again; finished stages are never submitted and need no dependency.
    func testSecondSubmissionReusesActiveJobsOnly() throws {
        let plan = try plan()
        let fake = FakeSlurm()
        let ex = executor(fake)
        try ex.submit([plan])
        fake.set("102", "RUNNING")
        let again = try ex.submit([plan])
        XCTAssertEqual(fake.sbatchCalls.count, 5, "nothing submitted twice")
        XCTAssertEqual(again.reused.map(\.label), plan.stages.map(\.key))
        XCTAssertTrue(again.submitted.isEmpty)

        // The pretraining finished; the random fine-tune's job failed; the ucf cache job was forgotten.
        let pretrain = plan.stages.first { $0.id == "pretrain" }!
        try ex.store.save(result(for: pretrain))
        fake.set("102", "COMPLETED")
        fake.set("104", "FAILED")
        fake.states["103"] = nil
        let third = try ex.submit([plan])
        XCTAssertEqual(third.finished, 1)
        XCTAssertEqual(third.submitted.map(\.label), ["cache[ucf]", "ucf[init=random,seed=0]"])
        XCTAssertEqual(third.reused.map(\.label), ["ucf[init=vthcl,seed=0]"])
        XCTAssertEqual(dependency(fake.sbatchCalls[6]), "afterok:106", "the new cache job")
    }

    func testSbatchFailureIsATypedError() throws {
        let fake = FakeSlurm()
        fake.sbatchFails = true
        XCTAssertThrowsError(try executor(fake).submit([plan()])) { error in
            guard case let SlurmError.commandFailed(command, status, output)? = error as? SlurmError else { return XCTFail("\(error)") }
            XCTAssertTrue(command.hasPrefix("sbatch --parsable"), command)
            XCTAssertEqual(status, 1)
            XCTAssertTrue(output.contains("invalid partition"), output)
        }
    }

    func testExtraArgumentsReachSbatch() throws {
        var s = SlurmSettings()
        s.extraArguments = ["--account=vision", "--qos=low"]
        let fake = FakeSlurm()
        try executor(fake, settings: s).submit([plan()])
        let first = fake.sbatchCalls[0]
        XCTAssertEqual(Array(first.suffix(3).prefix(2)), ["--account=vision", "--qos=low"])
        XCTAssertTrue(first.last!.hasSuffix(".sh"))
    }

    // MARK: states

    func testStatesFromSqueueThenSacctThenUnknown() throws {
        let fake = FakeSlurm()
        fake.states = ["7": "RUNNING"]
        var states = try executor(fake).states(["7", "8"])
        XCTAssertEqual(states["7"], SlurmJobState(name: "RUNNING", reason: "None"))
        XCTAssertEqual(states["8"], .unknown, "no accounting: what slurmctld forgot is unknown")
        fake.accounting = ["8": "CANCELLED by 0"]
        states = try executor(fake).states(["8"])
        XCTAssertEqual(states["8"]?.name, "CANCELLED")
        XCTAssertTrue(states["8"]!.isFailed)
    }

    /// A store copied to a machine without Slurm still lists its jobs, as UNKNOWN; waiting
    /// or cancelling there is an error naming the missing command.
    func testStatusWithoutSlurmCommands() throws {
        struct NoSlurm: CommandRunning {
            func run(_ a: [String]) throws -> CommandOutput { throw SlurmError.commandNotFound(a[0]) }
        }
        let plan = try plan()
        try executor(FakeSlurm()).submit([plan])
        let ex = SlurmExecutor(settings: SlurmSettings(), store: RunStore(root: dir.appendingPathComponent("runs")),
                               command: SlurmJobCommand(executable: "/b", options: [], workingDirectory: "/"), runner: NoSlurm(),
                               progress: ProgressSink(quiet: true), scale: .ci, dataParallelKinds: [])
        let listed = try ex.status([plan], withoutSlurm: true)
        XCTAssertEqual(listed.count, 5)
        XCTAssertTrue(listed.allSatisfy { $0.state == SlurmJobState(name: "UNKNOWN", reason: "squeue not found") })
        XCTAssertTrue(listed[0].line.contains("UNKNOWN (squeue not found)  log /"), listed[0].line)
        XCTAssertThrowsError(try ex.wait([plan])) { XCTAssertEqual($0 as? SlurmError, .commandNotFound("squeue")) }
        XCTAssertThrowsError(try ex.cancel([plan])) { XCTAssertEqual($0 as? SlurmError, .commandNotFound("squeue")) }
    }

    func testParsers() throws {
        let q = SlurmExecutor.parseSqueue("12|PENDING|Dependency\n13|RUNNING|None\n14|FAILED|NonZeroExitCode\n")
        XCTAssertEqual(q["12"], SlurmJobState(name: "PENDING", reason: "Dependency"))
        XCTAssertTrue(q["12"]!.isActive)
        XCTAssertTrue(q["13"]!.isActive)
        XCTAssertTrue(q["14"]!.isFailed)
        XCTAssertEqual(q["12"]!.description, "PENDING (Dependency)")
        let a = SlurmExecutor.parseSacct("20|REQUEUED|0:15\n20|COMPLETED|0:0\n21|TIMEOUT|0:0\n21.batch|CANCELLED|0:15\n")
        XCTAssertEqual(a["20"]?.name, "COMPLETED", "a requeued job's last run counts")
        XCTAssertTrue(a["20"]!.isCompleted)
        XCTAssertEqual(a["21"]?.name, "CANCELLED")
        XCTAssertEqual(try SlurmExecutor.parseSubmittedJobID("4242;cluster\n", command: "sbatch"), "4242")
        XCTAssertEqual(try SlurmExecutor.parseSubmittedJobID("17\n", command: "sbatch"), "17")
        XCTAssertThrowsError(try SlurmExecutor.parseSubmittedJobID("Submitted batch job 17\n", command: "sbatch")) { error in
            XCTAssertEqual(error as? SlurmError, .unexpectedOutput(command: "sbatch", output: "Submitted batch job 17\n"))
        }
        XCTAssertFalse(SlurmJobState(name: "REQUEUED").isFailed)
        XCTAssertTrue(SlurmJobState(name: "REQUEUED").isActive)
        XCTAssertFalse(SlurmJobState.unknown.isFailed)
    }

    // MARK: waiting and cancelling

    func testWaitReportsFailedJobsWithTheirLogs() throws {
        let plan = try plan()
        let fake = FakeSlurm()
        let ex = executor(fake)
        try ex.submit([plan])
        var polls = 0
        XCTAssertThrowsError(try ex.wait([plan], sleep: { _ in
            polls += 1
            // Poll 1: the caches finish and the pretraining fails; Slurm cancels its dependant.
            fake.set("101", "COMPLETED"); fake.set("103", "COMPLETED")
            fake.set("102", "FAILED"); fake.set("105", "CANCELLED")
            // The random fine-tune finishes with a result.
            try ex.store.save(self.result(for: plan.stages.first { $0.axes["init"] == "random" }!))
            fake.set("104", "COMPLETED")
        })) { error in
            guard case let SlurmError.jobFailed(lines)? = error as? SlurmError else { return XCTFail("\(error)") }
            XCTAssertEqual(lines.count, 2, "\(lines)")
            XCTAssertTrue(lines[0].hasPrefix("pretrain[seed=0]: job 102 FAILED (NonZeroExitCode); log /"), lines[0])
            XCTAssertTrue(lines[0].hasSuffix("-102.log"), lines[0])
            XCTAssertTrue(lines[1].hasPrefix("ucf[init=vthcl,seed=0]: job 105 CANCELLED"), lines[1])
        }
        XCTAssertEqual(polls, 1)
    }

    func testWaitReturnsOnceEveryStageHasAResult() throws {
        let plan = try plan()
        let fake = FakeSlurm()
        let ex = executor(fake)
        try ex.submit([plan])
        var polls = 0
        try ex.wait([plan], sleep: { _ in
            polls += 1
            let stage = plan.stages[polls - 1]
            try ex.store.save(self.result(for: stage))
        })
        XCTAssertEqual(polls, plan.stages.count)
    }

    func testCancelCancelsActiveJobsAndForgetsThem() throws {
        let plan = try plan()
        let fake = FakeSlurm()
        let ex = executor(fake)
        try ex.submit([plan])
        fake.set("101", "COMPLETED")
        fake.set("102", "RUNNING")
        let cancelled = try ex.cancel([plan])
        XCTAssertEqual(Set(cancelled.map(\.jobID)), ["102", "103", "104", "105"])
        XCTAssertEqual(Set(fake.calls.last!.dropFirst()), ["102", "103", "104", "105"])
        XCTAssertEqual(fake.calls.last!.first, "scancel")
        XCTAssertEqual(try ex.records([plan]).map(\.record.jobID), ["101"], "the completed cache job's record stays")
        XCTAssertTrue(try ex.cancel([plan]).isEmpty)
    }

    // MARK: scripts and settings

    func testScriptRequestsTheSettingsAndRequeuesOnTheSignal() throws {
        let plan = try plan()
        var s = SlurmSettings()
        s.partition = "gpu"; s.timeLimit = "04:00:00"; s.cpusPerTask = 8; s.gpusPerTask = 1; s.ranks = 4
        let stage = plan.stages[0]
        let text = SlurmScript.render(.stage(stage), settings: s, ranks: 4, command: ["/opt/b ench", "job", "stage", "demo", stage.identity],
                                      log: "/runs/slurm/logs/x-%j.log", workingDirectory: "/work")
        let lines = text.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines[0], "#!/bin/bash")
        for expected in ["#SBATCH --partition=gpu", "#SBATCH --time=04:00:00", "#SBATCH --cpus-per-task=8", "#SBATCH --gpus-per-task=1",
                         "#SBATCH --ntasks=4", "#SBATCH --requeue", "#SBATCH --signal=B:USR1@300", "#SBATCH --output=/runs/slurm/logs/x-%j.log",
                         "#SBATCH --open-mode=append", "#SBATCH --chdir=/work", "#SBATCH --kill-on-invalid-dep=yes", "trap requeue USR1",
                         "    kill -USR1 \"$child\" 2>/dev/null", "    scontrol requeue \"$SLURM_JOB_ID\"",
                         "    for ((i = 0; i < 150; i++)); do kill -0 \"$child\" 2>/dev/null || break; sleep 1; done"] {
            XCTAssertTrue(lines.contains(expected), "missing \(expected) in\n\(text)")
        }
        // The ranks join through PMIx, get the job's CPUs per task (srun 22.05 does not
        // inherit them) and end together when one fails.
        XCTAssertTrue(lines.contains("srun --mpi=pmix --ntasks=4 --cpus-per-task=8 --kill-on-bad-exit=1 '/opt/b ench' job stage demo \(stage.identity) &"), text)
        s.mpi = "pmi2"; s.cpusPerTask = nil
        let other = SlurmScript.render(.stage(stage), settings: s, ranks: 2, command: ["/b"], log: "/l", workingDirectory: "/w")
        XCTAssertTrue(other.contains("\nsrun --mpi=pmi2 --ntasks=2 --kill-on-bad-exit=1 /b &\n"), other)
        XCTAssertTrue(other.contains("#SBATCH --ntasks=2\n"), other)
        // A cache job is one task; no GPUs section changes that.
        let cache = SlurmScript.render(.cache(dataset: "kin"), settings: s, ranks: 1, command: ["/b", "job", "cache", "kin"], log: "/l", workingDirectory: "/w")
        XCTAssertTrue(cache.contains("#SBATCH --ntasks=1\n"))
        XCTAssertTrue(cache.contains("\n/b job cache kin &\n"))
        // A one-rank stage runs without srun; no partition or limit unless given.
        let plain = SlurmScript.render(.stage(stage), settings: SlurmSettings(), ranks: 1, command: ["/b"], log: "/l", workingDirectory: "/w")
        XCTAssertFalse(plain.contains("srun"))
        XCTAssertFalse(plain.contains("--partition"))
        XCTAssertFalse(plain.contains("--time"))
    }

    /// With `ranks: 2` only the trainers' jobs ask for two tasks and start srun; a stage rank
    /// 0 runs alone and the cache jobs ask for one task, so they hold no idle CPUs.
    func testOnlyDataParallelStagesAskForSeveralRanks() throws {
        let plan = try plan()
        XCTAssertEqual(registry.dataParallelKinds, ["pre"])
        var s = SlurmSettings()
        s.ranks = 2
        let fake = FakeSlurm()
        let ex = executor(fake, settings: s)
        try ex.submit([plan])
        var seen: [String: String] = [:]
        for stage in plan.stages {
            let script = try String(contentsOfFile: try XCTUnwrap(ex.record(.stage(stage))).script, encoding: .utf8)
            let tasks = script.split(separator: "\n").first { $0.hasPrefix("#SBATCH --ntasks=") }.map(String.init)
            seen[stage.key] = tasks
            XCTAssertEqual(ex.ranks(.stage(stage)), stage.kind == "pre" ? 2 : 1, stage.key)
            XCTAssertEqual(script.contains("\nsrun --mpi=pmix --ntasks=2 --kill-on-bad-exit=1 /opt/tempo/bench job stage demo \(stage.identity) "),
                           stage.kind == "pre", script)
            XCTAssertEqual(script.contains("srun"), stage.kind == "pre", script)
        }
        XCTAssertEqual(seen, ["pretrain[seed=0]": "#SBATCH --ntasks=2", "ucf[init=random,seed=0]": "#SBATCH --ntasks=1",
                              "ucf[init=vthcl,seed=0]": "#SBATCH --ntasks=1"])
        let cache = try String(contentsOfFile: try XCTUnwrap(ex.record(.cache(dataset: "kin"))).script, encoding: .utf8)
        XCTAssertTrue(cache.contains("#SBATCH --ntasks=1\n") && !cache.contains("srun"), cache)
    }

    func testSignalLeadTimeFitsShortLimits() {
        var s = SlurmSettings()
        XCTAssertEqual(SlurmScript.signalSeconds(s), 300)
        s.timeLimit = "2"
        XCTAssertEqual(SlurmScript.signalSeconds(s), 60, "half of a two-minute limit")
        s.timeLimit = "1-00:00:00"
        XCTAssertEqual(SlurmScript.signalSeconds(s), 300)
    }

    func testTimeLimits() {
        XCTAssertEqual(SlurmSettings.timeLimitSeconds("90"), 5400)
        XCTAssertEqual(SlurmSettings.timeLimitSeconds("1:30"), 90)
        XCTAssertEqual(SlurmSettings.timeLimitSeconds("01:00:00"), 3600)
        XCTAssertEqual(SlurmSettings.timeLimitSeconds("2-00"), 172_800)
        XCTAssertEqual(SlurmSettings.timeLimitSeconds("1-02:03:04"), 93_784)
        for bad in ["", "abc", "1:2:3:4", "-5", "1-", "1.5", "1-2-3"] { XCTAssertNil(SlurmSettings.timeLimitSeconds(bad), bad) }
    }

    func testSettingsFileAndItsErrors() throws {
        let url = dir.appendingPathComponent("cluster.yaml")
        try """
        slurm:
          partition: gpu
          time: "12:00:00"
          cpus_per_task: 8
          gpus_per_task: 2
          ranks: 2
          mpi: pmix_v4
          extra_args: [--account=vision, --mem=64G]
        """.write(to: url, atomically: true, encoding: .utf8)
        let s = try SlurmSettings.load(url)
        XCTAssertEqual(s.partition, "gpu")
        XCTAssertEqual(s.timeLimit, "12:00:00")
        XCTAssertEqual(s.cpusPerTask, 8)
        XCTAssertEqual(s.gpusPerTask, 2)
        XCTAssertEqual(s.ranks, 2)
        XCTAssertEqual(s.mpi, "pmix_v4")
        XCTAssertEqual(SlurmSettings().mpi, "pmix", "PMIx unless told otherwise")
        XCTAssertEqual(s.extraArguments, ["--account=vision", "--mem=64G"])
        XCTAssertEqual(s.signalSeconds, 300)

        try "slurm:\n  partiton: gpu\n".write(to: url, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try SlurmSettings.load(url)) { error in
            let e = error as? SuiteFileError
            XCTAssertEqual(e?.file, url.path)
            XCTAssertEqual(e?.key, "slurm.partiton")
            XCTAssertEqual(e?.line, 2, "the misspelt key's line")
        }
        try "slurm:\n  time: soon\n".write(to: url, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try SlurmSettings.load(url)) { error in
            XCTAssertEqual((error as? SuiteFileError)?.key, "slurm.time")
        }
        try "slurm:\n  ranks: 0\n".write(to: url, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try SlurmSettings.load(url)) { error in
            XCTAssertTrue("\(error)".contains("'slurm.ranks': must be at least 1"), "\(error)")
        }
        try "slurm:\n  mpi: \"pmix --export=NONE\"\n".write(to: url, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try SlurmSettings.load(url)) { error in
            XCTAssertEqual((error as? SuiteFileError)?.key, "slurm.mpi")
            XCTAssertTrue("\(error)".contains("is not an srun MPI type"), "\(error)")
        }
    }

    // MARK: provenance and the job's own stage

    func testProvenanceFromTheJobEnvironment() {
        XCTAssertNil(SlurmProvenance.current([:]))
        let p = SlurmProvenance.current(["SLURM_JOB_ID": "77", "SLURMD_NODENAME": "gpu3", "SLURM_NTASKS": "4", "SLURM_RESTART_COUNT": "1"])
        XCTAssertEqual(p, SlurmProvenance(jobID: "77", node: "gpu3", tasks: 4, restarts: 1))
    }

    /// Results stored before the field existed decode with no Slurm provenance.
    func testOldResultsDecode() throws {
        let plan = try plan()
        var r = result(for: plan.stages[0])
        r.slurm = SlurmProvenance(jobID: "5", node: "n1", tasks: 1, restarts: 0)
        let data = try JSONEncoder().encode(r)
        var object = try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
        XCTAssertNotNil(object["slurm"])
        object["slurm"] = nil
        let old = try JSONDecoder().decode(StageResult.self, from: JSONSerialization.data(withJSONObject: object))
        XCTAssertNil(old.slurm)
        XCTAssertEqual(old.metrics, r.metrics)
    }

    /// A job runs exactly its stage once its inputs have results, and exits quietly when the
    /// stage is already finished.
    func testJobRunsOneStageAfterItsInputs() throws {
        let plan = try plan()
        let pre = FakeExecutor(kind: "pre"), fine = FakeExecutor(kind: "fine")
        let env = try SuiteEnvironment(suitesDirectory: dir, manifest: dir.appendingPathComponent("none.yaml"), store: dir.appendingPathComponent("runs"),
                                       reports: dir.appendingPathComponent("reports"), progress: ProgressSink(quiet: true), scale: .ci,
                                       executors: ExecutorRegistry([pre, fine]))
        let vthcl = plan.stages.first { $0.axes["init"] == "vthcl" }!
        let pretrain = plan.stages.first { $0.id == "pretrain" }!
        XCTAssertThrowsError(try env.runStage(identity: vthcl.identity, of: plan)) { error in
            XCTAssertTrue("\(error)".contains("the stages it needs have no result yet: pretrain[seed=0]"), "\(error)")
        }
        XCTAssertTrue(fine.runs.isEmpty)
        XCTAssertThrowsError(try env.runStage(identity: "feed", of: plan)) { error in
            XCTAssertTrue("\(error)".contains("has no stage feed"), "\(error)")
        }
        setenv("SLURM_JOB_ID", "31", 1); setenv("SLURMD_NODENAME", "node7", 1)
        defer { unsetenv("SLURM_JOB_ID"); unsetenv("SLURMD_NODENAME") }
        let r = try env.runStage(identity: pretrain.identity, of: plan)
        XCTAssertEqual(r.slurm?.jobID, "31")
        XCTAssertEqual(r.slurm?.node, "node7")
        XCTAssertEqual(try env.store.result(pretrain.identity)?.slurm?.jobID, "31")
        try env.runStage(identity: pretrain.identity, of: plan)
        XCTAssertEqual(pre.runs, ["pretrain[seed=0]"], "a finished stage is not run again")
        try env.runStage(identity: vthcl.identity, of: plan)
        XCTAssertEqual(fine.runs, ["ucf[init=vthcl,seed=0]"])
    }
}
