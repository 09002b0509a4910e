import Datasets
import Foundation
import Networks
import Tensors

/// AVA v2.2 action detection (paper §5.4.1, SPEC §3.3) as a procedure: train the detector on
/// ground-truth boxes of the training keyframes (sigmoid + BCE over the label map's classes),
/// test on person proposals scoring at least `proposalScore`, and score frame mAP at IoU 0.5
/// as the official evaluator computes it.
public enum AVADetection {
    public struct Settings: Sendable {
        public var schedule: ClassifierSchedule
        public var crop: Int
        public var frames = 8, stride = 8
        public var proposalScore = 0.8
        public var dropout: Float = 0.5
        public init(schedule: ClassifierSchedule, crop: Int) { self.schedule = schedule; self.crop = crop }
    }

    public struct Result: Sendable {
        public var frameMAP: AVAFrameMAPResult
        public var trainKeyframes: Int, testKeyframes: Int, detections: Int
    }

    /// `encoder` must have res5 at stride 1, dilation 2. `classIDs`: the label map's action
    /// ids, in logit order. The head is drawn from stream `detect.head`; order, augmentation
    /// and dropout from `detect.order`, `detect.item`, `detect.dropout`.
    public static func run(encoder: ResNet3D, train: [VideoRecord], test: [VideoRecord], classIDs: [Int],
                           provider: FrameProvider, settings: Settings, seed: UInt64, checkpointURL: URL,
                           progress: ProgressHandler = { _ in }) throws -> Result {
        guard !classIDs.isEmpty else { throw ProcedureError("AVA detection needs at least one action class") }
        let column = Dictionary(uniqueKeysWithValues: classIDs.enumerated().map { ($1, $0) })
        var rng = SeedStream(seed, "detect.head").generator()
        let model = ActionDetector(encoder: encoder, classes: classIDs.count, dropout: settings.dropout, rng: &rng)
        let s = settings.schedule, frames = settings.frames, stride = settings.stride
        let items: [(VideoRecord, Datasets.AVAKeyframe)] = train.flatMap { r in r.keyframes.filter { !$0.boxes.isEmpty }.map { (r, $0) } }
        guard items.count >= s.batchSize else {
            throw ProcedureError("\(items.count) training keyframes with boxes cannot fill a batch of \(s.batchSize)")
        }
        let builder = SampleBuilder(provider: provider, augment: AugmentConfig(size: settings.crop))
        let trainer = EpochTrainer(model: model, schedule: s, seed: seed, checkpointURL: checkpointURL,
                                   format: "tempo-bench.ava.v2", name: "detect")
        let fingerprint = TrainingLoop.hash(items.map { "\($0.0.id)@\($0.1.second)" }.joined(separator: ",")
                                            + "|\(classIDs)|\(settings.crop)|\(frames)|\(stride)|\(settings.dropout)")
        // Data-parallel, each rank builds its shards of the batch; the loss is a mean over boxes.
        try trainer.train(steps: items.count / s.batchSize, fingerprint: fingerprint, shard: { epoch, step, part, shard in
            let ids = trainer.order(items.count, epoch: epoch)[(step * s.batchSize + part.lowerBound)..<(step * s.batchSize + part.upperBound)]
            var clips: [Tensor] = [], boxes: [Float] = [], targets: [Float] = []
            for (b, i) in ids.enumerated() {
                let sample = try builder.avaClip(items[i].0, keyframe: items[i].1, frames: frames, stride: stride,
                                                 rng: trainer.itemRNG(epoch: epoch, index: i))
                clips.append(sample.clip)
                for (box, actions) in zip(sample.boxes, sample.actions) {
                    boxes += [Float(b)] + box
                    var t = [Float](repeating: 0, count: classIDs.count)
                    for a in actions { if let c = column[a] { t[c] = 1 } }
                    targets += t
                }
            }
            let r = boxes.count / 5
            var dropRNG = trainer.dropoutRNG(epoch: epoch, step: step, shard: shard)
            guard r > 0 else { return (scale(sum(model.fc.weight), by: 0), 0) }
            let logits = model(Variable(Tensor.stack(clips)), boxes: Tensor(shape: [r, 5], scalars: boxes), training: true, rng: &dropRNG)
            return (binaryCrossEntropyWithLogits(logits: logits, targets: Tensor(shape: [r, classIDs.count], scalars: targets)), r)
        }, progress: progress)

        // Test: proposals above the score threshold, every class scored.
        let testBuilder = SampleBuilder(provider: provider, augment: .test(size: settings.crop))
        var groundTruth: [AVAGroundTruthRow] = [], detections: [AVADetectionRow] = []
        var excluded = Set<AVAKeyframe>()
        var evalRNG = RandomGenerator(seed: 0)  // dropout is off in evaluation: never drawn
        var scored: [(videoID: String, second: Int, keyframe: Datasets.AVAKeyframe, record: VideoRecord)] = []
        for record in test {
            for sec in record.excludedSeconds { excluded.insert(AVAKeyframe(videoID: record.id, timestamp: sec)) }
            for var kf in record.keyframes {
                let key = AVAKeyframe(videoID: record.id, timestamp: kf.second)
                for b in kf.boxes {
                    for a in b.actions {
                        groundTruth.append(AVAGroundTruthRow(keyframe: key, box: AVABox(x1: b.x1, y1: b.y1, x2: b.x2, y2: b.y2),
                                                             actionID: a, personID: Double(b.personID)))
                    }
                }
                kf.proposals = kf.proposals.filter { ($0.score ?? 1) >= settings.proposalScore }
                guard !kf.proposals.isEmpty else { continue }
                scored.append((record.id, kf.second, kf, record))
            }
        }
        // Data-parallel, each rank scores a contiguous part of the keyframes; per keyframe
        // [index, boxes, then per box its 4 normalised corners and class logits] is gathered
        // in keyframe order, so every rank evaluates them all as one process would.
        let group = DataParallel.group
        let mine = DataParallel.slice(scored.count, shards: group.size, shard: group.rank)
        var local: [Float] = []
        for k in mine {
            let item = scored[k]
            let sample = try testBuilder.avaClip(item.record, keyframe: item.keyframe, frames: frames, stride: stride,
                                                 useProposals: true, rng: nil)
            guard !sample.boxes.isEmpty else { continue }
            let h = Float(sample.clip.shape[2]), w = Float(sample.clip.shape[3])
            let boxes: [Float] = sample.boxes.flatMap { [Float(0)] + $0 }
            let logits = withoutGradient {
                model(Variable(Tensor.stack([sample.clip])), boxes: Tensor(shape: [sample.boxes.count, 5], scalars: boxes),
                      training: false, rng: &evalRNG)
            }.value
            local += [Float(k), Float(sample.boxes.count)]
            for (r, box) in sample.boxes.enumerated() {
                local += [box[0] / w, box[1] / h, box[2] / w, box[3] / h]
                local += logits.scalars[(r * classIDs.count)..<((r + 1) * classIDs.count)]
            }
        }
        let all = try DataParallel.gather(local, in: group)
        var p = 0
        while p < all.count {
            let item = scored[Int(all[p])], count = Int(all[p + 1])
            let key = AVAKeyframe(videoID: item.videoID, timestamp: item.second)
            p += 2
            for _ in 0..<count {
                let nb = AVABox(x1: Double(all[p]), y1: Double(all[p + 1]), x2: Double(all[p + 2]), y2: Double(all[p + 3]))
                p += 4
                for (c, id) in classIDs.enumerated() {
                    detections.append(AVADetectionRow(keyframe: key, box: nb, actionID: id, score: 1 / (1 + exp(-Double(all[p + c])))))
                }
                p += classIDs.count
            }
        }
        // The test videos are the bootstrap's units (`AVAFrameMAPUnits`), in test order.
        let result = try AVAFrameMAP.evaluate(groundTruth: groundTruth, detections: detections, classes: Set(classIDs), excluded: excluded,
                                              videos: test.map(\.id))
        return Result(frameMAP: result, trainKeyframes: items.count, testKeyframes: test.reduce(0) { $0 + $1.keyframes.count },
                      detections: detections.count)
    }
}
