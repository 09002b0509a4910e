import Networks

/// Model and input sizes of pretraining at each scale (DESIGN "Scales").
///
/// | scale | crop | width | slow frames | α | negatives | batch |
/// | --- | --- | --- | --- | --- | --- | --- |
/// | ci | 32 px | ¼ | 8 | 2 | ≤ 4096 | 16 |
/// | mini | 112 px | 1 | 8 | 2 | ≤ 16384 | 16 |
/// | paper | 112 (R18) / 224 (R50) | 1 | 8 | 2 | 16384 | 256 |
public struct PretrainPreset: Sendable, Equatable {
    public var crop: Int
    public var widthMultiplier: Double
    public var batch: Int
    public var negatives: Int

    public static func named(_ scale: String, depth: Int) -> PretrainPreset {
        switch scale {
        case "ci": return PretrainPreset(crop: 32, widthMultiplier: 0.25, batch: 16, negatives: 4096)
        case "mini": return PretrainPreset(crop: 112, widthMultiplier: 1, batch: 16, negatives: 16384)
        default: return PretrainPreset(crop: depth == 50 ? 224 : 112, widthMultiplier: 1, batch: 256, negatives: 16384)
        }
    }

    /// A VTHCL config at this preset (α, levels and projection from `base`).
    public func config(depth: Int, base: VTHCLConfig = VTHCLConfig()) -> VTHCLConfig {
        var c = base
        c.depth = depth
        c.widthMultiplier = widthMultiplier
        c.negatives = negatives
        return c
    }
}

extension VTHCLModel {
    /// Multiply–adds of one forward pass of both encoders for one instance at `crop` px.
    public static func forwardMACs(config: VTHCLConfig, crop: Int) -> Double {
        var total = 0.0
        for pathway in [Pathway.slow, .fast] {
            let net = ResNet3DConfig.slowFast(depth: config.depth, pathway: pathway, widthMultiplier: config.width(pathway))
            let frames = pathway == .slow ? config.slowFrames : config.fastFrames
            total += net.forwardMACs(input: [1, 3, frames, crop, crop])
        }
        return total
    }
}

extension VTHCLModel {
    /// Trainable values of both encoders and every projection head (the gradients a
    /// data-parallel pretraining step allreduces), counted from the configuration.
    public static func parameterCount(config: VTHCLConfig) -> Int {
        var total = 0
        for pathway in [Pathway.slow, .fast] {
            let net = ResNet3DConfig.slowFast(depth: config.depth, pathway: pathway, widthMultiplier: config.width(pathway))
            total += net.parameterCount
            for level in config.levels {
                let c = net.stageOutputs[level - 1], d = config.embeddingDimension
                total += c * c + c + c * d + d + (config.projection.hasBatchNorm ? 2 * c : 0)
            }
        }
        return total
    }
}
