import Foundation

/// How GPU-hours are estimated from multiply–adds.
public enum CostModel {
    /// Sustained multiply–adds per second of one V100-class GPU on 3D convolutions in mixed
    /// precision (≈ 30 % of its 125 TFLOPS tensor-core peak).
    public static let gpuMACsPerSecond = 0.3 * 125e12 / 2
    public static let assumption = "one V100-class GPU at 30 % of tensor-core peak, ≈ 19 TMAC/s"
    public static func gpuHours(macs: Double) -> Double { macs / gpuMACsPerSecond / 3600 }

    /// Effective multiply–adds per second of a whole training stage on the 2-core
    /// development machine (measured: ci-size networks are dominated by small convolutions
    /// and data preparation, ≈ 11 GMAC/s; full-width ones run closer to the SGEMM rate).
    public static func cpuMACsPerSecond(_ scale: Scale) -> Double { scale == .ci ? 11e9 : 45e9 }
}
