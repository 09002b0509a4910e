import Datasets
import Foundation
import Networks
import Protocols
import Tensors

/// kNN monitors of a VTHCL model on labelled videos (labels used for monitoring only).
public enum KNNMonitor {
    /// Features of one centre clip per video, in evaluation mode, from the slow encoder:
    /// `head` [videos, dim], the slow head's embedding at the deepest level (what the banks
    /// hold), and `backbone` [videos, C], the encoder's global-average-pooled res5 output
    /// (what downstream tasks start from). Under MPI every rank must call it (a collective).
    public static func embed(_ records: [VideoRecord], model: VTHCLModel, provider: FrameProvider, crop: Int) throws -> (head: Tensor, backbone: Tensor) {
        let config = model.config
        let level = config.levels.last!, k = config.levels.count - 1
        let builder = SampleBuilder(provider: provider, augment: .test(size: crop))
        var head: [Float] = [], backbone: [Float] = []
        // Data-parallel, each rank embeds a contiguous part of the videos and the features are
        // gathered in video order, so every rank holds them all as one process would.
        let group = DataParallel.group
        var indices = DataParallel.slice(records.count, shards: group.size, shard: group.rank).makeIterator()
        try BatchedEvaluation.run(next: {
            guard let i = indices.next() else { return nil }
            return try builder.testClips(records[i], index: i, clips: 1, crops: 1, frames: config.slowFrames, stride: config.tau).clip
        }, forward: { batch, _ in
            withoutGradient {
                let features = model.slow.features(Variable(batch), training: false)
                head += model.slowHeads[k](features[level - 1]).value.scalars
                backbone += globalAvgPool(features[3]).value.scalars
            }
        })
        if group.size > 1 {
            head = try DataParallel.gather(head, in: group)
            backbone = try DataParallel.gather(backbone, in: group)
        }
        let n = records.count
        return (Tensor(shape: [n, config.embeddingDimension], scalars: head), Tensor(shape: [n, backbone.count / max(1, n)], scalars: backbone))
    }

    /// kNN on frozen features (with the head embedding, with the pooled backbone): train and
    /// test videos both embedded in evaluation mode. Unlike the bank monitor, gallery and
    /// queries come from the same network state and BN mode. Nil when there is no test video.
    public static func frozen(model: VTHCLModel, train: [VideoRecord], test: [VideoRecord], provider: FrameProvider, crop: Int,
                              classes: Int) throws -> (head: TopKAccuracy, backbone: TopKAccuracy)? {
        guard !test.isEmpty else { return nil }
        let probe = KNNProbe(k: KNNProbe.neighbours(trainCount: train.count, classCount: classes), temperature: 0.07, classCount: classes)
        let a = try embed(train, model: model, provider: provider, crop: crop), b = try embed(test, model: model, provider: provider, crop: crop)
        let labels = train.map { $0.label ?? 0 }, testLabels = test.map { $0.label! }
        return (try probe.evaluate(train: a.head, trainLabels: labels, test: b.head, testLabels: testLabels).top1,
                try probe.evaluate(train: a.backbone, trainLabels: labels, test: b.backbone, testLabels: testLabels).top1)
    }

    /// The monitor of instance discrimination: test videos (evaluation mode) against the slow
    /// bank of the deepest level, labelled by the training videos (bank rows = `train`).
    public static func bank(_ trainer: Pretrainer, train: [VideoRecord], test: [VideoRecord], provider: FrameProvider, crop: Int,
                            classes: Int) throws -> TopKAccuracy? {
        guard !test.isEmpty else { return nil }
        let bank = trainer.objective.slowBanks[trainer.config.levels.count - 1].storage
        let probe = KNNProbe(k: KNNProbe.neighbours(trainCount: train.count, classCount: classes), temperature: 0.07, classCount: classes)
        return try probe.evaluate(train: bank, trainLabels: train.map { $0.label ?? 0 },
                                  test: embed(test, model: trainer.model, provider: provider, crop: crop).head,
                                  testLabels: test.map { $0.label! }).top1
    }
}
