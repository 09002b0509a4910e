import Foundation
import Networks
import Tensors

/// One pretraining batch: instance indices (rows of the memory banks), the slow clips
/// [B, 3, T, H, W] and fast clips [B, 3, αT, H, W] of the same instances (same crop, other
/// tempo), and labels used only for monitoring.
public struct PretrainBatch: Sendable {
    public var instances: [Int]
    public var slow: Tensor
    public var fast: Tensor
    public var labels: [Int]?
    /// Data-parallel: the items of the batch whose clips were loaded (this rank's part);
    /// `instances` still lists the whole batch. Nil when every item was loaded.
    public var loaded: Range<Int>?
    public init(instances: [Int], slow: Tensor, fast: Tensor, labels: [Int]? = nil, loaded: Range<Int>? = nil) {
        self.instances = instances; self.slow = slow; self.fast = fast; self.labels = labels; self.loaded = loaded
    }
}

/// Where pretraining batches come from. A batch must be a pure function of
/// (seed, epoch, step): that is what makes an interrupted run resume bit-identically.
public protocol PretrainBatchSource: Sendable {
    var instanceCount: Int { get }
    var stepsPerEpoch: Int { get }
    func batch(seed: UInt64, epoch: Int, step: Int) throws -> PretrainBatch
    /// The batches of one epoch from `step` on, in order (a source may prepare them ahead
    /// on worker threads). Defaults to calling `batch` step by step.
    func batches(seed: UInt64, epoch: Int, from step: Int) -> AnyIterator<Result<PretrainBatch, Error>>
    /// The same batches, loading only the clips of `items` of each (data parallelism: a
    /// rank's part; `PretrainBatch.loaded`). Defaults to loading every item.
    func batches(seed: UInt64, epoch: Int, from step: Int, items: Range<Int>) -> AnyIterator<Result<PretrainBatch, Error>>
}

extension PretrainBatchSource {
    public func batches(seed: UInt64, epoch: Int, from step: Int) -> AnyIterator<Result<PretrainBatch, Error>> {
        var next = step
        return AnyIterator {
            guard next < stepsPerEpoch else { return nil }
            defer { next += 1 }
            return Result { try batch(seed: seed, epoch: epoch, step: next) }
        }
    }

    public func batches(seed: UInt64, epoch: Int, from step: Int, items: Range<Int>) -> AnyIterator<Result<PretrainBatch, Error>> {
        batches(seed: seed, epoch: epoch, from: step)
    }
}

/// Optimisation settings (SPEC §1): SGD momentum 0.9, weight decay 1e-4, lr 0.03 at
/// batch 256 scaled linearly with the batch, half-period cosine over the epochs.
public struct PretrainSchedule: Sendable, Codable, Equatable {
    public var epochs: Int
    public var batchSize: Int
    public var baseLearningRate: Float = 0.03
    public var referenceBatch: Int = 256
    public var momentum: Float = 0.9
    public var weightDecay: Float = 1e-4
    /// Checkpoint every this many steps as well as at each epoch end (0 = epochs only).
    public var checkpointEverySteps: Int = 0
    /// Batch-norm groups a global batch is split into (contiguous equal slices, one forward
    /// pass each, gradients averaged as one): one per rank when unset. A multiple of the rank
    /// count; a one-process run with `shards: N` computes what N ranks compute.
    public var shards: Int? = nil
    /// Synchronised batch norm across the ranks (statistics of the whole global batch) instead
    /// of per-rank statistics; needs one shard per rank. Unset: per-rank.
    public var syncBatchNorm: Bool? = nil

    public init(epochs: Int, batchSize: Int) { self.epochs = epochs; self.batchSize = batchSize }

    public var learningRate: Float { baseLearningRate * Float(batchSize) / Float(referenceBatch) }
}

/// Progress of a pretraining run, reported after every step.
public struct PretrainProgress: Sendable {
    public var epoch: Int, step: Int, stepsPerEpoch: Int
    public var learningRate: Float
    public var total: Float
    /// L_f^k + L_s^k per level, in `config.levels` order.
    public var perLevel: [Float]
}

/// Errors of a pretraining run; each names the file concerned.
public enum PretrainError: Error, CustomStringConvertible {
    case incompatibleCheckpoint(path: String, reason: String)
    public var description: String {
        switch self {
        case let .incompatibleCheckpoint(path, reason): return "\(path): cannot resume from this checkpoint: \(reason)"
        }
    }
}

/// VTHCL pretraining on the one checkpointed `TrainingLoop`, with exact resume.
///
/// Every random choice derives from the seed through named streams: the initial network and
/// banks (`pretrain.init`), each step's negatives (`pretrain.negatives`, by epoch and step),
/// and the source's data order and augmentation. The checkpoint holds the model, the
/// optimiser's momentum, the banks and the position, so a run killed at any moment and
/// restarted reaches a final checkpoint bit-identical to an uninterrupted one (same thread
/// count); a checkpoint of another configuration, schedule, bank size or seed is refused.
public final class Pretrainer {
    public let config: VTHCLConfig
    public let schedule: PretrainSchedule
    public let seed: UInt64
    public let model: VTHCLModel
    public private(set) var objective: VTHCLObjective
    public let optimizer: SGD
    public let checkpointURL: URL
    let loop: TrainingLoop
    /// Next position to run.
    public var epoch: Int { loop.epoch }
    public var step: Int { loop.step }
    /// Extra metadata written into every checkpoint (e.g. the crop size, for `bench icm`).
    public var extraMetadata: [String: String] = [:] { didSet { loop.extraMetadata = metadata() } }

    public static let format = "tempo-bench.vthcl.v2"

    public init(config: VTHCLConfig, schedule: PretrainSchedule, instances: Int, seed: UInt64, checkpointURL: URL) {
        self.config = config; self.schedule = schedule; self.seed = seed; self.checkpointURL = checkpointURL
        var rng = SeedStream(seed, "pretrain.init").generator()
        model = VTHCLModel(config, rng: &rng)  // first from the stream: see `initialModel`
        objective = VTHCLObjective(config: config, instances: instances, rng: &rng)
        optimizer = SGD(parameters: model.namedParameters, learningRate: schedule.learningRate,
                        momentum: schedule.momentum, weightDecay: schedule.weightDecay)
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        configJSON = String(decoding: (try? encoder.encode(config)) ?? Data(), as: UTF8.self)
        fullScheduleJSON = String(decoding: (try? encoder.encode(schedule)) ?? Data(), as: UTF8.self)
        // Per-rank batch norm makes the shard count part of what a run computes, however it
        // was set (one process with `shards: N` or N ranks): the effective count, when above one.
        var fingerprinted = schedule
        fingerprinted.shards = nil
        let scheduleJSON = String(decoding: (try? encoder.encode(fingerprinted)) ?? Data(), as: UTF8.self)
        let shards = schedule.shards ?? DataParallel.group.size
        loop = TrainingLoop(model: model, optimizer: optimizer, seed: seed, checkpointURL: checkpointURL, format: Self.format,
                            fingerprint: TrainingLoop.hash("\(configJSON)|\(scheduleJSON)|instances=\(instances)"
                                                           + (shards > 1 ? "|shards=\(shards)" : "")))
        loop.checkpointEverySteps = schedule.checkpointEverySteps
        loop.extraMetadata = metadata()
        loop.extraTensors = { [unowned self] in
            var extra: [String: Tensor] = [:]
            for (k, level) in self.config.levels.enumerated() {
                extra[Self.bankName(.slow, level)] = self.objective.slowBanks[k].storage
                extra[Self.bankName(.fast, level)] = self.objective.fastBanks[k].storage
            }
            return extra
        }
        loop.restoreExtra = { [unowned self] extra in
            for (k, level) in self.config.levels.enumerated() {
                guard let sb = extra[Self.bankName(.slow, level)], let fb = extra[Self.bankName(.fast, level)],
                      sb.shape == self.objective.slowBanks[k].storage.shape, fb.shape == self.objective.fastBanks[k].storage.shape else {
                    throw PretrainError.incompatibleCheckpoint(path: self.checkpointURL.path, reason: "memory banks missing or of another size")
                }
                self.objective.slowBanks[k] = MemoryBank(storage: sb, momentum: self.config.bankMomentum)
                self.objective.fastBanks[k] = MemoryBank(storage: fb, momentum: self.config.bankMomentum)
            }
        }
    }

    /// The configuration and schedule as JSON (`loadModel` rebuilds the network from them),
    /// encoded once with sorted keys so the checkpoint's bytes do not change between processes.
    let configJSON: String, fullScheduleJSON: String

    /// The checkpoint metadata: the caller's, with the configuration and schedule.
    func metadata() -> [String: String] {
        extraMetadata.merging(["config": configJSON, "schedule": fullScheduleJSON]) { $1 }
    }

    public var isFinished: Bool { epoch >= schedule.epochs }

    /// The model a run with `seed` starts from, without banks or optimiser (the untrained
    /// baseline of the kNN probes): `init` draws it first from the same stream.
    public static func initialModel(_ config: VTHCLConfig, seed: UInt64) -> VTHCLModel {
        var rng = SeedStream(seed, "pretrain.init").generator()
        return VTHCLModel(config, rng: &rng)
    }

    /// Runs one step on `batch` (the global batch) at the loop's position; returns the losses.
    ///
    /// Data-parallel, each rank runs its shards of the batch (see `PretrainSchedule.shards`):
    /// negatives are drawn for the whole batch from the shared stream, each shard's loss is
    /// weighted by its share of the batch, gradients are summed over the ranks before the
    /// optimiser step, and the banks are updated on every rank with the gathered embeddings
    /// of the whole batch, so they stay identical everywhere.
    public func trainStep(_ batch: PretrainBatch, stepsPerEpoch: Int) throws -> PretrainProgress {
        let schedule = HalfCosineSchedule(base: self.schedule.learningRate, totalEpochs: Double(self.schedule.epochs))
        let lr = schedule.rate(atEpoch: Double(epoch) + Double(step) / Double(max(1, stepsPerEpoch)))
        optimizer.learningRate = lr
        optimizer.zeroGrad()
        let group = loop.group
        let shards = try DataParallel.shards(self.schedule.shards, in: group)
        var rng = SeedStream(seed, "pretrain.negatives").generator(epoch, step)
        let negatives = objective.sampleNegatives(for: batch.instances, rng: &rng)
        if shards == 1 {
            let (es, ef) = model.embed(slowClips: Variable(batch.slow), fastClips: Variable(batch.fast), training: true)
            let (total, lf, ls) = objective.loss(slow: es, fast: ef, instances: batch.instances, negatives: negatives)
            total.backward()
            optimizer.step()
            objective.updateBanks(slow: es.map(\.value), fast: ef.map(\.value), instances: batch.instances)
            return PretrainProgress(epoch: epoch, step: step, stepsPerEpoch: stepsPerEpoch, learningRate: lr,
                                    total: total.value.scalar,
                                    perLevel: zip(lf, ls).map { $0.value.scalar + $1.value.scalar })
        }
        let B = batch.instances.count, levels = config.levels.count
        guard B % shards == 0 else {
            throw DataParallelError("a batch of \(B) cannot be split into \(shards) equal shards (one per rank unless set)")
        }
        let perQuery = negatives.count / B
        let offset = batch.loaded?.lowerBound ?? 0
        // This rank's embeddings, level by level ([slow_k, fast_k] for each k), and its share
        // of the losses ([total, per level…]).
        var embeddings: [[Float]] = Array(repeating: [], count: 2 * levels)
        var dims = [Int](repeating: 0, count: 2 * levels)
        var losses = [Float](repeating: 0, count: 1 + levels)
        try DataParallel.withBatchNormSync(self.schedule.syncBatchNorm ?? false, shards: shards, in: group) {
        try DataParallel.forEachShard(DataParallel.localShards(shards, in: group), total: shards,
                                      buffers: model.namedBuffers, in: group) { s in
            let r = DataParallel.slice(B, shards: shards, shard: s)
            let rows = (r.lowerBound - offset)..<(r.upperBound - offset)
            let (es, ef) = model.embed(slowClips: Variable(DataParallel.rows(batch.slow, rows)),
                                       fastClips: Variable(DataParallel.rows(batch.fast, rows)), training: true)
            let (total, lf, ls) = objective.loss(slow: es, fast: ef, instances: Array(batch.instances[r]),
                                                 negatives: Array(negatives[(r.lowerBound * perQuery)..<(r.upperBound * perQuery)]))
            let w = Float(r.count) / Float(B)
            scale(total, by: w).backward()
            losses[0] += w * total.value.scalar
            for k in 0..<levels {
                losses[1 + k] += w * (lf[k].value.scalar + ls[k].value.scalar)
                embeddings[2 * k] += es[k].value.scalars; dims[2 * k] = es[k].value.shape[1]
                embeddings[2 * k + 1] += ef[k].value.scalars; dims[2 * k + 1] = ef[k].value.shape[1]
            }
        }
        }
        try DataParallel.reduceGradients(optimizer.parameters, in: group)
        try group.allreduceSum(&losses)
        optimizer.step()
        // Every rank holds the same number of items (equal shards), so rank r's part of the
        // gathered buffer is items [r·b, (r+1)·b) of the batch.
        let gathered = try group.allgather(embeddings.flatMap { $0 })
        let part = gathered.count / group.size
        var full: [[Float]] = Array(repeating: [], count: 2 * levels)
        for r in 0..<group.size {
            var offset = r * part
            for j in 0..<(2 * levels) {
                let n = embeddings[j].count
                full[j] += gathered[offset..<(offset + n)]
                offset += n
            }
        }
        let tensors = (0..<(2 * levels)).map { Tensor(shape: [B, dims[$0]], scalars: full[$0]) }
        objective.updateBanks(slow: stride(from: 0, to: 2 * levels, by: 2).map { tensors[$0] },
                              fast: stride(from: 1, to: 2 * levels, by: 2).map { tensors[$0] }, instances: batch.instances)
        return PretrainProgress(epoch: epoch, step: step, stepsPerEpoch: stepsPerEpoch, learningRate: lr,
                                total: losses[0], perLevel: Array(losses.dropFirst()))
    }

    /// Trains until the schedule ends, resuming from `checkpointURL` when it exists.
    /// `progress` runs after every step (throwing from it stops the run, as a kill would);
    /// `epochEnd` after each epoch's last step, before its checkpoint (`TrainingLoop.run`).
    public func run(source: PretrainBatchSource, progress: (PretrainProgress) throws -> Void = { _ in },
                    epochEnd: (Int, Pretrainer) throws -> Void = { _, _ in }) throws {
        guard source.instanceCount == objective.instances else {
            throw PretrainError.incompatibleCheckpoint(path: checkpointURL.path,
                reason: "the batch source has \(source.instanceCount) instances, the banks \(objective.instances)")
        }
        var batches: AnyIterator<Result<PretrainBatch, Error>>? = nil
        let steps = source.stepsPerEpoch
        let group = loop.group
        let shards = try DataParallel.shards(schedule.shards, in: group)
        try loop.run(epochs: schedule.epochs, stepsPerEpoch: steps, beginEpoch: { epoch, first in
            // Each rank loads its part of every batch (all of it in one process).
            batches = group.size == 1 ? source.batches(seed: seed, epoch: epoch, from: first)
                : source.batches(seed: seed, epoch: epoch, from: first,
                                 items: DataParallel.localItems(schedule.batchSize, shards: shards, in: group))
        }, step: { _, _ in
            guard let next = batches?.next() else {
                throw PretrainError.incompatibleCheckpoint(path: checkpointURL.path, reason: "the batch source ended before the epoch")
            }
            try progress(trainStep(try next.get(), stepsPerEpoch: steps))
        }, endEpoch: { epoch in try epochEnd(epoch, self) })
    }

    // MARK: Checkpoints

    static func bankName(_ pathway: Pathway, _ level: Int) -> String { "bank.\(pathway.rawValue).res\(level + 1)" }

    /// Writes everything a resume needs, atomically.
    public func saveCheckpoint() throws { try loop.save() }

    /// Loads a pretrained model for inference (ICM, export): config from the metadata.
    public static func loadModel(_ url: URL) throws -> (VTHCLModel, [String: String]) {
        let (_, meta) = try Safetensors.read(url)
        guard meta["format"] == format, let text = meta["config"],
              let config = try? JSONDecoder().decode(VTHCLConfig.self, from: Data(text.utf8)) else {
            throw PretrainError.incompatibleCheckpoint(path: url.path, reason: "not a VTHCL pretraining checkpoint (\(format))")
        }
        var rng = RandomGenerator(seed: 0)
        let model = VTHCLModel(config, rng: &rng)
        try Checkpoint.load(into: model, from: url)
        return (model, meta)
    }

    /// Restores model, optimiser, banks and position from `checkpointURL`.
    public func resume() throws { try loop.resume() }
}
