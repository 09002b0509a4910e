import Datasets
import Foundation
import Media
import Networks
@testable import Protocols
import Tensors
import XCTest

/// A stand-in for a killed process: thrown from a progress handler.
struct Interrupt: Error {}

func tinyEncoder(seed: UInt64, dilation: Int = 1) -> ResNet3D {
    var rng = SeedStream(seed, "encoder.init").generator()
    return ResNet3D(.slowFast(depth: 18, pathway: .slow, widthMultiplier: 0.125, res5Dilation: dilation), rng: &rng)
}

/// AVA-like movies: 30 fps, keyframes every second with one person box labelled by class.
func avaRecords(prefix: String, count: Int) -> ([VideoRecord], [String: Frames]) {
    var records: [VideoRecord] = [], store: [String: Frames] = [:]
    for v in 0..<count {
        let label = v % 2
        let id = "\(prefix)\(v)"
        store[id] = InMemoryVideos.frames(label: label, variant: v, count: 90)
        let keyframes = (0..<2).map { k -> Datasets.AVAKeyframe in
            let box = Datasets.AVABox(x1: 0.1, y1: 0.2, x2: 0.6, y2: 0.8, actions: [label + 1], personID: 0)
            var proposal = box; proposal.score = 0.9; proposal.actions = []
            return Datasets.AVAKeyframe(second: 902 + k, frameIndex: 30 + 30 * k, boxes: [box], proposals: [proposal])
        }
        records.append(VideoRecord(id: id, source: "memory:\(id)", isFrameFolder: true, fps: 30, keyframes: keyframes))
    }
    return (records, store)
}

/// Epic-like videos at 10 fps with segments starting after the 2 s observation window.
func epicRecords(prefix: String, count: Int) -> ([VideoRecord], [String: Frames]) {
    var records: [VideoRecord] = [], store: [String: Frames] = [:]
    for v in 0..<count {
        let id = "\(prefix)\(v)"
        store[id] = InMemoryVideos.frames(label: v % 2, variant: v, count: 40, fps: 10)
        let segments = (0..<2).map { k in
            EpicSegment(uid: v * 10 + k, narration: "n", start: 2.5 + Double(k), stop: 3.2 + Double(k), startFrame: 26 + 10 * k,
                        stopFrame: 33 + 10 * k, verb: v % 2, noun: (v + k) % 3)
        }
        records.append(VideoRecord(id: id, source: "memory:\(id)", isFrameFolder: true, fps: 10, segments: segments))
    }
    return (records, store)
}

final class ProcedureTests: XCTestCase {
    func tempDir() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("procedures-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        return dir
    }

    /// Runs `body` to the end, then again with an interruption at (epoch, step) followed by a
    /// rerun; the two final checkpoints must be byte-identical.
    func assertResumeIsBitIdentical(at point: (Int, Int), file: StaticString = #filePath, line: UInt = #line,
                                    _ body: (URL, ProgressHandler) throws -> Void) throws {
        // Separate folders: each run keeps its epoch log beside its checkpoint.
        let reference = try tempDir().appendingPathComponent("reference.safetensors")
        let resumed = try tempDir().appendingPathComponent("resumed.safetensors")
        try body(reference, { _ in })
        var stopped = false
        XCTAssertThrowsError(try body(resumed, { p in
            if (p.epoch, p.step) == point { stopped = true; throw Interrupt() }
        }), file: file, line: line)
        XCTAssertTrue(stopped, "the run never reached \(point)", file: file, line: line)
        let (_, meta) = try Safetensors.read(resumed)
        XCTAssertEqual(meta["epoch"], "\(point.0)", "the interrupted run kept its last epoch's checkpoint", file: file, line: line)
        try body(resumed, { _ in })
        XCTAssertEqual(try Data(contentsOf: resumed), try Data(contentsOf: reference), "resumed run differs", file: file, line: line)
        // The epoch log (mean loss and last learning rate of every epoch) too, byte for byte.
        let log = try EpochLog.load(EpochLog.url(besideCheckpoint: reference))
        XCTAssertFalse(log.values.isEmpty, "the trainer kept an epoch log", file: file, line: line)
        XCTAssertTrue(log.values.allSatisfy { $0["loss"] != nil && $0["lr"] != nil }, "\(log.values)", file: file, line: line)
        XCTAssertEqual(log.values.map { $0["epoch"] }, (0..<log.values.count).map { Double($0) }, file: file, line: line)
        XCTAssertEqual(try Data(contentsOf: EpochLog.url(besideCheckpoint: resumed)), try Data(contentsOf: EpochLog.url(besideCheckpoint: reference)),
                       "the resumed run's epoch log differs", file: file, line: line)
    }

    func fineTuneSettings(epochs: Int = 3) -> FineTuning.Settings {
        var s = FineTuning.Settings(schedule: ClassifierSchedule(epochs: epochs, batchSize: 4, learningRate: 0.01, milestones: [Double(epochs - 1)]),
                                    crop: 32)
        s.frames = 4; s.stride = 2; s.clips = 2; s.dropout = 0
        return s
    }

    func testFineTuningLearnsAndResumesBitIdentically() throws {
        let (train, a) = InMemoryVideos.labelled(classes: 2, perClass: 6, prefix: "train")
        let (test, b) = InMemoryVideos.labelled(classes: 2, perClass: 3, prefix: "test")
        let provider = FrameProvider(spec: DecodeSpec(shortSide: nil), frames: a.merging(b) { $1 })
        let url = try tempDir().appendingPathComponent("ft.safetensors")
        var losses: [Int: [Double]] = [:]
        let r = try FineTuning.run(encoder: tinyEncoder(seed: 1), train: train, test: test, classes: 2, provider: provider,
                                   settings: fineTuneSettings(epochs: 6), seed: 1, checkpointURL: url,
                                   progress: { p in losses[p.epoch, default: []].append(p.values.first { $0.0 == "loss" }!.1) })
        XCTAssertEqual(r.testVideos, 6)
        XCTAssertEqual(r.accuracy.video.top1.hits.count, 6, "per-video outcomes are recorded")
        XCTAssertEqual(r.accuracy.video.top1.perItem.reduce(0, +) / 6, r.accuracy.video.top1.fraction, accuracy: 1e-12)
        let mean = { (e: Int) in losses[e]!.reduce(0, +) / Double(losses[e]!.count) }
        XCTAssertLessThan(mean(5), mean(0), "the training loss falls: \(losses)")
        try assertResumeIsBitIdentical(at: (1, 1)) { url, progress in
            _ = try FineTuning.run(encoder: tinyEncoder(seed: 2), train: train, test: test, classes: 2, provider: provider,
                                   settings: fineTuneSettings(), seed: 2, checkpointURL: url, progress: progress)
        }
    }

    /// The encoder modes: `.train` changes weights and running statistics, `.frozenBatchNorm`
    /// the weights but not the running statistics, `.frozen` neither (the classifier learns in all three).
    func testEncoderModesChangeWhatTheyShould() throws {
        let (train, a) = InMemoryVideos.labelled(classes: 2, perClass: 4, prefix: "train")
        let (test, b) = InMemoryVideos.labelled(classes: 2, perClass: 1, prefix: "test")
        let provider = FrameProvider(spec: DecodeSpec(shortSide: nil), frames: a.merging(b) { $1 })
        let before = tinyEncoder(seed: 4)
        let weights = { (e: ResNet3D) in e.namedParameters.flatMap { $0.1.value.scalars } }
        let statistics = { (e: ResNet3D) in e.namedBuffers.flatMap { $0.1.value.scalars } }
        for mode in EncoderMode.allCases {
            var settings = fineTuneSettings(epochs: 2)
            settings.schedule.encoderMode = mode
            let r = try FineTuning.run(encoder: tinyEncoder(seed: 4), train: train, test: test, classes: 2, provider: provider,
                                       settings: settings, seed: 4, checkpointURL: try tempDir().appendingPathComponent("ft.safetensors"))
            XCTAssertEqual(weights(r.model.encoder) == weights(before), mode == .frozen, "\(mode): encoder weights")
            XCTAssertEqual(statistics(r.model.encoder) == statistics(before), mode != .train, "\(mode): running statistics")
            XCTAssertEqual(r.model.trainableParameters(mode).count, mode == .frozen ? 2 : r.model.namedParameters.count)
        }
    }

    /// A label fraction keeps max(1, round(f·n)) videos of each class, a subset in the
    /// records' order, fixed by the seed and different across seeds.
    func testLabelledSubsetIsStratified() {
        let (records, _) = InMemoryVideos.labelled(classes: 3, perClass: 8, prefix: "train")
        let quarter = FineTuning.labelledSubset(records, fraction: 0.25, seed: 1)
        XCTAssertEqual(Dictionary(grouping: quarter, by: { $0.label! }).mapValues(\.count), [0: 2, 1: 2, 2: 2])
        let ids = records.map(\.id)
        XCTAssertEqual(quarter.map(\.id), ids.filter(Set(quarter.map(\.id)).contains), "in the records' order")
        XCTAssertEqual(quarter.map(\.id), FineTuning.labelledSubset(records, fraction: 0.25, seed: 1).map(\.id))
        XCTAssertNotEqual(quarter.map(\.id), FineTuning.labelledSubset(records, fraction: 0.25, seed: 2).map(\.id))
        XCTAssertEqual(FineTuning.labelledSubset(records, fraction: 0.01, seed: 1).count, 3, "at least one a class")
        XCTAssertEqual(FineTuning.labelledSubset(records, fraction: 1, seed: 1).map(\.id), ids)
    }

    func testCheckpointOfAnotherConfigurationIsRefused() throws {
        let (train, a) = InMemoryVideos.labelled(classes: 2, perClass: 4, prefix: "train")
        let (test, b) = InMemoryVideos.labelled(classes: 2, perClass: 1, prefix: "test")
        let provider = FrameProvider(spec: DecodeSpec(shortSide: nil), frames: a.merging(b) { $1 })
        let url = try tempDir().appendingPathComponent("ft.safetensors")
        _ = try FineTuning.run(encoder: tinyEncoder(seed: 1), train: train, test: test, classes: 2, provider: provider,
                               settings: fineTuneSettings(epochs: 1), seed: 1, checkpointURL: url)
        var other = fineTuneSettings(epochs: 1)
        other.schedule.learningRate = 0.05
        XCTAssertThrowsError(try FineTuning.run(encoder: tinyEncoder(seed: 1), train: train, test: test, classes: 2, provider: provider,
                                                settings: other, seed: 1, checkpointURL: url)) { error in
            XCTAssertTrue("\(error)".contains("another configuration") && "\(error)".contains(url.path), "\(error)")
        }
        XCTAssertThrowsError(try FineTuning.run(encoder: tinyEncoder(seed: 1), train: train, test: test, classes: 2, provider: provider,
                                                settings: fineTuneSettings(epochs: 1), seed: 7, checkpointURL: url)) { error in
            XCTAssertTrue("\(error)".contains("seed"), "\(error)")
        }
    }

    func testFrozenProbesSeparateEasyClasses() throws {
        let (train, a) = InMemoryVideos.labelled(classes: 2, perClass: 6, prefix: "train")
        let (test, b) = InMemoryVideos.labelled(classes: 2, perClass: 3, prefix: "test")
        let provider = FrameProvider(spec: DecodeSpec(shortSide: nil), frames: a.merging(b) { $1 })
        var settings = FrozenFeatureProbe.Settings(crop: 32)
        settings.frames = 4; settings.stride = 2; settings.linear = LinearProbe(epochs: 50, learningRate: 0.1)
        let r = try FrozenFeatureProbe.run(encoder: tinyEncoder(seed: 3), train: train, test: test, classes: 2, provider: provider,
                                           settings: settings, seed: 3)
        XCTAssertEqual(r.testVideos, 6)
        XCTAssertEqual(r.linear.hits.count, 6)
        XCTAssertGreaterThanOrEqual(r.linear.fraction, 0.5, "\(r.linear)")
        let again = try FrozenFeatureProbe.run(encoder: tinyEncoder(seed: 3), train: train, test: test, classes: 2, provider: provider,
                                               settings: settings, seed: 3)
        XCTAssertEqual(again.linear.hits, r.linear.hits, "deterministic")
        XCTAssertEqual(again.knn.top1.hits, r.knn.top1.hits)
    }

    func testAVADetectionScoresFrameMAPAndResumesBitIdentically() throws {
        let (train, a) = avaRecords(prefix: "tr", count: 4), (test, b) = avaRecords(prefix: "te", count: 2)
        let provider = FrameProvider(spec: DecodeSpec(shortSide: nil), frames: a.merging(b) { $1 })
        var settings = AVADetection.Settings(schedule: ClassifierSchedule(epochs: 2, batchSize: 2, learningRate: 0.1, milestones: [1]), crop: 32)
        settings.frames = 4; settings.stride = 2; settings.dropout = 0
        let url = try tempDir().appendingPathComponent("ava.safetensors")
        let r = try AVADetection.run(encoder: tinyEncoder(seed: 4, dilation: 2), train: train, test: test, classIDs: [1, 2],
                                     provider: provider, settings: settings, seed: 4, checkpointURL: url)
        XCTAssertEqual(r.trainKeyframes, 8)
        XCTAssertEqual(r.testKeyframes, 4)
        XCTAssertEqual(r.detections, 4 * 2, "one proposal a keyframe, scored for each class")
        XCTAssertTrue((0...1).contains(r.frameMAP.meanAP), "\(r.frameMAP.meanAP)")
        // The test videos are the units, and with every weight 1 they give the mAP back exactly.
        XCTAssertEqual(r.frameMAP.units.videos, test.map(\.id))
        XCTAssertEqual(r.frameMAP.units.meanAP(weights: [1, 1]), r.frameMAP.meanAP)
        try assertResumeIsBitIdentical(at: (1, 1)) { url, progress in
            _ = try AVADetection.run(encoder: tinyEncoder(seed: 5, dilation: 2), train: train, test: test, classIDs: [1, 2],
                                     provider: provider, settings: settings, seed: 5, checkpointURL: url, progress: progress)
        }
    }

    func testAnticipationScoresVerbsAndNounsAndResumesBitIdentically() throws {
        let (train, a) = epicRecords(prefix: "tr", count: 4), (test, b) = epicRecords(prefix: "te", count: 2)
        let provider = FrameProvider(spec: DecodeSpec(shortSide: nil), frames: a.merging(b) { $1 })
        var settings = Anticipation.Settings(schedule: ClassifierSchedule(epochs: 2, batchSize: 2, learningRate: 0.1, milestones: [1]), crop: 32)
        settings.frames = 4; settings.dropout = 0
        let url = try tempDir().appendingPathComponent("epic.safetensors")
        let r = try Anticipation.run(encoder: tinyEncoder(seed: 6), train: train, test: test, verbs: 2, nouns: 3,
                                     provider: provider, settings: settings, seed: 6, checkpointURL: url)
        XCTAssertEqual(r.trainSegments, 8)
        XCTAssertEqual(r.testSegments, 4)
        XCTAssertEqual(r.accuracy.verbTop1.total, 4)
        XCTAssertEqual(r.accuracy.verbRecall5.hits, r.accuracy.verbTop5.hits)
        XCTAssertEqual(r.accuracy.nounRecall5.count, 4)
        try assertResumeIsBitIdentical(at: (1, 0)) { url, progress in
            _ = try Anticipation.run(encoder: tinyEncoder(seed: 7), train: train, test: test, verbs: 2, nouns: 3,
                                     provider: provider, settings: settings, seed: 7, checkpointURL: url, progress: progress)
        }
    }
}

final class BatchedEvaluationTests: XCTestCase {
    /// Batches keep the items' order, hold at least `batchClips` clips except the last, and
    /// each item whole.
    func testBatchesConcatenateItemsInOrder() throws {
        let items = [1, 3, 2, 1, 4].enumerated().map { i, n in Tensor(shape: [n, 2], scalars: Array(repeating: Float(i), count: 2 * n)) }
        var next = items.makeIterator()
        var seen: [[Int]] = [], values: [Float] = []
        try BatchedEvaluation.run(batchClips: 4, next: { next.next() }, forward: { batch, counts in
            XCTAssertEqual(batch.shape, [counts.reduce(0, +), 2])
            seen.append(counts); values += batch.scalars
        })
        XCTAssertEqual(seen, [[1, 3], [2, 1, 4]])
        XCTAssertEqual(values, items.flatMap(\.scalars))
        var none = [Tensor]().makeIterator()
        try BatchedEvaluation.run(next: { none.next() }, forward: { _, _ in XCTFail("no items, no batch") })
    }

    /// What batching relies on: in evaluation mode a clip's features do not depend on the
    /// other clips of its batch.
    func testEvaluationFeaturesOfABatchEqualThoseOfEachClip() {
        let encoder = tinyEncoder(seed: 3)
        var rng = RandomGenerator(seed: 11)
        let clips = (0..<5).map { _ in Tensor.randomNormal([1, 3, 4, 16, 16], using: &rng) }
        let batched = withoutGradient { globalAvgPool(encoder.features(Variable(Tensor.concatenateBatches(clips)), training: false)[3]).value }
        let single = Tensor.concatenateBatches(clips.map { c in
            withoutGradient { globalAvgPool(encoder.features(Variable(c), training: false)[3]).value }
        })
        assertClose(batched, single, rtol: 1e-5, atol: 1e-6)
    }
}
