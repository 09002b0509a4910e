import Datasets
import Foundation
import Networks
import Tensors

/// The AVA action detector of paper §5.4.1: the slow encoder with res5 at stride 1 and
/// dilation 2 (feature stride 16), temporal average pooling, RoIAlign 7×7 (aligned, scale
/// 1/16), spatial max-pooling, dropout and a linear layer giving one logit per action
/// (sigmoid + BCE). Parameter names: `encoder.*`, `fc.*`.
public final class ActionDetector: Layer {
    public let encoder: ResNet3D
    public let fc: Linear
    public let dropout: Float

    public init(encoder: ResNet3D, classes: Int, dropout: Float = 0.5, rng: inout RandomGenerator) {
        precondition(encoder.config.res5Dilation == 2, "the AVA head needs res5 with stride 1 and dilation 2")
        self.encoder = encoder
        self.dropout = dropout
        fc = Linear(encoder.config.stageOutputs[3], classes, rng: &rng)
    }

    /// Clips [N, 3, T, H, W] and boxes [R, 5] (batch index, x1, y1, x2, y2 in input pixels)
    /// → logits [R, classes].
    public func callAsFunction(_ clips: Variable, boxes: Tensor, training: Bool, rng: inout RandomGenerator) -> Variable {
        let features = encoder.features(clips, training: training)[3]
        let pooled = roiAlign3D(features, boxes: boxes, outputSize: 7, spatialScale: 1.0 / 16, samplingRatio: 0, aligned: true)
        let r = pooled.shape[0], c = pooled.shape[1]
        let maxed = maxPool3d(reshape(pooled, [r, c, 1, 7, 7]), kernel: Size3(1, 7, 7), stride: Size3(1, 7, 7))
        return fc(Tensors.dropout(reshape(maxed, [r, c]), probability: dropout, training: training, using: &rng))
    }

    public var namedParameters: [(String, Variable)] {
        scoped("encoder", encoder.namedParameters) + scoped("fc", fc.namedParameters)
    }
    public var namedBuffers: [(String, Variable)] { scoped("encoder", encoder.namedBuffers) }
}

/// The Epic-Kitchens anticipation model of paper §5.4.2: the slow encoder, global average
/// pooling, a shared MLP (fc → ReLU → dropout) and two linear heads (verbs, nouns).
/// Parameter names: `encoder.*`, `shared.*`, `verb.*`, `noun.*`.
public final class Anticipator: Layer {
    public let encoder: ResNet3D
    public let shared: Linear, verb: Linear, noun: Linear
    public let dropout: Float

    public init(encoder: ResNet3D, verbs: Int, nouns: Int, hidden: Int? = nil, dropout: Float = 0.5, rng: inout RandomGenerator) {
        self.encoder = encoder
        self.dropout = dropout
        let c = encoder.config.stageOutputs[3]
        shared = Linear(c, hidden ?? c, rng: &rng)
        verb = Linear(hidden ?? c, verbs, rng: &rng)
        noun = Linear(hidden ?? c, nouns, rng: &rng)
    }

    /// Observed clips [N, 3, T, H, W] → (verb logits [N, verbs], noun logits [N, nouns]).
    public func callAsFunction(_ clips: Variable, training: Bool, rng: inout RandomGenerator) -> (Variable, Variable) {
        let h = Tensors.dropout(relu(shared(globalAvgPool(encoder.features(clips, training: training)[3]))),
                                probability: dropout, training: training, using: &rng)
        return (verb(h), noun(h))
    }

    public var namedParameters: [(String, Variable)] {
        scoped("encoder", encoder.namedParameters) + scoped("shared", shared.namedParameters)
            + scoped("verb", verb.namedParameters) + scoped("noun", noun.namedParameters)
    }
    public var namedBuffers: [(String, Variable)] { scoped("encoder", encoder.namedBuffers) }
}

/// Epoch-checkpointed SGD training shared by the detection and anticipation protocols, on
/// the `TrainingLoop`: `batch(epoch, step)` returns the loss of one batch; order and
/// randomness must derive from (seed, epoch, step or item) through `SeedStream`s (the order
/// comes from `order`, stream `NAME.order`), so a resumed run matches an uninterrupted one.
public final class EpochTrainer {
    public let model: Layer
    public let schedule: ClassifierSchedule
    public let seed: UInt64
    public let checkpointURL: URL
    public let optimizer: SGD
    public let format: String
    /// The procedure's name, prefixing its streams (`detect`, `anticipate`).
    public let name: String
    var loop: TrainingLoop?
    public var epoch: Int { loop?.epoch ?? 0 }

    public init(model: Layer, schedule: ClassifierSchedule, seed: UInt64, checkpointURL: URL, format: String, name: String) {
        self.model = model; self.schedule = schedule; self.seed = seed; self.checkpointURL = checkpointURL
        self.format = format; self.name = name
        optimizer = SGD(parameters: model.namedParameters, learningRate: schedule.learningRate,
                        momentum: schedule.momentum, weightDecay: schedule.weightDecay)
    }

    /// Runs the remaining epochs; `batch(epoch, step)` must build a loss on the model.
    /// `fingerprint` identifies the data and settings beyond the schedule.
    public func train(steps: Int, fingerprint: String, batch: (Int, Int) throws -> Variable,
                      progress: ProgressHandler = { _ in }) throws {
        let loop = TrainingLoop(model: model, optimizer: optimizer, seed: seed, checkpointURL: checkpointURL, format: format,
                                fingerprint: try self.fingerprint(steps: steps, data: fingerprint, shards: 1))
        loop.epochLog = EpochLog.url(besideCheckpoint: checkpointURL)
        self.loop = loop
        let lr = MultiStepSchedule(base: schedule.learningRate, milestones: schedule.milestones)
        try loop.run(epochs: schedule.epochs, stepsPerEpoch: steps, step: { epoch, step in
            optimizer.learningRate = lr.rate(atEpoch: Double(epoch) + Double(step) / Double(steps))
            optimizer.zeroGrad()
            let loss = try batch(epoch, step)
            loss.backward()
            optimizer.step()
            try loop.report(TrainingProgress(epoch: epoch, epochs: schedule.epochs, step: step, steps: steps,
                                             values: [("loss", Double(loss.value.scalar)), ("lr", Double(optimizer.learningRate))]), to: progress)
        })
    }

    /// Runs the remaining epochs data-parallel: each step's global batch is split into
    /// `schedule.shards` (one per rank unless set) contiguous equal slices, and
    /// `shard(epoch, step, items, shard)` builds the loss of the global batch's `items` as a
    /// mean over `count` units (items, boxes): the step then follows the gradient of the mean
    /// over every unit of the batch, whichever rank ran each shard. `shard` is nil when the
    /// batch is one shard, and the step is then exactly `train(steps:fingerprint:batch:)`'s.
    public func train(steps: Int, fingerprint: String,
                      shard body: (_ epoch: Int, _ step: Int, _ items: Range<Int>, _ shard: Int?) throws -> (loss: Variable, count: Int),
                      progress: ProgressHandler = { _ in }) throws {
        let group = DataParallel.group, batch = schedule.batchSize
        let shards = try DataParallel.shards(schedule.shards, in: group)
        if shards == 1 {
            return try train(steps: steps, fingerprint: fingerprint, batch: { epoch, step in
                try body(epoch, step, 0..<batch, nil).loss
            }, progress: progress)
        }
        guard batch % shards == 0 else {
            throw DataParallelError("a batch of \(batch) cannot be split into \(shards) equal shards (one per rank unless set)")
        }
        let loop = TrainingLoop(model: model, optimizer: optimizer, seed: seed, checkpointURL: checkpointURL, format: format,
                                fingerprint: try self.fingerprint(steps: steps, data: fingerprint, shards: shards))
        loop.epochLog = EpochLog.url(besideCheckpoint: checkpointURL)
        self.loop = loop
        let lr = MultiStepSchedule(base: schedule.learningRate, milestones: schedule.milestones)
        try loop.run(epochs: schedule.epochs, stepsPerEpoch: steps, step: { epoch, step in
            optimizer.learningRate = lr.rate(atEpoch: Double(epoch) + Double(step) / Double(steps))
            optimizer.zeroGrad()
            // Each shard contributes the sum of its units' losses; the summed gradients are
            // divided by the batch's unit count once every rank's count is known.
            var totals: [Float] = [0, 0]
            try DataParallel.withBatchNormSync(self.schedule.syncBatchNorm ?? false, shards: shards, in: group) {
            try DataParallel.forEachShard(DataParallel.localShards(shards, in: group), total: shards,
                                          buffers: model.namedBuffers, in: group) { s in
                let (loss, count) = try body(epoch, step, DataParallel.slice(batch, shards: shards, shard: s), s)
                guard count > 0 else { return }
                scale(loss, by: Float(count)).backward()
                totals[0] += Float(count) * loss.value.scalar; totals[1] += Float(count)
            }
            }
            try DataParallel.reduceGradients(optimizer.parameters, in: loop.group)
            try loop.group.allreduceSum(&totals)
            if totals[1] > 0 {
                for (_, p) in optimizer.parameters { if let g = p.grad { p.grad = g * (1 / totals[1]) } }
            }
            optimizer.step()
            try loop.report(TrainingProgress(epoch: epoch, epochs: schedule.epochs, step: step, steps: steps,
                                             values: [("loss", Double(totals[0] / max(1, totals[1]))), ("lr", Double(optimizer.learningRate))]), to: progress)
        })
    }

    /// What defines a run: the schedule, steps and data, and the effective shard count when
    /// above one (however it was set: one process with `shards: N`, or N ranks).
    func fingerprint(steps: Int, data: String, shards: Int) throws -> String {
        struct Fields: Encodable { var schedule: ClassifierSchedule; var steps: Int; var data: String }
        var fingerprinted = schedule
        fingerprinted.shards = nil
        return try TrainingLoop.fingerprint(Fields(schedule: fingerprinted, steps: steps, data: data + (shards > 1 ? "|shards=\(shards)" : "")))
    }

    /// The dropout stream of a step's shard (`dropoutRNG` when the batch is one shard).
    public func dropoutRNG(epoch: Int, step: Int, shard: Int?) -> RandomGenerator {
        guard let shard else { return dropoutRNG(epoch: epoch, step: step) }
        return SeedStream(seed, "\(name).dropout").generator(epoch, step, shard)
    }

    /// A permutation of 0..<n for an epoch.
    public func order(_ n: Int, epoch: Int) -> [Int] {
        var rng = SeedStream(seed, "\(name).order").generator(epoch)
        return rng.permutation(n)
    }

    /// The stream of item `index`'s augmentation in `epoch`.
    public func itemRNG(epoch: Int, index: Int) -> RandomGeneratorBox {
        RandomGeneratorBox.forItem(SeedStream(seed, "\(name).item"), epoch: epoch, index: index)
    }

    /// The dropout stream of a step.
    public func dropoutRNG(epoch: Int, step: Int) -> RandomGenerator {
        SeedStream(seed, "\(name).dropout").generator(epoch, step)
    }
}
