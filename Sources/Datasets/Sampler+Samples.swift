import Foundation
import Media
import Tensors

/// A pretraining instance: the slow clip `[3, window/τ, S, S]` and the fast clip
/// `[3, α·window/τ, S, S]` of one video, cut from the same raw window with the same crop,
/// flip and colour draws.
public struct PretrainSample: Sendable {
    public var index: Int
    public var slow: Tensor
    public var fast: Tensor
    public init(index: Int, slow: Tensor, fast: Tensor) { self.index = index; self.slow = slow; self.fast = fast }
}

/// A labelled clip `[3, T, S, S]` (or test clips `[clips, 3, T, S, S]`).
public struct LabeledClip: Sendable {
    public var index: Int
    public var clip: Tensor
    public var label: Int
}

/// An AVA keyframe clip `[3, T, H, W]` with its boxes in output pixels `[x1, y1, x2, y2]`
/// and their action ids.
public struct AVASample: Sendable {
    public var clip: Tensor
    public var boxes: [[Float]]
    public var actions: [[Int]]
}

/// Sample builders: frames from a `FrameProvider`, indices from `ClipSampler`, pixels from
/// `ClipAugmenter`.
public struct SampleBuilder: Sendable {
    public var provider: FrameProvider
    public var augmenter: ClipAugmenter

    public init(provider: FrameProvider, augment: AugmentConfig) {
        self.provider = provider
        augmenter = ClipAugmenter(augment)
    }

    public func pretrainPair(_ record: VideoRecord, index: Int, window: Int = 64, tau: Int = 8, alpha: Int = 2,
                             rng: RandomGeneratorBox) throws(DatasetError) -> PretrainSample {
        let length = try provider.length(of: record)
        let pair = ClipSampler.pretrainPair(length: length, window: window, tau: tau, alpha: alpha, rng: rng)
        let frames = try provider.frames(of: record, start: pair.start, count: window)
        let p = augmenter.draw(width: frames.width, height: frames.height, rng: rng)
        return PretrainSample(index: index,
                              slow: augmenter.apply(frames, indices: pair.slow.map { $0 - pair.start }, params: p),
                              fast: augmenter.apply(frames, indices: pair.fast.map { $0 - pair.start }, params: p))
    }

    /// A random training clip of `frames` frames at `stride`.
    public func trainClip(_ record: VideoRecord, index: Int, frames count: Int = 8, stride: Int = 8,
                          rng: RandomGeneratorBox) throws(DatasetError) -> LabeledClip {
        let length = try provider.length(of: record)
        let span = count * stride
        let start = length > span ? rng.int(below: length - span + 1) : 0
        let frames = try provider.frames(of: record, start: start, count: span)
        let p = augmenter.draw(width: frames.width, height: frames.height, rng: rng)
        return LabeledClip(index: index, clip: augmenter.apply(frames, indices: (0..<count).map { $0 * stride }, params: p),
                           label: record.label ?? -1)
    }

    /// The test clips of a video: `clips` uniformly spread clips × `crops` (1 = centre, 3 =
    /// left/centre/right) → `[clips·crops, 3, T, S, S]`, clip-major.
    public func testClips(_ record: VideoRecord, index: Int, clips: Int = 10, crops: Int = 1, frames count: Int = 8,
                          stride: Int = 8) throws(DatasetError) -> LabeledClip {
        let length = try provider.length(of: record)
        let span = count * stride
        let all = try provider.frames(of: record, start: 0, count: max(length, 1))
        var scalars: [Float] = []
        var shape: [Int] = []
        for start in ClipSampler.testStarts(length: length, span: span, clips: clips) {
            let idx = ClipSampler.clip(start: start, frames: count, stride: stride, length: length)
            for pos in crops == 3 ? [0, 1, 2] : [1] {
                let t = augmenter.apply(all, indices: idx, params: augmenter.testParams(width: all.width, height: all.height, position: pos))
                scalars += t.scalars
                shape = t.shape
            }
        }
        return LabeledClip(index: index, clip: Tensor(shape: [clips * (crops == 3 ? 3 : 1)] + shape, scalars: scalars),
                           label: record.label ?? -1)
    }

    /// A clip centred on an AVA keyframe. Training (`rng` given): random resized crop and
    /// flip, boxes carried through both; test: the whole frame resized so its short side is
    /// the configured size, boxes scaled.
    public func avaClip(_ record: VideoRecord, keyframe: AVAKeyframe, frames count: Int = 8, stride: Int = 8,
                        useProposals: Bool = false, rng: RandomGeneratorBox?) throws(DatasetError) -> AVASample {
        let length = try provider.length(of: record)
        let rate = provider.spec.fps.map { $0 / AVAAdapter.frameRate } ?? 1
        let centre = Int((Double(keyframe.frameIndex) * rate).rounded())
        let idx = ClipSampler.centred(on: centre, frames: count, stride: stride, length: length)
        let lo = idx.min()!, hi = idx.max()!
        let frames = try provider.frames(of: record, start: lo, count: hi - lo + 1)
        let local = idx.map { $0 - lo }
        let params: AugmentParams
        let outSize: (Int, Int)
        if let rng {
            var p = augmenter.draw(width: frames.width, height: frames.height, rng: rng)
            p.jitter = nil; p.grayscale = false
            p.crop = ClipAugmenter.randomResizedCrop(width: frames.width, height: frames.height, area: 0.5...1, aspect: augmenter.config.aspect, rng: rng)
            params = p
            outSize = (augmenter.config.size, augmenter.config.size)
        } else {
            params = AugmentParams(crop: CropRect(x: 0, y: 0, width: Double(frames.width), height: Double(frames.height)),
                                   flip: false, jitter: nil, grayscale: false, order: [0, 1, 2, 3])
            let s = Double(augmenter.config.size) / Double(min(frames.width, frames.height))
            outSize = (Int((Double(frames.height) * s).rounded()), Int((Double(frames.width) * s).rounded()))
        }
        var boxes: [[Float]] = [], actions: [[Int]] = []
        for b in useProposals ? keyframe.proposals : keyframe.boxes {
            if let t = ClipAugmenter.transform(box: b, sourceWidth: frames.width, sourceHeight: frames.height, params: params,
                                               outWidth: outSize.1, outHeight: outSize.0) {
                boxes.append(t)
                actions.append(b.actions)
            }
        }
        return AVASample(clip: augmenter.apply(frames, indices: local, params: params, outSize: outSize), boxes: boxes, actions: actions)
    }

    /// The Epic observation clip before `segment` (`[3, frames, S, S]`), centre crop (or
    /// augmented when `rng` is given), with its verb and noun.
    public func epicClip(_ record: VideoRecord, segment: EpicSegment, frames count: Int = 8, observe: Double = 1,
                         anticipate: Double = 1, rng: RandomGeneratorBox?) throws(DatasetError) -> (clip: Tensor, verb: Int, noun: Int) {
        let length = try provider.length(of: record)
        let fps = provider.spec.fps ?? record.fps ?? EpicAdapter.defaultFPS
        let (idx, _) = ClipSampler.epicWindow(actionStart: segment.start, observe: observe, anticipate: anticipate,
                                              frames: count, fps: fps, length: length)
        let lo = idx.min()!, hi = idx.max()!
        let frames = try provider.frames(of: record, start: lo, count: hi - lo + 1)
        let params = rng.map { augmenter.draw(width: frames.width, height: frames.height, rng: $0) }
            ?? augmenter.testParams(width: frames.width, height: frames.height)
        return (augmenter.apply(frames, indices: idx.map { $0 - lo }, params: params), segment.verb, segment.noun)
    }
}

extension Tensor {
    /// Stacks equally shaped tensors along a new leading axis (clips → a batch `[N, …]`).
    public static func stack(_ items: [Tensor]) -> Tensor {
        precondition(!items.isEmpty, "stack of nothing")
        var scalars: [Float] = []
        scalars.reserveCapacity(items.count * items[0].count)
        for t in items {
            precondition(t.shape == items[0].shape, "stack: shapes differ \(t.shape) vs \(items[0].shape)")
            scalars += t.scalars
        }
        return Tensor(shape: [items.count] + items[0].shape, scalars: scalars)
    }
}

extension Tensor {
    /// Concatenates tensors along their leading (batch) axis: `[n_i, …]` → `[Σ n_i, …]`.
    public static func concatenateBatches(_ items: [Tensor]) -> Tensor {
        precondition(!items.isEmpty, "concatenation of nothing")
        let rest = Array(items[0].shape.dropFirst())
        var scalars: [Float] = []
        scalars.reserveCapacity(items.reduce(0) { $0 + $1.count })
        for t in items {
            precondition(Array(t.shape.dropFirst()) == rest, "concatenateBatches: shapes differ \(t.shape) vs \(items[0].shape)")
            scalars += t.scalars
        }
        return Tensor(shape: [items.reduce(0) { $0 + $1.shape[0] }] + rest, scalars: scalars)
    }
}

/// Forward-only evaluation in batches: the clips of consecutive items are concatenated along
/// the batch axis and run through the network `batchClips` (or a few more) at a time. At the
/// small scales one clip is a few million multiply–adds, and per call costs (weight packing,
/// waking threads) dominated when each video went through alone. In evaluation mode every
/// clip's output depends on that clip only (batch norm uses its running statistics), so
/// batching changes the values at most by the rounding of a differently blocked product.
public enum BatchedEvaluation {
    public static let batchClips = 32

    /// Calls `forward` on batches of the clips `next()` yields (`[n_i, …]` each, nil at the
    /// end), in order; `forward` receives `[N, …]` and the items' clip counts.
    public static func run(batchClips: Int = batchClips, next: () throws -> Tensor?,
                           forward: (_ batch: Tensor, _ counts: [Int]) throws -> Void) throws {
        var pending: [Tensor] = [], clips = 0
        func flush() throws {
            guard !pending.isEmpty else { return }
            try forward(pending.count == 1 ? pending[0] : Tensor.concatenateBatches(pending), pending.map { $0.shape[0] })
            pending.removeAll(keepingCapacity: true); clips = 0
        }
        while let t = try next() {
            pending.append(t); clips += t.shape[0]
            if clips >= batchClips { try flush() }
        }
        try flush()
    }
}
