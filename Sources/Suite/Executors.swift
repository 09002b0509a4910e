import Datasets
import Foundation
import Media
import Networks
import Protocols
import Tensors
import VTHCL

/// Reading stage parameters, with axis values taking precedence.
extension PlannedStage {
    /// Backbone depth from the `backbone` axis (r18 / r50) or the `depth` parameter.
    var backboneDepth: Int {
        if let b = axes["backbone"] { return b == "r50" ? 50 : 18 }
        return params.int("depth", default: 18)
    }
    func int(_ key: String, _ value: Int) -> Int { axes[key].flatMap(Int.init) ?? params.int(key, default: value) }
    func double(_ key: String, _ value: Double) -> Double { axes[key].flatMap(Double.init) ?? params.double(key, default: value) }
    func string(_ key: String, _ value: String) -> String { axes[key] ?? params.string(key, default: value) }
    var workers: Int { params.int("workers", default: 1) }
}

func requireDataset(_ stage: PlannedStage) throws -> String {
    guard let d = stage.dataset else { throw SuiteCommandError(message: "stage \(stage.key) names no dataset") }
    return d
}

/// Per-epoch values kept next to a stage's checkpoint, so a resumed stage still reports
/// the epochs it ran before the interruption.
struct EpochLog: Codable {
    var values: [[String: Double]] = []
    static func load(_ url: URL) -> EpochLog {
        (try? JSONDecoder().decode(EpochLog.self, from: Data(contentsOf: url))) ?? EpochLog()
    }
    func save(_ url: URL) throws { try JSONEncoder().encode(self).write(to: url, options: .atomic) }
}

func fileHash(_ url: URL) -> String? { try? SHA256.hex(fileAt: url.path) }

/// `pretrain`: VTHCL pretraining on a dataset's training split, then a kNN monitor on its
/// test split (labels are used for monitoring only).
///
/// Parameters: epochs, batch, crop, width, negatives, lr (at batch 256), alpha (axis or
/// param), D (axis or param: 1 = res5, 2 = res4+res5, 3 = res3–res5), projection (mlp|conv),
/// window (64), tau (8), workers.
public struct PretrainExecutor: StageExecutor {
    public let kind = "pretrain"
    public let codeVersion = "1"
    public var data: DataAccess

    func config(_ stage: PlannedStage) -> (VTHCLConfig, PretrainSchedule, crop: Int) {
        let depth = stage.backboneDepth
        let preset = PretrainPreset.named(stage.params.string("preset", default: "ci"), depth: depth)
        var c = VTHCLConfig()
        c.depth = depth
        c.widthMultiplier = stage.double("width", preset.widthMultiplier)
        c.alpha = stage.int("alpha", 2)
        c.levels = VTHCLConfig.levels(forDepth: stage.int("D", 3))
        c.tau = stage.int("tau", 8)
        c.slowFrames = stage.int("window", 64) / c.tau
        c.negatives = stage.int("negatives", preset.negatives)
        c.projection = ProjectionKind(rawValue: stage.string("projection", "mlp")) ?? .mlp
        var s = PretrainSchedule(epochs: stage.int("epochs", 200), batchSize: stage.int("batch", preset.batch))
        s.baseLearningRate = Float(stage.double("lr", 0.03))
        return (c, s, stage.int("crop", preset.crop))
    }

    public func estimate(_ stage: PlannedStage, scale: Scale) -> CostEstimate? {
        let (c, s, crop) = config(stage)
        let videos = Double(stage.params.int("videos", default: scale == .paper ? 240_000 : 160))
        let macs = 3 * VTHCLModel.forwardMACs(config: c, crop: crop) * videos * Double(s.epochs)
        return CostEstimate(macs: macs, cpuSeconds: macs / 60e9, notes: "3× forward MACs per clip (forward + backward)")
    }

    public func run(_ stage: PlannedStage, context: StageContext) throws -> StageOutcome {
        let (config, schedule, crop) = config(stage)
        let dataset = try requireDataset(stage)
        let entry = try data.entry(dataset)
        let train = try Dataset.load(entry, split: .train), test = try Dataset.load(entry, split: .test)
        let (provider, bad) = try data.provider(for: entry, records: train.records + test.records, progress: context.progress)
        let trainRecords = train.records.filter { !bad.contains($0.id) }
        let testRecords = test.records.filter { !bad.contains($0.id) && $0.label != nil }
        let builder = SampleBuilder(provider: provider, augment: AugmentConfig(size: crop))
        let source = DatasetPairs(records: trainRecords, builder: builder, batchSize: schedule.batchSize,
                                  window: config.slowFrames * config.tau, tau: config.tau, alpha: config.alpha,
                                  workers: stage.workers)
        let ckpt = context.workDirectory.appendingPathComponent("checkpoint.safetensors")
        let logURL = context.workDirectory.appendingPathComponent("epochs.json")
        let trainer = Pretrainer(config: config, schedule: schedule, instances: trainRecords.count,
                                 seed: UInt64(stage.seed), checkpointURL: ckpt)
        var log = EpochLog.load(logURL)
        var sum = 0.0, count = 0
        var levelSums = [Double](repeating: 0, count: config.levels.count)
        try trainer.run(source: source, progress: { p in
            sum += Double(p.total); count += 1
            for (i, l) in p.perLevel.enumerated() { levelSums[i] += Double(l) }
            context.progress.report(ProgressEvent(stage: stage.key, epoch: p.epoch, epochs: schedule.epochs, step: p.step,
                                                  steps: p.stepsPerEpoch, values: [("loss", Double(p.total)), ("lr", Double(p.learningRate))]))
        }, epochEnd: { epoch, _ in
            var row: [String: Double] = ["epoch": Double(epoch), "loss": sum / Double(max(1, count))]
            for (i, level) in config.levels.enumerated() { row["loss.res\(level + 1)"] = levelSums[i] / Double(max(1, count)) }
            log.values = log.values.filter { Int($0["epoch"] ?? -1) != epoch } + [row]
            try log.save(logURL)
            sum = 0; count = 0; levelSums = levelSums.map { _ in 0 }
        })

        // kNN monitor: the slow bank of the deepest level (train) against test videos
        // embedded by the slow encoder and head at that level (one centre clip).
        let knn = try knnMonitor(trainer: trainer, train: trainRecords, test: testRecords, provider: provider, crop: crop,
                                 classes: max(train.classes.count, (trainRecords.compactMap(\.label).max() ?? 0) + 1))
        var metrics: [String: Double] = ["knn_top1": knn, "epochs": Double(schedule.epochs)]
        if let first = log.values.first?["loss"] { metrics["loss_first_epoch"] = first }
        if let last = log.values.last?["loss"] { metrics["loss_last_epoch"] = last }
        return StageOutcome(metrics: metrics, artifacts: ["checkpoint": "checkpoint.safetensors", "epochs": "epochs.json"],
                            counts: ["samples": trainRecords.count, "test_samples": testRecords.count, "skipped_bad_videos": bad.count],
                            checkpointHash: fileHash(ckpt))
    }

    func knnMonitor(trainer: Pretrainer, train: [VideoRecord], test: [VideoRecord], provider: FrameProvider, crop: Int,
                    classes: Int) throws -> Double {
        let config = trainer.config
        let level = config.levels.last!
        let k = config.levels.count - 1
        let builder = SampleBuilder(provider: provider, augment: .test(size: crop))
        var rows: [Float] = [], labels: [Int] = []
        for (i, r) in test.enumerated() {
            let clip = try builder.testClips(r, index: i, clips: 1, crops: 1, frames: config.slowFrames, stride: config.tau).clip
            let e = withoutGradient {
                trainer.model.slowHeads[k](trainer.model.slow.features(Variable(clip), training: false)[level - 1])
            }.value
            rows += e.scalars
            labels.append(r.label!)
        }
        guard !labels.isEmpty else { return 0 }
        let bank = trainer.objective.slowBanks[k].storage
        let probe = KNNProbe(k: min(200, train.count), temperature: 0.07, classCount: classes)
        return try probe.evaluate(train: bank, trainLabels: train.map { $0.label ?? 0 },
                                  test: Tensor(shape: [labels.count, bank.shape[1]], scalars: rows), testLabels: labels).top1.fraction
    }
}

/// `supervised` (the paper's "Kinetics" initialisation) and `finetune` (UCF-101 / HMDB-51):
/// train the slow encoder with a linear classifier, then test with 10 clips per video.
///
/// Parameters: epochs, batch, lr, milestones, crop, width, frames (8), stride (8), clips (10),
/// crops (1), dropout, workers. A `finetune` initialises from its input stage: a pretrain
/// checkpoint (`slow.*`) or a supervised one (`encoder.*`); without input, from scratch.
public struct ClassifierExecutor: StageExecutor {
    public let kind: String
    public let codeVersion = "1"
    public var data: DataAccess

    public init(kind: String, data: DataAccess) {
        precondition(kind == "supervised" || kind == "finetune", "classifier kinds are supervised and finetune")
        self.kind = kind; self.data = data
    }

    func schedule(_ stage: PlannedStage) -> ClassifierSchedule {
        let milestones = stage.params["milestones"].flatMap { v -> [Double]? in
            if case .list(let xs) = v { return xs.compactMap(\.doubleValue) }
            return nil
        } ?? [40, 80]
        return ClassifierSchedule(epochs: stage.int("epochs", 100), batchSize: stage.int("batch", 64),
                                  learningRate: Float(stage.double("lr", 0.1)), milestones: milestones)
    }

    public func estimate(_ stage: PlannedStage, scale: Scale) -> CostEstimate? {
        let s = schedule(stage)
        let crop = stage.int("crop", scale == .paper ? (stage.backboneDepth == 50 ? 224 : 112) : 32)
        let net = ResNet3DConfig.slowFast(depth: stage.backboneDepth, pathway: .slow, widthMultiplier: stage.double("width", 1))
        let perClip = net.forwardMACs(input: [1, 3, stage.int("frames", 8), crop, crop])
        let videos = Double(stage.params.int("videos", default: scale == .paper ? 9_500 : 100))
        let macs = perClip * (3 * videos * Double(s.epochs) + videos * 0.3 * Double(stage.int("clips", 10)))
        return CostEstimate(macs: macs, cpuSeconds: macs / 60e9, notes: "training 3× forward; test 10 clips on a 30 % split")
    }

    public func run(_ stage: PlannedStage, context: StageContext) throws -> StageOutcome {
        let dataset = try requireDataset(stage)
        let entry = try data.entry(dataset)
        let train = try Dataset.load(entry, split: .train), test = try Dataset.load(entry, split: .test)
        let (provider, bad) = try data.provider(for: entry, records: train.records + test.records, progress: context.progress)
        let trainRecords = train.records.filter { !bad.contains($0.id) && $0.label != nil }
        let testRecords = test.records.filter { !bad.contains($0.id) && $0.label != nil }
        let crop = stage.int("crop", 32), frames = stage.int("frames", 8), stride = stage.int("stride", 8)
        var rng = RandomGenerator(seed: UInt64(stage.seed) &+ 0xF17E)
        let encoder = ResNet3D(.slowFast(depth: stage.backboneDepth, pathway: .slow, widthMultiplier: stage.double("width", 1)), rng: &rng)
        var initHash: String? = nil
        if let input = context.inputs.first {
            let prefix = input.kind == "pretrain" ? "slow." : "encoder."
            guard let rel = input.artifacts["checkpoint"] else {
                throw SuiteCommandError(message: "\(context.store.directory(input.identity).path): input stage \(input.key) left no checkpoint")
            }
            let url = context.store.directory(input.identity).appendingPathComponent(rel)
            try ClassifierTrainer.initialise(encoder, from: .checkpoint(url, prefix: prefix))
            initHash = fileHash(url)
        }
        let classes = max(train.classes.count, (trainRecords.compactMap(\.label).max() ?? 0) + 1)
        let model = ClipClassifier(encoder: encoder, classes: classes, dropout: Float(stage.double("dropout", 0.5)), rng: &rng)
        let ckpt = context.workDirectory.appendingPathComponent("checkpoint.safetensors")
        let s = schedule(stage)
        let trainer = ClassifierTrainer(model: model, schedule: s, seed: UInt64(stage.seed), checkpointURL: ckpt)
        let builder = SampleBuilder(provider: provider, augment: AugmentConfig(size: crop))
        try trainer.train(records: trainRecords, builder: builder, frames: frames, stride: stride, workers: stage.workers) { e, step, steps, loss in
            context.progress.report(ProgressEvent(stage: stage.key, epoch: e, epochs: s.epochs, step: step, steps: steps,
                                                  values: [("loss", Double(loss))]))
        }
        let acc = try trainer.evaluate(records: testRecords, builder: SampleBuilder(provider: provider, augment: .test(size: crop)),
                                       frames: frames, stride: stride, clips: stage.int("clips", 10), crops: stage.int("crops", 1),
                                       workers: stage.workers)
        return StageOutcome(metrics: ["video_top1": acc.video.top1.fraction, "video_top5": acc.video.top5.fraction,
                                      "clip_top1": acc.clip.top1.fraction, "chance": 1 / Double(classes)],
                            artifacts: ["checkpoint": "checkpoint.safetensors"],
                            counts: ["samples": trainRecords.count, "test_videos": testRecords.count, "classes": classes,
                                     "skipped_bad_videos": bad.count],
                            checkpointHash: initHash ?? fileHash(ckpt))
    }
}
