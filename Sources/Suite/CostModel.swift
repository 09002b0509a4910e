import Foundation
import Datasets

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
    public static func cpuMACsPerSecond(_ scale: Scale) -> Double { scale == .ci || scale == .small ? 11e9 : 45e9 }

    /// Seconds of a stage on this machine: training and evaluation multiply–adds at their
    /// own measured rates, plus a fixed cost a stage (building networks, loading splits,
    /// opening the clip cache, writing checkpoints). Fitted to the stage wall times of a
    /// `bench all --scale ci` run (`benchmarks/plan_calibration.py`, `benchmarks/RESULTS.md`).
    public static func cpuSeconds(trainMACs: Double, evalMACs: Double, scale: Scale) -> Double {
        let small = scale == .ci || scale == .small
        let train = small ? ciTrainMACsPerSecond : 45e9, eval = small ? ciEvalMACsPerSecond : 45e9
        return trainMACs / train + evalMACs / eval + stageOverheadSeconds
    }
    /// Seconds to generate a synthetic scale's datasets and decode them into the clip cache
    /// (what a fresh `bench all` does first): a cost per frame written, encoded and decoded
    /// once, fitted like the rates below.
    public static func dataSeconds(_ c: SyntheticConfig) -> Double {
        func frames(_ r: SyntheticConfig.Recognition, videos: Int) -> Double {
            Double(videos) * r.fps * (r.seconds.lowerBound + r.seconds.upperBound) / 2
        }
        let k = c.kinetics, u = c.ucf, h = c.hmdb
        var total = frames(k, videos: k.classes * (k.perClass + k.extra))
        total += frames(u, videos: u.classes * (u.perClass + u.heldOut) * max(1, u.extra))
        total += frames(h, videos: h.classes * (h.perClass + h.heldOut))
        total += Double((c.avaTrainVideos + c.avaTestVideos) * (c.avaKeyframes + 3) * 30)
        total += Double(c.epicParticipants * c.epicVideosPerParticipant) * c.epicSeconds * c.epicFPS
        let pixels = Double(c.width * c.height) / (64 * 48)
        return total * pixels * dataSecondsPerFrame
    }
    /// Measured 2026-12-02: the small scale's 405,927 frames (64 × 48) rendered, encoded and
    /// written in 92 s, 2.3e-4 s a frame, with two builds sharing the machine; their first
    /// decode into the clip cache falls in the first stage that reads each dataset.
    public static let dataSecondsPerFrame = 2.3e-4
    // Fitted 2026-12-02 (benchmarks/RESULTS.md, `benchmarks/plan_calibration.py`) to quiet
    // runs only: the 61 stages of `bench all --scale ci` and the 202 of `bench all --scale
    // small`, nothing else on the two cores: training 20.6, evaluation 25.6 GMAC/s. Fitted
    // on the ci run and the small run's first 94 stages, the model put the other 108 within
    // 5 %. The earlier constants (15.5, 13.3 GMAC/s, 0.39 s), fitted beside a Swift build,
    // had predicted the quiet small run 1.5 times too long.
    public static let ciTrainMACsPerSecond = 20.57e9
    public static let ciEvalMACsPerSecond = 25.56e9
    public static let stageOverheadSeconds = 0.10

    // MARK: Data parallelism

    /// Per-message latency of one ring step on the interconnect (TCP over Ethernet; an
    /// InfiniBand fabric is several times lower).
    public static let linkLatencySeconds = 20e-6
    /// Gradient values per allreduce (`DataParallel.reduceGradients`' bucket).
    public static let bucketFloats = Double(1 << 22)

    /// Seconds of one ring allreduce of `floats` float32 values over `ranks` ranks linked at
    /// `gbits` Gbit/s: each rank sends and receives 2(N−1)/N of the buffer, in 2(N−1) steps
    /// per bucket, each paying the link latency.
    public static func ringAllreduceSeconds(floats: Double, ranks: Int, gbits: Double) -> Double {
        guard ranks > 1, floats > 0 else { return 0 }
        let n = Double(ranks), bytes = 4 * floats
        let buckets = (floats / bucketFloats).rounded(.up)
        return 2 * (n - 1) / n * bytes / (gbits * 1e9 / 8) + buckets * 2 * (n - 1) * linkLatencySeconds
    }

    /// The backward pass's share of a training step's compute: it costs about twice the
    /// forward pass (the input and the weight gradients of every layer).
    public static let backwardShare = 2.0 / 3.0

    /// A training stage spread over `ranks` ranks of the given rate: compute divides by the
    /// rank count, and each step adds its gradient allreduce (not overlapped with the
    /// backward pass in this build). `hidingBatch` is the per-rank batch whose compute would
    /// take as long as the allreduce: above it, overlapping would hide communication.
    public struct DataParallelCost: Sendable {
        public var computeSeconds: Double
        public var communicationSeconds: Double
        public var perStepAllreduceSeconds: Double
        public var hidingBatch: Double
        /// One rank's compute of one step (forward and backward of its slice of the batch).
        public var perStepComputeSeconds: Double = 0
        /// The most that overlapping each step's allreduce with its backward pass could save
        /// over the stage: per step, the allreduce or the backward pass, whichever is shorter
        /// (an upper bound: the bucket of the last gradients is never hidden).
        public var overlapSavingSeconds: Double = 0
        public var totalSeconds: Double { computeSeconds + communicationSeconds }
        /// The share of the stage's time on the ranks that overlap could save at most.
        public var overlapSavingShare: Double { totalSeconds > 0 ? overlapSavingSeconds / totalSeconds : 0 }
        /// Speed-up over one rank, divided by the rank count.
        public func efficiency(ranks: Int, oneRankSeconds: Double) -> Double { oneRankSeconds / totalSeconds / Double(ranks) }
    }

    public static func dataParallel(_ e: CostEstimate, ranks: Int, gbits: Double, macsPerSecond: Double) -> DataParallelCost? {
        guard let steps = e.steps, let floats = e.gradientFloats, let batch = e.batch, steps > 0 else { return nil }
        let step = ringAllreduceSeconds(floats: floats, ranks: ranks, gbits: gbits)
        let perClipSeconds = e.macs / macsPerSecond / (steps * Double(batch))
        let perStepCompute = perClipSeconds * Double(batch) / Double(ranks)
        return DataParallelCost(computeSeconds: e.macs / macsPerSecond / Double(ranks), communicationSeconds: steps * step,
                                perStepAllreduceSeconds: step, hidingBatch: step / perClipSeconds,
                                perStepComputeSeconds: perStepCompute,
                                overlapSavingSeconds: steps * min(step, backwardShare * perStepCompute))
    }
}
