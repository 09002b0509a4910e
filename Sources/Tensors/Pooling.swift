/// Pooling over NCDHW tensors.

/// 3D max pooling. `x`: [N, C, D, H, W] → [N, C, Do, Ho, Wo] with
/// `out = (in + 2·pad − kernel) / stride + 1`; padded positions never win.
public func maxPool3d(_ x: Variable, kernel: Size3, stride: Size3, padding: Size3 = Size3(all: 0)) -> Variable {
    let (y, pullback) = _vjpMaxPool3D(x.value, kernel: kernel, stride: stride, padding: padding)
    return Variable.record(y, inputs: [x]) { [pullback($0)] }
}

public func _vjpMaxPool3D(_ x: Tensor, kernel: Size3, stride: Size3, padding: Size3)
    -> (Tensor, (Tensor) -> Tensor) {
    precondition(padding.t * 2 <= kernel.t && padding.h * 2 <= kernel.h && padding.w * 2 <= kernel.w,
                 "max pool padding \(padding) must be at most half the kernel \(kernel)")
    let g = Conv3DGeometry(inputShape: x.shape, outChannels: x.shape[1], kernel: kernel, stride: stride,
                           padding: padding, dilation: Size3(all: 1))
    let planes = g.batch * g.inChannels
    let inPlane = g.input.product, outPlane = g.output.product
    var argmax = [Int32](repeating: 0, count: planes * outPlane)
    let y = Tensor(uninitializedShape: g.outputShape) { out in
        x.scalars.withUnsafeBufferPointer { px in
            argmax.withUnsafeMutableBufferPointer { pa in
                let X = UnsafeSendable(px.baseAddress!), O = UnsafeSendable(out.baseAddress!)
                let A = UnsafeSendable(pa.baseAddress!)
                Parallel.forEachRange(planes) { range in
                    let D = g.input.t, H = g.input.h, W = g.input.w
                    for plane in range {
                        let src = X.pointer + plane * inPlane
                        var o = plane * outPlane
                        for od in 0..<g.output.t {
                            let d0 = od * stride.t - padding.t
                            for oh in 0..<g.output.h {
                                let h0 = oh * stride.h - padding.h
                                for ow in 0..<g.output.w {
                                    let w0 = ow * stride.w - padding.w
                                    var best = -Float.infinity, bestIndex = -1
                                    for d in max(0, d0)..<min(D, d0 + kernel.t) {
                                        for h in max(0, h0)..<min(H, h0 + kernel.h) {
                                            let row = (d * H + h) * W
                                            for w in max(0, w0)..<min(W, w0 + kernel.w) where src[row + w] > best || bestIndex < 0 {
                                                best = src[row + w]; bestIndex = row + w
                                            }
                                        }
                                    }
                                    O.pointer[o] = best
                                    A.pointer[o] = Int32(bestIndex)
                                    o += 1
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    let indices = argmax
    return (y, { gy in
        precondition(shape: gy.shape, equals: g.outputShape, "max pool output gradient")
        var gx = [Float](repeating: 0, count: x.count)
        gy.scalars.withUnsafeBufferPointer { pgy in
            indices.withUnsafeBufferPointer { pa in
                gx.withUnsafeMutableBufferPointer { pgx in
                    let GY = UnsafeSendable(pgy.baseAddress!), A = UnsafeSendable(pa.baseAddress!)
                    let GX = UnsafeSendable(pgx.baseAddress!)
                    Parallel.forEachRange(planes) { range in
                        for plane in range {
                            let dst = GX.pointer + plane * inPlane
                            for o in (plane * outPlane)..<((plane + 1) * outPlane) {
                                dst[Int(A.pointer[o])] += GY.pointer[o]
                            }
                        }
                    }
                }
            }
        }
        return Tensor(shape: x.shape, scalars: gx)
    })
}

/// 3D average pooling without padding. `x`: [N, C, D, H, W] → [N, C, Do, Ho, Wo],
/// `out = (in − kernel) / stride + 1`; every window averages `kernel.product` values.
public func avgPool3d(_ x: Variable, kernel: Size3, stride: Size3) -> Variable {
    let g = Conv3DGeometry(inputShape: x.shape, outChannels: x.shape[1], kernel: kernel, stride: stride,
                           padding: Size3(all: 0), dilation: Size3(all: 1))
    let planes = g.batch * g.inChannels, inPlane = g.input.product, outPlane = g.output.product
    let H = g.input.h, W = g.input.w
    let scale = 1 / Float(kernel.product)
    // Visits every (output, input) pair of the windows; `body(o, i)` for each.
    func forEachPair(_ plane: Int, _ body: (Int, Int) -> Void) {
        var o = plane * outPlane
        let base = plane * inPlane
        for od in 0..<g.output.t { for oh in 0..<g.output.h { for ow in 0..<g.output.w {
            for d in (od * stride.t)..<(od * stride.t + kernel.t) {
                for h in (oh * stride.h)..<(oh * stride.h + kernel.h) {
                    for w in (ow * stride.w)..<(ow * stride.w + kernel.w) { body(o, base + (d * H + h) * W + w) }
                }
            }
            o += 1
        } } }
    }
    var y = Tensor.zeros(g.outputShape)
    let xs = x.value.scalars
    for plane in 0..<planes { forEachPair(plane) { o, i in y.scalars[o] += xs[i] * scale } }
    return Variable.record(y, inputs: [x]) { gy in
        var gx = Tensor.zeros(x.shape)
        for plane in 0..<planes { forEachPair(plane) { o, i in gx.scalars[i] += gy.scalars[o] * scale } }
        return [gx]
    }
}

/// Global average pooling over every axis after the channel axis: [N, C, …] → [N, C].
public func globalAvgPool(_ x: Variable) -> Variable {
    precondition(x.value.rank >= 3, "global average pool expects [N, C, …], got \(x.shape)")
    let N = x.shape[0], C = x.shape[1], S = x.value.count / max(1, N * C)
    let y = Tensor(uninitializedShape: [N, C]) { out in
        x.value.scalars.withUnsafeBufferPointer { p in
            for plane in 0..<(N * C) {
                var s: Float = 0
                let base = p.baseAddress! + plane * S
                for i in 0..<S { s += base[i] }
                out[plane] = s / Float(S)
            }
        }
    }
    let shape = x.shape
    return Variable.record(y, inputs: [x]) { gy in
        [Tensor(uninitializedShape: shape) { out in
            gy.scalars.withUnsafeBufferPointer { pg in
                for plane in 0..<(N * C) {
                    let v = pg[plane] / Float(S)
                    (out.baseAddress! + plane * S).update(repeating: v, count: S)
                }
            }
        }]
    }
}
