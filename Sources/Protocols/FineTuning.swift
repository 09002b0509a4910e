import Datasets
import Foundation
import Networks
import Tensors

/// A procedure stopped by its data or settings (too few items for a batch, nothing to test).
public struct ProcedureError: Error, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Recognition fine-tuning (paper §5.2, SPEC §3.1) as a procedure: the slow encoder with a
/// linear classifier trained on a labelled split, then tested with `clips` × `crops` views a
/// video (softmax averaged). Configuration and data in, accuracies out.
public enum FineTuning {
    public struct Settings: Sendable {
        public var schedule: ClassifierSchedule
        public var crop: Int
        public var frames = 8, stride = 8
        public var clips = 10, crops = 1
        public var dropout: Float = 0.5
        /// Training augmentation (its `size` is the crop).
        public var augment: AugmentConfig
        public var workers = 1
        /// Fraction of each class's labelled training videos used (`labelledSubset`); nil: all.
        public var labelFraction: Double? = nil
        public init(schedule: ClassifierSchedule, crop: Int, augment: AugmentConfig? = nil) {
            self.schedule = schedule; self.crop = crop; self.augment = augment ?? AugmentConfig(size: crop)
        }
    }

    public struct Result {
        public var accuracy: RecognitionAccuracy
        public var classes: Int
        /// Labelled training videos used (after `labelFraction`) and test videos.
        public var trainVideos: Int, testVideos: Int
        /// The trained model (its checkpoint is at the run's `checkpointURL`).
        public var model: ClipClassifier
    }

    /// Trains `encoder` (already initialised: random or from a checkpoint) on `train`, tests
    /// on `test`; checkpoints in `checkpointURL` and resumes from it. The classifier head is
    /// drawn from stream `classifier.head`.
    public static func run(encoder: ResNet3D, train: [VideoRecord], test: [VideoRecord], classes: Int,
                           provider: FrameProvider, settings: Settings, seed: UInt64, checkpointURL: URL,
                           progress: ProgressHandler = { _ in }) throws -> Result {
        var trainRecords = train.filter { $0.label != nil }
        let testRecords = test.filter { $0.label != nil }
        if let f = settings.labelFraction { trainRecords = labelledSubset(trainRecords, fraction: f, seed: seed) }
        guard !testRecords.isEmpty else { throw ProcedureError("fine-tuning needs labelled test videos; none were given") }
        var rng = SeedStream(seed, "classifier.head").generator()
        let model = ClipClassifier(encoder: encoder, classes: classes, dropout: settings.dropout, rng: &rng)
        let trainer = ClassifierTrainer(model: model, schedule: settings.schedule, seed: seed, checkpointURL: checkpointURL)
        var augment = settings.augment
        augment.size = settings.crop
        try trainer.train(records: trainRecords, builder: SampleBuilder(provider: provider, augment: augment),
                          frames: settings.frames, stride: settings.stride, workers: settings.workers, progress: progress)
        let accuracy = try trainer.evaluate(records: testRecords, builder: SampleBuilder(provider: provider, augment: .test(size: settings.crop)),
                                            frames: settings.frames, stride: settings.stride, clips: settings.clips,
                                            crops: settings.crops, workers: settings.workers)
        return Result(accuracy: accuracy, classes: classes, trainVideos: trainRecords.count, testVideos: testRecords.count, model: model)
    }

    /// The semi-supervised view of a representation: of each class's labelled videos,
    /// `max(1, round(fraction · n))` drawn without replacement (stream `classifier.labels`,
    /// one draw per class label), returned in `records` order. Unlabelled records are dropped.
    public static func labelledSubset(_ records: [VideoRecord], fraction: Double, seed: UInt64) -> [VideoRecord] {
        precondition(fraction > 0 && fraction <= 1, "a label fraction lies in (0, 1], got \(fraction)")
        var byClass: [Int: [Int]] = [:]
        for (i, r) in records.enumerated() { if let l = r.label { byClass[l, default: []].append(i) } }
        var kept = Set<Int>()
        for (label, members) in byClass {
            let n = max(1, Int((fraction * Double(members.count)).rounded()))
            var rng = SeedStream(seed, "classifier.labels").generator(label)
            kept.formUnion(rng.permutation(members.count).prefix(n).map { members[$0] })
        }
        return records.indices.filter(kept.contains).map { records[$0] }
    }
}
