import Tensors

/// A memory bank of one L2-normalised embedding per training instance: `storage` [n, dim].
///
/// Initialised uniform in [−s, s] with s = 1/√(dim/3) (the instance-discrimination
/// initialisation, SPEC §1). After each step the batch's rows move towards the new
/// embeddings, `v ← m·v + (1 − m)·x`, and are re-normalised (m = 0.5).
public struct MemoryBank: Sendable, Equatable {
    public private(set) var storage: Tensor
    public let momentum: Float

    public var count: Int { storage.shape[0] }
    public var dimension: Int { storage.shape[1] }

    public init(count: Int, dimension: Int, momentum: Float = 0.5, rng: inout RandomGenerator) {
        precondition(count > 0 && dimension > 0, "memory bank needs positive size, got \(count)×\(dimension)")
        let s = 1 / (Float(dimension) / 3).squareRoot()
        storage = Tensor.randomUniform([count, dimension], low: -s, high: s, using: &rng)
        self.momentum = momentum
    }

    /// A bank with given contents (checkpoint restore).
    public init(storage: Tensor, momentum: Float = 0.5) {
        precondition(storage.rank == 2, "memory bank storage must be [n, dim], got \(storage.shape)")
        self.storage = storage
        self.momentum = momentum
    }

    /// Row `i` as an array (for tests and monitoring).
    public func row(_ i: Int) -> [Float] { Array(storage.scalars[(i * dimension)..<((i + 1) * dimension)]) }

    /// Moves rows `indices` towards `embeddings` [B, dim] and re-normalises them. Rows
    /// repeated within a batch are applied in order, so the result is deterministic.
    public mutating func update(indices: [Int], with embeddings: Tensor) {
        let d = dimension
        precondition(shape: embeddings.shape, equals: [indices.count, d], "memory bank update")
        let m = momentum
        storage.scalars.withUnsafeMutableBufferPointer { bank in
            embeddings.scalars.withUnsafeBufferPointer { x in
                for (b, i) in indices.enumerated() {
                    precondition(i >= 0 && i < bank.count / d, "memory bank index \(i) outside 0..<\(bank.count / d)")
                    var norm: Float = 0
                    for j in 0..<d {
                        let v = m * bank[i * d + j] + (1 - m) * x[b * d + j]
                        bank[i * d + j] = v
                        norm += v * v
                    }
                    let inv = 1 / max(norm.squareRoot(), 1e-12)
                    for j in 0..<d { bank[i * d + j] *= inv }
                }
            }
        }
    }
}

/// The tempo-contrastive loss of one direction at one level (paper eq. 3–4, softmax form):
/// each query (L2-normalised, [B, dim]) is scored against its positive — the *other*
/// tempo's bank row of the same instance, read before this step's update — and `N`
/// negative bank rows; logits are cosine similarities divided by the temperature, and the
/// loss is the cross-entropy with the positive at index 0, averaged over the batch.
///
/// `negatives` holds B·N bank indices, row-major.
public func tempoContrastiveLoss(queries: Variable, bank: MemoryBank, instances: [Int], negatives: [Int],
                                 temperature: Float = 0.07) -> Variable {
    let B = instances.count
    precondition(B > 0 && negatives.count % B == 0, "\(negatives.count) negatives for a batch of \(B)")
    let n = negatives.count / B
    var indices = [Int]()
    indices.reserveCapacity(B * (n + 1))
    for b in 0..<B {
        indices.append(instances[b])
        indices.append(contentsOf: negatives[(b * n)..<((b + 1) * n)])
    }
    let logits = scale(bankDot(queries, bank: bank.storage, indices: indices, perRow: n + 1), by: 1 / temperature)
    return crossEntropy(logits: logits, targets: [Int](repeating: 0, count: B))
}
