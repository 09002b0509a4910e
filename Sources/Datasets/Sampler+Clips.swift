import Foundation

/// Frame indices for the paper's clip samplings. Indices past the end of a short video are
/// clamped to its last frame (PySlowFast's behaviour).
public enum ClipSampler {
    /// A pretraining pair from one raw window of `window` frames starting at `start`: the
    /// slow clip takes every `tau`-th frame (`window / tau` frames, 8 for 64 / 8), the fast
    /// clip every `tau / alpha`-th (`alpha` times as many). `alpha` must divide `tau`.
    public struct Pair: Sendable, Equatable {
        public var start: Int
        public var slow: [Int]
        public var fast: [Int]
    }

    /// `length`: frames in the video. The window start is uniform over the valid starts.
    public static func pretrainPair(length: Int, window: Int = 64, tau: Int = 8, alpha: Int = 2,
                                    rng: RandomGeneratorBox) -> Pair {
        precondition(tau % alpha == 0, "alpha (\(alpha)) must divide tau (\(tau))")
        let start = length > window ? rng.int(below: length - window + 1) : 0
        func take(_ stride: Int) -> [Int] {
            (0..<(window / stride)).map { min(max(0, length - 1), start + $0 * stride) }
        }
        return Pair(start: start, slow: take(tau), fast: take(tau / alpha))
    }

    /// The start frames of `clips` test clips spanning `span` raw frames each, spread
    /// uniformly: clip i starts at ⌊i · (length − span) / (clips − 1)⌋ (0 when the video is
    /// shorter than `span`).
    public static func testStarts(length: Int, span: Int, clips: Int = 10) -> [Int] {
        guard clips > 1 else { return [max(0, (length - span) / 2)] }
        let room = max(0, length - span)
        return (0..<clips).map { $0 * room / (clips - 1) }
    }

    /// Indices of a clip of `frames` frames at `stride` from `start`.
    public static func clip(start: Int, frames: Int, stride: Int, length: Int) -> [Int] {
        (0..<frames).map { min(max(0, length - 1), max(0, start + $0 * stride)) }
    }

    /// An AVA clip centred on keyframe frame `centre`: `frames` frames at `stride`,
    /// the centre falling at index `frames / 2`.
    public static func centred(on centre: Int, frames: Int = 8, stride: Int = 8, length: Int) -> [Int] {
        clip(start: centre - (frames / 2) * stride, frames: frames, stride: stride, length: length)
    }

    /// Epic-Kitchens anticipation: the observation window `[t_s − τ_o − τ_a, t_s − τ_a]`
    /// (seconds) before an action starting at `actionStart`, sampled with `frames` evenly
    /// spaced frames at `fps`. The window is clipped at 0; `observable` is false when it
    /// starts before the video does.
    public static func epicWindow(actionStart ts: Double, observe tauO: Double = 1, anticipate tauA: Double = 1,
                                  frames: Int = 8, fps: Double, length: Int) -> (indices: [Int], observable: Bool) {
        let t0 = ts - tauO - tauA, t1 = ts - tauA
        let step = (t1 - t0) / Double(frames)
        let idx = (0..<frames).map { k -> Int in
            let t = max(0, t0 + (Double(k) + 0.5) * step)
            return min(max(0, length - 1), Int((t * fps).rounded(.down)))
        }
        return (idx, t0 >= 0)
    }

    /// Epic window bounds in seconds.
    public static func epicWindowBounds(actionStart ts: Double, observe tauO: Double = 1, anticipate tauA: Double = 1) -> (Double, Double) {
        (ts - tauO - tauA, ts - tauA)
    }
}

import Tensors

/// A `RandomGenerator` in a class, so samplers can draw from it through a shared reference.
public final class RandomGeneratorBox: @unchecked Sendable {
    public var generator: RandomGenerator
    public init(seed: UInt64) { generator = RandomGenerator(seed: seed) }
    public init(_ g: RandomGenerator) { generator = g }
    public func uniform() -> Double { Double(generator.nextUniform()) }
    public func uniform(_ a: Double, _ b: Double) -> Double { a + (b - a) * uniform() }
    public func int(below n: Int) -> Int { generator.nextInt(below: n) }

    /// A generator for item `index` of epoch `epoch` under `seed`, independent of the order
    /// in which worker threads ask for items.
    public static func forItem(_ stream: SeedStream, epoch: Int, index: Int) -> RandomGeneratorBox {
        RandomGeneratorBox(stream.generator(epoch, index))
    }
}
