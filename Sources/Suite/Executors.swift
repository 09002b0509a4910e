import Datasets
import Foundation
import Media
import Networks
import Protocols
import Tensors
import VTHCL

extension DataAccess {
    /// A stage's dataset: its name, manifest entry, both splits, and a frame provider over
    /// the clip cache with the ids of videos that failed to decode.
    func load(_ stage: PlannedStage, progress: ProgressSink) throws
        -> (String, DatasetEntry, DatasetSplit, DatasetSplit, FrameProvider, Set<String>) {
        let dataset = try requireDataset(stage)
        let entry = try self.entry(dataset)
        let train = try Dataset.load(entry, split: .train), test = try Dataset.load(entry, split: .test)
        let (provider, bad) = try self.provider(for: entry, records: train.records + test.records, progress: progress)
        return (dataset, entry, train, test, provider, bad)
    }
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
/// test split (labels are used for monitoring only). Settings: `PretrainConfiguration`.
public struct PretrainExecutor: StageExecutor {
    public let kind = "pretrain"
    public let codeVersion = "5"
    public var data: DataAccess

    func config(_ p: PretrainConfiguration) -> (VTHCLConfig, PretrainSchedule, crop: Int) {
        var c = VTHCLConfig()
        c.depth = p.backbone.depth
        c.widthMultiplier = p.width!
        c.fastWidthMultiplier = p.fastWidth
        c.alpha = p.alpha
        c.levels = VTHCLConfig.levels(forDepth: p.D)
        c.tau = p.tau
        c.slowFrames = p.window / p.tau
        c.negatives = p.negatives!
        c.projection = p.projection
        c.temperature = Float(p.temperature)
        var s = PretrainSchedule(epochs: p.epochs, batchSize: p.batch!)
        s.baseLearningRate = Float(p.lr)
        return (c, s, p.crop!)
    }

    public func estimate(_ stage: PlannedStage, config p: PretrainConfiguration, scale: Scale) -> CostEstimate? {
        let (c, s, crop) = config(p)
        let videos = Double(scale == .paper ? 240_000 : 160)
        let macs = 3 * VTHCLModel.forwardMACs(config: c, crop: crop) * videos * Double(s.epochs)
        return CostEstimate(macs: macs, cpuSeconds: macs / CostModel.cpuMACsPerSecond(scale), notes: "3× forward MACs per clip (forward + backward)")
    }

    public func run(_ stage: PlannedStage, config p: PretrainConfiguration, context: StageContext) throws -> StageOutcome {
        let (config, schedule, crop) = config(p)
        let (dataset, _, train, test, provider, bad) = try data.load(stage, progress: context.progress)
        let trainRecords = train.records.filter { !bad.contains($0.id) }
        let testRecords = test.records.filter { !bad.contains($0.id) && $0.label != nil }
        let classes = max(train.classes.count, (trainRecords.compactMap(\.label).max() ?? 0) + 1)
        guard trainRecords.count >= schedule.batchSize else {
            throw SuiteCommandError(message: "stage \(stage.key): \(dataset) has \(trainRecords.count) usable training videos, fewer than a batch of \(schedule.batchSize)")
        }
        let builder = SampleBuilder(provider: provider, augment: augmentation(p.augment, crop: crop))
        let source = DatasetPairs(records: trainRecords, builder: builder, batchSize: schedule.batchSize,
                                  window: config.slowFrames * config.tau, tau: config.tau, alpha: config.alpha,
                                  workers: p.workers)
        let ckpt = context.workDirectory.appendingPathComponent("checkpoint.safetensors")
        let logURL = context.workDirectory.appendingPathComponent("epochs.json")
        let trainer = Pretrainer(config: config, schedule: schedule, instances: trainRecords.count,
                                 seed: UInt64(p.seed), checkpointURL: ckpt)
        trainer.extraMetadata = ["crop": "\(crop)", "dataset": dataset]
        var log = EpochLog.load(logURL)
        var sum = 0.0, count = 0
        var levelSums = [Double](repeating: 0, count: config.levels.count)
        try trainer.run(source: source, progress: { p in
            sum += Double(p.total); count += 1
            for (i, l) in p.perLevel.enumerated() { levelSums[i] += Double(l) }
            context.progress.report(ProgressEvent(stage: stage.key, epoch: p.epoch, epochs: schedule.epochs, step: p.step,
                                                  steps: p.stepsPerEpoch, values: [("loss", Double(p.total)), ("lr", Double(p.learningRate))]))
        }, epochEnd: { epoch, trainer in
            var row: [String: Double] = ["epoch": Double(epoch), "loss": sum / Double(max(1, count))]
            // The kNN monitor every `knn_every` epochs (and after the last).
            let every = p.knnEvery
            if every > 0 && ((epoch + 1) % every == 0 || epoch + 1 == schedule.epochs) {
                row["knn_top1"] = try knnMonitor(trainer: trainer, train: trainRecords, test: testRecords, provider: provider, crop: crop,
                                                 classes: classes)
                context.progress.log("monitor \(stage.key) epoch \(epoch + 1): loss \(String(format: "%.3f", row["loss"]!)), kNN top-1 \(String(format: "%.3f", row["knn_top1"]!))")
            }
            for (i, level) in config.levels.enumerated() { row["loss.res\(level + 1)"] = levelSums[i] / Double(max(1, count)) }
            log.values = log.values.filter { Int($0["epoch"] ?? -1) != epoch } + [row]
            try log.save(logURL)
            sum = 0; count = 0; levelSums = levelSums.map { _ in 0 }
        })

        // kNN monitor: the slow bank of the deepest level (train) against test videos
        // embedded by the slow encoder and head at that level (one centre clip).
        let knn = try knnMonitor(trainer: trainer, train: trainRecords, test: testRecords, provider: provider, crop: crop,
                                 classes: classes)
        let frozen = try frozenKNN(model: trainer.model, train: trainRecords, test: testRecords, provider: provider, crop: crop,
                                   classes: classes)
        // The same probe on the network as initialised (same seed, no training): the level
        // that training has to beat.
        let frozenInitial = try frozenKNN(model: Pretrainer.initialModel(config, seed: UInt64(p.seed)), train: trainRecords, test: testRecords, provider: provider, crop: crop,
                                          classes: classes)
        var metrics: [String: Double] = ["knn_top1": knn, "knn_frozen_top1": frozen.head, "knn_frozen_init_top1": frozenInitial.head,
                                         "knn_backbone_top1": frozen.backbone, "knn_backbone_init_top1": frozenInitial.backbone,
                                         "chance": 1 / Double(classes), "epochs": Double(schedule.epochs)]
        if let first = log.values.first?["loss"] { metrics["loss_first_epoch"] = first }
        if let last = log.values.last?["loss"] { metrics["loss_last_epoch"] = last }
        return StageOutcome(metrics: metrics, artifacts: ["checkpoint": "checkpoint.safetensors", "epochs": "epochs.json"],
                            counts: ["samples": trainRecords.count, "test_samples": testRecords.count, "skipped_bad_videos": bad.count],
                            checkpointHash: fileHash(ckpt))
    }

    /// Features of one centre clip per video, in evaluation mode, from the slow encoder:
    /// `head` [videos, dim], the slow head's embedding at the deepest level (what the banks
    /// hold), and `backbone` [videos, C], the encoder's global-average-pooled res5 output
    /// (what downstream tasks start from).
    func embed(_ records: [VideoRecord], model: VTHCLModel, provider: FrameProvider, crop: Int) throws -> (head: Tensor, backbone: Tensor) {
        let config = model.config
        let level = config.levels.last!, k = config.levels.count - 1
        let builder = SampleBuilder(provider: provider, augment: .test(size: crop))
        var head: [Float] = [], backbone: [Float] = []
        for (i, r) in records.enumerated() {
            let clip = try builder.testClips(r, index: i, clips: 1, crops: 1, frames: config.slowFrames, stride: config.tau).clip
            withoutGradient {
                let features = model.slow.features(Variable(clip), training: false)
                head += model.slowHeads[k](features[level - 1]).value.scalars
                backbone += globalAvgPool(features[3]).value.scalars
            }
        }
        let n = records.count
        return (Tensor(shape: [n, config.embeddingDimension], scalars: head), Tensor(shape: [n, backbone.count / max(1, n)], scalars: backbone))
    }

    /// kNN on frozen features (top-1 with the head embedding, with the pooled backbone): train
    /// and test videos both embedded in evaluation mode. Unlike the bank monitor, gallery and
    /// queries come from the same network state and BN mode.
    func frozenKNN(model: VTHCLModel, train: [VideoRecord], test: [VideoRecord], provider: FrameProvider, crop: Int,
                   classes: Int) throws -> (head: Double, backbone: Double) {
        guard !test.isEmpty else { return (0, 0) }
        let probe = KNNProbe(k: KNNProbe.neighbours(trainCount: train.count, classCount: classes), temperature: 0.07, classCount: classes)
        let a = try embed(train, model: model, provider: provider, crop: crop), b = try embed(test, model: model, provider: provider, crop: crop)
        let labels = train.map { $0.label ?? 0 }, testLabels = test.map { $0.label! }
        return (try probe.evaluate(train: a.head, trainLabels: labels, test: b.head, testLabels: testLabels).top1.fraction,
                try probe.evaluate(train: a.backbone, trainLabels: labels, test: b.backbone, testLabels: testLabels).top1.fraction)
    }

    /// The kNN monitor of instance discrimination: test videos (evaluation mode) against the
    /// slow bank of the deepest level, labelled by the training videos.
    func knnMonitor(trainer: Pretrainer, train: [VideoRecord], test: [VideoRecord], provider: FrameProvider, crop: Int,
                    classes: Int) throws -> Double {
        guard !test.isEmpty else { return 0 }
        let bank = trainer.objective.slowBanks[trainer.config.levels.count - 1].storage
        let probe = KNNProbe(k: KNNProbe.neighbours(trainCount: train.count, classCount: classes), temperature: 0.07, classCount: classes)
        return try probe.evaluate(train: bank, trainLabels: train.map { $0.label ?? 0 },
                                  test: embed(test, model: trainer.model, provider: provider, crop: crop).head,
                                  testLabels: test.map { $0.label! }).top1.fraction
    }
}

/// Training augmentation: `standard` (SPEC §1: random resized crop area 0.2–1, flip, colour
/// jitter 0.4 with p 0.8, grayscale 0.2), `light` (crop area 0.6–1 and flip only) or `none`
/// (the largest square crop, nothing else: a diagnostic of the optimisation alone).
func augmentation(_ name: AugmentName, crop: Int) -> AugmentConfig {
    var a = AugmentConfig(size: crop)
    switch name {
    case .light: a.area = 0.6...1; a.jitterProbability = 0; a.grayscale = 0
    case .none: a.area = 1...1; a.aspect = 1...1; a.flip = 0; a.jitterProbability = 0; a.grayscale = 0
    case .standard: break
    }
    return a
}

/// `supervised` (the paper's "Kinetics" initialisation) and `finetune` (UCF-101 / HMDB-51):
/// train the slow encoder with a linear classifier, then test with 10 clips per video.
/// Settings: `ClassifierConfiguration`. A `finetune` initialises from its input stage: a
/// pretrain checkpoint (`slow.*`) or a supervised one (`encoder.*`); without input, from scratch.
public struct ClassifierExecutor: StageExecutor {
    public let kind: String
    public let codeVersion = "1"
    public var data: DataAccess

    public init(kind: String, data: DataAccess) { self.kind = kind; self.data = data }

    func schedule(_ c: ClassifierConfiguration) -> ClassifierSchedule {
        var s = ClassifierSchedule(epochs: c.epochs, batchSize: c.batch, learningRate: Float(c.lr), milestones: c.milestones)
        s.weightDecay = Float(c.weightDecay)
        return s
    }

    public func estimate(_ stage: PlannedStage, config c: ClassifierConfiguration, scale: Scale) -> CostEstimate? {
        let s = schedule(c)
        let crop = c.crop!
        let net = ResNet3DConfig.slowFast(depth: c.backbone.depth, pathway: .slow, widthMultiplier: c.width)
        let perClip = net.forwardMACs(input: [1, 3, c.frames, crop, crop])
        let videos = Double(scale == .paper ? 9_500 : 100)
        let macs = perClip * (3 * videos * Double(s.epochs) + videos * 0.3 * Double(c.clips))
        return CostEstimate(macs: macs, cpuSeconds: macs / CostModel.cpuMACsPerSecond(scale), notes: "training 3× forward; test 10 clips on a 30 % split")
    }

    public func run(_ stage: PlannedStage, config c: ClassifierConfiguration, context: StageContext) throws -> StageOutcome {
        let (dataset, _, train, test, provider, bad) = try data.load(stage, progress: context.progress)
        let trainRecords = train.records.filter { !bad.contains($0.id) && $0.label != nil }
        let testRecords = test.records.filter { !bad.contains($0.id) && $0.label != nil }
        let crop = c.crop!
        guard trainRecords.count >= c.batch else {
            throw SuiteCommandError(message: "stage \(stage.key): \(dataset) has \(trainRecords.count) labelled training videos, fewer than a batch of \(c.batch)")
        }
        var rng = RandomGenerator(seed: UInt64(c.seed) &+ 0xF17E)
        let (encoder, initHash) = try initialisedEncoder(backbone: c.backbone, width: c.width, context: context, rng: &rng)
        let classes = max(train.classes.count, (trainRecords.compactMap(\.label).max() ?? 0) + 1)
        let model = ClipClassifier(encoder: encoder, classes: classes, dropout: Float(c.dropout), rng: &rng)
        let ckpt = context.workDirectory.appendingPathComponent("checkpoint.safetensors")
        let s = schedule(c)
        let trainer = ClassifierTrainer(model: model, schedule: s, seed: UInt64(c.seed), checkpointURL: ckpt)
        let builder = SampleBuilder(provider: provider, augment: augmentation(c.augment, crop: crop))
        try trainer.train(records: trainRecords, builder: builder, frames: c.frames, stride: c.stride, workers: c.workers) { e, step, steps, loss in
            context.progress.report(ProgressEvent(stage: stage.key, epoch: e, epochs: s.epochs, step: step, steps: steps,
                                                  values: [("loss", Double(loss))]))
        }
        let acc = try trainer.evaluate(records: testRecords, builder: SampleBuilder(provider: provider, augment: .test(size: crop)),
                                       frames: c.frames, stride: c.stride, clips: c.clips, crops: c.crops,
                                       workers: c.workers)
        return StageOutcome(metrics: ["video_top1": acc.video.top1.fraction, "video_top5": acc.video.top5.fraction,
                                      "clip_top1": acc.clip.top1.fraction, "chance": 1 / Double(classes)],
                            artifacts: ["checkpoint": "checkpoint.safetensors"],
                            counts: ["samples": trainRecords.count, "test_videos": testRecords.count, "classes": classes,
                                     "skipped_bad_videos": bad.count],
                            checkpointHash: initHash ?? fileHash(ckpt))
    }
}

/// The slow encoder a downstream stage starts from: its input stage's checkpoint (a
/// pretrain's `slow.*` or a supervised run's `encoder.*`), or a random initialisation.
/// Returns the encoder and the hash of the checkpoint it was loaded from.
func initialisedEncoder(backbone: Backbone, width: Double, context: StageContext, res5Dilation: Int = 1,
                        rng: inout RandomGenerator) throws -> (ResNet3D, String?) {
    let encoder = ResNet3D(.slowFast(depth: backbone.depth, pathway: .slow, widthMultiplier: width,
                                     res5Dilation: res5Dilation), rng: &rng)
    guard let input = context.inputs.first else { return (encoder, nil) }
    let prefix = input.kind == "pretrain" ? "slow." : "encoder."
    guard let rel = input.artifacts["checkpoint"] else {
        throw SuiteCommandError(message: "\(context.store.directory(input.identity).path): input stage \(input.key) left no checkpoint")
    }
    let url = context.store.directory(input.identity).appendingPathComponent(rel)
    try ClassifierTrainer.initialise(encoder, from: .checkpoint(url, prefix: prefix))
    return (encoder, fileHash(url))
}

func schedule(epochs: Int, batch: Int, lr: Double, milestones: [Double], weightDecay: Double) -> ClassifierSchedule {
    var s = ClassifierSchedule(epochs: epochs, batchSize: batch, learningRate: Float(lr), milestones: milestones)
    s.weightDecay = Float(weightDecay)
    return s
}

/// `detect`: AVA v2.2 action detection (paper §5.4.1). Trains on ground-truth boxes, tests
/// on person proposals scoring at least `proposal_score` (0.8), and reports frame mAP at
/// IoU 0.5 over the label map's classes, as the official evaluator computes it.
///
/// Settings: `DetectConfiguration`.
public struct DetectExecutor: StageExecutor {
    public let kind = "detect"
    public let codeVersion = "1"
    public var data: DataAccess

    public func run(_ stage: PlannedStage, config c: DetectConfiguration, context: StageContext) throws -> StageOutcome {
        let (dataset, entry, train, test, provider, bad) = try data.load(stage, progress: context.progress)
        let classIDs = Array(Set(train.actionNames.keys).union(test.actionNames.keys)).sorted()
        guard !classIDs.isEmpty else { throw SuiteCommandError(message: "\(entry.origin.file): dataset \(dataset) has no label map classes") }
        let column = Dictionary(uniqueKeysWithValues: classIDs.enumerated().map { ($1, $0) })
        let crop = c.crop!, frames = c.frames, stride = c.stride
        var rng = RandomGenerator(seed: UInt64(c.seed) &+ 0xAFA)
        let (encoder, initHash) = try initialisedEncoder(backbone: c.backbone, width: c.width, context: context, res5Dilation: 2, rng: &rng)
        let model = ActionDetector(encoder: encoder, classes: classIDs.count, dropout: Float(c.dropout), rng: &rng)
        let s = schedule(epochs: c.epochs, batch: c.batch, lr: c.lr, milestones: c.milestones, weightDecay: c.weightDecay)
        let items: [(VideoRecord, Datasets.AVAKeyframe)] = train.records.filter { !bad.contains($0.id) }.flatMap { r in
            r.keyframes.filter { !$0.boxes.isEmpty }.map { (r, $0) }
        }
        guard items.count >= s.batchSize else {
            throw SuiteCommandError(message: "\(dataset): \(items.count) training keyframes cannot fill a batch of \(s.batchSize)")
        }
        let builder = SampleBuilder(provider: provider, augment: AugmentConfig(size: crop))
        let trainer = EpochTrainer(model: model, schedule: s, seed: UInt64(c.seed),
                                   checkpointURL: context.workDirectory.appendingPathComponent("checkpoint.safetensors"),
                                   format: "tempo-bench.ava.v1")
        let steps = items.count / s.batchSize
        try trainer.train(steps: steps, batch: { epoch, step in
            let ids = trainer.order(items.count, epoch: epoch)[(step * s.batchSize)..<((step + 1) * s.batchSize)]
            var clips: [Tensor] = [], boxes: [Float] = [], targets: [Float] = []
            for (b, i) in ids.enumerated() {
                let rngBox = RandomGeneratorBox.forItem(seed: UInt64(c.seed), epoch: epoch, index: i)
                let sample = try builder.avaClip(items[i].0, keyframe: items[i].1, frames: frames, stride: stride, rng: rngBox)
                clips.append(sample.clip)
                for (box, actions) in zip(sample.boxes, sample.actions) {
                    boxes += [Float(b)] + box
                    var t = [Float](repeating: 0, count: classIDs.count)
                    for a in actions { if let c = column[a] { t[c] = 1 } }
                    targets += t
                }
            }
            let r = boxes.count / 5
            var dropRNG = RandomGenerator(seed: UInt64(c.seed) &+ UInt64(epoch * 100_003 + step))
            guard r > 0 else { return scale(sum(model.fc.weight), by: 0) }
            let logits = model(Variable(Tensor.stack(clips)), boxes: Tensor(shape: [r, 5], scalars: boxes), training: true, rng: &dropRNG)
            return binaryCrossEntropyWithLogits(logits: logits, targets: Tensor(shape: [r, classIDs.count], scalars: targets))
        }, progress: { e, step, steps, loss in
            context.progress.report(ProgressEvent(stage: stage.key, epoch: e, epochs: s.epochs, step: step, steps: steps,
                                                  values: [("loss", Double(loss))]))
        })

        // Test: proposals above the score threshold, every class scored.
        let threshold = c.proposalScore
        let testBuilder = SampleBuilder(provider: provider, augment: .test(size: crop))
        var groundTruth: [AVAGroundTruthRow] = [], detections: [AVADetectionRow] = []
        var excluded = Set<Protocols.AVAKeyframe>()
        var evalRNG = RandomGenerator(seed: 0)
        for record in test.records where !bad.contains(record.id) {
            for sec in record.excludedSeconds { excluded.insert(Protocols.AVAKeyframe(videoID: record.id, timestamp: sec)) }
            for var kf in record.keyframes {
                let key = Protocols.AVAKeyframe(videoID: record.id, timestamp: kf.second)
                for b in kf.boxes {
                    for a in b.actions {
                        groundTruth.append(AVAGroundTruthRow(keyframe: key, box: Protocols.AVABox(x1: b.x1, y1: b.y1, x2: b.x2, y2: b.y2),
                                                             actionID: a, personID: Double(b.personID)))
                    }
                }
                kf.proposals = kf.proposals.filter { ($0.score ?? 1) >= threshold }
                guard !kf.proposals.isEmpty else { continue }
                let sample = try testBuilder.avaClip(record, keyframe: kf, frames: frames, stride: stride, useProposals: true, rng: nil)
                guard !sample.boxes.isEmpty else { continue }
                let h = Float(sample.clip.shape[2]), w = Float(sample.clip.shape[3])
                let boxes: [Float] = sample.boxes.flatMap { [Float(0)] + $0 }
                let logits = withoutGradient {
                    model(Variable(Tensor.stack([sample.clip])), boxes: Tensor(shape: [sample.boxes.count, 5], scalars: boxes),
                          training: false, rng: &evalRNG)
                }.value
                for (r, box) in sample.boxes.enumerated() {
                    let nb = Protocols.AVABox(x1: Double(box[0] / w), y1: Double(box[1] / h), x2: Double(box[2] / w), y2: Double(box[3] / h))
                    for (c, id) in classIDs.enumerated() {
                        let score = 1 / (1 + exp(-Double(logits.scalars[r * classIDs.count + c])))
                        detections.append(AVADetectionRow(keyframe: key, box: nb, actionID: id, score: score))
                    }
                }
            }
        }
        let result = try AVAFrameMAP.evaluate(groundTruth: groundTruth, detections: detections, classes: Set(classIDs), excluded: excluded)
        var metrics: [String: Double] = ["mAP": result.meanAP]
        for (id, ap) in result.perClassAP { metrics["ap.\(id)"] = ap }
        return StageOutcome(metrics: metrics, artifacts: ["checkpoint": "checkpoint.safetensors"],
                            counts: ["samples": items.count, "test_keyframes": test.records.reduce(0) { $0 + $1.keyframes.count },
                                     "detections": detections.count, "skipped_bad_videos": bad.count],
                            checkpointHash: initHash)
    }
}

/// `anticipate`: Epic-Kitchens-55 action anticipation (paper §5.4.2): observe
/// [t_s − τ_o − τ_a, t_s − τ_a] and predict the verb and noun of the action starting at t_s.
///
/// Settings: `AnticipateConfiguration`.
public struct AnticipateExecutor: StageExecutor {
    public let kind = "anticipate"
    public let codeVersion = "1"
    public var data: DataAccess

    public func run(_ stage: PlannedStage, config c: AnticipateConfiguration, context: StageContext) throws -> StageOutcome {
        let (dataset, _, train, test, provider, bad) = try data.load(stage, progress: context.progress)
        let observe = c.observe, anticipate = c.anticipate
        func items(_ split: DatasetSplit) -> [(VideoRecord, EpicSegment)] {
            split.records.filter { !bad.contains($0.id) }.flatMap { r in
                r.segments.filter { $0.start - observe - anticipate >= 0 }.map { (r, $0) }
            }
        }
        let trainItems = items(train), testItems = items(test)
        let verbs = max(train.classes.count, (trainItems.map(\.1.verb).max() ?? 0) + 1)
        let nouns = max(train.nouns.count, (trainItems.map(\.1.noun).max() ?? 0) + 1)
        let crop = c.crop!, frames = c.frames
        var rng = RandomGenerator(seed: UInt64(c.seed) &+ 0xE1C)
        let (encoder, initHash) = try initialisedEncoder(backbone: c.backbone, width: c.width, context: context, rng: &rng)
        let model = Anticipator(encoder: encoder, verbs: verbs, nouns: nouns, dropout: Float(c.dropout), rng: &rng)
        let s = schedule(epochs: c.epochs, batch: c.batch, lr: c.lr, milestones: c.milestones, weightDecay: c.weightDecay)
        guard trainItems.count >= s.batchSize else {
            throw SuiteCommandError(message: "\(dataset): \(trainItems.count) observable training segments cannot fill a batch of \(s.batchSize)")
        }
        let builder = SampleBuilder(provider: provider, augment: AugmentConfig(size: crop))
        let trainer = EpochTrainer(model: model, schedule: s, seed: UInt64(c.seed),
                                   checkpointURL: context.workDirectory.appendingPathComponent("checkpoint.safetensors"),
                                   format: "tempo-bench.epic.v1")
        try trainer.train(steps: trainItems.count / s.batchSize, batch: { epoch, step in
            let ids = trainer.order(trainItems.count, epoch: epoch)[(step * s.batchSize)..<((step + 1) * s.batchSize)]
            var clips: [Tensor] = [], v: [Int] = [], n: [Int] = []
            for i in ids {
                let rngBox = RandomGeneratorBox.forItem(seed: UInt64(c.seed), epoch: epoch, index: i)
                let c = try builder.epicClip(trainItems[i].0, segment: trainItems[i].1, frames: frames, observe: observe,
                                             anticipate: anticipate, rng: rngBox)
                clips.append(c.clip); v.append(c.verb); n.append(c.noun)
            }
            var dropRNG = RandomGenerator(seed: UInt64(c.seed) &+ UInt64(epoch * 100_003 + step))
            let (vl, nl) = model(Variable(Tensor.stack(clips)), training: true, rng: &dropRNG)
            return add(crossEntropy(logits: vl, targets: v), crossEntropy(logits: nl, targets: n))
        }, progress: { e, step, steps, loss in
            context.progress.report(ProgressEvent(stage: stage.key, epoch: e, epochs: s.epochs, step: step, steps: steps,
                                                  values: [("loss", Double(loss))]))
        })
        let testBuilder = SampleBuilder(provider: provider, augment: .test(size: crop))
        var vs: [Float] = [], ns: [Float] = [], vl: [Int] = [], nl: [Int] = []
        var evalRNG = RandomGenerator(seed: 0)
        for (record, segment) in testItems {
            let c = try testBuilder.epicClip(record, segment: segment, frames: frames, observe: observe, anticipate: anticipate, rng: nil)
            let (a, b) = withoutGradient { model(Variable(Tensor.stack([c.clip])), training: false, rng: &evalRNG) }
            vs += a.value.scalars; ns += b.value.scalars; vl.append(min(c.verb, verbs - 1)); nl.append(min(c.noun, nouns - 1))
        }
        guard !vl.isEmpty else { throw SuiteCommandError(message: "\(dataset): no observable test segments") }
        let acc = try EpicAnticipationAccuracy(verbScores: Tensor(shape: [vl.count, verbs], scalars: vs), verbLabels: vl,
                                               nounScores: Tensor(shape: [nl.count, nouns], scalars: ns), nounLabels: nl)
        return StageOutcome(metrics: ["verb_top1": acc.verbTop1.fraction, "verb_top5": acc.verbTop5.fraction,
                                      "noun_top1": acc.nounTop1.fraction, "noun_top5": acc.nounTop5.fraction],
                            artifacts: ["checkpoint": "checkpoint.safetensors"],
                            counts: ["samples": trainItems.count, "test_segments": testItems.count, "verbs": verbs, "nouns": nouns,
                                     "skipped_bad_videos": bad.count],
                            checkpointHash: initHash)
    }
}

/// `icm`: Instance Correspondence Maps (paper Fig. 4) of a pretrained model with
/// 1×1×1-conv heads, rendered for the first `videos` test videos of a dataset.
/// Artifacts `figure.N` are PNG strips that `bench report` copies next to the report.
public struct ICMExecutor: StageExecutor {
    public let kind = "icm"
    public let codeVersion = "4"
    public var data: DataAccess

    public func run(_ stage: PlannedStage, config c: ICMConfiguration, context: StageContext) throws -> StageOutcome {
        guard let input = context.inputs.first, input.kind == "pretrain", let rel = input.artifacts["checkpoint"] else {
            throw SuiteCommandError(message: "stage \(stage.key) needs a pretrain stage (with projection: conv or conv-bn) as its input")
        }
        let (model, meta) = try Pretrainer.loadModel(context.store.directory(input.identity).appendingPathComponent(rel))
        guard model.config.projection.isPerPosition else {
            throw SuiteCommandError(message: "stage \(stage.key): its pretrain input used \(model.config.projection.rawValue) heads; ICM needs projection: conv or conv-bn")
        }
        let crop = meta["crop"].flatMap(Int.init) ?? c.crop
        let entry = try data.entry(try requireDataset(stage))
        let test = try Dataset.load(entry, split: .test)
        // Synthetic sets say where the moving object is; real ones have no such file.
        let boxesFile = URL(fileURLWithPath: entry.root).appendingPathComponent("annotations").appendingPathComponent(ObjectBoxes.fileName).path
        let boxes = FileManager.default.fileExists(atPath: boxesFile) ? try ObjectBoxes.load(boxesFile) : nil
        var artifacts: [String: String] = [:]
        var spread = 0.0
        var ratios: [Double] = [], objectDensity = 0.0, backgroundDensity = 0.0
        // Figures for the first `videos`; the object-mass score over `mass_videos` (when boxes exist).
        let figures = c.videos
        let scored = boxes == nil ? figures : max(figures, c.massVideos)
        for (i, record) in test.records.prefix(scored).enumerated() {
            let r = try InstanceCorrespondenceMap.analyse(model: model, video: record.source, start: 0, crop: crop)
            var line = "icm     \(record.id)"
            if i < figures {
                let name = "icm-\(i).png"
                try PNG.write(r.image, to: context.workDirectory.appendingPathComponent(name))
                artifacts["figure.\(i)"] = name
                spread += Double((r.map.scalars.max() ?? 0) - (r.map.scalars.min() ?? 0))
                line += " → \(name)"
            }
            if let boxes {
                let key = Self.relativePath(record.source, root: entry.root)
                guard let own = boxes[key] else {
                    throw SuiteCommandError(message: "\(boxesFile): no object boxes for \(key)")
                }
                let byFrame = Dictionary(own.map { ($0.frame, $0) }, uniquingKeysWith: { (a: ObjectBox, _: ObjectBox) in a })
                let perFrame = r.slowFrames.map { t in byFrame[t].map { r.cropBox($0, crop: crop) } }
                if let mass = InstanceCorrespondenceMap.objectMass(map: r.map, width: crop, height: crop, boxes: perFrame) {
                    ratios.append(mass.ratio)
                    objectDensity += mass.objectDensity; backgroundDensity += mass.backgroundDensity
                    line += String(format: ", map mass on the object %.2f× the background", mass.ratio)
                }
            }
            if i < figures || i % 10 == 0 { context.progress.log(line) }
        }
        var metrics = ["map_range_mean": spread / Double(max(1, artifacts.count))]
        if !ratios.isEmpty {
            let n = Double(ratios.count)
            metrics["object_mass_ratio"] = ratios.reduce(0, +) / n
            metrics["object_mass_ratio_min"] = ratios.min()!
            metrics["object_density"] = objectDensity / n
            metrics["background_density"] = backgroundDensity / n
            metrics["mass_videos"] = n
        }
        return StageOutcome(metrics: metrics, artifacts: artifacts,
                            counts: ["videos": artifacts.count], checkpointHash: fileHash(context.store.directory(input.identity).appendingPathComponent(rel)))
    }

    /// `path` below `root` ("train/x/y.mp4"), as the object-box file names videos.
    static func relativePath(_ path: String, root: String) -> String {
        let p = URL(fileURLWithPath: path).standardizedFileURL.path, r = URL(fileURLWithPath: root).standardizedFileURL.path
        return p.hasPrefix(r + "/") ? String(p.dropFirst(r.count + 1)) : p
    }
}

/// `probe`: frozen-feature probes of an encoder (beyond the paper; SEVERE-style suites
/// report them): a kNN probe and a linear probe on global-average-pooled res5 features of
/// one centre clip per video.
/// Settings: `ProbeConfiguration`.
public struct ProbeExecutor: StageExecutor {
    public let kind = "probe"
    public let codeVersion = "2"
    public var data: DataAccess

    public func run(_ stage: PlannedStage, config c: ProbeConfiguration, context: StageContext) throws -> StageOutcome {
        let (_, _, train, test, provider, bad) = try data.load(stage, progress: context.progress)
        let trainRecords = train.records.filter { !bad.contains($0.id) && $0.label != nil }
        let testRecords = test.records.filter { !bad.contains($0.id) && $0.label != nil }
        var rng = RandomGenerator(seed: UInt64(c.seed) &+ 0x9B0B)
        let (encoder, initHash) = try initialisedEncoder(backbone: c.backbone, width: c.width, context: context, rng: &rng)
        let classes = max(train.classes.count, (trainRecords.compactMap(\.label).max() ?? 0) + 1)
        let model = ClipClassifier(encoder: encoder, classes: classes, dropout: 0, rng: &rng)
        let builder = SampleBuilder(provider: provider, augment: .test(size: c.crop!))
        func features(_ records: [VideoRecord]) throws -> Tensor {
            var rows: [Float] = []
            for (i, r) in records.enumerated() {
                let clip = try builder.testClips(r, index: i, clips: 1, crops: 1, frames: c.frames, stride: c.stride).clip
                rows += model.features(clip).scalars
            }
            return Tensor(shape: [records.count, rows.count / max(1, records.count)], scalars: rows)
        }
        let fTrain = try features(trainRecords), fTest = try features(testRecords)
        let yTrain = trainRecords.map { $0.label! }, yTest = testRecords.map { $0.label! }
        let knn = try KNNProbe(k: KNNProbe.neighbours(trainCount: trainRecords.count, classCount: classes, requested: c.k), temperature: 0.07, classCount: classes)
            .evaluate(train: fTrain, trainLabels: yTrain, test: fTest, testLabels: yTest)
        // Linear probe: a softmax classifier on standardised features, full-batch SGD.
        let d = fTrain.shape[1]
        var mean = [Float](repeating: 0, count: d), std = [Float](repeating: 0, count: d)
        for j in 0..<d {
            let col = (0..<fTrain.shape[0]).map { fTrain.scalars[$0 * d + j] }
            mean[j] = col.reduce(0, +) / Float(col.count)
            std[j] = max(1e-6, (col.map { ($0 - mean[j]) * ($0 - mean[j]) }.reduce(0, +) / Float(col.count)).squareRoot())
        }
        func standardise(_ t: Tensor) -> Tensor {
            Tensor(shape: t.shape, scalars: t.scalars.enumerated().map { ($0.element - mean[$0.offset % d]) / std[$0.offset % d] })
        }
        let xTrain = standardise(fTrain), xTest = standardise(fTest)
        let head = Linear(d, classes, rng: &rng)
        let sgd = SGD(parameters: head.namedParameters, learningRate: Float(c.lr), momentum: 0.9, weightDecay: 1e-4)
        for _ in 0..<c.epochs {
            sgd.zeroGrad()
            crossEntropy(logits: head(Variable(xTrain)), targets: yTrain).backward()
            sgd.step()
        }
        let linear = try topKAccuracy(scores: withoutGradient { head(Variable(xTest)) }.value, labels: yTest, k: 1)
        return StageOutcome(metrics: ["knn_top1": knn.top1.fraction, "linear_top1": linear.fraction, "chance": 1 / Double(classes)],
                            counts: ["samples": trainRecords.count, "test_videos": testRecords.count, "skipped_bad_videos": bad.count],
                            checkpointHash: initHash)
    }
}
