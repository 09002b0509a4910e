import Media
import Networks
import Tensors

/// The Instance Correspondence Map (paper §4, Fig. 3–4).
///
/// With 1×1×1-conv projection heads, φ applies at every position of the slow clip's
/// activation map before pooling. The fast clip's pooled embedding acts as an
/// instance-specific classifier: the map is the cosine similarity between it and φ of
/// every slow position, shape [T, H', W'] (no temporal striding, so T is the slow clip's
/// frame count).
public enum InstanceCorrespondenceMap {
    /// `slowClip` [1, 3, T, H, W] and `fastClip` [1, 3, αT, H, W] of one instance → [T, H', W'].
    /// `level` is a stage index from `model.config.levels` (default: the deepest).
    public static func compute(model: VTHCLModel, slowClip: Tensor, fastClip: Tensor, level: Int? = nil) -> Tensor {
        precondition(slowClip.rank == 5 && slowClip.shape[0] == 1 && fastClip.rank == 5 && fastClip.shape[0] == 1,
                     "ICM takes one instance: slow \(slowClip.shape), fast \(fastClip.shape)")
        let level = level ?? model.config.levels.last!
        guard let k = model.config.levels.firstIndex(of: level) else {
            preconditionFailure("level \(level) is not one of the model's levels \(model.config.levels)")
        }
        return withoutGradient {
            let slowMap = model.slow.features(Variable(slowClip), training: false)[level - 1]
            let fastEmbedding = model.fastHeads[k](model.fast.features(Variable(fastClip), training: false)[level - 1]).value
            let projected = l2Normalize(model.slowHeads[k].map(slowMap), axis: 1).value   // [1, D, T, H', W']
            let D = projected.shape[1], positions = projected.count / D
            var map = [Float](repeating: 0, count: positions)
            for c in 0..<D {
                let e = fastEmbedding.scalars[c]
                for p in 0..<positions { map[p] += e * projected.scalars[c * positions + p] }
            }
            return Tensor(shape: Array(projected.shape[2...]), scalars: map)
        }
    }

    /// A strip of the clip's frames (top row) over the same frames with the map overlaid as a
    /// heat map (bottom row). `frames`: T frames of equal size; `map`: [T, H', W'], upsampled
    /// bilinearly (half-pixel centres) to each frame and scaled to [0, 1] over the whole clip.
    /// `zoom` > 1 enlarges the finished strip (nearest neighbour) so small crops stay legible.
    public static func render(frames: [RGBImage], map: Tensor, opacity: Float = 0.5, gap: Int = 2, zoom: Int) -> RGBImage {
        let strip = render(frames: frames, map: map, opacity: opacity, gap: gap)
        guard zoom > 1 else { return strip }
        var big = RGBImage(width: strip.width * zoom, height: strip.height * zoom)
        for y in 0..<big.height {
            for x in 0..<big.width {
                let s = ((y / zoom) * strip.width + x / zoom) * 3, d = (y * big.width + x) * 3
                big.pixels[d] = strip.pixels[s]; big.pixels[d + 1] = strip.pixels[s + 1]; big.pixels[d + 2] = strip.pixels[s + 2]
            }
        }
        return big
    }

    public static func render(frames: [RGBImage], map: Tensor, opacity: Float = 0.5, gap: Int = 2) -> RGBImage {
        precondition(map.rank == 3 && map.shape[0] == frames.count,
                     "ICM render: \(frames.count) frames for a map of shape \(map.shape)")
        let w = frames[0].width, h = frames[0].height
        precondition(frames.allSatisfy { $0.width == w && $0.height == h }, "ICM render: frames differ in size")
        let lo = map.scalars.min() ?? 0, hi = map.scalars.max() ?? 1
        let span = max(hi - lo, 1e-12)
        var strip = RGBImage(width: frames.count * (w + gap) - gap, height: 2 * h + gap, fill: 255)
        for (t, frame) in frames.enumerated() {
            let x0 = t * (w + gap)
            let up = upsampled(map, frame: t, width: w, height: h)
            for y in 0..<h {
                for x in 0..<w {
                    let heat = jet((up[y * w + x] - lo) / span)
                    let src = (y * w + x) * 3
                    let top = (y * strip.width + x0 + x) * 3
                    let bottom = ((y + h + gap) * strip.width + x0 + x) * 3
                    for c in 0..<3 {
                        let p = Float(frame.pixels[src + c])
                        strip.pixels[top + c] = frame.pixels[src + c]
                        strip.pixels[bottom + c] = UInt8(max(0, min(255, ((1 - opacity) * p + opacity * heat[c]).rounded())))
                    }
                }
            }
        }
        return strip
    }

    /// Frame `t` of `map` [T, H', W'] bilinearly upsampled to `height × width` (half-pixel
    /// centres, edges clamped): what the strip shows. Row-major `[height, width]`.
    public static func upsampled(_ map: Tensor, frame t: Int, width w: Int, height h: Int) -> [Float] {
        let mh = map.shape[1], mw = map.shape[2]
        var out = [Float](repeating: 0, count: w * h)
        map.scalars.withUnsafeBufferPointer { m in
            let base = t * mh * mw
            for y in 0..<h {
                let fy = max(0, min(Float(mh - 1), (Float(y) + 0.5) * Float(mh) / Float(h) - 0.5))
                let y0 = Int(fy), y1 = min(mh - 1, y0 + 1), wy = fy - Float(y0)
                for x in 0..<w {
                    let fx = max(0, min(Float(mw - 1), (Float(x) + 0.5) * Float(mw) / Float(w) - 0.5))
                    let xa = Int(fx), xb = min(mw - 1, xa + 1), wx = fx - Float(xa)
                    let top = (1 - wx) * m[base + y0 * mw + xa] + wx * m[base + y0 * mw + xb]
                    let bottom = (1 - wx) * m[base + y1 * mw + xa] + wx * m[base + y1 * mw + xb]
                    out[y * w + x] = (1 - wy) * top + wy * bottom
                }
            }
        }
        return out
    }

    /// Where a map's mass lies relative to a known object: `objectDensity` and
    /// `backgroundDensity` are the mean of the map — upsampled to the frames and scaled to
    /// [0, 1] over the clip, exactly as the strip colours it — over pixels whose centres lie
    /// inside / outside the object's box, pooled over the frames that have a box.
    /// `ratio` = object / background: above 1 when the map singles out the object.
    public struct ObjectMass: Sendable, Equatable {
        public var objectDensity: Double
        public var backgroundDensity: Double
        public var ratio: Double { objectDensity / max(backgroundDensity, 1e-12) }
    }

    /// `map` [T, H', W'] over frames of `width × height` pixels; `boxes[t]`: the object's box
    /// `(x1, y1, x2, y2)` in those pixels for frame t, nil where it is not visible. Nil when
    /// no frame has both object and background pixels.
    public static func objectMass(map: Tensor, width: Int, height: Int,
                                  boxes: [(x1: Double, y1: Double, x2: Double, y2: Double)?]) -> ObjectMass? {
        precondition(map.rank == 3 && boxes.count == map.shape[0], "ICM object mass: \(boxes.count) boxes for a map of shape \(map.shape)")
        let lo = map.scalars.min() ?? 0, span = max((map.scalars.max() ?? 1) - lo, 1e-12)
        var inside = 0.0, outside = 0.0, nIn = 0, nOut = 0
        for (t, box) in boxes.enumerated() {
            guard let b = box else { continue }
            let up = upsampled(map, frame: t, width: width, height: height)
            for y in 0..<height {
                let cy = Double(y) + 0.5
                for x in 0..<width {
                    let cx = Double(x) + 0.5
                    let v = Double((up[y * width + x] - lo) / span)
                    if cx >= b.x1 && cx < b.x2 && cy >= b.y1 && cy < b.y2 { inside += v; nIn += 1 } else { outside += v; nOut += 1 }
                }
            }
        }
        guard nIn > 0, nOut > 0 else { return nil }
        return ObjectMass(objectDensity: inside / Double(nIn), backgroundDensity: outside / Double(nOut))
    }

    /// The "jet" colour map: 0 → dark blue, 0.5 → green/yellow, 1 → dark red (0…255 per channel).
    public static func jet(_ v: Float) -> [Float] {
        let v = max(0, min(1, v))
        func ramp(_ x: Float) -> Float { max(0, min(1, 1.5 - abs(4 * v - x))) * 255 }
        return [ramp(3), ramp(2), ramp(1)]
    }
}
