import Tensors

/// Residual block kinds of 3D ResNets.
public enum BlockKind: String, Sendable, Codable { case basic, bottleneck }

/// Configuration of a 3D ResNet (NCDHW input). Covers torchvision's `r3d_18` and the slow
/// and fast pathways of SlowFast (without lateral connections).
public struct ResNet3DConfig: Sendable, Codable, Equatable {
    public var block: BlockKind
    public var inChannels = 3
    public var stemChannels: Int
    public var stemKernel: Size3
    public var stemStride: Size3
    public var stemMaxPool: Bool
    /// Blocks per stage (res2…res5).
    public var stageBlocks: [Int]
    /// Basic: output width per stage. Bottleneck: inner width (output = 4 × inner).
    public var stageWidths: [Int]
    /// Stride of the first block of each stage.
    public var stageStrides: [Size3]
    /// Temporal kernel of the first conv in each block, per stage.
    public var conv1Temporal: [Int]
    /// Temporal kernel of a basic block's second conv, per stage.
    public var conv2Temporal: [Int]
    /// Zero-initialise the last BN of each block (each block starts as the identity).
    public var zeroInitLastBN: Bool
    /// Spatial dilation of res5's 3×3 convs (the AVA head uses stride 1, dilation 2).
    public var res5Dilation = 1
    /// Linear classifier after global average pooling; nil for a feature extractor.
    public var numClasses: Int?

    public init(block: BlockKind, inChannels: Int = 3, stemChannels: Int, stemKernel: Size3, stemStride: Size3,
                stemMaxPool: Bool, stageBlocks: [Int], stageWidths: [Int], stageStrides: [Size3],
                conv1Temporal: [Int], conv2Temporal: [Int], zeroInitLastBN: Bool, res5Dilation: Int = 1,
                numClasses: Int?) {
        self.block = block; self.inChannels = inChannels; self.stemChannels = stemChannels
        self.stemKernel = stemKernel; self.stemStride = stemStride; self.stemMaxPool = stemMaxPool
        self.stageBlocks = stageBlocks; self.stageWidths = stageWidths; self.stageStrides = stageStrides
        self.conv1Temporal = conv1Temporal; self.conv2Temporal = conv2Temporal
        self.zeroInitLastBN = zeroInitLastBN; self.res5Dilation = res5Dilation; self.numClasses = numClasses
    }

    public var expansion: Int { block == .bottleneck ? 4 : 1 }
    public var stageOutputs: [Int] { stageWidths.map { $0 * expansion } }

    /// torchvision's `r3d_18`: 3×7×7 stem (stride 1×2×2, no max-pool), four stages of two
    /// basic 3×3×3 blocks, strides 1, 2, 2, 2 in every axis, widths 64…512.
    public static func r3d18(numClasses: Int) -> ResNet3DConfig {
        ResNet3DConfig(block: .basic, stemChannels: 64, stemKernel: Size3(3, 7, 7), stemStride: Size3(1, 2, 2),
                       stemMaxPool: false, stageBlocks: [2, 2, 2, 2], stageWidths: [64, 128, 256, 512],
                       stageStrides: [Size3(all: 1), Size3(all: 2), Size3(all: 2), Size3(all: 2)],
                       conv1Temporal: [3, 3, 3, 3], conv2Temporal: [3, 3, 3, 3], zeroInitLastBN: false,
                       numClasses: numClasses)
    }
}

/// A basic residual block: conv (kt1×3×3, stride) + BN + ReLU, conv (kt2×3×3) + BN,
/// plus the shortcut (1×1×1 conv + BN when the shape changes), then ReLU.
public final class BasicBlock3D: Layer {
    public let conv1: Conv3d, bn1: BatchNorm, conv2: Conv3d, bn2: BatchNorm
    public let downConv: Conv3d?, downBN: BatchNorm?

    public init(_ inChannels: Int, _ outChannels: Int, stride: Size3, conv1Temporal: Int, conv2Temporal: Int,
                dilation: Int = 1, zeroInitLastBN: Bool, rng: inout RandomGenerator) {
        let k1 = Size3(conv1Temporal, 3, 3), k2 = Size3(conv2Temporal, 3, 3)
        let dil = Size3(1, dilation, dilation)
        conv1 = Conv3d(inChannels, outChannels, kernel: k1, stride: stride,
                       padding: Conv3d.samePadding(k1, dilation: dil), dilation: dil, rng: &rng)
        bn1 = BatchNorm(outChannels)
        conv2 = Conv3d(outChannels, outChannels, kernel: k2, padding: Conv3d.samePadding(k2, dilation: dil),
                       dilation: dil, rng: &rng)
        bn2 = BatchNorm(outChannels, zeroInit: zeroInitLastBN)
        if inChannels != outChannels || stride != Size3(all: 1) {
            downConv = Conv3d(inChannels, outChannels, kernel: Size3(all: 1), stride: stride, rng: &rng)
            downBN = BatchNorm(outChannels)
        } else {
            downConv = nil; downBN = nil
        }
    }

    public func callAsFunction(_ x: Variable, training: Bool) -> Variable {
        var y = relu(bn1(conv1(x), training: training))
        y = bn2(conv2(y), training: training)
        let shortcut = downConv.map { downBN!($0(x), training: training) } ?? x
        return relu(y + shortcut)
    }

    public var namedParameters: [(String, Variable)] {
        scoped("conv1", conv1.namedParameters) + scoped("bn1", bn1.namedParameters)
            + scoped("conv2", conv2.namedParameters) + scoped("bn2", bn2.namedParameters)
            + (downConv.map { scoped("down.conv", $0.namedParameters) + scoped("down.bn", downBN!.namedParameters) } ?? [])
    }
    public var namedBuffers: [(String, Variable)] {
        scoped("bn1", bn1.namedBuffers) + scoped("bn2", bn2.namedBuffers)
            + (downBN.map { scoped("down.bn", $0.namedBuffers) } ?? [])
    }
}

/// A bottleneck block: conv a (kt×1×1) → conv b (1×3×3, carries the stride) → conv c
/// (1×1×1, 4× width), each with BN (ReLU after a and b), plus the projection shortcut.
public final class Bottleneck3D: Layer {
    public let conv1: Conv3d, bn1: BatchNorm, conv2: Conv3d, bn2: BatchNorm, conv3: Conv3d, bn3: BatchNorm
    public let downConv: Conv3d?, downBN: BatchNorm?

    public init(_ inChannels: Int, inner: Int, stride: Size3, temporalKernel: Int, dilation: Int = 1,
                zeroInitLastBN: Bool, rng: inout RandomGenerator) {
        let out = inner * 4
        let ka = Size3(temporalKernel, 1, 1), kb = Size3(1, 3, 3), dil = Size3(1, dilation, dilation)
        conv1 = Conv3d(inChannels, inner, kernel: ka, padding: Conv3d.samePadding(ka), rng: &rng)
        bn1 = BatchNorm(inner)
        conv2 = Conv3d(inner, inner, kernel: kb, stride: stride, padding: Conv3d.samePadding(kb, dilation: dil),
                       dilation: dil, rng: &rng)
        bn2 = BatchNorm(inner)
        conv3 = Conv3d(inner, out, kernel: Size3(all: 1), rng: &rng)
        bn3 = BatchNorm(out, zeroInit: zeroInitLastBN)
        if inChannels != out || stride != Size3(all: 1) {
            downConv = Conv3d(inChannels, out, kernel: Size3(all: 1), stride: stride, rng: &rng)
            downBN = BatchNorm(out)
        } else {
            downConv = nil; downBN = nil
        }
    }

    public func callAsFunction(_ x: Variable, training: Bool) -> Variable {
        var y = relu(bn1(conv1(x), training: training))
        y = relu(bn2(conv2(y), training: training))
        y = bn3(conv3(y), training: training)
        let shortcut = downConv.map { downBN!($0(x), training: training) } ?? x
        return relu(y + shortcut)
    }

    public var namedParameters: [(String, Variable)] {
        scoped("conv1", conv1.namedParameters) + scoped("bn1", bn1.namedParameters)
            + scoped("conv2", conv2.namedParameters) + scoped("bn2", bn2.namedParameters)
            + scoped("conv3", conv3.namedParameters) + scoped("bn3", bn3.namedParameters)
            + (downConv.map { scoped("down.conv", $0.namedParameters) + scoped("down.bn", downBN!.namedParameters) } ?? [])
    }
    public var namedBuffers: [(String, Variable)] {
        scoped("bn1", bn1.namedBuffers) + scoped("bn2", bn2.namedBuffers) + scoped("bn3", bn3.namedBuffers)
            + (downBN.map { scoped("down.bn", $0.namedBuffers) } ?? [])
    }
}

/// A residual block of either kind.
public enum ResidualBlock {
    case basic(BasicBlock3D)
    case bottleneck(Bottleneck3D)

    var layer: Layer {
        switch self { case .basic(let b): return b; case .bottleneck(let b): return b }
    }
    func callAsFunction(_ x: Variable, training: Bool) -> Variable {
        switch self {
        case .basic(let b): return b(x, training: training)
        case .bottleneck(let b): return b(x, training: training)
        }
    }
}

/// A 3D ResNet. Parameter names: `stem.conv.weight`, `stem.bn.{weight,bias,running_mean,
/// running_var}`, `layer{1…4}.{i}.conv1.weight`, `…bn1.*`, `…down.conv.weight`, `fc.weight`.
/// (`layerK` is the paper's res(K+1).)
public final class ResNet3D: Layer {
    public let config: ResNet3DConfig
    public let stemConv: Conv3d, stemBN: BatchNorm
    public let stages: [[ResidualBlock]]
    public let fc: Linear?

    public init(_ config: ResNet3DConfig, rng: inout RandomGenerator) {
        precondition([config.stageBlocks.count, config.stageWidths.count, config.stageStrides.count,
                      config.conv1Temporal.count, config.conv2Temporal.count].allSatisfy { $0 == 4 },
                     "ResNet3D config needs four entries per stage list")
        self.config = config
        let k = config.stemKernel
        stemConv = Conv3d(config.inChannels, config.stemChannels, kernel: k, stride: config.stemStride,
                          padding: Conv3d.samePadding(k), rng: &rng)
        stemBN = BatchNorm(config.stemChannels)
        var channels = config.stemChannels
        var stages: [[ResidualBlock]] = []
        for s in 0..<4 {
            var blocks: [ResidualBlock] = []
            let dilation = s == 3 ? config.res5Dilation : 1
            for b in 0..<config.stageBlocks[s] {
                let stride = b == 0 ? config.stageStrides[s] : Size3(all: 1)
                switch config.block {
                case .basic:
                    blocks.append(.basic(BasicBlock3D(channels, config.stageWidths[s], stride: stride,
                                                      conv1Temporal: config.conv1Temporal[s],
                                                      conv2Temporal: config.conv2Temporal[s], dilation: dilation,
                                                      zeroInitLastBN: config.zeroInitLastBN, rng: &rng)))
                case .bottleneck:
                    blocks.append(.bottleneck(Bottleneck3D(channels, inner: config.stageWidths[s], stride: stride,
                                                           temporalKernel: config.conv1Temporal[s], dilation: dilation,
                                                           zeroInitLastBN: config.zeroInitLastBN, rng: &rng)))
                }
                channels = config.stageOutputs[s]
            }
            stages.append(blocks)
        }
        self.stages = stages
        fc = config.numClasses.map { Linear(channels, $0, rng: &rng) }
    }

    /// Stage outputs res2…res5, each [N, C, T, H, W].
    public func features(_ x: Variable, training: Bool) -> [Variable] {
        var y = relu(stemBN(stemConv(x), training: training))
        if config.stemMaxPool {
            y = maxPool3d(y, kernel: Size3(1, 3, 3), stride: Size3(1, 2, 2), padding: Size3(0, 1, 1))
        }
        var outputs: [Variable] = []
        for stage in stages {
            for block in stage { y = block(y, training: training) }
            outputs.append(y)
        }
        return outputs
    }

    /// Global-average-pooled res5 features through the classifier (if any): [N, classes].
    public func callAsFunction(_ x: Variable, training: Bool) -> Variable {
        let pooled = globalAvgPool(features(x, training: training).last!)
        return fc.map { $0(pooled) } ?? pooled
    }

    public var namedParameters: [(String, Variable)] {
        var items = scoped("stem.conv", stemConv.namedParameters) + scoped("stem.bn", stemBN.namedParameters)
        for (s, stage) in stages.enumerated() {
            for (b, block) in stage.enumerated() { items += scoped("layer\(s + 1).\(b)", block.layer.namedParameters) }
        }
        if let fc { items += scoped("fc", fc.namedParameters) }
        return items
    }

    public var namedBuffers: [(String, Variable)] {
        var items = scoped("stem.bn", stemBN.namedBuffers)
        for (s, stage) in stages.enumerated() {
            for (b, block) in stage.enumerated() { items += scoped("layer\(s + 1).\(b)", block.layer.namedBuffers) }
        }
        return items
    }
}
