import Datasets
import Foundation
import Media
import Networks
import Protocols
import Tensors
@testable import VTHCL
import XCTest

final class PretrainingProcedureTests: XCTestCase {
    func tempDir() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("pretraining-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        return dir
    }

    static func settings() -> Pretraining.Settings {
        var c = VTHCLConfig()
        c.widthMultiplier = 0.125; c.slowFrames = 2; c.tau = 4; c.alpha = 2; c.negatives = 8; c.embeddingDimension = 16
        var s = PretrainSchedule(epochs: 3, batchSize: 4)
        s.baseLearningRate = 0.5
        var p = Pretraining.Settings(config: c, schedule: s, crop: 32)
        p.knnEvery = 1
        return p
    }

    struct Interrupt: Error {}

    /// The procedure on in-memory videos: monitors and the epoch log come out, and a run
    /// interrupted mid-epoch and rerun ends with the uninterrupted run's checkpoint, byte for byte.
    func testPretrainingMonitorsAndResumesBitIdentically() throws {
        let (train, a) = InMemoryVideos.labelled(classes: 2, perClass: 4, prefix: "train")
        let (test, b) = InMemoryVideos.labelled(classes: 2, perClass: 2, prefix: "test")
        let provider = FrameProvider(spec: DecodeSpec(shortSide: nil), frames: a.merging(b) { $1 })
        let reference = try tempDir(), resumed = try tempDir()
        var lines: [String] = []
        let r = try Pretraining.run(train: train, test: test, classes: 2, provider: provider, settings: Self.settings(), seed: 9,
                                    directory: reference, monitor: { lines.append($0) })
        XCTAssertEqual(r.log.values.count, 3)
        XCTAssertEqual(lines.count, 3, "a kNN monitor line every epoch")
        XCTAssertEqual(r.bankKNN?.total, 4)
        XCTAssertEqual(r.frozen?.head.hits.count, 4)
        XCTAssertNotNil(r.untrained)
        XCTAssertThrowsError(try Pretraining.run(train: train, test: test, classes: 2, provider: provider, settings: Self.settings(), seed: 9,
                                                 directory: resumed, progress: { p in if p.epoch == 1 && p.step == 1 { throw Interrupt() } }))
        let again = try Pretraining.run(train: train, test: test, classes: 2, provider: provider, settings: Self.settings(), seed: 9, directory: resumed)
        XCTAssertEqual(try Data(contentsOf: resumed.appendingPathComponent("checkpoint.safetensors")),
                       try Data(contentsOf: reference.appendingPathComponent("checkpoint.safetensors")))
        XCTAssertEqual(again.bankKNN?.hits, r.bankKNN?.hits)
        XCTAssertEqual(again.log.values.count, 3, "the epochs before the interruption stay in the log")
    }

    /// The negative control's pairing: every epoch a derangement (no video is its own
    /// partner), redrawn per epoch and fixed by the seed; a sample keeps its own slow clip and
    /// index and takes its partner's fast clip, exactly as the partner's own pair draws it.
    func testShuffledPairingTakesTheFastClipOfAnotherVideo() throws {
        let (train, frames) = InMemoryVideos.labelled(classes: 2, perClass: 4, prefix: "train")
        let builder = SampleBuilder(provider: FrameProvider(spec: DecodeSpec(shortSide: nil), frames: frames),
                                    augment: AugmentConfig(size: 16))
        let plain = DatasetPairs(records: train, builder: builder, batchSize: 4, window: 16, tau: 4, alpha: 2)
        let shuffled = DatasetPairs(records: train, builder: builder, batchSize: 4, window: 16, tau: 4, alpha: 2, pairing: .shuffled)
        let p0 = shuffled.partners(seed: 3, epoch: 0), p1 = shuffled.partners(seed: 3, epoch: 1)
        XCTAssertEqual(p0.sorted(), Array(0..<train.count))
        XCTAssertTrue(p0.enumerated().allSatisfy { $0.offset != $0.element }, "\(p0)")
        XCTAssertNotEqual(p0, p1)
        XCTAssertEqual(p0, shuffled.partners(seed: 3, epoch: 0))
        for i in 0..<train.count {
            let s = try shuffled.sample(seed: 3, epoch: 0, instance: i), own = try plain.sample(seed: 3, epoch: 0, instance: i)
            XCTAssertEqual(s.index, i)
            XCTAssertEqual(s.slow.scalars, own.slow.scalars)
            XCTAssertNotEqual(s.fast.scalars, own.fast.scalars)
            let partner = try builder.pretrainPair(train[p0[i]], index: p0[i], window: 16, tau: 4, alpha: 2,
                                                   rng: RandomGeneratorBox.forItem(SeedStream(3, "pretrain.partner"), epoch: 0, index: p0[i]))
            XCTAssertEqual(s.fast.scalars, partner.fast.scalars)
        }
    }

    /// The epoch log of a run interrupted within an epoch (after a mid-epoch checkpoint) or
    /// at the epoch's end (in its kNN monitor, between the last step and the checkpoint)
    /// equals the uninterrupted run's: resumed epochs average all their steps, and no epoch
    /// is lost between its checkpoint and its log row.
    func testEpochLogOfAnInterruptedRunEqualsTheUninterrupted() throws {
        let (train, a) = InMemoryVideos.labelled(classes: 2, perClass: 4, prefix: "train")
        let (test, b) = InMemoryVideos.labelled(classes: 2, perClass: 2, prefix: "test")
        let provider = FrameProvider(spec: DecodeSpec(shortSide: nil), frames: a.merging(b) { $1 })
        var s = Self.settings()
        s.schedule.checkpointEverySteps = 1
        let reference = try tempDir()
        let r = try Pretraining.run(train: train, test: test, classes: 2, provider: provider, settings: s, seed: 9, directory: reference)
        let logURL = { (dir: URL) in dir.appendingPathComponent("epochs.json") }
        // Mid-epoch: epoch 1 stops after its first step's checkpoint.
        let midEpoch = try tempDir()
        XCTAssertThrowsError(try Pretraining.run(train: train, test: test, classes: 2, provider: provider, settings: s, seed: 9,
                                                 directory: midEpoch, progress: { p in if p.epoch == 1 && p.step == 1 { throw Interrupt() } }))
        let resumed = try Pretraining.run(train: train, test: test, classes: 2, provider: provider, settings: s, seed: 9, directory: midEpoch)
        XCTAssertEqual(resumed.log.values, r.log.values)
        XCTAssertEqual(try Data(contentsOf: logURL(midEpoch)), try Data(contentsOf: logURL(reference)))
        // At the epoch's end: epoch 1's monitor fails after its last step.
        let atEnd = try tempDir()
        var calls = 0
        XCTAssertThrowsError(try Pretraining.run(train: train, test: test, classes: 2, provider: provider, settings: s, seed: 9,
                                                 directory: atEnd, monitor: { _ in calls += 1; if calls == 2 { throw Interrupt() } }))
        let rerun = try Pretraining.run(train: train, test: test, classes: 2, provider: provider, settings: s, seed: 9, directory: atEnd)
        XCTAssertEqual(rerun.log.values, r.log.values)
        XCTAssertEqual(try Data(contentsOf: atEnd.appendingPathComponent("checkpoint.safetensors")),
                       try Data(contentsOf: reference.appendingPathComponent("checkpoint.safetensors")))
    }

    /// ICM evaluation through a frame provider: one strip per figure and an object-mass score
    /// for every video with boxes; a video without boxes is an error naming it.
    func testICMEvaluationRendersAndScores() throws {
        var c = Self.settings().config
        c.projection = .conv
        var rng = RandomGenerator(seed: 1)
        let model = VTHCLModel(c, rng: &rng)
        let (records, frames) = InMemoryVideos.labelled(classes: 1, perClass: 3, prefix: "test")
        let provider = FrameProvider(spec: DecodeSpec(shortSide: nil), frames: frames)
        var boxes: [String: [ObjectBox]] = [:]
        for r in records { boxes[ICMEvaluation.relativePath(r.source, root: "/nowhere")] = (0..<8).map { ObjectBox(frame: $0, x1: 0.2, y1: 0.2, x2: 0.6, y2: 0.6) } }
        let r = try ICMEvaluation.run(model: model, records: records, provider: provider, crop: 32, figures: 2, boxes: boxes, root: "/nowhere")
        XCTAssertEqual(r.figures.count, 2)
        XCTAssertEqual(r.ratios.count, 3)
        XCTAssertTrue(r.ratios.allSatisfy { $0.isFinite && $0 > 0 }, "\(r.ratios)")
        XCTAssertGreaterThan(r.mapRangeMean, 0)
        boxes[ICMEvaluation.relativePath(records[1].source, root: "/nowhere")] = nil
        XCTAssertThrowsError(try ICMEvaluation.run(model: model, records: records, provider: provider, crop: 32, figures: 1,
                                                   boxes: boxes, root: "/nowhere")) { XCTAssertTrue("\($0)".contains(records[1].id), "\($0)") }
    }
}

/// Fine-tuning starts from the pretrained slow encoder: after the suite's initialisation
/// (`ClassifierTrainer.initialise` from the checkpoint's `slow.*`), the classifier's encoder
/// holds the checkpoint's every parameter and running statistic, and its first forward pass
/// (evaluation mode) gives the pretrained network's features exactly.
final class FineTuningStartTests: XCTestCase {
    func testFineTuningStartsFromThePretrainedSlowEncoder() throws {
        let (train, a) = InMemoryVideos.labelled(classes: 2, perClass: 4, prefix: "train")
        let (test, b) = InMemoryVideos.labelled(classes: 2, perClass: 1, prefix: "test")
        let provider = FrameProvider(spec: DecodeSpec(shortSide: nil), frames: a.merging(b) { $1 })
        var settings = PretrainingProcedureTests.settings()
        settings.schedule.epochs = 2
        settings.knnEvery = 0
        let c = settings.config
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("finetune-start-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        let r = try Pretraining.run(train: train, test: test, classes: 2, provider: provider, settings: settings, seed: 3, directory: dir)
        let (pretrained, _) = try Pretrainer.loadModel(r.checkpointURL)

        // As the suite builds a fine-tuning encoder: another seed's random init, then the checkpoint.
        var rng = SeedStream(7, "encoder.init").generator()
        let encoder = ResNet3D(.slowFast(depth: 18, pathway: .slow, widthMultiplier: 0.125), rng: &rng)
        let clip = Variable(try SampleBuilder(provider: provider, augment: .test(size: 32))
            .testClips(test[0], index: 0, clips: 1, crops: 1, frames: c.slowFrames, stride: c.tau).clip)
        let before = withoutGradient { encoder.features(clip, training: false) }.last!.value
        try ClassifierTrainer.initialise(encoder, from: .checkpoint(r.checkpointURL, prefix: VTHCLModel.slowEncoderPrefix))
        var headRNG = SeedStream(7, "classifier.head").generator()
        let classifier = ClipClassifier(encoder: encoder, classes: 2, dropout: 0, rng: &headRNG)

        let loaded = Dictionary(uniqueKeysWithValues: classifier.encoder.namedState.map { ($0.0, $0.1.value) })
        let expected = pretrained.slow.namedState
        XCTAssertEqual(Set(loaded.keys), Set(expected.map(\.0)))
        for (name, v) in expected { XCTAssertEqual(loaded[name], v.value, name) }
        let theirs = withoutGradient { pretrained.slow.features(clip, training: false) }.map(\.value)
        let ours = withoutGradient { classifier.encoder.features(clip, training: false) }.map(\.value)
        XCTAssertEqual(ours, theirs, "the first forward pass gives the checkpoint's features")
        XCTAssertNotEqual(before, theirs.last!, "a control: the random initialisation's features differ")
        // Training mode (batch statistics of the same batch) too: the first step's forward pass.
        let theirsTraining = withoutGradient { pretrained.slow.features(clip, training: true) }.map(\.value)
        let oursTraining = withoutGradient { classifier.encoder.features(clip, training: true) }.map(\.value)
        XCTAssertEqual(oursTraining, theirsTraining)
    }
}
