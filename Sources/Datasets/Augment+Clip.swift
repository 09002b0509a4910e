import Foundation
import Media
import Tensors

/// A crop rectangle in source pixels.
public struct CropRect: Sendable, Equatable {
    public var x: Double, y: Double, width: Double, height: Double
    public init(x: Double, y: Double, width: Double, height: Double) {
        self.x = x; self.y = y; self.width = width; self.height = height
    }
}

/// Augmentation settings. Defaults are the field standard the paper's setting implies
/// (**choice**, SPEC §1): random resized crop (area 0.2–1, aspect 3/4–4/3), horizontal flip
/// p = 0.5, colour jitter 0.4 (brightness, contrast, saturation; hue 0.1) applied with
/// p = 0.8, grayscale p = 0.2, then per-channel normalisation.
public struct AugmentConfig: Sendable, Equatable {
    public var size: Int
    public var area: ClosedRange<Double> = 0.2...1
    public var aspect: ClosedRange<Double> = (3.0 / 4)...(4.0 / 3)
    public var flip = 0.5
    public var jitter = 0.4
    public var hue = 0.1
    public var jitterProbability = 0.8
    public var grayscale = 0.2
    public var mean: [Float] = [0.45, 0.45, 0.45]
    public var std: [Float] = [0.225, 0.225, 0.225]

    public init(size: Int) { self.size = size }

    /// No crop randomness or colour changes: for test-time clips.
    public static func test(size: Int) -> AugmentConfig {
        var c = AugmentConfig(size: size)
        c.flip = 0; c.jitterProbability = 0; c.grayscale = 0
        return c
    }
}

/// The random draws of one augmentation, shared by every clip of an instance (the slow and
/// fast clip of a pair differ only in tempo).
public struct AugmentParams: Sendable, Equatable {
    public var crop: CropRect
    public var flip: Bool
    /// Brightness, contrast, saturation factors and hue shift (in turns); nil: no jitter.
    public var jitter: (Float, Float, Float, Float)?
    public var grayscale: Bool
    /// Order of the jitter operations (a permutation of 0...3).
    public var order: [Int]

    public static func == (a: AugmentParams, b: AugmentParams) -> Bool {
        a.crop == b.crop && a.flip == b.flip && a.grayscale == b.grayscale && a.order == b.order
            && a.jitter.map { [$0.0, $0.1, $0.2, $0.3] } == b.jitter.map { [$0.0, $0.1, $0.2, $0.3] }
    }
}

/// Turns uint8 frames (`[T, H, W, 3]`) into normalised Float clips (`[3, T, S, S]`).
public struct ClipAugmenter: Sendable {
    public var config: AugmentConfig
    public init(_ config: AugmentConfig) { self.config = config }

    /// torchvision's RandomResizedCrop draw: 10 tries at a random area and log-uniform
    /// aspect, else the largest centred crop within the aspect range.
    public static func randomResizedCrop(width: Int, height: Int, area: ClosedRange<Double>,
                                         aspect: ClosedRange<Double>, rng: RandomGeneratorBox) -> CropRect {
        let W = Double(width), H = Double(height)
        for _ in 0..<10 {
            let a = W * H * rng.uniform(area.lowerBound, area.upperBound)
            let r = exp(rng.uniform(log(aspect.lowerBound), log(aspect.upperBound)))
            let w = (a * r).squareRoot().rounded(), h = (a / r).squareRoot().rounded()
            if w > 0, h > 0, w <= W, h <= H {
                let x = Double(rng.int(below: Int(W - w) + 1)), y = Double(rng.int(below: Int(H - h) + 1))
                return CropRect(x: x, y: y, width: w, height: h)
            }
        }
        let ratio = W / H
        var w = W, h = H
        if ratio < aspect.lowerBound { h = (w / aspect.lowerBound).rounded() } else if ratio > aspect.upperBound { w = (h * aspect.upperBound).rounded() }
        return CropRect(x: ((W - w) / 2).rounded(.down), y: ((H - h) / 2).rounded(.down), width: w, height: h)
    }

    /// The centred square of side `min(W, H)`; `position` 0/1/2 picks left/centre/right
    /// (top/middle/bottom for portrait frames) for three-crop testing.
    public static func squareCrop(width: Int, height: Int, position: Int = 1) -> CropRect {
        let s = Double(min(width, height))
        let free = Double(max(width, height)) - s
        let offset = (free * Double(position) / 2).rounded(.down)
        return width >= height ? CropRect(x: offset, y: 0, width: s, height: s) : CropRect(x: 0, y: offset, width: s, height: s)
    }

    /// Draws the parameters for a `width × height` source.
    public func draw(width: Int, height: Int, rng: RandomGeneratorBox) -> AugmentParams {
        let crop = Self.randomResizedCrop(width: width, height: height, area: config.area, aspect: config.aspect, rng: rng)
        let flip = rng.uniform() < config.flip
        var jitter: (Float, Float, Float, Float)?
        var order = [0, 1, 2, 3]
        if rng.uniform() < config.jitterProbability {
            let j = config.jitter
            jitter = (Float(rng.uniform(max(0, 1 - j), 1 + j)), Float(rng.uniform(max(0, 1 - j), 1 + j)),
                      Float(rng.uniform(max(0, 1 - j), 1 + j)), Float(rng.uniform(-config.hue, config.hue)))
            for i in stride(from: 3, to: 0, by: -1) { order.swapAt(i, rng.int(below: i + 1)) }
        }
        let gray = rng.uniform() < config.grayscale
        return AugmentParams(crop: crop, flip: flip, jitter: jitter, grayscale: gray, order: order)
    }

    /// Test-time parameters: a square crop (centre, or position 0/1/2), nothing else.
    public func testParams(width: Int, height: Int, position: Int = 1) -> AugmentParams {
        AugmentParams(crop: Self.squareCrop(width: width, height: height, position: position), flip: false,
                      jitter: nil, grayscale: false, order: [0, 1, 2, 3])
    }

    /// Applies `params` to frames `indices` of `frames` (uint8 `[T, H, W, 3]`): crop, bilinear
    /// resize to `size × size` (or to `outSize` when given), flip, colour ops, normalisation.
    /// Returns `[3, indices.count, S, S]`.
    public func apply(_ frames: Frames, indices: [Int], params: AugmentParams, outSize: (Int, Int)? = nil) -> Tensor {
        let (oh, ow) = outSize ?? (config.size, config.size)
        let T = indices.count, plane = oh * ow
        var out = [Float](repeating: 0, count: 3 * T * plane)
        let c = params.crop
        let sx = c.width / Double(ow), sy = c.height / Double(oh)
        // Precomputed bilinear taps (align_corners = false).
        func taps(_ n: Int, _ scale: Double, _ origin: Double, _ limit: Int) -> [(Int, Int, Float)] {
            (0..<n).map { i in
                let s = max(0, min(Double(limit - 1), origin + (Double(i) + 0.5) * scale - 0.5))
                let i0 = Int(s.rounded(.down)), i1 = min(limit - 1, i0 + 1)
                return (i0, i1, Float(s - Double(i0)))
            }
        }
        let xt = taps(ow, sx, c.x, frames.width), yt = taps(oh, sy, c.y, frames.height)
        let W = frames.width, fb = frames.frameBytes
        var pixel = [Float](repeating: 0, count: plane * 3)
        frames.pixels.withUnsafeBufferPointer { src in
            for (t, fi) in indices.enumerated() {
                let base = min(max(0, fi), frames.count - 1) * fb
                for y in 0..<oh {
                    let (y0, y1, wy) = yt[y]
                    for x in 0..<ow {
                        let (x0, x1, wx) = xt[params.flip ? ow - 1 - x : x]
                        for ch in 0..<3 {
                            let a = Float(src[base + (y0 * W + x0) * 3 + ch]), b = Float(src[base + (y0 * W + x1) * 3 + ch])
                            let cc = Float(src[base + (y1 * W + x0) * 3 + ch]), d = Float(src[base + (y1 * W + x1) * 3 + ch])
                            let top = a + (b - a) * wx, bottom = cc + (d - cc) * wx
                            pixel[(y * ow + x) * 3 + ch] = (top + (bottom - top) * wy) / 255
                        }
                    }
                }
                if let j = params.jitter { Self.colourJitter(&pixel, j, order: params.order) }
                if params.grayscale {
                    for p in 0..<plane {
                        let g = 0.299 * pixel[p * 3] + 0.587 * pixel[p * 3 + 1] + 0.114 * pixel[p * 3 + 2]
                        pixel[p * 3] = g; pixel[p * 3 + 1] = g; pixel[p * 3 + 2] = g
                    }
                }
                for ch in 0..<3 {
                    let m = config.mean[ch], s = config.std[ch]
                    let o = (ch * T + t) * plane
                    for p in 0..<plane { out[o + p] = (pixel[p * 3 + ch] - m) / s }
                }
            }
        }
        return Tensor(shape: [3, T, oh, ow], scalars: out)
    }

    /// torchvision-style colour jitter on one RGB image in [0, 1] (`[P, 3]` interleaved).
    static func colourJitter(_ px: inout [Float], _ j: (Float, Float, Float, Float), order: [Int]) {
        let n = px.count / 3
        func gray(_ p: Int) -> Float { 0.299 * px[p * 3] + 0.587 * px[p * 3 + 1] + 0.114 * px[p * 3 + 2] }
        for op in order {
            switch op {
            case 0:
                for i in px.indices { px[i] = min(1, max(0, px[i] * j.0)) }
            case 1:
                var mean: Float = 0
                for p in 0..<n { mean += gray(p) }
                mean /= Float(max(1, n))
                for i in px.indices { px[i] = min(1, max(0, mean + (px[i] - mean) * j.1)) }
            case 2:
                for p in 0..<n {
                    let g = gray(p)
                    for ch in 0..<3 { px[p * 3 + ch] = min(1, max(0, g + (px[p * 3 + ch] - g) * j.2)) }
                }
            default:
                guard j.3 != 0 else { continue }
                for p in 0..<n {
                    var (h, s, v) = rgbToHSV(px[p * 3], px[p * 3 + 1], px[p * 3 + 2])
                    h = (h + j.3).truncatingRemainder(dividingBy: 1)
                    if h < 0 { h += 1 }
                    s = min(1, s)
                    let (r, g, b) = hsvToRGB(h, s, v)
                    px[p * 3] = r; px[p * 3 + 1] = g; px[p * 3 + 2] = b
                }
            }
        }
    }

    static func rgbToHSV(_ r: Float, _ g: Float, _ b: Float) -> (Float, Float, Float) {
        let mx = max(r, g, b), mn = min(r, g, b), d = mx - mn
        var h: Float = 0
        if d > 0 {
            if mx == r { h = ((g - b) / d).truncatingRemainder(dividingBy: 6) } else if mx == g { h = (b - r) / d + 2 } else { h = (r - g) / d + 4 }
            h /= 6
            if h < 0 { h += 1 }
        }
        return (h, mx > 0 ? d / mx : 0, mx)
    }

    static func hsvToRGB(_ h: Float, _ s: Float, _ v: Float) -> (Float, Float, Float) {
        let i = Int(h * 6) % 6, f = h * 6 - Float(Int(h * 6))
        let p = v * (1 - s), q = v * (1 - f * s), t = v * (1 - (1 - f) * s)
        switch i {
        case 0: return (v, t, p)
        case 1: return (q, v, p)
        case 2: return (p, v, t)
        case 3: return (p, q, v)
        case 4: return (t, p, v)
        default: return (v, p, q)
        }
    }

    /// Maps a normalised box (AVA coordinates) through `params` into output pixels
    /// (`outW × outH`): crop, scale, flip, clipped to the frame. nil when nothing of the box
    /// remains inside the crop.
    public static func transform(box: AVABox, sourceWidth: Int, sourceHeight: Int, params: AugmentParams,
                                 outWidth: Int, outHeight: Int) -> [Float]? {
        let c = params.crop
        let sx = Double(outWidth) / c.width, sy = Double(outHeight) / c.height
        var x1 = (box.x1 * Double(sourceWidth) - c.x) * sx, x2 = (box.x2 * Double(sourceWidth) - c.x) * sx
        let y1 = max(0, min(Double(outHeight), (box.y1 * Double(sourceHeight) - c.y) * sy))
        let y2 = max(0, min(Double(outHeight), (box.y2 * Double(sourceHeight) - c.y) * sy))
        x1 = max(0, min(Double(outWidth), x1)); x2 = max(0, min(Double(outWidth), x2))
        if params.flip { (x1, x2) = (Double(outWidth) - x2, Double(outWidth) - x1) }
        guard x2 - x1 >= 1, y2 - y1 >= 1 else { return nil }
        return [Float(x1), Float(y1), Float(x2), Float(y2)]
    }
}
