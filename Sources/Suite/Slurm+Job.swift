import Datasets
import Foundation
import Networks

/// What one Slurm job does: run exactly one stage of a plan, or fill one dataset's clip cache.
extension SuiteEnvironment {
    /// Runs the stage `identity` of `plan` after checking that every stage it needs has a
    /// result. A stage that is already finished (by an earlier run of this job, or by anyone
    /// else on the shared store) is left as it is: the job succeeds. Two jobs never run one
    /// stage at once: the runner holds the stage's lock in the run store while it runs (on
    /// several ranks, rank 0 alone locks and writes).
    @discardableResult
    public func runStage(identity: String, of plan: Plan) throws -> StageResult {
        guard let stage = plan.stage(identity: identity) else {
            throw SuiteCommandError(message: "suite \(plan.suite.name) at scale \(plan.scale.rawValue) has no stage \(identity): "
                                    + "its suite file, datasets, seeds or the code changed since the job was submitted; submit again")
        }
        // Under srun every rank runs this: rank 0 alone reads the store and tells the others
        // (as the runner does), so all ranks take the same path.
        let group = DataParallel.group
        var done = group.rank == 0 ? try store.result(identity) : nil
        if group.size > 1 { done = try Runner.shareFromRankZero(done, in: group) }
        if let done {
            progress.log("reused  \(stage.key)  (\(stage.shortIdentity)): already finished")
            return done
        }
        var missing: [String] = []
        if group.rank == 0 {
            for input in stage.inputs where try store.result(input) == nil {
                missing.append(plan.stage(identity: input)?.key ?? String(input.prefix(16)))
            }
        }
        if group.size > 1 { missing = try Runner.shareFromRankZero(missing, in: group) }
        guard missing.isEmpty else {
            throw SuiteCommandError(message: "stage \(stage.key) cannot start: the stages it needs have no result yet: \(missing.joined(separator: ", "))")
        }
        return try Runner(store: store, executors: executors, progress: progress).runOne(stage, plan: plan, results: [:])
    }

    /// Decodes every video of `dataset` (both splits) into the clip cache, as its stages
    /// would on first use; returns how many videos it holds and how many failed to decode.
    @discardableResult
    public func fillCache(dataset name: String, scale: Scale, cacheDirectory: URL) throws -> (videos: Int, bad: Int) {
        let data = DataAccess(manifest: manifest, scale: scale, cacheDirectory: cacheDirectory)
        let entry = try data.entry(name)
        try entry.checkPaths()
        let train = try Dataset.load(entry, split: .train), test = try Dataset.load(entry, split: .test)
        let records = train.records + test.records
        let (_, bad) = try data.provider(for: entry, records: records, progress: progress)
        progress.log("cache   \(name): \(records.count) videos cached, \(bad.count) failed to decode")
        return (records.count, bad.count)
    }
}
