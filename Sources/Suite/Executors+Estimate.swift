import Datasets
import Foundation
import Networks
import VTHCL

// `bench plan`'s cost of each stage kind: multiply–adds of its training passes (3× a forward:
// forward and backward) and of its forward-only evaluation passes, over the items its
// dataset holds at the scale (`DataAccess.plannedItems`), turned into seconds on this
// machine by `CostModel.cpuSeconds`.

extension DataAccess {
    /// Training and test items of a stage's dataset at this scale: the synthetic stand-ins'
    /// sizes (`SyntheticConfig.items`) at ci, small and mini; the real datasets' at paper.
    /// Nil when the manifest does not name the dataset; a manifest that cannot be read throws.
    public func plannedItems(_ name: String) throws -> (train: Double, test: Double)? {
        let manifest = try DatasetManifest.load(manifest.path, scale: scale.rawValue, checkPaths: false)
        guard let entry = manifest.datasets.first(where: { $0.name == name }) else { return nil }
        guard let synthetic = SyntheticScale(rawValue: scale.rawValue) else { return CostModel.paperItems(entry.format) }
        return SyntheticConfig.preset(synthetic).items(entry.format)
    }
}

extension CostModel {
    /// The real datasets' training and test items (videos; AVA keyframes; Epic segments on
    /// the 232 / 40 video split).
    public static func paperItems(_ format: DatasetFormat) -> (train: Double, test: Double) {
        switch format {
        case .kinetics400: return (240_000, 19_800)
        case .ucf101: return (9_537, 3_783)
        case .hmdb51: return (3_570, 1_530)
        case .ava: return (211_000, 57_000)
        case .epic55: return (24_500, 4_000)
        }
    }
}

func estimated(train: Double, eval: Double, scale: Scale, notes: String) -> CostEstimate {
    var e = CostEstimate(macs: train + eval, cpuSeconds: CostModel.cpuSeconds(trainMACs: train, evalMACs: eval, scale: scale), notes: notes)
    e.trainMACs = train; e.evalMACs = eval
    return e
}

func slowForwardMACs(_ backbone: Backbone, width: Double, frames: Int, crop: Int, res5Dilation: Int = 1) -> Double {
    ResNet3DConfig.slowFast(depth: backbone.depth, pathway: .slow, widthMultiplier: width, res5Dilation: res5Dilation)
        .forwardMACs(input: [1, 3, frames, crop, crop])
}

/// A slow-encoder trainer's cost (fine-tuning, AVA, Epic): `epochs` passes of 3× forward
/// over the training items, `testViews` forward clips a test item, and the data-parallel
/// figures (steps, gradient values of the encoder plus `classes` outputs, batch).
func slowEncoderTraining(perClip: Double, items: (train: Double, test: Double), epochs: Int, batch: Int, testViews: Int,
                         backbone: Backbone, width: Double, classes: Int?, scale: Scale, notes: String,
                         passes: Double = 3) -> CostEstimate {
    var e = estimated(train: passes * perClip * items.train * Double(epochs), eval: perClip * items.test * Double(testViews),
                      scale: scale, notes: notes)
    var net = ResNet3DConfig.slowFast(depth: backbone.depth, pathway: .slow, widthMultiplier: width)
    net.numClasses = classes
    e.steps = (items.train / Double(batch)).rounded(.down) * Double(epochs)
    e.gradientFloats = Double(net.parameterCount); e.batch = batch
    return e
}

extension PretrainExecutor {
    /// Training: both encoders, 3× forward, every training video every epoch. Evaluation: the
    /// slow encoder on the test videos at each bank monitor and at the end, and on training
    /// and test videos for the frozen kNN of the trained and of the untrained network.
    public func estimate(_ stage: PlannedStage, config p: PretrainConfiguration, scale: Scale) throws -> CostEstimate? {
        let (c, s, crop) = config(p)
        guard let d = stage.dataset, let items = try data.plannedItems(d) else { return nil }
        let train = 3 * VTHCLModel.forwardMACs(config: c, crop: crop) * items.train * Double(s.epochs)
        let monitors = Double(p.knnEvery > 0 ? s.epochs / p.knnEvery + 1 : 1)
        let slow = slowForwardMACs(p.backbone, width: p.width!, frames: c.slowFrames, crop: crop)
        let eval = slow * (items.test * monitors + 2 * (items.train + items.test))
        var e = estimated(train: train, eval: eval, scale: scale, notes: "3× forward MACs per clip (forward + backward); kNN monitors forward-only")
        e.steps = (items.train / Double(s.batchSize)).rounded(.down) * Double(s.epochs)
        e.gradientFloats = Double(VTHCLModel.parameterCount(config: c)); e.batch = s.batchSize
        return e
    }
}

extension ClassifierExecutor {
    /// Training 3× forward over the training videos each epoch; test `clips × crops` views a video.
    public func estimate(_ stage: PlannedStage, config c: ClassifierConfiguration, scale: Scale) throws -> CostEstimate? {
        guard let d = stage.dataset, let items = try data.plannedItems(d) else { return nil }
        let perClip = slowForwardMACs(c.backbone, width: c.width, frames: c.frames, crop: c.crop!)
        // A frozen encoder only runs forward; a label fraction trains on that share of the videos.
        let frozen = c.encoderMode == .frozen
        let used = (train: items.train * (c.labelFraction ?? 1), test: items.test)
        return slowEncoderTraining(perClip: perClip, items: used, epochs: c.epochs, batch: c.batch, testViews: c.clips * c.crops,
                                   backbone: c.backbone, width: c.width, classes: scale == .paper ? 101 : 8, scale: scale,
                                   notes: "training \(frozen ? 1 : 3)× forward; test \(c.clips * c.crops) views a video",
                                   passes: frozen ? 1 : 3)
    }
}

extension DetectExecutor {
    /// Training 3× forward (res5 dilated) over the training keyframes each epoch; one test clip a keyframe.
    public func estimate(_ stage: PlannedStage, config c: DetectConfiguration, scale: Scale) throws -> CostEstimate? {
        guard let d = stage.dataset, let items = try data.plannedItems(d) else { return nil }
        let perClip = slowForwardMACs(c.backbone, width: c.width, frames: c.frames, crop: c.crop!, res5Dilation: 2)
        return slowEncoderTraining(perClip: perClip, items: items, epochs: c.epochs, batch: c.batch, testViews: 1,
                                   backbone: c.backbone, width: c.width, classes: nil, scale: scale,
                                   notes: "training 3× forward; one test clip a keyframe")
    }
}

extension AnticipateExecutor {
    /// Training 3× forward over the training segments each epoch; one observed clip a test segment.
    public func estimate(_ stage: PlannedStage, config c: AnticipateConfiguration, scale: Scale) throws -> CostEstimate? {
        guard let d = stage.dataset, let items = try data.plannedItems(d) else { return nil }
        let perClip = slowForwardMACs(c.backbone, width: c.width, frames: c.frames, crop: c.crop!)
        return slowEncoderTraining(perClip: perClip, items: items, epochs: c.epochs, batch: c.batch, testViews: 1,
                                   backbone: c.backbone, width: c.width, classes: nil, scale: scale,
                                   notes: "training 3× forward; one observed clip a test segment")
    }
}

extension ProbeExecutor {
    /// One centre clip of every training and test video through the frozen encoder (the
    /// probes themselves train on pooled features: negligible).
    public func estimate(_ stage: PlannedStage, config c: ProbeConfiguration, scale: Scale) throws -> CostEstimate? {
        guard let d = stage.dataset, let items = try data.plannedItems(d) else { return nil }
        let perClip = slowForwardMACs(c.backbone, width: c.width, frames: c.frames, crop: c.crop!)
        return estimated(train: 0, eval: perClip * (items.train + items.test), scale: scale, notes: "one clip a video, forward-only")
    }
}

extension ICMExecutor {
    /// The pretrained model's slow pathway on the scored test videos (figures and object
    /// mass), counted at the ci network size: its input's size is not in this stage's settings.
    public func estimate(_ stage: PlannedStage, config c: ICMConfiguration, scale: Scale) throws -> CostEstimate? {
        guard let d = stage.dataset, let items = try data.plannedItems(d) else { return nil }
        let videos = min(items.test, Double(max(c.videos, c.massVideos)))
        let perClip = slowForwardMACs(.r18, width: 0.25, frames: 8, crop: c.crop)
        return estimated(train: 0, eval: perClip * videos, scale: scale, notes: "forward-only, ci network size")
    }
}
