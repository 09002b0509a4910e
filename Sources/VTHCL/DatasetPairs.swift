import Datasets
import Foundation
import Tensors

/// Which clip a slow clip is paired with.
public enum ClipPairing: String, Sendable, Codable, CaseIterable {
    /// The same video's fast clip (VTHCL: two tempi of one instance).
    case instance
    /// The fast clip of another video, by a derangement redrawn every epoch (stream
    /// `pretrain.pairing`): a negative control with the same data, compute and loss whose
    /// positives share nothing, so any downstream gain it shows is not from tempo consistency.
    case shuffled
}

/// Pretraining batches from a dataset split: per epoch a permutation of the videos (from
/// (seed, epoch)), each video giving a slow/fast pair from one 64-frame window with the same
/// crop and colour draws (`SampleBuilder.pretrainPair`). Items are prepared on worker threads
/// ahead of the training step; every random draw derives from (seed, epoch, index), so the
/// batches do not depend on thread timing.
public struct DatasetPairs: PretrainBatchSource {
    public let records: [VideoRecord]
    public let builder: SampleBuilder
    public let batchSize: Int
    public let window: Int, tau: Int, alpha: Int
    public let workers: Int
    public let pairing: ClipPairing

    public init(records: [VideoRecord], builder: SampleBuilder, batchSize: Int, window: Int = 64, tau: Int = 8,
                alpha: Int = 2, workers: Int = 1, pairing: ClipPairing = .instance) {
        precondition(records.count >= batchSize, "\(records.count) videos cannot fill a batch of \(batchSize)")
        precondition(pairing == .instance || records.count >= 2, "shuffled pairing needs at least two videos")
        self.records = records; self.builder = builder; self.batchSize = batchSize
        self.window = window; self.tau = tau; self.alpha = alpha; self.workers = workers; self.pairing = pairing
    }

    public var instanceCount: Int { records.count }
    /// Full batches only (the remainder of a permutation waits for the next epoch).
    public var stepsPerEpoch: Int { records.count / batchSize }

    func order(seed: UInt64, epoch: Int) -> [Int] {
        var rng = SeedStream(seed, "pretrain.order").generator(epoch)
        return rng.permutation(records.count)
    }

    /// The epoch's partner of every instance under shuffled pairing: a uniformly drawn
    /// cyclic permutation (Sattolo's algorithm), so no video is its own partner.
    func partners(seed: UInt64, epoch: Int) -> [Int] {
        var rng = SeedStream(seed, "pretrain.pairing").generator(epoch)
        var p = Array(0..<records.count)
        for i in stride(from: p.count - 1, to: 0, by: -1) { p.swapAt(i, rng.nextInt(below: i)) }
        return p
    }

    func sample(seed: UInt64, epoch: Int, instance: Int) throws -> PretrainSample {
        let rng = RandomGeneratorBox.forItem(SeedStream(seed, "pretrain.item"), epoch: epoch, index: instance)
        let own = try builder.pretrainPair(records[instance], index: instance, window: window, tau: tau, alpha: alpha, rng: rng)
        guard pairing == .shuffled else { return own }
        // The slow clip stays the instance's (its bank row and label); the fast clip is the
        // partner's, drawn as the partner's own pair would be.
        let partner = partners(seed: seed, epoch: epoch)[instance]
        let other = try builder.pretrainPair(records[partner], index: partner, window: window, tau: tau, alpha: alpha,
                                             rng: RandomGeneratorBox.forItem(SeedStream(seed, "pretrain.partner"), epoch: epoch, index: partner))
        return PretrainSample(index: instance, slow: own.slow, fast: other.fast)
    }

    static func assemble(_ samples: [PretrainSample], labels: [Int]) -> PretrainBatch {
        PretrainBatch(instances: samples.map(\.index), slow: Tensor.stack(samples.map(\.slow)),
                      fast: Tensor.stack(samples.map(\.fast)), labels: labels)
    }

    public func batch(seed: UInt64, epoch: Int, step: Int) throws -> PretrainBatch {
        let ids = Array(order(seed: seed, epoch: epoch)[(step * batchSize)..<((step + 1) * batchSize)])
        return Self.assemble(try ids.map { try sample(seed: seed, epoch: epoch, instance: $0) },
                             labels: ids.map { records[$0].label ?? -1 })
    }

    /// Loads only `items` of each batch (a rank's part), in the one-process order.
    public func batches(seed: UInt64, epoch: Int, from step: Int, items: Range<Int>) -> AnyIterator<Result<PretrainBatch, Error>> {
        if items == 0..<batchSize { return batches(seed: seed, epoch: epoch, from: step) }
        let ids = Array(order(seed: seed, epoch: epoch)[(step * batchSize)..<(stepsPerEpoch * batchSize)])
        let steps = ids.count / batchSize
        let local = (0..<steps).flatMap { s in items.map { ids[s * batchSize + $0] } }
        let source = self
        let loader = BatchLoader<PretrainSample>(count: local.count, workers: workers, prefetch: 2 * items.count) { i in
            try source.sample(seed: seed, epoch: epoch, instance: local[i])
        }
        var taken = 0
        return AnyIterator {
            guard taken < steps else { loader.stop(); return nil }
            do {
                var samples: [PretrainSample] = []
                for _ in items { if let s = try loader.next() { samples.append(s) } }
                var b = Self.assemble(samples, labels: samples.map { source.records[$0.index].label ?? -1 })
                b.instances = Array(ids[(taken * source.batchSize)..<((taken + 1) * source.batchSize)])
                b.loaded = items
                taken += 1
                return .success(b)
            } catch {
                loader.stop()
                taken = steps
                return .failure(error)
            }
        }
    }

    public func batches(seed: UInt64, epoch: Int, from step: Int) -> AnyIterator<Result<PretrainBatch, Error>> {
        let ids = Array(order(seed: seed, epoch: epoch)[(step * batchSize)..<(stepsPerEpoch * batchSize)])
        let source = self
        let loader = BatchLoader<PretrainSample>(count: ids.count, workers: workers, prefetch: 2 * batchSize) { i in
            try source.sample(seed: seed, epoch: epoch, instance: ids[i])
        }
        var taken = 0
        return AnyIterator {
            guard taken < ids.count else { loader.stop(); return nil }
            do {
                var samples: [PretrainSample] = []
                for _ in 0..<source.batchSize { if let s = try loader.next() { samples.append(s) } }
                defer { taken += source.batchSize }
                return .success(Self.assemble(samples, labels: samples.map { source.records[$0.index].label ?? -1 }))
            } catch {
                loader.stop()
                taken = ids.count
                return .failure(error)
            }
        }
    }
}
