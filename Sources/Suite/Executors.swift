import Datasets
import Foundation
import Media
import Networks
import Protocols
import Tensors
import VTHCL

// The stage kinds: thin adapters from a stage's typed configuration to the procedure of its
// module (`Pretraining` in VTHCL; `FineTuning`, `AVADetection`, `Anticipation` and
// `FrozenFeatureProbe` in Protocols), and from the procedure's result to a stored outcome.

extension DataAccess {
    /// A stage's dataset: its name, manifest entry, both splits with the videos that failed
    /// to decode left out, a frame provider over the clip cache, the ids left out, and what
    /// the stage result records of them (reason → file names).
    func load(_ stage: PlannedStage, progress: ProgressSink)
        throws -> (name: String, entry: DatasetEntry, train: DatasetSplit, test: DatasetSplit, provider: FrameProvider,
                   bad: Set<String>, skipped: [String: [String]]) {
        let dataset = try requireDataset(stage)
        let entry = try self.entry(dataset)
        var train = try Dataset.load(entry, split: .train), test = try Dataset.load(entry, split: .test)
        let (provider, badVideos) = try self.provider(for: entry, records: train.records + test.records, progress: progress)
        let bad = Set(badVideos.map(\.id))
        train.records = train.records.filter { !bad.contains($0.id) }
        test.records = test.records.filter { !bad.contains($0.id) }
        return (dataset, entry, train, test, provider, bad, DataAccess.skipped(badVideos, root: entry.root))
    }
}

func requireDataset(_ stage: PlannedStage) throws -> String {
    guard let d = stage.dataset else { throw SuiteCommandError(message: "stage \(stage.key) names no dataset") }
    return d
}

/// SHA-256 of a checkpoint a stage just wrote or read (a missing file is an error).
func fileHash(_ url: URL) throws -> String { try SHA256.hex(fileAt: url.path) }

extension StageContext {
    /// Forwards a procedure's progress to the suite's progress output.
    func forward(_ stage: PlannedStage) -> ProgressHandler {
        { p in progress.report(ProgressEvent(stage: stage.key, epoch: p.epoch, epochs: p.epochs, step: p.step, steps: p.steps, values: p.values)) }
    }
    var checkpointURL: URL { workDirectory.appendingPathComponent("checkpoint.safetensors") }
}

/// Number of classes of a labelled split: the class list, or the largest label + 1.
func classCount(_ split: DatasetSplit) -> Int {
    max(split.classes.count, (split.records.compactMap(\.label).max() ?? 0) + 1)
}

/// `pretrain`: VTHCL pretraining on a dataset's training split, then the kNN monitors on its
/// test split (labels are used for monitoring only). Settings: `PretrainConfiguration`.
public struct PretrainExecutor: StageExecutor {
    public let kind = "pretrain"
    public let dataParallel = true
    public let codeVersion = "7"
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
        s.syncBatchNorm = syncBatchNormAcrossRanks
        return (c, s, p.crop!)
    }

    public func run(_ stage: PlannedStage, config p: PretrainConfiguration, context: StageContext) throws -> StageOutcome {
        let (config, schedule, crop) = config(p)
        let d = try data.load(stage, progress: context.progress)
        var settings = Pretraining.Settings(config: config, schedule: schedule, crop: crop, augment: augmentation(p.augment, crop: crop))
        settings.knnEvery = p.knnEvery
        settings.workers = p.workers
        settings.pairing = p.pairing
        let r = try Pretraining.run(train: d.train.records, test: d.test.records, classes: classCount(d.train), provider: d.provider,
                                    settings: settings, seed: UInt64(p.seed), directory: context.workDirectory,
                                    metadata: ["dataset": d.name], progress: context.forward(stage),
                                    monitor: { context.progress.log("monitor \(stage.key) \($0)") })
        var metrics: [String: Double] = ["chance": 1 / Double(r.classes), "epochs": Double(schedule.epochs)]
        var perItem: [String: [Double]] = [:]
        func record(_ name: String, _ a: TopKAccuracy?) {
            guard let a else { return }
            metrics[name] = a.fraction
            perItem[name] = a.perItem
        }
        record("knn_top1", r.bankKNN)
        record("knn_frozen_top1", r.frozen?.head); record("knn_backbone_top1", r.frozen?.backbone)
        record("knn_frozen_init_top1", r.untrained?.head); record("knn_backbone_init_top1", r.untrained?.backbone)
        if let first = r.log.values.first?["loss"] { metrics["loss_first_epoch"] = first }
        if let last = r.log.values.last?["loss"] { metrics["loss_last_epoch"] = last }
        return StageOutcome(metrics: metrics, artifacts: ["checkpoint": "checkpoint.safetensors", "epochs": "epochs.json"],
                            counts: ["samples": d.train.records.count, "test_samples": d.test.records.filter { $0.label != nil }.count,
                                     "skipped_bad_videos": d.bad.count],
                            checkpointHash: try fileHash(r.checkpointURL), perItem: perItem, skipped: d.skipped)
    }
}

/// Training augmentation (`AugmentName`): `standard` (SPEC §1: random resized crop area
/// 0.2–1, flip, colour jitter 0.4 with p 0.8, grayscale 0.2), `light` (crop area 0.6–1 and
/// flip only) or `none` (the largest square crop, nothing else).
func augmentation(_ name: AugmentName, crop: Int) -> AugmentConfig {
    var a = AugmentConfig(size: crop)
    switch name {
    case .light: a.area = 0.6...1; a.jitterProbability = 0; a.grayscale = 0
    case .none: a.area = 1...1; a.aspect = 1...1; a.flip = 0; a.jitterProbability = 0; a.grayscale = 0
    case .standard: break
    }
    return a
}

/// The slow encoder a downstream stage starts from: its input stage's checkpoint (a
/// pretrain's `slow.*` or a supervised run's `encoder.*`), or a random initialisation from
/// stream `encoder.init`. Returns the encoder and the hash of the checkpoint it was loaded from.
func initialisedEncoder(backbone: Backbone, width: Double, seed: Int, context: StageContext,
                        res5Dilation: Int = 1) throws -> (ResNet3D, String?) {
    var rng = SeedStream(UInt64(seed), "encoder.init").generator()
    let encoder = ResNet3D(.slowFast(depth: backbone.depth, pathway: .slow, widthMultiplier: width,
                                     res5Dilation: res5Dilation), rng: &rng)
    guard let input = context.inputs.first else { return (encoder, nil) }
    let prefix = input.kind == "pretrain" ? VTHCLModel.slowEncoderPrefix : ClipClassifier.encoderPrefix
    guard let rel = input.artifacts["checkpoint"] else {
        throw SuiteCommandError(message: "\(context.store.directory(input.identity).path): input stage \(input.key) left no checkpoint")
    }
    let url = context.store.directory(input.identity).appendingPathComponent(rel)
    try ClassifierTrainer.initialise(encoder, from: .checkpoint(url, prefix: prefix))
    return (encoder, try fileHash(url))
}

func schedule(epochs: Int, batch: Int, lr: Double, milestones: [Double], weightDecay: Double) -> ClassifierSchedule {
    var s = ClassifierSchedule(epochs: epochs, batchSize: batch, learningRate: Float(lr), milestones: milestones)
    s.weightDecay = Float(weightDecay)
    s.syncBatchNorm = syncBatchNormAcrossRanks
    return s
}

/// Suite stages on several ranks use batch-norm statistics of the whole global batch, so a
/// stage computes what it computes in one process (its identity holds no rank count).
var syncBatchNormAcrossRanks: Bool? { DataParallel.group.size > 1 ? true : nil }

/// `supervised` (the paper's "Kinetics" initialisation) and `finetune` (UCF-101 / HMDB-51):
/// `FineTuning` of the slow encoder with a linear classifier, tested with 10 clips a video.
/// Settings: `ClassifierConfiguration`. A `finetune` starts from its input stage (a pretrain
/// checkpoint's `slow.*` or a supervised one's `encoder.*`); without input, from scratch.
public struct ClassifierExecutor: StageExecutor {
    public let kind: String
    public let codeVersion = "3"
    public let dataParallel = true
    public var data: DataAccess

    public init(kind: String, data: DataAccess) { self.kind = kind; self.data = data }

    func settings(_ c: ClassifierConfiguration) -> FineTuning.Settings {
        var f = FineTuning.Settings(schedule: schedule(epochs: c.epochs, batch: c.batch, lr: c.lr, milestones: c.milestones, weightDecay: c.weightDecay),
                                    crop: c.crop!, augment: augmentation(c.augment, crop: c.crop!))
        f.frames = c.frames; f.stride = c.stride; f.clips = c.clips; f.crops = c.crops
        f.dropout = Float(c.dropout); f.workers = c.workers
        f.labelFraction = c.labelFraction
        f.schedule.encoderMode = c.encoderMode
        return f
    }

    public func run(_ stage: PlannedStage, config c: ClassifierConfiguration, context: StageContext) throws -> StageOutcome {
        let d = try data.load(stage, progress: context.progress)
        let (encoder, initHash) = try initialisedEncoder(backbone: c.backbone, width: c.width, seed: c.seed, context: context)
        let classes = classCount(d.train)
        let r = try FineTuning.run(encoder: encoder, train: d.train.records, test: d.test.records, classes: classes,
                                   provider: d.provider, settings: settings(c), seed: UInt64(c.seed),
                                   checkpointURL: context.checkpointURL, progress: context.forward(stage))
        let a = r.accuracy
        return StageOutcome(metrics: ["video_top1": a.video.top1.fraction, "video_top5": a.video.top5.fraction,
                                      "clip_top1": a.clip.top1.fraction, "chance": 1 / Double(classes)],
                            artifacts: ["checkpoint": "checkpoint.safetensors", "epochs": "epochs.json"],
                            counts: ["samples": r.trainVideos, "test_videos": r.testVideos, "classes": classes,
                                     "skipped_bad_videos": d.bad.count],
                            checkpointHash: try initHash ?? fileHash(context.checkpointURL),
                            perItem: ["video_top1": a.video.top1.perItem, "video_top5": a.video.top5.perItem,
                                      "clip_top1": a.clip.top1PerVideo], skipped: d.skipped)
    }
}

/// `detect`: `AVADetection` (paper §5.4.1): trained on ground-truth boxes, tested on person
/// proposals, frame mAP at IoU 0.5 over the label map's classes. Settings: `DetectConfiguration`.
/// Metrics: `mAP` (its per-video matching outcome in `resampling`, for the bootstrap over
/// test videos) and `ap.<class id>`.
public struct DetectExecutor: StageExecutor {
    public let kind = "detect"
    public let dataParallel = true
    public let codeVersion = "2"
    public var data: DataAccess

    public func run(_ stage: PlannedStage, config c: DetectConfiguration, context: StageContext) throws -> StageOutcome {
        let d = try data.load(stage, progress: context.progress)
        let classIDs = Array(Set(d.train.actionNames.keys).union(d.test.actionNames.keys)).sorted()
        guard !classIDs.isEmpty else { throw SuiteCommandError(message: "\(d.entry.origin.file): dataset \(d.name) has no label map classes") }
        let (encoder, initHash) = try initialisedEncoder(backbone: c.backbone, width: c.width, seed: c.seed, context: context, res5Dilation: 2)
        var settings = AVADetection.Settings(schedule: schedule(epochs: c.epochs, batch: c.batch, lr: c.lr, milestones: c.milestones,
                                                                weightDecay: c.weightDecay), crop: c.crop!)
        settings.frames = c.frames; settings.stride = c.stride; settings.proposalScore = c.proposalScore; settings.dropout = Float(c.dropout)
        let r = try AVADetection.run(encoder: encoder, train: d.train.records, test: d.test.records, classIDs: classIDs,
                                     provider: d.provider, settings: settings, seed: UInt64(c.seed),
                                     checkpointURL: context.checkpointURL, progress: context.forward(stage))
        var metrics: [String: Double] = ["mAP": r.frameMAP.meanAP]
        for (id, ap) in r.frameMAP.perClassAP { metrics["ap.\(id)"] = ap }
        // mAP is no mean of per-item values: its bootstrap resamples the test videos and
        // recomputes it from their matching outcome.
        let resampling = try consistentResampling(["mAP": .frameMAP(r.frameMAP.units)], metrics: metrics, stage: stage)
        return StageOutcome(metrics: metrics, artifacts: ["checkpoint": "checkpoint.safetensors", "epochs": "epochs.json"],
                            counts: ["samples": r.trainKeyframes, "test_keyframes": r.testKeyframes,
                                     "detections": r.detections, "skipped_bad_videos": d.bad.count],
                            checkpointHash: initHash, skipped: d.skipped, resampling: resampling)
    }
}

/// `anticipate`: Epic-Kitchens-55 `Anticipation` (paper §5.4.2). Settings: `AnticipateConfiguration`.
/// Metrics: `verb_top1`, `verb_top5`, `noun_top1`, `noun_top5` (accuracies over the
/// observable test segments, each with its per-segment hits in `perItem`) and
/// `verb_class_mean_recall5`, `noun_class_mean_recall5` (the top-5 recall averaged over the
/// classes present in the test segments, with its (label, hit) pairs in `resampling`).
public struct AnticipateExecutor: StageExecutor {
    public let kind = "anticipate"
    public let dataParallel = true
    public let codeVersion = "3"
    public var data: DataAccess

    public func run(_ stage: PlannedStage, config c: AnticipateConfiguration, context: StageContext) throws -> StageOutcome {
        let d = try data.load(stage, progress: context.progress)
        let (encoder, initHash) = try initialisedEncoder(backbone: c.backbone, width: c.width, seed: c.seed, context: context)
        var settings = Anticipation.Settings(schedule: schedule(epochs: c.epochs, batch: c.batch, lr: c.lr, milestones: c.milestones,
                                                                weightDecay: c.weightDecay), crop: c.crop!)
        settings.frames = c.frames; settings.observe = c.observe; settings.anticipate = c.anticipate; settings.dropout = Float(c.dropout)
        let r = try Anticipation.run(encoder: encoder, train: d.train.records, test: d.test.records,
                                     verbs: d.train.classes.count, nouns: d.train.nouns.count, provider: d.provider,
                                     settings: settings, seed: UInt64(c.seed), checkpointURL: context.checkpointURL,
                                     progress: context.forward(stage))
        let a = r.accuracy
        let metrics = ["verb_top1": a.verbTop1.fraction, "verb_top5": a.verbTop5.fraction,
                       "noun_top1": a.nounTop1.fraction, "noun_top5": a.nounTop5.fraction,
                       "verb_class_mean_recall5": a.verbRecall5.classMeanRecall, "noun_class_mean_recall5": a.nounRecall5.classMeanRecall]
        // Accuracies are means of per-segment hits; a class-mean recall is recomputed from
        // the segments' (label, hit) pairs on each resample.
        let resampling = try consistentResampling(["verb_class_mean_recall5": .classMeanRecall(a.verbRecall5),
                                                   "noun_class_mean_recall5": .classMeanRecall(a.nounRecall5)],
                                                  metrics: metrics, stage: stage)
        return StageOutcome(metrics: metrics,
                            artifacts: ["checkpoint": "checkpoint.safetensors", "epochs": "epochs.json"],
                            counts: ["samples": r.trainSegments, "test_segments": r.testSegments, "verbs": r.verbs, "nouns": r.nouns,
                                     "skipped_bad_videos": d.bad.count],
                            checkpointHash: initHash,
                            perItem: ["verb_top1": a.verbTop1.perItem, "noun_top1": a.nounTop1.perItem,
                                      "verb_top5": a.verbTop5.perItem, "noun_top5": a.nounTop5.perItem],
                            skipped: d.skipped, resampling: resampling)
    }
}

/// `icm`: Instance Correspondence Maps (paper Fig. 4) of a pretrained model with
/// 1×1×1-conv heads, rendered for the first `videos` test videos of a dataset.
/// Artifacts `figure.N` are PNG strips that `bench report` copies next to the report.
public struct ICMExecutor: StageExecutor {
    public let kind = "icm"
    public let codeVersion = "5"
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
        // Through the clip cache every other stage reads (videos that fail to decode are left out).
        let scored = Array(test.records.prefix(boxesScored(c, entry: entry)))
        let (provider, badVideos) = try data.provider(for: entry, records: scored, progress: context.progress)
        let bad = Set(badVideos.map(\.id))
        // Synthetic sets say where the moving object is; real ones have no such file.
        let boxesFile = Self.boxesFile(entry)
        let boxes = FileManager.default.fileExists(atPath: boxesFile) ? try ObjectBoxes.load(boxesFile) : nil
        let r: ICMEvaluation.Result
        do {
            r = try ICMEvaluation.run(model: model, records: scored.filter { !bad.contains($0.id) }, provider: provider, crop: crop,
                                      figures: c.videos, boxes: boxes, root: entry.root, log: context.progress.log)
        } catch let e as ProcedureError {
            throw SuiteCommandError(message: "\(boxesFile): \(e.message)")
        }
        var artifacts: [String: String] = [:]
        for (i, image) in r.figures.enumerated() {
            let name = "icm-\(i).png"
            try PNG.write(image, to: context.workDirectory.appendingPathComponent(name))
            artifacts["figure.\(i)"] = name
        }
        var metrics = ["map_range_mean": r.mapRangeMean]
        if !r.ratios.isEmpty {
            let n = Double(r.ratios.count)
            metrics["object_mass_ratio"] = r.ratios.reduce(0, +) / n
            metrics["object_mass_ratio_min"] = r.ratios.min()!
            metrics["object_density"] = r.objectDensities.reduce(0, +) / n
            metrics["background_density"] = r.backgroundDensities.reduce(0, +) / n
            metrics["mass_videos"] = n
        }
        return StageOutcome(metrics: metrics, artifacts: artifacts,
                            counts: ["videos": artifacts.count, "skipped_bad_videos": bad.count],
                            checkpointHash: try fileHash(context.store.directory(input.identity).appendingPathComponent(rel)),
                            perItem: ["object_mass_ratio": r.ratios], skipped: DataAccess.skipped(badVideos, root: entry.root))
    }

    /// Test videos to analyse: the figures' and, when object boxes exist, those scored for mass.
    func boxesScored(_ c: ICMConfiguration, entry: DatasetEntry) -> Int {
        FileManager.default.fileExists(atPath: Self.boxesFile(entry)) ? max(c.videos, c.massVideos) : c.videos
    }

    static func boxesFile(_ entry: DatasetEntry) -> String {
        URL(fileURLWithPath: entry.root).appendingPathComponent("annotations").appendingPathComponent(ObjectBoxes.fileName).path
    }
}

/// `probe`: `FrozenFeatureProbe` of an encoder (beyond the paper; SEVERE-style suites report
/// them): kNN and linear probes on pooled res5 features. Settings: `ProbeConfiguration`.
public struct ProbeExecutor: StageExecutor {
    public let kind = "probe"
    public let codeVersion = "4"
    public var data: DataAccess

    public func run(_ stage: PlannedStage, config c: ProbeConfiguration, context: StageContext) throws -> StageOutcome {
        let d = try data.load(stage, progress: context.progress)
        let (encoder, initHash) = try initialisedEncoder(backbone: c.backbone, width: c.width, seed: c.seed, context: context)
        let classes = classCount(d.train)
        var settings = FrozenFeatureProbe.Settings(crop: c.crop!)
        settings.frames = c.frames; settings.stride = c.stride; settings.k = c.k
        settings.linear = LinearProbe(epochs: c.epochs, learningRate: Float(c.lr))
        let r = try FrozenFeatureProbe.run(encoder: encoder, train: d.train.records, test: d.test.records, classes: classes,
                                           provider: d.provider, settings: settings, seed: UInt64(c.seed))
        return StageOutcome(metrics: ["knn_top1": r.knn.top1.fraction, "linear_top1": r.linear.fraction, "chance": 1 / Double(classes)],
                            counts: ["samples": r.trainVideos, "test_videos": r.testVideos, "skipped_bad_videos": d.bad.count],
                            checkpointHash: initHash,
                            perItem: ["knn_top1": r.knn.top1.perItem, "linear_top1": r.linear.perItem], skipped: d.skipped)
    }
}
