import Datasets
import Foundation
import Networks
import Tensors

/// A softmax classifier on standardised frozen features, trained full-batch with SGD
/// (momentum 0.9, weight decay 1e-4): the linear probe of SEVERE-style evaluations.
public struct LinearProbe: Sendable {
    public var epochs: Int
    public var learningRate: Float
    public init(epochs: Int = 100, learningRate: Float = 0.1) { self.epochs = epochs; self.learningRate = learningRate }

    /// Features [N, D] with labels → top-1 on `test` [M, D]. Standardisation uses the
    /// training features' per-dimension mean and std; the head is drawn from `rng`.
    public func evaluate(train: Tensor, trainLabels: [Int], test: Tensor, testLabels: [Int], classes: Int,
                         rng: inout RandomGenerator) throws -> TopKAccuracy {
        let d = train.shape[1], n = train.shape[0]
        var mean = [Float](repeating: 0, count: d), std = [Float](repeating: 0, count: d)
        for j in 0..<d {
            var s: Float = 0
            for i in 0..<n { s += train.scalars[i * d + j] }
            mean[j] = s / Float(n)
            var v: Float = 0
            for i in 0..<n { let x = train.scalars[i * d + j] - mean[j]; v += x * x }
            std[j] = max(1e-6, (v / Float(n)).squareRoot())
        }
        func standardise(_ t: Tensor) -> Tensor {
            Tensor(shape: t.shape, scalars: t.scalars.enumerated().map { ($0.element - mean[$0.offset % d]) / std[$0.offset % d] })
        }
        let xTrain = standardise(train), xTest = standardise(test)
        let head = Linear(d, classes, rng: &rng)
        let sgd = SGD(parameters: head.namedParameters, learningRate: learningRate, momentum: 0.9, weightDecay: 1e-4)
        for _ in 0..<epochs {
            sgd.zeroGrad()
            crossEntropy(logits: head(Variable(xTrain)), targets: trainLabels).backward()
            sgd.step()
        }
        return try topKAccuracy(scores: withoutGradient { head(Variable(xTest)) }.value, labels: testLabels, k: 1)
    }
}

/// Frozen-feature probes of an encoder (beyond the paper; SEVERE-style suites report them):
/// a weighted kNN and a linear probe on the global-average-pooled res5 features of one
/// centre clip per video, in evaluation mode.
public enum FrozenFeatureProbe {
    public struct Settings: Sendable {
        public var crop: Int
        public var frames = 8, stride = 8
        public var k = 200
        public var linear = LinearProbe()
        public init(crop: Int) { self.crop = crop }
    }

    public struct Result: Sendable {
        public var knn: KNNAccuracy
        public var linear: TopKAccuracy
        public var trainVideos: Int, testVideos: Int
    }

    /// Pooled res5 features [videos, C] of one centre clip a video.
    public static func features(_ encoder: ResNet3D, _ records: [VideoRecord], provider: FrameProvider, settings: Settings) throws -> Tensor {
        let builder = SampleBuilder(provider: provider, augment: .test(size: settings.crop))
        var rows: [Float] = [], i = 0
        try BatchedEvaluation.run(next: {
            guard i < records.count else { return nil }
            defer { i += 1 }
            return try builder.testClips(records[i], index: i, clips: 1, crops: 1, frames: settings.frames, stride: settings.stride).clip
        }, forward: { batch, _ in
            rows += withoutGradient { globalAvgPool(encoder.features(Variable(batch), training: false)[3]).value }.scalars
        })
        return Tensor(shape: [records.count, rows.count / max(1, records.count)], scalars: rows)
    }

    /// Labelled `train` and `test` videos; the linear head from stream `probe.linear`.
    public static func run(encoder: ResNet3D, train: [VideoRecord], test: [VideoRecord], classes: Int,
                           provider: FrameProvider, settings: Settings, seed: UInt64) throws -> Result {
        let trainRecords = train.filter { $0.label != nil }, testRecords = test.filter { $0.label != nil }
        guard !trainRecords.isEmpty, !testRecords.isEmpty else {
            throw ProcedureError("the probes need labelled training and test videos (\(trainRecords.count) and \(testRecords.count))")
        }
        let fTrain = try features(encoder, trainRecords, provider: provider, settings: settings)
        let fTest = try features(encoder, testRecords, provider: provider, settings: settings)
        let yTrain = trainRecords.map { $0.label! }, yTest = testRecords.map { $0.label! }
        let knn = try KNNProbe(k: KNNProbe.neighbours(trainCount: trainRecords.count, classCount: classes, requested: settings.k),
                               temperature: 0.07, classCount: classes)
            .evaluate(train: fTrain, trainLabels: yTrain, test: fTest, testLabels: yTest)
        var rng = SeedStream(seed, "probe.linear").generator()
        let linear = try settings.linear.evaluate(train: fTrain, trainLabels: yTrain, test: fTest, testLabels: yTest, classes: classes, rng: &rng)
        return Result(knn: knn, linear: linear, trainVideos: trainRecords.count, testVideos: testRecords.count)
    }
}
