import Foundation
import Tensors

/// Weighted k-nearest-neighbour classification of frozen features, the monitor of
/// instance-discrimination training (Wu et al. 2018, "Unsupervised feature learning via
/// non-parametric instance discrimination", §3.4): features are L2-normalised, each query
/// takes its `k` most cosine-similar training features, and neighbour `i` votes for its
/// class with weight `exp(sᵢ / temperature)`. The class with the largest summed vote wins.
///
/// Neighbours are chosen by similarity, equal similarities by lower training index; equal
/// votes go to the lower class index (the ranking rule of ``topKAccuracy(scores:labels:k:)``).
public struct KNNProbe: Sendable {
    public var k: Int
    public var temperature: Double
    public var classCount: Int

    /// The neighbour count for a gallery of `trainCount` features over `classCount` classes:
    /// `requested` (Wu et al.'s 200), capped at the mean number of gallery items per class.
    ///
    /// Why the cap: with `k` near the gallery size every training item votes, the vote stops
    /// being local, and whichever class holds a few "hub" items close to everything wins every
    /// query — on the 160-video ci set k = 200 gave exactly chance for trained and random
    /// features alike, where k ≤ 16 separates them. At paper scale (240k videos, 400
    /// classes) the cap is 600 and k stays 200.
    public static func neighbours(trainCount: Int, classCount: Int, requested: Int = 200) -> Int {
        max(1, min(requested, trainCount / max(1, classCount)))
    }

    public init(k: Int = 200, temperature: Double = 0.07, classCount: Int) {
        self.k = k
        self.temperature = temperature
        self.classCount = classCount
    }

    /// Summed votes: `train` [Ntrain, D] with `trainLabels` (Ntrain classes in
    /// `0..<classCount`), `queries` [Nq, D] → [Nq, classCount]. `k` is capped at Ntrain.
    /// Zero rows stay zero after normalisation (similarity 0 to everything).
    public func votes(train: Tensor, trainLabels: [Int], queries: Tensor) throws -> Tensor {
        guard k >= 1 else { throw MetricError.invalidK(k) }
        guard temperature > 0 else { throw MetricError.shapeMismatch("kNN temperature must be positive, got \(temperature)") }
        guard train.rank == 2, queries.rank == 2, train.shape[1] == queries.shape[1] else {
            throw MetricError.shapeMismatch("kNN features must be [samples, D] with equal D: train \(train.shape), queries \(queries.shape)")
        }
        let N = train.shape[0], Q = queries.shape[0], D = train.shape[1]
        guard N > 0 else { throw MetricError.empty("kNN training features") }
        guard trainLabels.count == N else { throw MetricError.shapeMismatch("\(N) training features for \(trainLabels.count) labels") }
        if let bad = trainLabels.firstIndex(where: { !(0..<classCount).contains($0) }) {
            throw MetricError.labelOutOfRange(sample: bad, label: trainLabels[bad], classes: classCount)
        }
        let K = min(k, N), C = classCount
        let bank = Self.normalizedRows(train), normalizedQueries = Self.normalizedRows(queries)
        var out = [Float](repeating: 0, count: Q * C)
        // Similarities in chunks of queries, so memory stays at chunk × Ntrain.
        let chunk = 256
        for first in stride(from: 0, to: Q, by: chunk) {
            let rows = min(chunk, Q - first)
            let block = Tensor(shape: [rows, D], scalars: Array(normalizedQueries.scalars[(first * D)..<((first + rows) * D)]))
            let similarity = matmulForward(block, bank, transB: true)
            for r in 0..<rows {
                let sims = similarity.scalars[(r * N)..<((r + 1) * N)]
                var votes = [Double](repeating: 0, count: C)
                for i in Self.topIndices(sims, count: K) {
                    votes[trainLabels[i]] += Foundation.exp(Double(sims[sims.startIndex + i]) / temperature)
                }
                for c in 0..<C { out[(first + r) * C + c] = Float(votes[c]) }
            }
        }
        return Tensor(shape: [Q, C], scalars: out)
    }

    /// Top-1 and top-5 accuracy of the vote on labelled queries.
    public func evaluate(train: Tensor, trainLabels: [Int], test: Tensor, testLabels: [Int]) throws -> KNNAccuracy {
        let v = try votes(train: train, trainLabels: trainLabels, queries: test)
        return KNNAccuracy(top1: try topKAccuracy(scores: v, labels: testLabels, k: 1),
                           top5: try topKAccuracy(scores: v, labels: testLabels, k: 5))
    }

    /// Rows divided by their L2 norm (rows of norm below 1e-12 are left as they are).
    static func normalizedRows(_ x: Tensor) -> Tensor {
        let D = x.shape[1]
        var y = x
        for r in 0..<x.shape[0] {
            var s: Float = 0
            for d in 0..<D { let v = x.scalars[r * D + d]; s += v * v }
            let norm = max(s.squareRoot(), 1e-12)
            for d in 0..<D { y.scalars[r * D + d] /= norm }
        }
        return y
    }

    /// Indices of the `count` largest values, larger first, equal values by lower index.
    static func topIndices(_ values: ArraySlice<Float>, count: Int) -> [Int] {
        var best: [Int] = []
        best.reserveCapacity(count + 1)
        let base = values.startIndex
        // Ranks before: higher value, or equal value and lower index.
        func before(_ a: Int, _ b: Int) -> Bool {
            let va = values[base + a], vb = values[base + b]
            return va > vb || (va == vb && a < b)
        }
        for i in 0..<values.count {
            if best.count == count && !before(i, best[count - 1]) { continue }
            var lo = 0, hi = best.count
            while lo < hi { let mid = (lo + hi) / 2; if before(best[mid], i) { lo = mid + 1 } else { hi = mid } }
            best.insert(i, at: lo)
            if best.count > count { best.removeLast() }
        }
        return best
    }
}

/// kNN probe accuracy (top-1 and top-5 of the weighted vote).
public struct KNNAccuracy: Equatable, Sendable {
    public let top1: TopKAccuracy
    public let top5: TopKAccuracy
}
