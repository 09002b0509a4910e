import Networks
import Tensors

/// Settings of VTHCL pretraining (SPEC §1); the suite fills them per scale.
public struct VTHCLConfig: Sendable, Codable, Equatable {
    /// 18 or 50.
    public var depth: Int = 18
    public var widthMultiplier: Double = 1
    /// The fast pathway's own width multiplier (nil: `widthMultiplier`). Small scales keep
    /// the fast pathway at full width: at ¼ width its β = 1/8 channels would be 2…16, too
    /// few to carry the other tempo's view of an instance.
    public var fastWidthMultiplier: Double? = nil
    /// Fast clip stride is τ/α: the fast encoder sees α times more frames.
    public var alpha: Int = 2
    /// Slow clip: `slowFrames` frames at stride `tau` over a `tau·slowFrames` window.
    public var slowFrames: Int = 8
    public var tau: Int = 8
    /// Hierarchy levels as stage indices: 2 = res3, 3 = res4, 4 = res5 (D = count).
    public var levels: [Int] = [2, 3, 4]
    public var lambdas: [Float]? = nil
    public var projection: ProjectionKind = .mlp
    public var embeddingDimension: Int = 128
    public var temperature: Float = 0.07
    public var negatives: Int = 16384
    public var bankMomentum: Float = 0.5

    public init() {}

    public var fastFrames: Int { slowFrames * alpha }
    /// The width multiplier of `pathway`.
    public func width(_ pathway: Pathway) -> Double { pathway == .fast ? fastWidthMultiplier ?? widthMultiplier : widthMultiplier }
    /// Depth of the hierarchy D = |K|.
    public var hierarchyDepth: Int { levels.count }
    public var levelWeights: [Float] { lambdas ?? [Float](repeating: 1, count: levels.count) }

    /// D = 1 is res5 only, D = 2 res4 + res5, D = 3 res3 + res4 + res5.
    public static func levels(forDepth d: Int) -> [Int] {
        precondition((1...3).contains(d), "hierarchy depth D must be 1, 2 or 3, got \(d)")
        return Array((5 - d)...4)
    }
}

/// The two encoders g_s (slow) and g_f (fast), and one projection head per level and
/// pathway. Parameter names: `slow.*`, `fast.*` (ResNet3D names), `head.{slow,fast}.res{3,4,5}.*`.
public final class VTHCLModel: Layer {
    public let config: VTHCLConfig
    public let slow: ResNet3D, fast: ResNet3D
    public let slowHeads: [ProjectionHead], fastHeads: [ProjectionHead]

    public init(_ config: VTHCLConfig, rng: inout RandomGenerator) {
        precondition(!config.levels.isEmpty && config.levels.allSatisfy { (1...4).contains($0) },
                     "levels must be stage indices in 1…4 (res2…res5), got \(config.levels)")
        self.config = config
        let slow = ResNet3D(.slowFast(depth: config.depth, pathway: .slow, widthMultiplier: config.widthMultiplier), rng: &rng)
        let fast = ResNet3D(.slowFast(depth: config.depth, pathway: .fast, widthMultiplier: config.width(.fast)), rng: &rng)
        var slowHeads: [ProjectionHead] = [], fastHeads: [ProjectionHead] = []
        for level in config.levels {
            slowHeads.append(ProjectionHead(kind: config.projection, inChannels: slow.config.stageOutputs[level - 1],
                                            dimension: config.embeddingDimension, rng: &rng))
            fastHeads.append(ProjectionHead(kind: config.projection, inChannels: fast.config.stageOutputs[level - 1],
                                            dimension: config.embeddingDimension, rng: &rng))
        }
        self.slow = slow; self.fast = fast
        self.slowHeads = slowHeads; self.fastHeads = fastHeads
    }

    /// Per-level embeddings of a batch: slow clips [N, 3, T, H, W] and fast clips
    /// [N, 3, αT, H, W] → ([N, dim] per level, [N, dim] per level), unit rows.
    public func embed(slowClips: Variable, fastClips: Variable, training: Bool) -> (slow: [Variable], fast: [Variable]) {
        let s = slow.features(slowClips, training: training)
        let f = fast.features(fastClips, training: training)
        let slowEmb = zip(config.levels, slowHeads).map { level, head in head(s[level - 1], training: training) }
        let fastEmb = zip(config.levels, fastHeads).map { level, head in head(f[level - 1], training: training) }
        return (slowEmb, fastEmb)
    }

    static func levelName(_ stage: Int) -> String { "res\(stage + 1)" }

    /// Name prefix of the slow encoder's tensors in a pretraining checkpoint: what a
    /// downstream stage loads.
    public static let slowEncoderPrefix = "slow."

    public var namedParameters: [(String, Variable)] { named { $0.namedParameters } }
    public var namedBuffers: [(String, Variable)] { named { $0.namedBuffers } }

    /// `items` of both encoders and every head under this model's naming scheme.
    private func named(_ items: (Layer) -> [(String, Variable)]) -> [(String, Variable)] {
        var all = scoped("slow", items(slow)) + scoped("fast", items(fast))
        for (level, (hs, hf)) in zip(config.levels, zip(slowHeads, fastHeads)) {
            all += scoped("head.slow.\(Self.levelName(level))", items(hs))
            all += scoped("head.fast.\(Self.levelName(level))", items(hf))
        }
        return all
    }
}

/// The hierarchical tempo-contrastive objective: 2·|K| memory banks (one per level and
/// tempo) and Σ_k λ_k (L_f^k + L_s^k), where L_f scores fast queries against the slow
/// bank and L_s slow queries against the fast bank.
public struct VTHCLObjective: Sendable, Equatable {
    public var slowBanks: [MemoryBank]
    public var fastBanks: [MemoryBank]
    public let config: VTHCLConfig

    public init(config: VTHCLConfig, instances: Int, rng: inout RandomGenerator) {
        self.config = config
        slowBanks = config.levels.map { _ in
            MemoryBank(count: instances, dimension: config.embeddingDimension, momentum: config.bankMomentum, rng: &rng)
        }
        fastBanks = config.levels.map { _ in
            MemoryBank(count: instances, dimension: config.embeddingDimension, momentum: config.bankMomentum, rng: &rng)
        }
    }

    public var instances: Int { slowBanks[0].count }

    /// Negatives per query: N, capped at the number of other instances (small scales).
    public var negativesPerQuery: Int { min(config.negatives, max(1, instances - 1)) }

    /// Draws N negative indices per query, uniformly with replacement from the *other*
    /// instances (one draw shared by both directions and every level), row-major [B, N].
    ///
    /// Why exclude the query's own row: a drawn copy of the positive scores exactly as the
    /// positive does, so each copy adds ln 2, ln 3, … to the loss whatever the network
    /// learns. With 1.28M instances that never matters; with the 160 of the ci set a query
    /// draws its own row about once among 160 negatives.
    public func sampleNegatives(for batch: [Int], rng: inout RandomGenerator) -> [Int] {
        let n = negativesPerQuery, count = instances
        var out = [Int]()
        out.reserveCapacity(batch.count * n)
        for own in batch {
            for _ in 0..<n {
                guard count > 1 else { out.append(own); continue }
                let j = rng.nextInt(below: count - 1)
                out.append(j >= own ? j + 1 : j)
            }
        }
        return out
    }

    /// Per-level losses and their weighted total. Uses the banks as they are (before this
    /// step's update); call `updateBanks` after the optimiser step.
    public func loss(slow: [Variable], fast: [Variable], instances batch: [Int], negatives: [Int])
        -> (total: Variable, fastToSlow: [Variable], slowToFast: [Variable]) {
        precondition(slow.count == config.levels.count && fast.count == config.levels.count,
                     "expected \(config.levels.count) levels of embeddings")
        var lf: [Variable] = [], ls: [Variable] = []
        var terms: [Variable] = []
        for k in 0..<config.levels.count {
            let f = tempoContrastiveLoss(queries: fast[k], bank: slowBanks[k], instances: batch, negatives: negatives,
                                         temperature: config.temperature)
            let s = tempoContrastiveLoss(queries: slow[k], bank: fastBanks[k], instances: batch, negatives: negatives,
                                         temperature: config.temperature)
            lf.append(f); ls.append(s)
            terms.append(scale(add(f, s), by: config.levelWeights[k]))
        }
        let total = terms.dropFirst().reduce(terms[0]) { add($0, $1) }
        return (total, lf, ls)
    }

    /// Momentum update of every bank with this step's embeddings.
    public mutating func updateBanks(slow: [Tensor], fast: [Tensor], instances batch: [Int]) {
        for k in 0..<config.levels.count {
            slowBanks[k].update(indices: batch, with: slow[k])
            fastBanks[k].update(indices: batch, with: fast[k])
        }
    }
}
