import Foundation
import Networks
import Tensors

/// Errors of a suite run.
public struct StageFailure: Error, CustomStringConvertible {
    public var stage: String
    public var underlying: Error
    public var description: String { "stage \(stage) failed: \(underlying)" }
}

/// Runs a plan: finished stages are reused, the others run in dependency order, and each
/// result is stored the moment its stage finishes, so an interrupted run loses at most the
/// stage in progress (which resumes from its own last checkpoint).
public struct Runner {
    public var store: RunStore
    public var executors: ExecutorRegistry
    public var progress: ProgressSink
    public var jobs: Int
    public var machine: String

    public init(store: RunStore, executors: ExecutorRegistry, progress: ProgressSink, jobs: Int = 1,
                machine: String = Runner.machineDescription()) {
        self.store = store; self.executors = executors; self.progress = progress; self.jobs = max(1, jobs); self.machine = machine
    }

    /// The CPU's model name (`/proc/cpuinfo`; "unknown CPU" where there is none to read).
    public static func cpuModel() -> String {
        let info: String
        do { info = try String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) } catch { return "unknown CPU" }
        return info.split(separator: "\n").first { $0.hasPrefix("model name") }?
            .split(separator: ":", maxSplits: 1).last?.trimmingCharacters(in: .whitespaces) ?? "unknown CPU"
    }

    public static func machineDescription() -> String {
        let cpu = cpuModel()
        return "\(cpu), \(ProcessInfo.processInfo.activeProcessorCount) cores, \(ProcessInfo.processInfo.physicalMemory >> 30) GiB"
    }

    /// What fixes the order in which this process sums: the CPU model, the thread count of
    /// the kernels, the OpenBLAS kernel and the data-parallel rank count. Two runs with the
    /// same value (and the same build) reproduce a stage bit for bit; another value rounds
    /// differently, and in small high-learning-rate runs that grows to seed-sized changes
    /// (`docs/statistics.md`, "Rounding").
    public static func numericPlatform() -> String {
        "\(cpuModel()); \(Parallel.threadCount) threads; OpenBLAS kernel \(BLAS.coreName); \(DataParallel.group.size) rank(s)"
    }

    /// Runs every stage of `plan` not yet finished. Returns the results of all stages.
    ///
    /// Under MPI (`DataParallel.group` of several ranks) every rank calls this with the same
    /// plan: rank 0 alone reads the store, takes the stage locks and writes results, and
    /// shares what it found and stored with the others, so all ranks walk the stages in the
    /// same order (one at a time) and each training step sees every rank.
    @discardableResult
    public func run(_ plan: Plan) throws -> [String: StageResult] {
        let ranks = DataParallel.group
        var results: [String: StageResult] = [:]
        if ranks.rank == 0 {
            for stage in plan.stages {
                if let r = try store.result(stage.identity) { results[stage.identity] = r }
            }
        }
        results = try Self.shareFromRankZero(results, in: ranks)
        let pending = plan.stages.filter { results[$0.identity] == nil }
        for stage in plan.stages where results[stage.identity] != nil {
            progress.log("reused  \(stage.key)  (\(stage.shortIdentity))")
        }
        if jobs == 1 || ranks.size > 1 {
            for stage in pending { results[stage.identity] = try runOne(stage, plan: plan, results: results) }
            return results
        }
        // Concurrent: a stage starts once every stage it needs has a result.
        let state = SchedulerState(done: results)
        let group = DispatchGroup()
        let slots = DispatchSemaphore(value: jobs)
        while true {
            let (next, finished, anyRunning) = state.locked { st -> ([PlannedStage], Bool, Bool) in
                let ready = st.failures.isEmpty ? pending.filter { s in
                    st.done[s.identity] == nil && !st.running.contains(s.identity) && s.inputs.allSatisfy { st.done[$0] != nil }
                } : []
                return (ready, pending.allSatisfy { st.done[$0.identity] != nil }, !st.running.isEmpty)
            }
            if finished || (next.isEmpty && !anyRunning) { break }
            if next.isEmpty { group.wait(); continue }
            for stage in next {
                slots.wait()
                let snapshot = state.locked { st -> [String: StageResult] in st.running.insert(stage.identity); return st.done }
                group.enter()
                let box = UnsafeTransfer((self, stage, plan, snapshot))
                Thread.detachNewThread {
                    let (runner, stage, plan, snapshot) = box.value
                    defer { slots.signal(); group.leave() }
                    do {
                        let r = try runner.runOne(stage, plan: plan, results: snapshot)
                        state.locked { st in st.done[stage.identity] = r; st.running.remove(stage.identity) }
                    } catch {
                        state.locked { st in st.failures.append(error); st.running.remove(stage.identity) }
                    }
                }
            }
            group.wait()
        }
        if let first = state.locked({ $0.failures.first }) { throw first }
        return state.locked { $0.done }
    }

    func runOne(_ stage: PlannedStage, plan: Plan, results: [String: StageResult]) throws -> StageResult {
        guard let executor = executors[stage.kind] else {
            throw StageFailure(stage: stage.key, underlying: PlanError.unknownKind(file: plan.suite.file, line: nil, stage: stage.id,
                                                                                  kind: stage.kind, known: executors.kinds))
        }
        let group = DataParallel.group
        let writer = group.rank == 0
        let lock = writer ? try store.lock(stage.identity) : nil
        defer { withExtendedLifetime(lock) {} }
        // Another process may have finished it while we waited for the lock.
        var finished = writer ? try store.result(stage.identity) : nil
        finished = try Self.shareFromRankZero(finished, in: group)
        if let r = finished { return r }
        progress.log("run     \(stage.key)  (\(stage.shortIdentity))")
        var result: StageResult?
        // A training stage runs on every rank; any other stage on rank 0 while the rest wait.
        if executor.dataParallel {
            result = try execute(stage, executor: executor, plan: plan, results: results)
        } else if writer {
            result = try DataParallel.alone { try execute(stage, executor: executor, plan: plan, results: results) }
        }
        if writer { try store.save(result!) }
        result = try Self.shareFromRankZero(result, in: group)
        guard let result else { throw StageFailure(stage: stage.key, underlying: SuiteCommandError(message: "rank 0 shared no result")) }
        let metrics = result.metrics.keys.sorted().map { "\($0)=\(String(format: "%.4f", result.metrics[$0]!))" }.joined(separator: " ")
        progress.log("done    \(stage.key)  \(metrics)  (\(ProgressSink.duration(result.wallSeconds)))")
        return result
    }

    /// Runs the stage's procedure and describes what it did (the caller stores it).
    func execute(_ stage: PlannedStage, executor: any StageExecutor, plan: Plan, results: [String: StageResult]) throws -> StageResult {
        let started = Date()
        let inputs = try stage.inputs.map { id -> StageResult in
            guard let r = try results[id] ?? store.result(id) else {
                throw StageFailure(stage: stage.key, underlying: SuiteFileError(file: store.directory(id).path, line: nil, key: "",
                                                                               message: "input stage has no result"))
            }
            return r
        }
        let context = StageContext(workDirectory: store.directory(stage.identity), scale: plan.scale, inputs: inputs,
                                   store: store, progress: progress)
        let outcome: StageOutcome
        do { outcome = try executor.run(stage, context: context) } catch {
            throw StageFailure(stage: stage.key, underlying: error)
        }
        let iso = ISO8601DateFormatter()
        var result = StageResult(identity: stage.identity, suite: stage.suite, stage: stage.id, kind: stage.kind, key: stage.key,
                                 axes: stage.axes, params: stage.params, dataset: stage.dataset, inputs: stage.inputs,
                                 codeVersion: executor.codeVersion, metrics: outcome.metrics, artifacts: outcome.artifacts,
                                 counts: outcome.counts, seed: stage.seed, configHash: SHA256Text.hex(stage.params.canonicalJSON),
                                 checkpointHash: outcome.checkpointHash, wallSeconds: Date().timeIntervalSince(started),
                                 startedAt: iso.string(from: started), finishedAt: iso.string(from: Date()),
                                 scale: plan.scale.rawValue, machine: machine, perItem: outcome.perItem)
        if DataParallel.group.size > 1 { result.ranks = DataParallel.group.size }
        result.numerics = Self.numericPlatform()
        result.slurm = SlurmProvenance.current()
        result.skipped = outcome.skipped
        result.resampling = outcome.resampling
        return result
    }

    /// Rank 0's `value` on every rank (as JSON, so any stored type travels); `value` itself in
    /// a world of one.
    static func shareFromRankZero<T: Codable>(_ value: T, in group: ProcessGroup) throws -> T {
        guard group.size > 1 else { return value }
        var bytes = group.rank == 0 ? [UInt8](try JSONEncoder().encode(SharedValue(value: value))) : []
        try group.broadcast(&bytes, root: 0)
        return try JSONDecoder().decode(SharedValue<T>.self, from: Data(bytes)).value
    }
}

/// A value as it travels between ranks (JSON's top level must be an object).
struct SharedValue<T: Codable>: Codable { var value: T }

/// Moves a value into a detached thread (the runner's values are used by one thread at a time).
struct UnsafeTransfer<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}

/// The concurrent scheduler's shared state, guarded by one lock.
final class SchedulerState: @unchecked Sendable {
    struct Fields {
        var done: [String: StageResult]
        var running = Set<String>()
        var failures: [Error] = []
    }
    private let lock = NSLock()
    private var fields: Fields
    init(done: [String: StageResult]) { fields = Fields(done: done) }
    @discardableResult
    func locked<R>(_ body: (inout Fields) -> R) -> R {
        lock.lock(); defer { lock.unlock() }
        return body(&fields)
    }
}
