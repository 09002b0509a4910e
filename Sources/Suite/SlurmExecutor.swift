import Foundation

/// The Slurm executor: every stage not yet finished becomes one `sbatch` job running `bench
/// job stage` for exactly that stage, with `--dependency=afterok:` on the jobs of the stages
/// it needs; each dataset's clip cache is filled by one job before its stages. The submitted
/// job ids are recorded in the run store, so a second submission reuses jobs that are still
/// pending or running instead of submitting them twice.
public struct SlurmExecutor {
    public var settings: SlurmSettings
    public var store: RunStore
    public var command: SlurmJobCommand
    public var runner: any CommandRunning
    public var progress: ProgressSink
    /// The scale of the plans (cache job records are per scale: each scale reads other data).
    public var scale: Scale
    /// Stage kinds that run on every rank (`ExecutorRegistry.dataParallelKinds`): only their
    /// jobs ask for `settings.ranks` tasks; the others run on rank 0 alone and ask for one.
    public var dataParallelKinds: Set<String>

    public init(settings: SlurmSettings, store: RunStore, command: SlurmJobCommand, runner: any CommandRunning = ProcessCommandRunner(),
                progress: ProgressSink, scale: Scale, dataParallelKinds: Set<String>) {
        self.settings = settings; self.store = store; self.command = command; self.runner = runner
        self.progress = progress; self.scale = scale; self.dataParallelKinds = dataParallelKinds
    }

    /// The tasks (MPI ranks) a target's job asks for.
    public func ranks(_ target: SlurmTarget) -> Int {
        if case .stage(let s) = target, dataParallelKinds.contains(s.kind) { return settings.ranks }
        return 1
    }

    // MARK: records

    var slurmDirectory: URL { store.root.appendingPathComponent("slurm") }
    var logDirectory: URL { slurmDirectory.appendingPathComponent("logs") }

    public func recordURL(_ target: SlurmTarget) -> URL {
        switch target {
        case .stage(let s): return store.directory(s.identity).appendingPathComponent("slurm.json")
        case .cache(let d): return slurmDirectory.appendingPathComponent("cache-\(scale.rawValue)-\(d).json")
        }
    }

    func scriptURL(_ target: SlurmTarget) -> URL {
        switch target {
        case .stage(let s): return store.directory(s.identity).appendingPathComponent("slurm-job.sh")
        case .cache(let d): return slurmDirectory.appendingPathComponent("cache-\(scale.rawValue)-\(d).sh")
        }
    }

    /// The log file pattern (`%j` is the job id) of a target.
    func logPattern(_ target: SlurmTarget) -> String {
        let name: String
        switch target {
        case .stage(let s): name = "\(s.id)-\(s.identity.prefix(16))"
        case .cache(let d): name = "cache-\(scale.rawValue)-\(d)"
        }
        return logDirectory.appendingPathComponent("\(name)-%j.log").path
    }

    public func record(_ target: SlurmTarget) throws -> SlurmJobRecord? {
        let url = recordURL(target)
        guard FileManager.default.fileExists(atPath: url.path) else { return nil }
        do {
            return try JSONDecoder().decode(SlurmJobRecord.self, from: Data(contentsOf: url))
        } catch {
            throw SuiteFileError(file: url.path, line: nil, key: "", message: "unreadable Slurm job record: \(error)")
        }
    }

    func save(_ record: SlurmJobRecord, for target: SlurmTarget) throws {
        let url = recordURL(target)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let tmp = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).\(getpid()).tmp")
        try encoder.encode(record).write(to: tmp)
        guard rename(tmp.path, url.path) == 0 else {
            throw SuiteFileError(file: url.path, line: nil, key: "", message: "cannot move the job record into place: \(String(cString: strerror(errno)))")
        }
    }

    func removeRecord(_ target: SlurmTarget) throws {
        let url = recordURL(target)
        if FileManager.default.fileExists(atPath: url.path) { try FileManager.default.removeItem(at: url) }
    }

    /// The distinct stages of `plans` in dependency order (a stage shared by suites once).
    static func stages(_ plans: [Plan]) -> [PlannedStage] {
        var seen = Set<String>()
        return plans.flatMap(\.stages).filter { seen.insert($0.identity).inserted }
    }

    /// Every target of `plans` that has a job record, with it.
    public func records(_ plans: [Plan]) throws -> [(target: SlurmTarget, record: SlurmJobRecord)] {
        let stages = Self.stages(plans)
        var out: [(SlurmTarget, SlurmJobRecord)] = []
        for d in Set(stages.compactMap(\.dataset)).sorted() {
            if let r = try record(.cache(dataset: d)) { out.append((.cache(dataset: d), r)) }
        }
        for s in stages { if let r = try record(.stage(s)) { out.append((.stage(s), r)) } }
        return out
    }

    // MARK: submitting

    /// What a submission did.
    public struct Submission: Sendable {
        public var submitted: [(label: String, jobID: String)] = []
        public var reused: [(label: String, jobID: String)] = []
        public var finished = 0
    }

    /// Submits every stage of `plans` that has no result and no job still pending or running.
    @discardableResult
    public func submit(_ plans: [Plan]) throws -> Submission {
        let stages = Self.stages(plans)
        let existing = try records(plans)
        let states = try self.states(existing.map(\.record.jobID))
        func activeJob(_ target: SlurmTarget) throws -> String? {
            guard let r = try record(target) else { return nil }
            let state = states[r.jobID] ?? .unknown
            if state.isActive { return r.jobID }
            progress.log("slurm   \(target.label): job \(r.jobID) is \(state) (log \(r.log)); submitting it again")
            return nil
        }
        var summary = Submission()
        var jobOf: [String: String] = [:]       // stage identity → job id (new or still active)
        var cacheJob: [String: String] = [:]    // dataset → job id
        for stage in stages {
            if try store.result(stage.identity) != nil { summary.finished += 1; continue }
            let target = SlurmTarget.stage(stage)
            if let id = try activeJob(target) {
                jobOf[stage.identity] = id
                summary.reused.append((stage.key, id))
                progress.log("slurm   \(stage.key): job \(id) already submitted (\(states[id] ?? .unknown))")
                continue
            }
            var dependencies: [String] = []
            if let d = stage.dataset {
                if cacheJob[d] == nil {
                    let cache = SlurmTarget.cache(dataset: d)
                    if let id = try activeJob(cache) {
                        cacheJob[d] = id
                        summary.reused.append((cache.label, id))
                    } else {
                        let id = try sbatch(cache, suite: nil, dependencies: [])
                        cacheJob[d] = id
                        summary.submitted.append((cache.label, id))
                    }
                }
                dependencies.append(cacheJob[d]!)
            }
            for input in stage.inputs {
                if try store.result(input) != nil { continue }
                guard let id = jobOf[input] else {
                    throw SuiteCommandError(message: "stage \(stage.key) needs stage \(input.prefix(16)), which has neither a result nor a job")
                }
                dependencies.append(id)
            }
            let id = try sbatch(target, suite: stage.suite, dependencies: dependencies)
            jobOf[stage.identity] = id
            summary.submitted.append((stage.key, id))
        }
        return summary
    }

    /// Writes the target's script, submits it, records the job; returns its id.
    func sbatch(_ target: SlurmTarget, suite: String?, dependencies: [String]) throws -> String {
        let script = scriptURL(target)
        try FileManager.default.createDirectory(at: script.deletingLastPathComponent(), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: logDirectory, withIntermediateDirectories: true)
        let log = logPattern(target)
        let text = SlurmScript.render(target, settings: settings, ranks: ranks(target), command: command.arguments(for: target),
                                      log: log, workingDirectory: command.workingDirectory)
        try Data(text.utf8).write(to: script)
        var args = ["sbatch", "--parsable"]
        if !dependencies.isEmpty { args.append("--dependency=afterok:" + dependencies.joined(separator: ":")) }
        args += settings.extraArguments
        args.append(script.path)
        let out = try runner.run(args)
        let line = args.joined(separator: " ")
        guard out.status == 0 else { throw SlurmError.commandFailed(command: line, status: out.status, output: out.stderr + out.stdout) }
        let id = try Self.parseSubmittedJobID(out.stdout, command: line)
        let record = SlurmJobRecord(jobID: id, target: target.label, suite: suite, log: log.replacingOccurrences(of: "%j", with: id),
                                    script: script.path, dependencies: dependencies,
                                    submittedAt: ISO8601DateFormatter().string(from: Date()))
        try save(record, for: target)
        let after = dependencies.isEmpty ? "" : "  after \(dependencies.joined(separator: ","))"
        progress.log("slurm   submitted \(target.label) as job \(id)\(after)")
        return id
    }

    /// `sbatch --parsable` prints `ID` or `ID;CLUSTER`.
    static func parseSubmittedJobID(_ stdout: String, command: String) throws -> String {
        let first = stdout.split(whereSeparator: \.isNewline).first.map(String.init) ?? ""
        let id = String(first.split(separator: ";").first ?? "").trimmingCharacters(in: .whitespaces)
        guard !id.isEmpty, id.allSatisfy(\.isNumber) else { throw SlurmError.unexpectedOutput(command: command, output: stdout) }
        return id
    }

    // MARK: states

    /// The state of each job: from squeue while slurmctld knows it, else from sacct (when
    /// accounting is enabled), else `UNKNOWN`.
    public func states(_ ids: [String]) throws -> [String: SlurmJobState] {
        let unique = Array(Set(ids)).sorted()
        guard !unique.isEmpty else { return [:] }
        var out: [String: SlurmJobState] = [:]
        let args = ["squeue", "-h", "-t", "all", "-j", unique.joined(separator: ","), "-o", "%i|%T|%r"]
        let q = try runner.run(args)
        if q.status == 0 {
            out = Self.parseSqueue(q.stdout)
        } else if !q.stderr.contains("Invalid job id") {
            throw SlurmError.commandFailed(command: args.joined(separator: " "), status: q.status, output: q.stderr)
        }
        let rest = unique.filter { out[$0] == nil }
        if !rest.isEmpty {
            // Without accounting storage sacct fails ("accounting storage is disabled"): the
            // jobs slurmctld has forgotten stay UNKNOWN, which is all that can be said of them.
            let a = try runner.run(["sacct", "-n", "-X", "-P", "-j", rest.joined(separator: ","), "-o", "JobID,State,ExitCode"])
            if a.status == 0 { out.merge(Self.parseSacct(a.stdout)) { old, _ in old } }
        }
        for id in unique where out[id] == nil { out[id] = .unknown }
        return out
    }

    /// Lines `ID|STATE|REASON` of `squeue -o '%i|%T|%r'`.
    static func parseSqueue(_ text: String) -> [String: SlurmJobState] {
        var out: [String: SlurmJobState] = [:]
        for line in text.split(whereSeparator: \.isNewline) {
            let f = line.split(separator: "|", omittingEmptySubsequences: false)
            guard f.count >= 2 else { continue }
            let id = f[0].trimmingCharacters(in: .whitespaces)
            out[id] = SlurmJobState(name: SlurmJobState.normalized(f[1]), reason: f.count > 2 ? String(f[2]) : nil)
        }
        return out
    }

    /// Lines `ID|STATE|EXIT` of `sacct -n -X -P -o JobID,State,ExitCode`; a requeued job has
    /// a line per run, the last one counts.
    static func parseSacct(_ text: String) -> [String: SlurmJobState] {
        var out: [String: SlurmJobState] = [:]
        for line in text.split(whereSeparator: \.isNewline) {
            let f = line.split(separator: "|", omittingEmptySubsequences: false)
            guard f.count >= 2 else { continue }
            let id = String(f[0].split(separator: ".").first ?? "")
            guard !id.isEmpty, id.allSatisfy(\.isNumber) else { continue }
            out[id] = SlurmJobState(name: SlurmJobState.normalized(f[1]), exitCode: f.count > 2 ? String(f[2]) : nil)
        }
        return out
    }

    // MARK: status, waiting, cancelling

    /// One stage's or cache's job and its state.
    public struct JobStatus: Sendable {
        public var target: SlurmTarget
        public var record: SlurmJobRecord
        public var state: SlurmJobState
        public var finished: Bool

        public var label: String { target.label }
        func isStage(_ identity: String) -> Bool {
            if case .stage(let s) = target { return s.identity == identity }
            return false
        }
        var isCache: Bool {
            if case .cache = target { return true }
            return false
        }

        public var line: String {
            var text = "job \(record.jobID)  " + (finished ? "finished" : state.description)
            if !finished && (state.isFailed || state.name == "UNKNOWN") { text += "  log \(record.log)" }
            return text
        }
    }

    /// The jobs of `plans` with their states (one squeue call). Where Slurm's commands are
    /// missing (a copy of the store on another machine) and `withoutSlurm` is set, every state
    /// is `UNKNOWN` with that reason instead of an error.
    public func status(_ plans: [Plan], withoutSlurm: Bool = false) throws -> [JobStatus] {
        let recs = try records(plans)
        let states: [String: SlurmJobState]
        do {
            states = try self.states(recs.map(\.record.jobID))
        } catch SlurmError.commandNotFound(let command) where withoutSlurm {
            states = Dictionary(recs.map { ($0.record.jobID, SlurmJobState(name: "UNKNOWN", reason: "\(command) not found")) }) { a, _ in a }
        }
        return try recs.map { target, record in
            var finished = false
            if case .stage(let s) = target { finished = try store.result(s.identity) != nil }
            return JobStatus(target: target, record: record, state: states[record.jobID] ?? .unknown, finished: finished)
        }
    }

    /// Polls until every stage of `plans` has a result or no job that could still give one is
    /// left; throws `SlurmError.jobFailed` naming each failed job and its log.
    public func wait(_ plans: [Plan], sleep: (Double) throws -> Void = { Thread.sleep(forTimeInterval: $0) }) throws {
        let stages = Self.stages(plans)
        var last: [String: String] = [:]
        while true {
            let all = try status(plans)
            for s in all {
                let text = s.finished ? "finished" : s.state.description
                if last[s.label] != text { progress.log("slurm   \(s.label): job \(s.record.jobID) \(text)"); last[s.label] = text }
            }
            let missing = try stages.filter { try store.result($0.identity) == nil }
            if missing.isEmpty { return }
            let active = all.filter { !$0.finished && $0.state.isActive }
            if active.isEmpty {
                var lines: [String] = []
                for stage in missing {
                    if let s = all.first(where: { $0.isStage(stage.identity) }) {
                        lines.append("\(stage.key): job \(s.record.jobID) \(s.state); log \(s.record.log)")
                    } else {
                        lines.append("\(stage.key): no job was submitted")
                    }
                }
                for s in all where s.isCache && s.state.isFailed {
                    lines.insert("\(s.label): job \(s.record.jobID) \(s.state); log \(s.record.log)", at: 0)
                }
                throw SlurmError.jobFailed(lines)
            }
            try sleep(settings.pollSeconds)
        }
    }

    /// Cancels the jobs of `plans` that are still pending or running (`scancel`) and removes
    /// their records; returns what was cancelled.
    public func cancel(_ plans: [Plan]) throws -> [(label: String, jobID: String)] {
        let all = try status(plans)
        let active = all.filter { !$0.finished && $0.state.isActive }
        if !active.isEmpty {
            let args = ["scancel"] + active.map(\.record.jobID)
            let out = try runner.run(args)
            guard out.status == 0 else {
                throw SlurmError.commandFailed(command: args.joined(separator: " "), status: out.status, output: out.stderr + out.stdout)
            }
        }
        for s in active { try removeRecord(s.target) }
        return active.map { ($0.label, $0.record.jobID) }
    }
}
