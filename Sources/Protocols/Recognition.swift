import Datasets
import Foundation
import Networks
import Tensors

/// A slow-pathway encoder with a linear classifier on its global-average-pooled res5
/// features (and dropout before it): the fine-tuning model of paper §5.2.
/// Parameter names: `encoder.*` (ResNet3D names), `fc.weight`, `fc.bias`.
public final class ClipClassifier: Layer {
    public let encoder: ResNet3D
    public let fc: Linear
    public let dropout: Float

    public init(encoder: ResNet3D, classes: Int, dropout: Float = 0.5, rng: inout RandomGenerator) {
        precondition(encoder.config.numClasses == nil, "the encoder must not carry its own classifier")
        self.encoder = encoder
        self.dropout = dropout
        fc = Linear(encoder.config.stageOutputs[3], classes, rng: &rng)
    }

    /// Clips [N, 3, T, H, W] → logits [N, classes]. In training, `encoderMode` says how the
    /// encoder takes part: `.train` (batch-norm batch statistics, gradients to every weight),
    /// `.frozenBatchNorm` (running statistics, gradients to every weight) or `.frozen` (a
    /// fixed feature extractor: running statistics, no gradient below the classifier).
    public func callAsFunction(_ x: Variable, training: Bool, rng: inout RandomGenerator,
                               encoderMode: EncoderMode = .train) -> Variable {
        let pooled: Variable
        if training && encoderMode == .frozen {
            pooled = Variable(withoutGradient { globalAvgPool(encoder.features(x, training: false)[3]).value })
        } else {
            pooled = globalAvgPool(encoder.features(x, training: training && encoderMode == .train)[3])
        }
        return fc(Tensors.dropout(pooled, probability: dropout, training: training, using: &rng))
    }

    /// The trainable parameters under `mode`: the classifier's alone when the encoder is frozen.
    public func trainableParameters(_ mode: EncoderMode) -> [(String, Variable)] {
        mode == .frozen ? scoped("fc", fc.namedParameters) : namedParameters
    }

    /// Global-average-pooled res5 features [N, C] (probes).
    public func features(_ x: Tensor) -> Tensor {
        withoutGradient { globalAvgPool(encoder.features(Variable(x), training: false)[3]).value }
    }

    public var namedParameters: [(String, Variable)] {
        scoped("encoder", encoder.namedParameters) + scoped("fc", fc.namedParameters)
    }
    public var namedBuffers: [(String, Variable)] { scoped("encoder", encoder.namedBuffers) }

    /// Name prefix of the encoder's tensors in a classifier checkpoint.
    public static let encoderPrefix = "encoder."
}

/// Step-decay fine-tuning schedule (SPEC §3: 100 epochs, batch 64, lr 0.1, ×0.1 at 40 and
/// 80), scaled per suite scale.
public struct ClassifierSchedule: Sendable, Equatable, Codable {
    public var epochs: Int
    public var batchSize: Int
    public var learningRate: Float
    public var milestones: [Double]
    public var momentum: Float = 0.9
    public var weightDecay: Float = 1e-4
    public var warmupEpochs: Double = 0
    /// Batch-norm groups a global batch is split into (contiguous equal slices, one forward
    /// pass each, gradients averaged as one): one per rank when unset. A multiple of the rank
    /// count; a one-process run with `shards: N` computes what N ranks compute.
    public var shards: Int? = nil
    /// Synchronised batch norm across the ranks (statistics of the whole global batch) instead
    /// of per-rank statistics; needs one shard per rank. Unset: per-rank.
    public var syncBatchNorm: Bool? = nil
    /// How the encoder learns (unset: `.train`, the paper's fine-tuning).
    public var encoderMode: EncoderMode? = nil

    public init(epochs: Int, batchSize: Int, learningRate: Float, milestones: [Double]) {
        self.epochs = epochs; self.batchSize = batchSize; self.learningRate = learningRate; self.milestones = milestones
    }
}

/// How a classifier's encoder takes part in training.
public enum EncoderMode: String, Sendable, Codable, CaseIterable {
    /// Every weight learns; batch norm uses batch statistics and updates its running ones.
    case train
    /// Every weight learns; batch norm uses (and keeps) the initialisation's running statistics.
    case frozenBatchNorm = "frozen-bn"
    /// Only the classifier learns: the encoder is a fixed feature extractor in evaluation mode.
    case frozen
}

/// Where an encoder's initial weights come from.
public enum EncoderInit: Sendable, Equatable {
    case random
    /// A safetensors checkpoint; tensors named `prefix + <ResNet3D name>` are loaded.
    case checkpoint(URL, prefix: String)
}

/// Trains a `ClipClassifier` on labelled clips and evaluates it with multi-clip testing, on
/// the checkpointed `TrainingLoop` (a checkpoint after every epoch; restarted, it resumes
/// from the last one and ends bit-identical to an uninterrupted run). Data order, augmentation
/// and dropout come from the named streams `classifier.order` (by epoch), `classifier.item`
/// (by epoch and video) and `classifier.dropout` (by epoch and step).
public final class ClassifierTrainer {
    public let model: ClipClassifier
    public let schedule: ClassifierSchedule
    public let seed: UInt64
    public let checkpointURL: URL
    public let optimizer: SGD
    public var epoch: Int { loop?.epoch ?? 0 }
    var loop: TrainingLoop?

    public static let format = "tempo-bench.classifier.v2"

    public init(model: ClipClassifier, schedule: ClassifierSchedule, seed: UInt64, checkpointURL: URL) {
        self.model = model; self.schedule = schedule; self.seed = seed; self.checkpointURL = checkpointURL
        optimizer = SGD(parameters: model.trainableParameters(schedule.encoderMode ?? .train), learningRate: schedule.learningRate,
                        momentum: schedule.momentum, weightDecay: schedule.weightDecay)
    }

    /// Loads encoder weights (BN statistics included) from `source`.
    public static func initialise(_ encoder: ResNet3D, from source: EncoderInit) throws {
        if case .checkpoint(let url, let prefix) = source {
            try Checkpoint.load(into: encoder, prefix: prefix, from: url)
        }
    }

    func order(_ n: Int, epoch: Int) -> [Int] {
        var rng = SeedStream(seed, "classifier.order").generator(epoch)
        return rng.permutation(n)
    }

    /// Trains on `records` (labels in `record.label`) until the schedule ends.
    /// `progress` runs after every step.
    public func train(records: [VideoRecord], builder: SampleBuilder, frames: Int, stride: Int, workers: Int = 1,
                      progress: ProgressHandler = { _ in }) throws {
        let labelled = records.filter { $0.label != nil }
        guard labelled.count >= schedule.batchSize else {
            throw ProcedureError("\(labelled.count) labelled training videos cannot fill a batch of \(schedule.batchSize)")
        }
        let steps = labelled.count / schedule.batchSize
        let group = DataParallel.group
        let shards = try DataParallel.shards(schedule.shards, in: group)
        guard shards == 1 || schedule.batchSize % shards == 0 else {
            throw DataParallelError("a batch of \(schedule.batchSize) cannot be split into \(shards) equal shards (one per rank unless set)")
        }
        // The effective shard count (however set) defines the run, the field that sets it not.
        var fingerprinted = schedule
        fingerprinted.shards = nil
        let fingerprint = try TrainingLoop.fingerprint(FingerprintFields(schedule: fingerprinted, frames: frames, stride: stride,
                                                                         videos: labelled.map(\.id), classes: model.fc.weight.shape[0],
                                                                         shards: shards > 1 ? shards : nil))
        let loop = TrainingLoop(model: model, optimizer: optimizer, seed: seed, checkpointURL: checkpointURL,
                                format: Self.format, fingerprint: fingerprint)
        loop.epochLog = EpochLog.url(besideCheckpoint: checkpointURL)
        self.loop = loop
        let lrSchedule = MultiStepSchedule(base: schedule.learningRate, milestones: schedule.milestones,
                                           warmup: schedule.warmupEpochs > 0 ? Warmup(epochs: schedule.warmupEpochs) : nil)
        let seed = self.seed, batch = schedule.batchSize, mode = schedule.encoderMode ?? .train
        let items = group.size == 1 ? 0..<batch : DataParallel.localItems(batch, shards: shards, in: group)
        var loader: BatchLoader<LabeledClip>? = nil
        defer { loader?.stop() }
        try loop.run(epochs: schedule.epochs, stepsPerEpoch: steps, beginEpoch: { epoch, first in
            loader?.stop()
            let all = Array(self.order(labelled.count, epoch: epoch)[(first * batch)..<(steps * batch)])
            // Each rank loads its part of every batch (all of it in one process).
            let ids = items == 0..<batch ? all : (0..<(all.count / batch)).flatMap { s in items.map { all[s * batch + $0] } }
            loader = BatchLoader<LabeledClip>(count: ids.count, workers: workers, prefetch: 2 * items.count) { i in
                let rng = RandomGeneratorBox.forItem(SeedStream(seed, "classifier.item"), epoch: epoch, index: ids[i])
                return try builder.trainClip(labelled[ids[i]], index: ids[i], frames: frames, stride: stride, rng: rng)
            }
        }, step: { epoch, step in
            optimizer.learningRate = lrSchedule.rate(atEpoch: Double(epoch) + Double(step) / Double(steps))
            var clips: [LabeledClip] = []
            for _ in items { if let c = try loader?.next() { clips.append(c) } }
            optimizer.zeroGrad()
            var lossValue: Float
            if shards == 1 {
                var rng = SeedStream(seed, "classifier.dropout").generator(epoch, step)
                let logits = model(Variable(Tensor.stack(clips.map(\.clip))), training: true, rng: &rng, encoderMode: mode)
                let loss = crossEntropy(logits: logits, targets: clips.map(\.label))
                loss.backward()
                lossValue = loss.value.scalar
            } else {
                // Each shard's loss weighted by its share of the batch; dropout from the
                // shard's own stream, so the result does not depend on which rank runs it.
                var losses: [Float] = [0]
                try DataParallel.withBatchNormSync(schedule.syncBatchNorm ?? false, shards: shards, in: group) {
                try DataParallel.forEachShard(DataParallel.localShards(shards, in: group), total: shards,
                                              buffers: model.namedBuffers, in: group) { s in
                    let r = DataParallel.slice(batch, shards: shards, shard: s)
                    var rng = SeedStream(seed, "classifier.dropout").generator(epoch, step, s)
                    let part = Array(clips[(r.lowerBound - items.lowerBound)..<(r.upperBound - items.lowerBound)])
                    let logits = model(Variable(Tensor.stack(part.map(\.clip))), training: true, rng: &rng, encoderMode: mode)
                    let loss = crossEntropy(logits: logits, targets: part.map(\.label))
                    let w = Float(r.count) / Float(batch)
                    scale(loss, by: w).backward()
                    losses[0] += w * loss.value.scalar
                }
                }
                try DataParallel.reduceGradients(optimizer.parameters, in: group)
                try group.allreduceSum(&losses)
                lossValue = losses[0]
            }
            optimizer.step()
            try loop.report(TrainingProgress(epoch: epoch, epochs: schedule.epochs, step: step, steps: steps,
                                             values: [("loss", Double(lossValue)), ("lr", Double(optimizer.learningRate))]), to: progress)
        })
    }

    /// What defines a run, beyond the seed: a checkpoint of anything else is refused.
    struct FingerprintFields: Encodable {
        var schedule: ClassifierSchedule
        var frames: Int, stride: Int
        var videos: [String]
        var classes: Int
        var shards: Int?
    }

    /// Video- and clip-level accuracy on `records`: `clips` uniformly spread clips per video
    /// (× `crops`), softmax averaged per video.
    public func evaluate(records: [VideoRecord], builder: SampleBuilder, frames: Int, stride: Int, clips: Int = 10,
                         crops: Int = 1, workers: Int = 1) throws -> RecognitionAccuracy {
        let labelled = records.filter { $0.label != nil }
        // Data-parallel, each rank tests a contiguous part of the videos and the logits are
        // gathered in video order, so every rank scores all of them as one process would.
        let group = DataParallel.group
        let mine = DataParallel.slice(labelled.count, shards: group.size, shard: group.rank)
        let loader = BatchLoader<LabeledClip>(count: mine.count, workers: workers, prefetch: 4) { j in
            let i = mine.lowerBound + j
            return try builder.testClips(labelled[i], index: i, clips: clips, crops: crops, frames: frames, stride: stride)
        }
        defer { loader.stop() }
        var logits: [Float] = [], clipVideo: [Int] = [], classes = 0
        var rng = RandomGenerator(seed: 0)
        try BatchedEvaluation.run(next: {
            guard let item = try loader.next() else { return nil }
            clipVideo += Array(repeating: item.index, count: item.clip.shape[0])
            return item.clip
        }, forward: { batch, _ in
            let out = withoutGradient { model(Variable(batch), training: false, rng: &rng) }.value
            classes = out.shape[1]
            logits += out.scalars
        })
        if group.size > 1 {
            classes = model.fc.weight.shape[0]
            logits = try DataParallel.gather(logits, in: group)
            clipVideo = try DataParallel.gather(clipVideo.map(Float.init), in: group).map { Int($0) }
        }
        return try RecognitionMetrics.evaluate(clipLogits: Tensor(shape: [clipVideo.count, classes], scalars: logits),
                                               clipVideo: clipVideo, videoLabels: labelled.map { $0.label! })
    }
}
