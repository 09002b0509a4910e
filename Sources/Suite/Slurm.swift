import Foundation
import Yams

// The Slurm executor's vocabulary: job settings, the records a submission leaves in the run
// store, job states as squeue/sacct/scontrol print them, and the one way commands are run.

/// How the stage jobs are requested from Slurm (`--partition`, `--time`, … on `bench run`,
/// or a `slurm:` block in a settings file).
public struct SlurmSettings: Sendable, Equatable {
    public var partition: String?
    /// Slurm's time format: minutes, `MM:SS`, `HH:MM:SS`, `D-HH`, `D-HH:MM`, `D-HH:MM:SS`.
    public var timeLimit: String?
    public var cpusPerTask: Int?
    /// GPUs per task (`--gpus-per-task`); this build's stages run on the CPU, so a request
    /// only reserves them for a later GPU backend.
    public var gpusPerTask: Int?
    /// Data-parallel ranks of a training stage (`--ntasks`, started through `srun`); stages
    /// that rank 0 runs alone (probes, ICM) and cache jobs ask for one task.
    public var ranks: Int = 1
    /// The PMI that `srun` starts multi-rank stages with (`srun --mpi=TYPE`). Open MPI 4
    /// as Debian and most sites build it, and Open MPI 5 always, join only through PMIx:
    /// with `pmi2` or `none` every rank fails in `MPI_Init` (docs/slurm.md, "Ranks").
    public var mpi: String = "pmix"
    /// Seconds before the time limit at which Slurm signals the job (`--signal=B:USR1@N`):
    /// the job stops its stage and requeues itself; the rerun resumes from the last checkpoint.
    public var signalSeconds: Int = 300
    /// Further `sbatch` arguments, passed as given (`--account=X`, `--qos=Y`, `--mem=16G`).
    public var extraArguments: [String] = []
    /// Seconds between state polls of `--wait`.
    public var pollSeconds: Double = 30

    public init() {}

    /// Settings keys of a `slurm:` block.
    static let keys: Set<String> = ["partition", "time", "cpus_per_task", "gpus_per_task", "ranks", "mpi", "signal_seconds",
                                    "extra_args", "poll_seconds"]

    /// Reads the `slurm:` block of a YAML settings file; every key is checked.
    public static func load(_ url: URL) throws -> SlurmSettings {
        let (reader, root) = try YAMLReader.load(url)
        let top = try reader.mapping(root, "", allowed: ["slurm"], required: ["slurm"])
        let m = try reader.mapping(top["slurm"]!, "slurm", allowed: keys)
        var s = SlurmSettings()
        if let n = m["partition"] { s.partition = try reader.string(n, "slurm.partition") }
        if let n = m["time"] {
            let text = try reader.scalarText(n, "slurm.time")
            guard Self.isTimeLimit(text) else {
                throw reader.fail(n, "slurm.time", "'\(text)' is not a Slurm time limit (minutes, HH:MM:SS, D-HH:MM, …)")
            }
            s.timeLimit = text
        }
        if let n = m["cpus_per_task"] { s.cpusPerTask = try positive(reader, n, "slurm.cpus_per_task") }
        if let n = m["gpus_per_task"] { s.gpusPerTask = try positive(reader, n, "slurm.gpus_per_task") }
        if let n = m["ranks"] { s.ranks = try positive(reader, n, "slurm.ranks") }
        if let n = m["mpi"] {
            let text = try reader.string(n, "slurm.mpi")
            guard isMPIType(text) else {
                throw reader.fail(n, "slurm.mpi", "'\(text)' is not an srun MPI type (pmix, pmix_v4, pmi2, …: `srun --mpi=list`)")
            }
            s.mpi = text
        }
        if let n = m["signal_seconds"] { s.signalSeconds = try positive(reader, n, "slurm.signal_seconds") }
        if let n = m["poll_seconds"] {
            let v = try reader.double(n, "slurm.poll_seconds")
            guard v > 0 else { throw reader.fail(n, "slurm.poll_seconds", "must be positive, got \(v)") }
            s.pollSeconds = v
        }
        if let n = m["extra_args"] { s.extraArguments = try reader.list(n, "slurm.extra_args").map { try reader.scalarText($0, "slurm.extra_args") } }
        return s
    }

    private static func positive(_ reader: YAMLReader, _ node: Node, _ key: String) throws -> Int {
        let v = try reader.int(node, key)
        guard v >= 1 else { throw reader.fail(node, key, "must be at least 1, got \(v)") }
        return v
    }

    /// Whether `text` can name an srun MPI plugin (`pmix`, `pmix_v4`, `pmi2`: letters, digits, `_`).
    public static func isMPIType(_ text: String) -> Bool {
        !text.isEmpty && text.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }
    }

    /// Whether `text` is one of Slurm's time formats.
    public static func isTimeLimit(_ text: String) -> Bool { timeLimitSeconds(text) != nil }

    /// A Slurm time limit in seconds (`UNLIMITED`/`INFINITE` are nil, as are malformed ones).
    public static func timeLimitSeconds(_ text: String) -> Int? {
        func ints(_ s: Substring) -> [Int]? {
            let parts = s.split(separator: ":", omittingEmptySubsequences: false)
            let values = parts.compactMap { p in p.allSatisfy(\.isNumber) && !p.isEmpty ? Int(p) : nil }
            return values.count == parts.count ? values : nil
        }
        let pieces = text.split(separator: "-", omittingEmptySubsequences: false)
        if pieces.count == 2 {  // D-HH, D-HH:MM, D-HH:MM:SS
            guard let d = ints(pieces[0]), d.count == 1, let rest = ints(pieces[1]), (1...3).contains(rest.count) else { return nil }
            let hms = rest + Array(repeating: 0, count: 3 - rest.count)
            return ((d[0] * 24 + hms[0]) * 60 + hms[1]) * 60 + hms[2]
        }
        guard pieces.count == 1, let v = ints(pieces[0]) else { return nil }
        switch v.count {
        case 1: return v[0] * 60            // minutes
        case 2: return v[0] * 60 + v[1]     // MM:SS
        case 3: return (v[0] * 60 + v[1]) * 60 + v[2]
        default: return nil
        }
    }
}

/// What a job is for: one stage, or filling one dataset's clip cache before its stages.
public enum SlurmTarget: Sendable, Equatable {
    case stage(PlannedStage)
    case cache(dataset: String)

    public var label: String {
        switch self {
        case .stage(let s): return s.key
        case .cache(let d): return "cache[\(d)]"
        }
    }
}

/// A submitted job, as recorded in the run store: `<store>/<identity>/slurm.json` for a
/// stage, `<store>/slurm/cache-<dataset>.json` for a clip-cache job.
public struct SlurmJobRecord: Codable, Sendable, Equatable {
    public var jobID: String
    public var target: String
    public var suite: String?
    public var log: String
    public var script: String
    public var dependencies: [String]
    public var submittedAt: String
}

/// Where a stage ran under Slurm (from the job's environment), stored with its result.
public struct SlurmProvenance: Codable, Sendable, Equatable {
    public var jobID: String
    public var node: String?
    public var tasks: Int?
    /// How many times the job had been requeued when it finished (`SLURM_RESTART_COUNT`).
    public var restarts: Int?

    /// The provenance of the current process, or nil outside a Slurm job.
    public static func current(_ env: [String: String] = ProcessInfo.processInfo.environment) -> SlurmProvenance? {
        guard let id = env["SLURM_JOB_ID"], !id.isEmpty else { return nil }
        return SlurmProvenance(jobID: id, node: env["SLURMD_NODENAME"], tasks: env["SLURM_NTASKS"].flatMap(Int.init),
                               restarts: env["SLURM_RESTART_COUNT"].flatMap(Int.init))
    }
}

/// A job's state as Slurm reports it (`PENDING`, `RUNNING`, `COMPLETED`, `FAILED`, …) with
/// the reason squeue gives, or `unknown` when no Slurm command knows the job any more.
public struct SlurmJobState: Sendable, Equatable, CustomStringConvertible {
    public var name: String
    public var reason: String?
    public var exitCode: String?

    public init(name: String, reason: String? = nil, exitCode: String? = nil) {
        self.name = name; self.reason = reason; self.exitCode = exitCode
    }

    public static let unknown = SlurmJobState(name: "UNKNOWN")

    /// States in which the job will still run (or is running).
    static let activeNames: Set<String> = ["PENDING", "RUNNING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "CONFIGURING",
                                           "COMPLETING", "SUSPENDED", "RESIZING", "SIGNALING", "STAGE_OUT", "RESV_DEL_HOLD"]
    public var isActive: Bool { Self.activeNames.contains(name) }
    public var isCompleted: Bool { name == "COMPLETED" }
    /// Ended without success (failed, cancelled, timed out, node failure, …).
    public var isFailed: Bool { !isActive && !isCompleted && name != "UNKNOWN" }

    public var description: String {
        var text = name
        if let reason, !reason.isEmpty, reason != "None" { text += " (\(reason))" }
        if isFailed, let exitCode, exitCode != "0:0" { text += " exit \(exitCode)" }
        return text
    }

    /// `CANCELLED by 0` → `CANCELLED`; `RUNNING` stays.
    static func normalized(_ text: Substring) -> String {
        String(text.split(separator: " ").first ?? "").uppercased()
    }
}

/// A failure of a Slurm command or of the executor's bookkeeping.
public enum SlurmError: Error, CustomStringConvertible, Equatable {
    case commandNotFound(String)
    case commandFailed(command: String, status: Int32, output: String)
    case unexpectedOutput(command: String, output: String)
    case jobFailed([String])

    public var description: String {
        switch self {
        case .commandNotFound(let c):
            return "\(c): command not found (the Slurm executor needs Slurm's client commands sbatch, squeue, scontrol and scancel on PATH)"
        case let .commandFailed(command, status, output):
            let text = output.trimmingCharacters(in: .whitespacesAndNewlines)
            return "`\(command)` exited with status \(status)" + (text.isEmpty ? "" : ": \(text)")
        case let .unexpectedOutput(command, output):
            return "`\(command)` printed something unexpected: '\(output.trimmingCharacters(in: .whitespacesAndNewlines))'"
        case .jobFailed(let lines):
            return "\(lines.count) Slurm job\(lines.count == 1 ? "" : "s") ended without a result:\n" + lines.map { "  " + $0 }.joined(separator: "\n")
        }
    }
}

/// The output of a finished command.
public struct CommandOutput: Sendable, Equatable {
    public var status: Int32
    public var stdout: String
    public var stderr: String
    public init(status: Int32, stdout: String, stderr: String) { self.status = status; self.stdout = stdout; self.stderr = stderr }
}

/// Runs Slurm's commands; tests substitute a fake that answers like a cluster.
public protocol CommandRunning: Sendable {
    func run(_ arguments: [String]) throws -> CommandOutput
}

/// Runs a command found on `PATH`, collecting its output.
public struct ProcessCommandRunner: CommandRunning {
    public init() {}

    public func run(_ arguments: [String]) throws -> CommandOutput {
        guard let name = arguments.first else { throw SlurmError.commandNotFound("(empty command)") }
        guard let path = Self.find(name) else { throw SlurmError.commandNotFound(name) }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path)
        p.arguments = Array(arguments.dropFirst())
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        p.standardInput = FileHandle.nullDevice
        do { try p.run() } catch {
            throw SlurmError.commandFailed(command: arguments.joined(separator: " "), status: -1, output: "cannot start: \(error)")
        }
        // Read both pipes while it runs (a full pipe would block it).
        let errBox = DataBox()
        let errRead = DispatchSemaphore(value: 0)
        Thread.detachNewThread { errBox.set(err.fileHandleForReading.readDataToEndOfFile()); errRead.signal() }
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        errRead.wait()
        return CommandOutput(status: p.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
                             stderr: String(decoding: errBox.get(), as: UTF8.self))
    }

    static func find(_ name: String) -> String? {
        if name.contains("/") { return FileManager.default.isExecutableFile(atPath: name) ? name : nil }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for dir in path.split(separator: ":") {
            let candidate = "\(dir)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }
}

/// Standard error, read on a second thread.
private final class DataBox: @unchecked Sendable {
    private let lock = NSLock()
    private var data = Data()
    func set(_ d: Data) { lock.lock(); data = d; lock.unlock() }
    func get() -> Data { lock.lock(); defer { lock.unlock() }; return data }
}
