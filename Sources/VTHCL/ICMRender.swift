import Datasets
import Foundation
import Media
import Tensors

extension InstanceCorrespondenceMap {
    /// The deepest of the model's levels whose map is at least 4×4 at this crop (feature
    /// strides 4, 8, 16, 32 for res2…res5): res5 at 112 px and above, res3 at 32 px.
    public static func defaultLevel(_ config: VTHCLConfig, crop: Int) -> Int {
        let strides = [4, 8, 16, 32]
        return config.levels.sorted().last { (crop + strides[$0 - 1] - 1) / strides[$0 - 1] >= 4 } ?? config.levels.min()!
    }

    /// Decodes `count` frames from `start` seconds of a video, builds the slow and fast clips
    /// of the model's configuration (centre crop of `crop` px, normalised as in training),
    /// computes the map and renders the strip.
    ///
    /// - Returns: the strip image and the map [T, H', W'].
    public static func render(model: VTHCLModel, video: String, start: Double = 0, crop: Int, level: Int? = nil) throws -> (RGBImage, Tensor) {
        let r = try analyse(model: model, video: video, start: start, crop: crop, level: level)
        return (r.image, r.map)
    }

    /// A rendered map and the geometry needed to compare it with annotations.
    public struct Rendering {
        public var image: RGBImage
        /// [T, H', W'], one slice per slow frame.
        public var map: Tensor
        /// The decoded frames' size (short side = crop) and the square crop taken from them.
        public var frameWidth: Int, frameHeight: Int
        public var cropRect: CropRect
        /// The slow frames' indices in the decoded window (frame 0 = `start`).
        public var slowFrames: [Int]

        /// A box given in fractions of the video frame, in pixels of the `crop × crop` clip.
        public func cropBox(_ b: ObjectBox, crop: Int) -> (x1: Double, y1: Double, x2: Double, y2: Double) {
            let sx = Double(crop) / cropRect.width, sy = Double(crop) / cropRect.height
            return ((b.x1 * Double(frameWidth) - cropRect.x) * sx, (b.y1 * Double(frameHeight) - cropRect.y) * sy,
                    (b.x2 * Double(frameWidth) - cropRect.x) * sx, (b.y2 * Double(frameHeight) - cropRect.y) * sy)
        }
    }

    /// ``render(model:video:start:crop:level:)`` with the crop geometry and frame indices.
    public static func analyse(model: VTHCLModel, video: String, start: Double = 0, crop: Int, level: Int? = nil) throws -> Rendering {
        let c = model.config
        let reader = try VideoReader(path: video)
        let frames = try reader.read(spec: DecodeSpec(shortSide: crop), start: .time(start), count: c.slowFrames * c.tau)
        return analyse(model: model, frames: frames, crop: crop, level: level)
    }

    /// The map of a dataset video's first window, read through the frame provider (the clip
    /// cache the other stages read), centre-cropped and resized to `crop`.
    public static func analyse(model: VTHCLModel, record: VideoRecord, provider: FrameProvider, crop: Int, level: Int? = nil) throws -> Rendering {
        let c = model.config
        return analyse(model: model, frames: try provider.frames(of: record, start: 0, count: c.slowFrames * c.tau), crop: crop, level: level)
    }

    /// The map of decoded frames (padded by repeating the last one to the model's window).
    public static func analyse(model: VTHCLModel, frames: Frames, crop: Int, level: Int? = nil) -> Rendering {
        let c = model.config
        let window = c.slowFrames * c.tau
        var padded = frames
        while padded.count < window {
            padded.pixels.append(contentsOf: padded.frame(padded.count - 1))
            padded.count += 1
        }
        let augmenter = ClipAugmenter(.test(size: crop))
        let params = augmenter.testParams(width: padded.width, height: padded.height)
        let slowIndices = (0..<c.slowFrames).map { $0 * c.tau }
        let fastIndices = (0..<c.fastFrames).map { $0 * c.tau / c.alpha }
        let slow = augmenter.apply(padded, indices: slowIndices, params: params)
        let fast = augmenter.apply(padded, indices: fastIndices, params: params)
        let map = compute(model: model, slowClip: slow.reshaped([1] + slow.shape), fastClip: fast.reshaped([1] + fast.shape),
                          level: level ?? defaultLevel(model.config, crop: crop))
        // Display frames: the same centre crops, un-normalised.
        let mean = augmenter.config.mean, std = augmenter.config.std
        let plane = crop * crop
        let images = (0..<c.slowFrames).map { t -> RGBImage in
            var px = [UInt8](repeating: 0, count: plane * 3)
            for p in 0..<plane {
                for ch in 0..<3 {
                    let v = slow.scalars[(ch * c.slowFrames + t) * plane + p] * std[ch] + mean[ch]
                    px[p * 3 + ch] = UInt8(max(0, min(255, (v * 255).rounded())))
                }
            }
            return RGBImage(width: crop, height: crop, pixels: px)
        }
        // Strips at least ~96 px tall per frame, whatever the crop.
        return Rendering(image: render(frames: images, map: map, zoom: max(1, 96 / crop)), map: map,
                         frameWidth: padded.width, frameHeight: padded.height, cropRect: params.crop, slowFrames: slowIndices)
    }
}
