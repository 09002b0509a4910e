import Tensors

/// The two pathways of SlowFast (used here without lateral connections).
public enum Pathway: String, Sendable, Codable, CaseIterable { case slow, fast }

extension ResNet3DConfig {
    /// A SlowFast pathway as SPEC §2 gives it: no temporal striding anywhere; stem
    /// conv (kt×7×7, stride 1×2×2) + BN + ReLU + max-pool 1×3×3 stride 1×2×2; stage spatial
    /// strides 1, 2, 2, 2 (res2…res5).
    ///
    /// | | slow | fast (β = 1/8 width) |
    /// | --- | --- | --- |
    /// | stem | 1×7×7, 64 | 5×7×7, 8 |
    /// | temporal kernel per stage | 1, 1, 3, 3 | 3, 3, 3, 3 |
    /// | R50 bottleneck 3-4-6-3, inner | 64, 128, 256, 512 | 8, 16, 32, 64 |
    /// | R18 basic 2-2-2-2, out | 64, 128, 256, 512 | 8, 16, 32, 64 |
    ///
    /// Basic blocks are k_t×3×3 then 1×3×3; the last BN of each block starts at zero.
    /// `widthMultiplier` scales every width (at least 1 channel) for small scales;
    /// `res5Dilation` > 1 turns res5's stride off and dilates its 3×3 convs (AVA head).
    public static func slowFast(depth: Int, pathway: Pathway, widthMultiplier: Double = 1,
                                res5Dilation: Int = 1) -> ResNet3DConfig {
        precondition(depth == 18 || depth == 50, "SlowFast pathways are defined for depth 18 or 50, got \(depth)")
        precondition(widthMultiplier > 0, "width multiplier must be positive, got \(widthMultiplier)")
        let beta = pathway == .slow ? 1 : 8
        func width(_ w: Int) -> Int { max(1, Int((Double(w / beta) * widthMultiplier).rounded())) }
        let res5Stride = res5Dilation > 1 ? Size3(all: 1) : Size3(1, 2, 2)
        return ResNet3DConfig(
            block: depth == 50 ? .bottleneck : .basic,
            stemChannels: width(64),
            stemKernel: pathway == .slow ? Size3(1, 7, 7) : Size3(5, 7, 7),
            stemStride: Size3(1, 2, 2),
            stemMaxPool: true,
            stageBlocks: depth == 50 ? [3, 4, 6, 3] : [2, 2, 2, 2],
            stageWidths: [64, 128, 256, 512].map(width),
            stageStrides: [Size3(all: 1), Size3(1, 2, 2), Size3(1, 2, 2), res5Stride],
            conv1Temporal: pathway == .slow ? [1, 1, 3, 3] : [3, 3, 3, 3],
            conv2Temporal: [1, 1, 1, 1],
            zeroInitLastBN: true,
            res5Dilation: res5Dilation,
            numClasses: nil)
    }
}
