import Networks
import Tensors

/// How a level's projection φ_k is built.
public enum ProjectionKind: String, Sendable, Codable {
    /// Global-average-pool, then fc → ReLU → fc (SPEC §1).
    case mlp
    /// 1×1×1 conv → ReLU → 1×1×1 conv on the map, then global-average-pool: the same
    /// function per position, which makes the Instance Correspondence Map possible (§4).
    case conv
}

/// φ_k: a stage's features [N, C, T, H, W] → an L2-normalised embedding [N, dim].
/// The hidden width equals the input width.
public final class ProjectionHead: Layer {
    public let kind: ProjectionKind
    public let inChannels: Int, dimension: Int
    let fc1: Linear?, fc2: Linear?
    let conv1: Conv3d?, conv2: Conv3d?

    public init(kind: ProjectionKind, inChannels: Int, dimension: Int = 128, rng: inout RandomGenerator) {
        self.kind = kind; self.inChannels = inChannels; self.dimension = dimension
        switch kind {
        case .mlp:
            fc1 = Linear(inChannels, inChannels, rng: &rng); fc2 = Linear(inChannels, dimension, rng: &rng)
            conv1 = nil; conv2 = nil
        case .conv:
            conv1 = Conv3d(inChannels, inChannels, kernel: Size3(all: 1), bias: true, rng: &rng)
            conv2 = Conv3d(inChannels, dimension, kernel: Size3(all: 1), bias: true, rng: &rng)
            fc1 = nil; fc2 = nil
        }
    }

    /// The embedding: [N, dim], unit rows.
    public func callAsFunction(_ features: Variable) -> Variable {
        switch kind {
        case .mlp: return l2Normalize(fc2!(relu(fc1!(globalAvgPool(features)))), axis: 1)
        case .conv: return l2Normalize(globalAvgPool(map(features)), axis: 1)
        }
    }

    /// φ applied at every position (conv heads only): [N, dim, T, H, W], not normalised.
    public func map(_ features: Variable) -> Variable {
        precondition(kind == .conv, "a per-position map needs a 1×1×1-conv projection head")
        return conv2!(relu(conv1!(features)))
    }

    public var namedParameters: [(String, Variable)] {
        switch kind {
        case .mlp: return scoped("fc1", fc1!.namedParameters) + scoped("fc2", fc2!.namedParameters)
        case .conv: return scoped("conv1", conv1!.namedParameters) + scoped("conv2", conv2!.namedParameters)
        }
    }
}
