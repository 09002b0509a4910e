import Foundation

/// The `bench` command line a job runs: the executable, then `job stage SUITE IDENTITY` or
/// `job cache DATASET`, then the suite options of the submission (scale, folders, seeds), so
/// the job plans exactly the stages that were submitted.
public struct SlurmJobCommand: Sendable, Equatable {
    public var executable: String
    public var options: [String]
    public var workingDirectory: String

    public init(executable: String, options: [String], workingDirectory: String) {
        self.executable = executable; self.options = options; self.workingDirectory = workingDirectory
    }

    public func arguments(for target: SlurmTarget) -> [String] {
        switch target {
        case .stage(let s): return [executable, "job", "stage", s.suite, s.identity] + options
        case .cache(let d): return [executable, "job", "cache", d] + options
        }
    }
}

/// Writes the batch script of one job.
public enum SlurmScript {
    /// Quotes a word for bash (single quotes; a single quote inside as `'\''`).
    public static func quote(_ word: String) -> String {
        if !word.isEmpty, word.allSatisfy({ $0.isLetter || $0.isNumber || "-_./=:,@%+".contains($0) }) { return word }
        return "'" + word.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }

    /// A job name Slurm shows in squeue: `tempo-<stage id>-<identity prefix>` or `tempo-cache-<dataset>`.
    public static func jobName(_ target: SlurmTarget) -> String {
        switch target {
        case .stage(let s): return "tempo-\(s.id)-\(s.identity.prefix(8))"
        case .cache(let d): return "tempo-cache-\(d)"
        }
    }

    /// The `#SBATCH` lines and the body. A stage job traps the signal Slurm sends ahead of
    /// its time limit (`--signal=B:USR1@N`): it passes it on to `bench` (a training stage
    /// writes its checkpoint after the step in progress and stops), stops it after a grace
    /// period if need be, and requeues itself; the rerun resumes from the checkpoint.
    /// Dependencies and `extra_args` go on the `sbatch` command line instead.
    ///
    /// With `ranks` above 1 the job asks for that many tasks on one node and starts `bench`
    /// once per task with `srun --mpi=TYPE` (the ranks of one MPI world), passing the CPUs
    /// per task on explicitly (Slurm 22.05's srun does not inherit sbatch's) and ending every
    /// rank when one exits in failure (`--kill-on-bad-exit`), so no rank waits for a dead one.
    public static func render(_ target: SlurmTarget, settings: SlurmSettings, ranks: Int, command: [String], log: String,
                              workingDirectory: String) -> String {
        var lines = ["#!/bin/bash"]
        lines.append("#SBATCH --job-name=\(jobName(target))")
        lines.append("#SBATCH --output=\(log)")
        lines.append("#SBATCH --open-mode=append")
        lines.append("#SBATCH --chdir=\(workingDirectory)")
        lines.append("#SBATCH --requeue")
        lines.append("#SBATCH --kill-on-invalid-dep=yes")
        lines.append("#SBATCH --signal=B:USR1@\(signalSeconds(settings))")
        lines.append("#SBATCH --nodes=1")
        lines.append("#SBATCH --ntasks=\(ranks)")
        if let p = settings.partition { lines.append("#SBATCH --partition=\(p)") }
        if let t = settings.timeLimit { lines.append("#SBATCH --time=\(t)") }
        if let c = settings.cpusPerTask { lines.append("#SBATCH --cpus-per-task=\(c)") }
        if let g = settings.gpusPerTask { lines.append("#SBATCH --gpus-per-task=\(g)") }
        var launch = ""
        if ranks > 1 {
            launch = "srun --mpi=\(settings.mpi) --ntasks=\(ranks)"
            if let c = settings.cpusPerTask { launch += " --cpus-per-task=\(c)" }
            launch += " --kill-on-bad-exit=1 "
        }
        lines += [
            "",
            "# tempo-bench: \(target.label)",
            "# The kernels' thread count decides the last bits of every result: the CPUs Slurm",
            "# gave each task unless TEMPO_THREADS was set when the job was submitted.",
            "if [[ -z \"${TEMPO_THREADS:-}\" && -n \"${SLURM_CPUS_PER_TASK:-}\" ]]; then export TEMPO_THREADS=\"$SLURM_CPUS_PER_TASK\"; fi",
            "echo \"tempo-bench: job $SLURM_JOB_ID (restart ${SLURM_RESTART_COUNT:-0}) on $(hostname) at $(date -u +%FT%TZ): \(target.label.replacingOccurrences(of: "\"", with: ""))\"",
            "requeue() {",
            "    echo \"tempo-bench: job $SLURM_JOB_ID signalled before its time limit: checkpointing, stopping and requeueing\"",
            "    kill -USR1 \"$child\" 2>/dev/null",
            "    for ((i = 0; i < \(graceSeconds(settings)); i++)); do kill -0 \"$child\" 2>/dev/null || break; sleep 1; done",
            "    kill -KILL \"$child\" 2>/dev/null",
            "    wait \"$child\"",
            "    scontrol requeue \"$SLURM_JOB_ID\"",
            "    exit 0",
            "}",
            "trap requeue USR1",
            launch + command.map(quote).joined(separator: " ") + " &",
            "child=$!",
            "wait \"$child\"",
            "exit $?",
            "",
        ]
        return lines.joined(separator: "\n")
    }

    /// How long the script lets a signalled stage write its checkpoint before stopping it:
    /// half the signal's lead time (a stage outside its training loop, evaluating, does not
    /// stop by itself; it resumes from its last checkpoint).
    static func graceSeconds(_ settings: SlurmSettings) -> Int { max(1, signalSeconds(settings) / 2) }

    /// The signal's lead time: the configured seconds, or half the time limit when that is shorter.
    static func signalSeconds(_ settings: SlurmSettings) -> Int {
        guard let t = settings.timeLimit.flatMap(SlurmSettings.timeLimitSeconds), t > 0 else { return settings.signalSeconds }
        return max(1, min(settings.signalSeconds, t / 2))
    }
}
