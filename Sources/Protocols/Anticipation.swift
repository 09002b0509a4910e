import Datasets
import Foundation
import Networks
import Tensors

/// Epic-Kitchens-55 action anticipation (paper §5.4.2, SPEC §3.4) as a procedure: observe
/// [t_s − τ_o − τ_a, t_s − τ_a] and predict the verb and noun of the action starting at t_s.
public enum Anticipation {
    public struct Settings: Sendable {
        public var schedule: ClassifierSchedule
        public var crop: Int
        public var frames = 8
        /// τ_o and τ_a in seconds.
        public var observe = 1.0, anticipate = 1.0
        public var dropout: Float = 0.5
        public init(schedule: ClassifierSchedule, crop: Int) { self.schedule = schedule; self.crop = crop }
    }

    public struct Result: Sendable {
        public var accuracy: EpicAnticipationAccuracy
        public var trainSegments: Int, testSegments: Int
        public var verbs: Int, nouns: Int
    }

    /// Segments of `records` whose observation window starts at or after the video's start.
    public static func observable(_ records: [VideoRecord], settings: Settings) -> [(VideoRecord, EpicSegment)] {
        records.flatMap { r in r.segments.filter { $0.start - settings.observe - settings.anticipate >= 0 }.map { (r, $0) } }
    }

    /// `verbs` and `nouns` at least cover the training labels. Heads from stream
    /// `anticipate.head`; order, augmentation and dropout from `anticipate.order`, `.item`, `.dropout`.
    public static func run(encoder: ResNet3D, train: [VideoRecord], test: [VideoRecord], verbs: Int, nouns: Int,
                           provider: FrameProvider, settings: Settings, seed: UInt64, checkpointURL: URL,
                           progress: ProgressHandler = { _ in }) throws -> Result {
        let trainItems = observable(train, settings: settings), testItems = observable(test, settings: settings)
        let verbs = max(verbs, (trainItems.map(\.1.verb).max() ?? 0) + 1)
        let nouns = max(nouns, (trainItems.map(\.1.noun).max() ?? 0) + 1)
        let s = settings.schedule, frames = settings.frames
        guard trainItems.count >= s.batchSize else {
            throw ProcedureError("\(trainItems.count) observable training segments cannot fill a batch of \(s.batchSize)")
        }
        guard !testItems.isEmpty else { throw ProcedureError("no observable test segments") }
        var rng = SeedStream(seed, "anticipate.head").generator()
        let model = Anticipator(encoder: encoder, verbs: verbs, nouns: nouns, dropout: settings.dropout, rng: &rng)
        let builder = SampleBuilder(provider: provider, augment: AugmentConfig(size: settings.crop))
        let trainer = EpochTrainer(model: model, schedule: s, seed: seed, checkpointURL: checkpointURL,
                                   format: "tempo-bench.epic.v2", name: "anticipate")
        let fingerprint = TrainingLoop.hash(trainItems.map { "\($0.0.id)#\($0.1.uid)" }.joined(separator: ",")
                                            + "|\(verbs)|\(nouns)|\(settings.crop)|\(frames)|\(settings.observe)|\(settings.anticipate)|\(settings.dropout)")
        // Data-parallel, each rank builds its shards of the batch; the loss is a mean over segments.
        try trainer.train(steps: trainItems.count / s.batchSize, fingerprint: fingerprint, shard: { epoch, step, part, shard in
            let ids = trainer.order(trainItems.count, epoch: epoch)[(step * s.batchSize + part.lowerBound)..<(step * s.batchSize + part.upperBound)]
            var clips: [Tensor] = [], v: [Int] = [], n: [Int] = []
            for i in ids {
                let c = try builder.epicClip(trainItems[i].0, segment: trainItems[i].1, frames: frames, observe: settings.observe,
                                             anticipate: settings.anticipate, rng: trainer.itemRNG(epoch: epoch, index: i))
                clips.append(c.clip); v.append(c.verb); n.append(c.noun)
            }
            var dropRNG = trainer.dropoutRNG(epoch: epoch, step: step, shard: shard)
            let (vl, nl) = model(Variable(Tensor.stack(clips)), training: true, rng: &dropRNG)
            return (add(crossEntropy(logits: vl, targets: v), crossEntropy(logits: nl, targets: n)), ids.count)
        }, progress: progress)
        let testBuilder = SampleBuilder(provider: provider, augment: .test(size: settings.crop))
        var vs: [Float] = [], ns: [Float] = [], vl: [Int] = [], nl: [Int] = []
        var evalRNG = RandomGenerator(seed: 0)  // dropout is off in evaluation: never drawn
        // Data-parallel, each rank scores a contiguous part of the segments; the scores are
        // gathered in segment order, so every rank holds them all as one process would.
        let group = DataParallel.group
        var mine = testItems[DataParallel.slice(testItems.count, shards: group.size, shard: group.rank)].makeIterator()
        try BatchedEvaluation.run(next: {
            guard let (record, segment) = mine.next() else { return nil }
            let c = try testBuilder.epicClip(record, segment: segment, frames: frames, observe: settings.observe,
                                             anticipate: settings.anticipate, rng: nil)
            vl.append(min(c.verb, verbs - 1)); nl.append(min(c.noun, nouns - 1))
            return Tensor.stack([c.clip])
        }, forward: { batch, _ in
            let (a, b) = withoutGradient { model(Variable(batch), training: false, rng: &evalRNG) }
            vs += a.value.scalars; ns += b.value.scalars
        })
        if group.size > 1 {
            vs = try DataParallel.gather(vs, in: group); ns = try DataParallel.gather(ns, in: group)
            vl = try DataParallel.gather(vl.map(Float.init), in: group).map { Int($0) }
            nl = try DataParallel.gather(nl.map(Float.init), in: group).map { Int($0) }
        }
        let acc = try EpicAnticipationAccuracy(verbScores: Tensor(shape: [vl.count, verbs], scalars: vs), verbLabels: vl,
                                               nounScores: Tensor(shape: [nl.count, nouns], scalars: ns), nounLabels: nl)
        return Result(accuracy: acc, trainSegments: trainItems.count, testSegments: testItems.count, verbs: verbs, nouns: nouns)
    }
}
