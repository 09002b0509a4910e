import Networks
import Tensors

/// How a level's projection φ_k is built.
public enum ProjectionKind: String, Sendable, Codable, CaseIterable {
    /// Global-average-pool, then fc → ReLU → fc (SPEC §1).
    case mlp
    /// 1×1×1 conv → ReLU → 1×1×1 conv on the map, then global-average-pool: the same
    /// function per position, which makes the Instance Correspondence Map possible (§4).
    case conv
    /// `mlp` with batch norm after each fc (the second without scale and shift), as in the
    /// heads of later contrastive methods. Beyond the paper: batch-centred embeddings remove
    /// the component all instances share, which a two-pathway memory bank otherwise lets the
    /// loss chase at small scale (`docs/vthcl-small-scale.md`).
    case mlpBN = "mlp-bn"
    /// `conv` with the same two batch norms (per position): still a per-position function in
    /// evaluation mode, so the map is available.
    case convBN = "conv-bn"

    /// Whether φ is a per-position function (1×1×1 convolutions), as the ICM needs.
    public var isPerPosition: Bool { self == .conv || self == .convBN }
    public var hasBatchNorm: Bool { self == .mlpBN || self == .convBN }
}

/// φ_k: a stage's features [N, C, T, H, W] → an L2-normalised embedding [N, dim].
/// The hidden width equals the input width.
public final class ProjectionHead: Layer {
    public let kind: ProjectionKind
    public let inChannels: Int, dimension: Int
    let fc1: Linear?, fc2: Linear?
    let conv1: Conv3d?, conv2: Conv3d?
    /// Batch norms of the `-bn` kinds; `bn2` is not affine (scale 1, shift 0).
    let bn1: BatchNorm?, bn2: BatchNorm?

    public init(kind: ProjectionKind, inChannels: Int, dimension: Int = 128, rng: inout RandomGenerator) {
        self.kind = kind; self.inChannels = inChannels; self.dimension = dimension
        bn1 = kind.hasBatchNorm ? BatchNorm(inChannels) : nil
        bn2 = kind.hasBatchNorm ? BatchNorm(dimension, affine: false) : nil
        if kind.isPerPosition {
            conv1 = Conv3d(inChannels, inChannels, kernel: Size3(all: 1), bias: true, rng: &rng)
            conv2 = Conv3d(inChannels, dimension, kernel: Size3(all: 1), bias: true, rng: &rng)
            fc1 = nil; fc2 = nil
        } else {
            fc1 = Linear(inChannels, inChannels, rng: &rng); fc2 = Linear(inChannels, dimension, rng: &rng)
            conv1 = nil; conv2 = nil
        }
    }

    /// `bn` (if any) on [N, C] or [N, C, T, H, W] activations.
    private func norm(_ bn: BatchNorm?, _ x: Variable, training: Bool) -> Variable {
        guard let bn else { return x }
        guard x.value.rank == 2 else { return bn(x, training: training) }
        let n = x.value.shape[0], c = x.value.shape[1]
        return reshape(bn(reshape(x, [n, c, 1, 1, 1]), training: training), [n, c])
    }

    /// The embedding: [N, dim], unit rows. `training` matters to the `-bn` kinds only (batch
    /// statistics and running-statistics updates).
    public func callAsFunction(_ features: Variable, training: Bool = false) -> Variable {
        if kind.isPerPosition { return l2Normalize(globalAvgPool(map(features, training: training)), axis: 1) }
        let hidden = relu(norm(bn1, fc1!(globalAvgPool(features)), training: training))
        return l2Normalize(norm(bn2, fc2!(hidden), training: training), axis: 1)
    }

    /// φ applied at every position (per-position kinds only): [N, dim, T, H, W], not normalised.
    public func map(_ features: Variable, training: Bool = false) -> Variable {
        precondition(kind.isPerPosition, "a per-position map needs a 1×1×1-conv projection head")
        return norm(bn2, conv2!(relu(norm(bn1, conv1!(features), training: training))), training: training)
    }

    public var namedParameters: [(String, Variable)] {
        let first = kind.isPerPosition ? scoped("conv1", conv1!.namedParameters) : scoped("fc1", fc1!.namedParameters)
        let second = kind.isPerPosition ? scoped("conv2", conv2!.namedParameters) : scoped("fc2", fc2!.namedParameters)
        return first + (bn1.map { scoped("bn1", $0.namedParameters) } ?? []) + second
    }

    public var namedBuffers: [(String, Variable)] {
        guard let bn1, let bn2 else { return [] }
        return scoped("bn1", bn1.namedBuffers) + scoped("bn2", bn2.namedBuffers)
    }
}
