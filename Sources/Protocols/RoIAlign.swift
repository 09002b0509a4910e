import Tensors

/// RoIAlign (He et al., Mask R-CNN), the region pooling of the AVA detection head.
///
/// The AVA head (SPEC §3) average-pools the slow pathway's res5 features over time, so the
/// op works on 2D feature maps: `features` [N, C, H, W] and `boxes` [R, 5], each row
/// `(batch index, x1, y1, x2, y2)` in input-image pixels. The result is
/// [R, C, outputSize, outputSize]. Box `r` is mapped to feature coordinates by
/// `spatialScale` (1/16 for res5 with stride 1 and dilation 2 at the last stage); with
/// `aligned` (torchvision `aligned=True`, Detectron2 `ROIAlignV2`) half a pixel is
/// subtracted, so a box edge at pixel `x` sits at `x·scale − 0.5` in feature coordinates,
/// the continuous coordinate of feature-cell centres. Each output bin averages
/// `gridH × gridW` bilinear samples taken at the centres of a regular sub-grid of the bin;
/// `samplingRatio` 0 chooses `ceil(binSize)` samples per axis for every box (adaptive),
/// a positive value fixes it. Samples more than one cell outside the map read 0; samples
/// within one cell of the border are clamped to the border, as torchvision does.
///
/// Gradients flow to `features` only: box coordinates are data (ground-truth boxes or
/// proposals), not parameters.
public func roiAlign(_ features: Variable, boxes: Tensor, outputSize: Int = 7,
                     spatialScale: Float = 1.0 / 16, samplingRatio: Int = 0,
                     aligned: Bool = true) -> Variable {
    let (y, pullback) = _vjpRoIAlign(features.value, boxes: boxes, outputSize: outputSize,
                                     spatialScale: spatialScale, samplingRatio: samplingRatio,
                                     aligned: aligned)
    return Variable.record(y, inputs: [features]) { [pullback($0)] }
}

/// RoIAlign on video features: `features` [N, C, T, H, W] are averaged over T (the AVA
/// head's temporal pool) and then pooled by ``roiAlign(_:boxes:outputSize:spatialScale:samplingRatio:aligned:)``
/// → [R, C, outputSize, outputSize]. Differentiable in `features`.
public func roiAlign3D(_ features: Variable, boxes: Tensor, outputSize: Int = 7,
                       spatialScale: Float = 1.0 / 16, samplingRatio: Int = 0,
                       aligned: Bool = true) -> Variable {
    precondition(features.value.rank == 5, "roiAlign3D expects features [N, C, T, H, W], got \(features.shape)")
    let s = features.shape
    let pooled = avgPool3d(features, kernel: Size3(s[2], 1, 1), stride: Size3(s[2], 1, 1))
    return roiAlign(reshape(pooled, [s[0], s[1], s[3], s[4]]), boxes: boxes, outputSize: outputSize,
                    spatialScale: spatialScale, samplingRatio: samplingRatio, aligned: aligned)
}

/// The sampling plan of one RoIAlign call: for every (box, output bin) the feature-map
/// offsets (within one H×W plane) and weights of its bilinear taps, the weights already
/// divided by the bin's sample count. Forward and pullback read the same plan, so the
/// pullback is the exact transpose of the forward map.
struct RoIAlignPlan {
    let rois: Int
    let bins: Int
    /// Batch index of each box.
    let batch: [Int]
    /// Taps of bin `b` of box `r`: `start[r·bins + b] ..< start[r·bins + b + 1]`.
    let start: [Int]
    let offset: [Int32]
    let weight: [Float]

    init(boxes: Tensor, batchSize: Int, height H: Int, width W: Int, outputSize P: Int,
         spatialScale: Float, samplingRatio: Int, aligned: Bool) {
        precondition(boxes.rank == 2 && boxes.shape[1] == 5, "roiAlign expects boxes [R, 5] (batch, x1, y1, x2, y2), got \(boxes.shape)")
        precondition(P >= 1, "roiAlign output size must be positive, got \(P)")
        precondition(samplingRatio >= 0, "roiAlign sampling ratio must be 0 (adaptive) or positive, got \(samplingRatio)")
        let R = boxes.shape[0]
        rois = R
        bins = P * P
        var batch = [Int](repeating: 0, count: R)
        var start = [0]
        var offset: [Int32] = [], weight: [Float] = []
        start.reserveCapacity(R * P * P + 1)
        let half: Float = aligned ? 0.5 : 0
        for r in 0..<R {
            let row = boxes.scalars[(r * 5)..<(r * 5 + 5)].map { $0 }
            precondition(row.allSatisfy(\.isFinite), "roiAlign box \(r) has a non-finite value: \(row)")
            precondition(row[0] >= 0 && row[0] < Float(batchSize) && row[0] == row[0].rounded(),
                         "roiAlign box \(r) has batch index \(row[0]) outside 0..<\(batchSize)")
            batch[r] = Int(row[0])
            // Arithmetic in Float32, in torchvision's order, so goldens agree to rounding.
            let x0 = row[1] * spatialScale - half, y0 = row[2] * spatialScale - half
            let x1 = row[3] * spatialScale - half, y1 = row[4] * spatialScale - half
            var roiW = x1 - x0, roiH = y1 - y0
            if !aligned { roiW = max(roiW, 1); roiH = max(roiH, 1) }
            let binH = roiH / Float(P), binW = roiW / Float(P)
            let gridH = samplingRatio > 0 ? samplingRatio : Int((roiH / Float(P)).rounded(.up))
            let gridW = samplingRatio > 0 ? samplingRatio : Int((roiW / Float(P)).rounded(.up))
            // torchvision: count = max(gridH·gridW, 1); a degenerate (negative-size) box
            // has an empty grid and pools to 0.
            let inverseCount = 1 / Float(max(gridH * gridW, 1))
            for ph in 0..<P {
                for pw in 0..<P {
                    for iy in 0..<max(gridH, 0) {
                        let y = y0 + Float(ph) * binH + (Float(iy) + 0.5) * binH / Float(gridH)
                        for ix in 0..<max(gridW, 0) {
                            let x = x0 + Float(pw) * binW + (Float(ix) + 0.5) * binW / Float(gridW)
                            Self.bilinearTaps(y: y, x: x, height: H, width: W) { o, w in
                                offset.append(Int32(o)); weight.append(w * inverseCount)
                            }
                        }
                    }
                    start.append(offset.count)
                }
            }
        }
        self.batch = batch
        self.start = start
        self.offset = offset
        self.weight = weight
    }

    /// The four taps of a bilinear sample at continuous (y, x), as torchvision's
    /// `bilinear_interpolate`: nothing beyond one cell outside the map; otherwise clamped
    /// to the border cells. Zero-weight taps are kept (they cost nothing and keep the
    /// forward and pullback summation order identical).
    @inline(__always)
    static func bilinearTaps(y: Float, x: Float, height H: Int, width W: Int, _ emit: (Int, Float) -> Void) {
        if y < -1 || y > Float(H) || x < -1 || x > Float(W) { return }
        var y = max(y, 0), x = max(x, 0)
        var yLow = Int(y), xLow = Int(x)
        let yHigh: Int, xHigh: Int
        if yLow >= H - 1 { yLow = H - 1; yHigh = H - 1; y = Float(yLow) } else { yHigh = yLow + 1 }
        if xLow >= W - 1 { xLow = W - 1; xHigh = W - 1; x = Float(xLow) } else { xHigh = xLow + 1 }
        let ly = y - Float(yLow), lx = x - Float(xLow), hy = 1 - ly, hx = 1 - lx
        emit(yLow * W + xLow, hy * hx)
        emit(yLow * W + xHigh, hy * lx)
        emit(yHigh * W + xLow, ly * hx)
        emit(yHigh * W + xHigh, ly * lx)
    }
}

/// RoIAlign forward and pullback. `x` [N, C, H, W], `boxes` [R, 5] →
/// ([R, C, P, P], pullback from [R, C, P, P] to [N, C, H, W]).
public func _vjpRoIAlign(_ x: Tensor, boxes: Tensor, outputSize P: Int, spatialScale: Float,
                         samplingRatio: Int, aligned: Bool) -> (Tensor, (Tensor) -> Tensor) {
    precondition(x.rank == 4, "roiAlign expects features [N, C, H, W], got \(x.shape)")
    let N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3]
    let plan = RoIAlignPlan(boxes: boxes, batchSize: N, height: H, width: W, outputSize: P,
                            spatialScale: spatialScale, samplingRatio: samplingRatio, aligned: aligned)
    let R = plan.rois, bins = plan.bins, plane = H * W
    let outputShape = [R, C, P, P]
    let y = Tensor(uninitializedShape: outputShape) { out in
        x.scalars.withUnsafeBufferPointer { px in
            plan.start.withUnsafeBufferPointer { ps in
                plan.offset.withUnsafeBufferPointer { po in
                    plan.weight.withUnsafeBufferPointer { pw in
                        let X = UnsafeSendable(px.baseAddress!), O = UnsafeSendable(out.baseAddress!)
                        let S = UnsafeSendable(ps.baseAddress!), OF = UnsafeSendable(po.baseAddress!)
                        let WT = UnsafeSendable(pw.baseAddress!)
                        // One task per (box, channel) output plane: disjoint writes.
                        Parallel.forEachRange(R * C, minimumPerThread: 16) { range in
                            for rc in range {
                                let r = rc / C, c = rc % C
                                let src = X.pointer + (plan.batch[r] * C + c) * plane
                                let dst = O.pointer + rc * bins
                                for b in 0..<bins {
                                    var s: Float = 0
                                    for t in S.pointer[r * bins + b]..<S.pointer[r * bins + b + 1] {
                                        s += WT.pointer[t] * src[Int(OF.pointer[t])]
                                    }
                                    dst[b] = s
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    return (y, { gy in
        precondition(shape: gy.shape, equals: outputShape, "roiAlign output gradient")
        var gx = [Float](repeating: 0, count: x.count)
        gy.scalars.withUnsafeBufferPointer { pg in
            plan.start.withUnsafeBufferPointer { ps in
                plan.offset.withUnsafeBufferPointer { po in
                    plan.weight.withUnsafeBufferPointer { pw in
                        gx.withUnsafeMutableBufferPointer { pgx in
                            let G = UnsafeSendable(pg.baseAddress!), GX = UnsafeSendable(pgx.baseAddress!)
                            let S = UnsafeSendable(ps.baseAddress!), OF = UnsafeSendable(po.baseAddress!)
                            let WT = UnsafeSendable(pw.baseAddress!)
                            // Split over channels: every box scatters into plane (batch, c) of
                            // its own channel only, so channel ranges never collide, and each
                            // channel visits the boxes in order (deterministic sums).
                            Parallel.forEachRange(C) { channels in
                                for c in channels {
                                    for r in 0..<R {
                                        let dst = GX.pointer + (plan.batch[r] * C + c) * plane
                                        let src = G.pointer + (r * C + c) * bins
                                        for b in 0..<bins {
                                            let g = src[b]
                                            for t in S.pointer[r * bins + b]..<S.pointer[r * bins + b + 1] {
                                                dst[Int(OF.pointer[t])] += WT.pointer[t] * g
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return Tensor(shape: x.shape, scalars: gx)
    })
}
