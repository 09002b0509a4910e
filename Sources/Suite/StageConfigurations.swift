import Foundation
import Networks
import Protocols
import VTHCL

/// The encoders a stage can train: the one place that adds a backbone.
public enum Backbone: String, SettingEnum {
    case r18, r50
    /// 3D-ResNet depth (basic blocks for 18, bottlenecks for 50).
    public var depth: Int {
        switch self {
        case .r18: return 18
        case .r50: return 50
        }
    }
}

/// Size presets of pretraining (crop, width, batch, negatives by scale; `PretrainPreset`).
public enum PresetName: String, SettingEnum { case ci, mini, paper }

/// Training augmentation (SPEC §1): `standard` (random resized crop of area 0.2–1, flip,
/// colour jitter 0.4 with p 0.8, grayscale 0.2), `light` (area 0.6–1 and flip only), `none`
/// (the largest square crop: a diagnostic of the optimisation alone).
public enum AugmentName: String, SettingEnum { case standard, light, none }

extension ProjectionKind: SettingEnum {}
extension ClipPairing: SettingEnum {}
extension EncoderMode: SettingEnum {}

/// Settings every stage that trains or embeds an encoder declares (`stage.seed` reads `seed`).
let minimumCrop: Double = 32

/// `pretrain`: VTHCL pretraining (paper §3, SPEC §1) then the kNN monitors.
public struct PretrainConfiguration: StageConfiguration {
    @Setting("encoder of both pathways") public var backbone = Backbone.r18
    @Setting("seed of every random stream of the stage", .range(min: 0, max: nil)) public var seed = 0
    @Setting("size preset supplying the defaults of batch, crop, width and negatives") public var preset = PresetName.ci
    @Setting("training epochs", .range(min: 1, max: nil)) public var epochs = 200
    @Setting("clips per step (default: the preset's)", .range(min: 1, max: nil)) public var batch: Int? = nil
    @Setting("learning rate at batch 256, scaled linearly with the batch", .positive) public var lr = 0.03
    @Setting("channel-width multiplier of the slow pathway (default: the preset's)", .positive) public var width: Double? = nil
    @Setting("channel-width multiplier of the fast pathway (default: width)", .positive) public var fastWidth: Double? = nil
    @Setting("visual tempo α: the fast clip is α times denser; must divide tau", .range(min: 1, max: nil)) public var alpha = 2
    @Setting("hierarchy depth: 1 = res5, 2 = res4–res5, 3 = res3–res5", .range(min: 1, max: 3)) public var D = 3
    @Setting("frame stride of the slow clip", .range(min: 1, max: nil)) public var tau = 8
    @Setting("frames spanned by a clip (slow frames = window / tau)", .range(min: 1, max: nil)) public var window = 64
    @Setting("negatives drawn from the banks per positive (default: the preset's)", .range(min: 1, max: nil)) public var negatives: Int? = nil
    @Setting("projection heads") public var projection = ProjectionKind.mlp
    @Setting("softmax temperature of the contrastive loss", .positive) public var temperature = 0.07
    @Setting("training augmentation") public var augment = AugmentName.standard
    @Setting("slow/fast pairing: instance (one video at two tempi, VTHCL) or shuffled (the fast clip from another video, redrawn each epoch: the negative control)")
    public var pairing = ClipPairing.instance
    @Setting("epochs between kNN monitors (0: only after the last)", .range(min: 0, max: nil)) public var knnEvery = 1
    @Setting("square crop side in pixels (default: the preset's)", .range(min: minimumCrop, max: nil)) public var crop: Int? = nil
    @Setting("threads preparing batches", .range(min: 1, max: 64)) public var workers = 1

    public init() {}

    public mutating func finish() throws {
        let p = PretrainPreset.named(preset.rawValue, depth: backbone.depth)
        batch = batch ?? p.batch
        width = width ?? p.widthMultiplier
        fastWidth = fastWidth ?? width
        negatives = negatives ?? p.negatives
        crop = crop ?? p.crop
        guard tau % alpha == 0 else { throw ConfigurationIssue(key: "alpha", "α = \(alpha) must divide tau = \(tau)") }
        guard window % tau == 0 else { throw ConfigurationIssue(key: "window", "window \(window) must be a multiple of tau = \(tau)") }
    }
}

/// `supervised` (the paper's Kinetics initialisation) and `finetune` (UCF-101 / HMDB-51):
/// the slow encoder with a linear classifier, tested with `clips` × `crops` views a video.
public struct ClassifierConfiguration: StageConfiguration {
    @Setting("encoder (the slow pathway)") public var backbone = Backbone.r18
    @Setting("seed of every random stream of the stage", .range(min: 0, max: nil)) public var seed = 0
    @Setting("training epochs", .range(min: 1, max: nil)) public var epochs = 100
    @Setting("clips per step", .range(min: 1, max: nil)) public var batch = 64
    @Setting("learning rate (step schedule, ÷10 at each milestone)", .positive) public var lr = 0.1
    @Setting("epochs at which the learning rate drops ÷10, increasing", .range(min: 0, max: nil)) public var milestones = [40.0, 80.0]
    @Setting("SGD weight decay", .range(min: 0, max: nil)) public var weightDecay = 1e-4
    @Setting("square crop side in pixels (default: the paper's, 112 for r18 and 224 for r50)", .range(min: minimumCrop, max: nil)) public var crop: Int? = nil
    @Setting("channel-width multiplier of the encoder", .positive) public var width = 1.0
    @Setting("frames per clip", .range(min: 1, max: nil)) public var frames = 8
    @Setting("frame stride within a clip", .range(min: 1, max: nil)) public var stride = 8
    @Setting("test clips per video, uniformly spread", .range(min: 1, max: nil)) public var clips = 10
    @Setting("test crops per clip (1 = centre, 3 = left/centre/right)", .choices(["1", "3"])) public var crops = 1
    @Setting("dropout before the classifier", .range(min: 0, max: 0.99)) public var dropout = 0.5
    @Setting("training augmentation") public var augment = AugmentName.standard
    @Setting("threads preparing batches", .range(min: 1, max: 64)) public var workers = 1
    @Setting("fraction of each class's labelled training videos used, at least one a class (unset: all)", .range(min: 0, max: 1))
    public var labelFraction: Double? = nil
    @Setting("how the encoder learns: train (every weight, batch-norm batch statistics; the paper's), frozen-bn (every weight, batch norm on the initialisation's running statistics) or frozen (only the classifier; unset: train)")
    public var encoderMode: EncoderMode? = nil

    public init() {}
    public mutating func finish() throws {
        crop = crop ?? paperCrop(backbone)
        try checkIncreasing(milestones)
        if let f = labelFraction, f <= 0 { throw ConfigurationIssue(key: "label_fraction", "a fraction of the labels must be above 0, got \(f)") }
        // The defaults written out name the same stage as the defaults left out.
        if labelFraction == 1 { labelFraction = nil }
        if encoderMode == .train { encoderMode = nil }
    }
}

/// `detect`: AVA v2.2 action detection (paper §5.4.1), frame mAP at IoU 0.5.
public struct DetectConfiguration: StageConfiguration {
    @Setting("encoder (the slow pathway, res5 dilated)") public var backbone = Backbone.r18
    @Setting("seed of every random stream of the stage", .range(min: 0, max: nil)) public var seed = 0
    @Setting("training epochs", .range(min: 1, max: nil)) public var epochs = 24
    @Setting("keyframes per step", .range(min: 1, max: nil)) public var batch = 16
    @Setting("learning rate (step schedule, ÷10 at each milestone)", .positive) public var lr = 0.1
    @Setting("epochs at which the learning rate drops ÷10, increasing", .range(min: 0, max: nil)) public var milestones = [16.0, 22.0]
    @Setting("SGD weight decay", .range(min: 0, max: nil)) public var weightDecay = 1e-4
    @Setting("square crop side in pixels (default: the paper's, 112 for r18 and 224 for r50)", .range(min: minimumCrop, max: nil)) public var crop: Int? = nil
    @Setting("channel-width multiplier of the encoder", .positive) public var width = 1.0
    @Setting("frames per clip", .range(min: 1, max: nil)) public var frames = 8
    @Setting("frame stride within a clip", .range(min: 1, max: nil)) public var stride = 8
    @Setting("test person proposals scoring at least this are kept", .range(min: 0, max: 1)) public var proposalScore = 0.8
    @Setting("dropout before the classifier", .range(min: 0, max: 0.99)) public var dropout = 0.5

    public init() {}
    public mutating func finish() throws {
        crop = crop ?? paperCrop(backbone)
        try checkIncreasing(milestones)
    }
}

/// `anticipate`: Epic-Kitchens-55 action anticipation (paper §5.4.2).
public struct AnticipateConfiguration: StageConfiguration {
    @Setting("encoder (the slow pathway)") public var backbone = Backbone.r18
    @Setting("seed of every random stream of the stage", .range(min: 0, max: nil)) public var seed = 0
    @Setting("training epochs", .range(min: 1, max: nil)) public var epochs = 80
    @Setting("segments per step", .range(min: 1, max: nil)) public var batch = 16
    @Setting("learning rate (step schedule, ÷10 at each milestone)", .positive) public var lr = 0.1
    @Setting("epochs at which the learning rate drops ÷10, increasing", .range(min: 0, max: nil)) public var milestones = [40.0, 60.0]
    @Setting("SGD weight decay", .range(min: 0, max: nil)) public var weightDecay = 1e-4
    @Setting("square crop side in pixels (default: the paper's, 112 for r18 and 224 for r50)", .range(min: minimumCrop, max: nil)) public var crop: Int? = nil
    @Setting("channel-width multiplier of the encoder", .positive) public var width = 1.0
    @Setting("frames per observed clip", .range(min: 1, max: nil)) public var frames = 8
    @Setting("observation time τ_o in seconds", .positive) public var observe = 1.0
    @Setting("anticipation time τ_a in seconds", .range(min: 0, max: nil)) public var anticipate = 1.0
    @Setting("dropout before the classifiers", .range(min: 0, max: 0.99)) public var dropout = 0.5

    public init() {}
    public mutating func finish() throws {
        crop = crop ?? paperCrop(backbone)
        try checkIncreasing(milestones)
    }
}

/// `icm`: Instance Correspondence Maps (paper Fig. 4) of a pretrained model.
public struct ICMConfiguration: StageConfiguration {
    @Setting("crop side when the checkpoint does not record its own", .range(min: minimumCrop, max: nil)) public var crop = 32
    @Setting("test videos rendered as figures", .range(min: 1, max: 64)) public var videos = 4
    @Setting("test videos scored for object mass (when object boxes exist; at least `videos`)", .range(min: 0, max: nil)) public var massVideos = 40

    public init() {}
}

/// `probe`: frozen-feature kNN and linear probes of an encoder (one centre clip a video).
public struct ProbeConfiguration: StageConfiguration {
    @Setting("encoder (the slow pathway)") public var backbone = Backbone.r18
    @Setting("seed of every random stream of the stage", .range(min: 0, max: nil)) public var seed = 0
    @Setting("square crop side in pixels (default: the paper's, 112 for r18 and 224 for r50)", .range(min: minimumCrop, max: nil)) public var crop: Int? = nil
    @Setting("channel-width multiplier of the encoder", .positive) public var width = 1.0
    @Setting("frames per clip", .range(min: 1, max: nil)) public var frames = 8
    @Setting("frame stride within a clip", .range(min: 1, max: nil)) public var stride = 8
    @Setting("neighbours of the kNN probe (capped by the training set)", .range(min: 1, max: nil)) public var k = 200
    @Setting("full-batch epochs of the linear probe", .range(min: 1, max: nil)) public var epochs = 100
    @Setting("learning rate of the linear probe", .positive) public var lr = 0.1

    public init() {}
    public mutating func finish() throws { crop = crop ?? paperCrop(backbone) }
}

/// The paper's downstream crop (SPEC): 112 pixels for R18, 224 for R50.
func paperCrop(_ backbone: Backbone) -> Int { backbone == .r50 ? 224 : 112 }

func checkIncreasing(_ milestones: [Double], key: String = "milestones") throws {
    for (a, b) in zip(milestones, milestones.dropFirst()) where b <= a {
        throw ConfigurationIssue(key: key, "must be increasing, got \(milestones.map { $0 == $0.rounded() ? "\(Int($0))" : "\($0)" })")
    }
}
