import Foundation

/// Three sizes, one per spatio-temporal axis: depth (time) `t`, height `h`, width `w`.
public struct Size3: Hashable, Sendable, Codable, CustomStringConvertible {
    public var t: Int, h: Int, w: Int
    public init(_ t: Int, _ h: Int, _ w: Int) { self.t = t; self.h = h; self.w = w }
    public init(all n: Int) { self.init(n, n, n) }
    public var product: Int { t * h * w }
    public var description: String { "\(t)×\(h)×\(w)" }
}

/// Geometry of a 3D convolution (or pooling window) over an NCDHW input.
///
/// Output size per axis: `out = (in + 2·pad − dilation·(kernel − 1) − 1) / stride + 1`.
public struct Conv3DGeometry: Hashable, Sendable {
    public let batch: Int, inChannels: Int, outChannels: Int
    public let input: Size3, output: Size3
    public let kernel: Size3, stride: Size3, padding: Size3, dilation: Size3

    public init(inputShape: [Int], outChannels: Int, kernel: Size3, stride: Size3, padding: Size3, dilation: Size3) {
        precondition(inputShape.count == 5, "conv3d expects an NCDHW input, got shape \(inputShape)")
        self.batch = inputShape[0]
        self.inChannels = inputShape[1]
        self.outChannels = outChannels
        self.input = Size3(inputShape[2], inputShape[3], inputShape[4])
        self.kernel = kernel; self.stride = stride; self.padding = padding; self.dilation = dilation
        let inSize = self.input
        func out(_ n: Int, _ k: Int, _ s: Int, _ p: Int, _ d: Int) -> Int {
            precondition(k >= 1 && s >= 1 && p >= 0 && d >= 1, "invalid window: kernel \(k) stride \(s) padding \(p) dilation \(d)")
            let span = n + 2 * p - d * (k - 1) - 1
            precondition(span >= 0, "window \(kernel) (dilation \(dilation), padding \(padding)) larger than input \(inSize)")
            return span / s + 1
        }
        self.output = Size3(out(input.t, kernel.t, stride.t, padding.t, dilation.t),
                            out(input.h, kernel.h, stride.h, padding.h, dilation.h),
                            out(input.w, kernel.w, stride.w, padding.w, dilation.w))
    }

    /// Rows of the column matrix: `inChannels · kt · kh · kw`.
    public var columnRows: Int { inChannels * kernel.product }
    public var outputShape: [Int] { [batch, outChannels, output.t, output.h, output.w] }
    /// Multiply–adds of the forward pass.
    public var macs: Int { batch * outChannels * output.product * columnRows }
    var isPointwiseIdentity: Bool {
        kernel == Size3(all: 1) && stride == Size3(all: 1) && padding == Size3(all: 0)
    }
}

/// Tuning knob: floats per column chunk (per thread). Chunks keep the column matrix in
/// cache between its construction and the GEMM that reads it.
public enum Conv3DTuning {
    public static let columnChunkFloats: Int = {
        if let text = ProcessInfo.processInfo.environment["TEMPO_CONV_CHUNK"], let n = Int(text), n > 0 { return n }
        return 1 << 19
    }()
}

// MARK: - Column construction (vol2col / col2vol)

/// Writes the column matrix for output rows `rows` (a row is one (od, oh) pair) of one
/// sample: `col[k, (r − rows.lowerBound)·Wo + ow]` with `k = ((c·kt + a)·kh + b)·kw + e`.
@inlinable
func vol2col(_ x: UnsafePointer<Float>, _ col: UnsafeMutablePointer<Float>, _ g: Conv3DGeometry, rows: Range<Int>) {
    let C = g.inChannels, D = g.input.t, H = g.input.h, W = g.input.w
    let Ho = g.output.h, Wo = g.output.w
    let kt = g.kernel.t, kh = g.kernel.h, kw = g.kernel.w
    let sd = g.stride.t, sh = g.stride.h, sw = g.stride.w
    let pd = g.padding.t, ph = g.padding.h, pw = g.padding.w
    let dd = g.dilation.t, dh = g.dilation.h, dw = g.dilation.w
    let lc = rows.count * Wo
    var k = 0
    for c in 0..<C {
        let xc = x + c * D * H * W
        for a in 0..<kt {
            for b in 0..<kh {
                for e in 0..<kw {
                    let iw0 = e * dw - pw
                    let owLo = iw0 >= 0 ? 0 : min(Wo, (-iw0 + sw - 1) / sw)
                    let owHi = W - 1 - iw0 < 0 ? 0 : max(owLo, min(Wo, (W - 1 - iw0) / sw + 1))
                    let dstRow = col + k * lc
                    var dst = dstRow
                    for r in rows {
                        let od = r / Ho, oh = r - (r / Ho) * Ho
                        let id = od * sd - pd + a * dd
                        let ih = oh * sh - ph + b * dh
                        if id < 0 || id >= D || ih < 0 || ih >= H {
                            dst.update(repeating: 0, count: Wo)
                        } else {
                            let src = xc + (id * H + ih) * W + iw0
                            if owLo > 0 { dst.update(repeating: 0, count: owLo) }
                            if sw == 1 {
                                (dst + owLo).update(from: src + owLo, count: owHi - owLo)
                            } else {
                                var ow = owLo
                                while ow < owHi { dst[ow] = src[ow * sw]; ow += 1 }
                            }
                            if owHi < Wo { (dst + owHi).update(repeating: 0, count: Wo - owHi) }
                        }
                        dst += Wo
                    }
                    k += 1
                }
            }
        }
    }
}

/// The adjoint of `vol2col`: scatter-adds a column chunk back into one sample's input gradient.
@inlinable
func col2vol(_ col: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>, _ g: Conv3DGeometry, rows: Range<Int>) {
    let C = g.inChannels, D = g.input.t, H = g.input.h, W = g.input.w
    let Ho = g.output.h, Wo = g.output.w
    let kt = g.kernel.t, kh = g.kernel.h, kw = g.kernel.w
    let sd = g.stride.t, sh = g.stride.h, sw = g.stride.w
    let pd = g.padding.t, ph = g.padding.h, pw = g.padding.w
    let dd = g.dilation.t, dh = g.dilation.h, dw = g.dilation.w
    let lc = rows.count * Wo
    var k = 0
    for c in 0..<C {
        let xc = dx + c * D * H * W
        for a in 0..<kt {
            for b in 0..<kh {
                for e in 0..<kw {
                    let iw0 = e * dw - pw
                    let owLo = iw0 >= 0 ? 0 : min(Wo, (-iw0 + sw - 1) / sw)
                    let owHi = W - 1 - iw0 < 0 ? 0 : max(owLo, min(Wo, (W - 1 - iw0) / sw + 1))
                    var src = col + k * lc
                    for r in rows {
                        let od = r / Ho, oh = r - (r / Ho) * Ho
                        let id = od * sd - pd + a * dd
                        let ih = oh * sh - ph + b * dh
                        if id >= 0 && id < D && ih >= 0 && ih < H {
                            let dst = xc + (id * H + ih) * W + iw0
                            var ow = owLo
                            if sw == 1 {
                                while ow < owHi { dst[ow] += src[ow]; ow += 1 }
                            } else {
                                while ow < owHi { dst[ow * sw] += src[ow]; ow += 1 }
                            }
                        }
                        src += Wo
                    }
                    k += 1
                }
            }
        }
    }
}

/// Output rows (od, oh pairs) per column chunk for this geometry.
@inlinable
func rowsPerChunk(_ g: Conv3DGeometry) -> Int {
    let rows = g.output.t * g.output.h
    let perRow = g.columnRows * g.output.w
    return max(1, min(rows, Conv3DTuning.columnChunkFloats / max(1, perRow)))
}

// MARK: - Forward and pullback

/// 3D convolution forward. `x`: [N, Ci, D, H, W]; `weight`: [Co, Ci, kt, kh, kw];
/// `bias`: [Co] or nil. Returns [N, Co, Do, Ho, Wo] (sizes from `Conv3DGeometry`).
///
/// Each (sample, chunk of output rows) builds its column block and multiplies it by the
/// weight matrix [Co, Ci·kt·kh·kw] with one single-threaded SGEMM; tasks run in parallel.
public func conv3dForward(_ x: Tensor, weight: Tensor, bias: Tensor?,
                          stride: Size3, padding: Size3, dilation: Size3) -> Tensor {
    precondition(weight.rank == 5, "conv3d weight must be [Co, Ci, kt, kh, kw], got \(weight.shape)")
    precondition(x.rank == 5 && x.shape[1] == weight.shape[1],
                 "conv3d: input \(x.shape) does not match weight \(weight.shape) (channels)")
    let g = Conv3DGeometry(inputShape: x.shape, outChannels: weight.shape[0],
                           kernel: Size3(weight.shape[2], weight.shape[3], weight.shape[4]),
                           stride: stride, padding: padding, dilation: dilation)
    if let bias { precondition(shape: bias.shape, equals: [g.outChannels], "conv3d bias") }
    let K = g.columnRows, Co = g.outChannels, L = g.output.product
    let inSample = g.inChannels * g.input.product, outSample = Co * L
    let totalRows = g.output.t * g.output.h
    let chunkRows = rowsPerChunk(g)
    let chunksPerSample = (totalRows + chunkRows - 1) / chunkRows
    let tasks = g.batch * chunksPerSample
    let pointwise = g.isPointwiseIdentity

    return Tensor(uninitializedShape: g.outputShape) { out in
        x.scalars.withUnsafeBufferPointer { px in
            weight.scalars.withUnsafeBufferPointer { pw in
                let X = UnsafeSendable(px.baseAddress!), Wt = UnsafeSendable(pw.baseAddress!)
                let O = UnsafeSendable(out.baseAddress!)
                let threadRanges = Parallel.ranges(tasks)
                let run = { (range: Range<Int>) in
                    let col = pointwise ? nil : UnsafeMutablePointer<Float>.allocate(capacity: K * chunkRows * g.output.w)
                    defer { col?.deallocate() }
                    for task in range {
                        let n = task / chunksPerSample, chunk = task % chunksPerSample
                        let rows = (chunk * chunkRows)..<min(totalRows, (chunk + 1) * chunkRows)
                        let lc = rows.count * g.output.w
                        let xs = X.pointer + n * inSample
                        let os = O.pointer + n * outSample + rows.lowerBound * g.output.w
                        if let col {
                            vol2col(xs, col, g, rows: rows)
                            BLAS.gemm(m: Co, n: lc, k: K, a: Wt.pointer, lda: K, b: col, ldb: lc, c: os, ldc: L)
                        } else {
                            BLAS.gemm(m: Co, n: lc, k: K, a: Wt.pointer, lda: K,
                                      b: xs + rows.lowerBound * g.output.w, ldb: L, c: os, ldc: L)
                        }
                    }
                }
                if threadRanges.count == 1 {
                    run(0..<tasks)
                } else {
                    Parallel.forEach(chunks: threadRanges.count) { run(threadRanges[$0]) }
                }
            }
        }
        if let bias {
            bias.scalars.withUnsafeBufferPointer { pb in
                for n in 0..<g.batch {
                    for c in 0..<Co {
                        let base = out.baseAddress! + n * outSample + c * L
                        let b = pb[c]
                        for i in 0..<L { base[i] += b }
                    }
                }
            }
        }
    }
}

/// Gradients of `conv3dForward` with respect to its input, weight and bias.
/// `gy` is [N, Co, Do, Ho, Wo]. The weight gradient is summed over per-thread partials in a
/// fixed order, so results are bit-identical for a given thread count.
public func conv3dBackward(_ x: Tensor, weight: Tensor, hasBias: Bool, gy: Tensor,
                           stride: Size3, padding: Size3, dilation: Size3,
                           needInputGradient: Bool = true) -> (gx: Tensor?, gw: Tensor, gb: Tensor?) {
    let g = Conv3DGeometry(inputShape: x.shape, outChannels: weight.shape[0],
                           kernel: Size3(weight.shape[2], weight.shape[3], weight.shape[4]),
                           stride: stride, padding: padding, dilation: dilation)
    precondition(shape: gy.shape, equals: g.outputShape, "conv3d output gradient")
    let K = g.columnRows, Co = g.outChannels, L = g.output.product
    let inSample = g.inChannels * g.input.product, outSample = Co * L
    let totalRows = g.output.t * g.output.h
    let chunkRows = rowsPerChunk(g)
    let pointwise = g.isPointwiseIdentity
    let parts = Parallel.ranges(g.batch)
    var partials = [Float](repeating: 0, count: parts.count * Co * K)
    var gx: [Float] = needInputGradient ? [Float](repeating: 0, count: x.count) : []

    x.scalars.withUnsafeBufferPointer { px in
        weight.scalars.withUnsafeBufferPointer { pw in
            gy.scalars.withUnsafeBufferPointer { pgy in
                partials.withUnsafeMutableBufferPointer { pp in
                    gx.withUnsafeMutableBufferPointer { pgx in
                        let X = UnsafeSendable(px.baseAddress!), Wt = UnsafeSendable(pw.baseAddress!)
                        let GY = UnsafeSendable(pgy.baseAddress!), P = UnsafeSendable(pp.baseAddress!)
                        let GX = UnsafeSendable(pgx.baseAddress)
                        let run = { (part: Int) in
                            let colCap = K * chunkRows * g.output.w
                            let col = pointwise ? nil : UnsafeMutablePointer<Float>.allocate(capacity: colCap)
                            let dcol = (pointwise || !needInputGradient) ? nil : UnsafeMutablePointer<Float>.allocate(capacity: colCap)
                            defer { col?.deallocate(); dcol?.deallocate() }
                            let gw = P.pointer + part * Co * K
                            for n in parts[part] {
                                let xs = X.pointer + n * inSample
                                let gys = GY.pointer + n * outSample
                                if pointwise {
                                    // gW += gY[n] · X[n]ᵀ ; gX[n] = Wᵀ · gY[n]
                                    BLAS.gemm(transB: true, m: Co, n: K, k: L, a: gys, lda: L, b: xs, ldb: L,
                                              beta: 1, c: gw, ldc: K)
                                    if let gxp = GX.pointer {
                                        BLAS.gemm(transA: true, m: K, n: L, k: Co, a: Wt.pointer, lda: K, b: gys, ldb: L,
                                                  c: gxp + n * inSample, ldc: L)
                                    }
                                    continue
                                }
                                var r0 = 0
                                while r0 < totalRows {
                                    let rows = r0..<min(totalRows, r0 + chunkRows)
                                    let lc = rows.count * g.output.w
                                    let gyc = gys + rows.lowerBound * g.output.w
                                    vol2col(xs, col!, g, rows: rows)
                                    BLAS.gemm(transB: true, m: Co, n: K, k: lc, a: gyc, lda: L, b: col!, ldb: lc,
                                              beta: 1, c: gw, ldc: K)
                                    if let dcol, let gxp = GX.pointer {
                                        BLAS.gemm(transA: true, m: K, n: lc, k: Co, a: Wt.pointer, lda: K, b: gyc, ldb: L,
                                                  c: dcol, ldc: lc)
                                        col2vol(dcol, gxp + n * inSample, g, rows: rows)
                                    }
                                    r0 = rows.upperBound
                                }
                            }
                        }
                        if parts.count == 1 { run(0) } else { Parallel.forEach(chunks: parts.count, run) }
                    }
                }
            }
        }
    }

    // Reduce the per-thread weight gradients in a fixed order.
    var gw = [Float](partials[0..<(Co * K)])
    for p in 1..<max(1, parts.count) {
        let base = p * Co * K
        for i in 0..<(Co * K) { gw[i] += partials[base + i] }
    }
    var gb: Tensor? = nil
    if hasBias {
        var sums = [Float](repeating: 0, count: Co)
        gy.scalars.withUnsafeBufferPointer { p in
            for n in 0..<g.batch {
                for c in 0..<Co {
                    var s: Float = 0
                    let base = n * outSample + c * L
                    for i in 0..<L { s += p[base + i] }
                    sums[c] += s
                }
            }
        }
        gb = Tensor(shape: [Co], scalars: sums)
    }
    return (needInputGradient ? Tensor(shape: x.shape, scalars: gx) : nil, Tensor(shape: weight.shape, scalars: gw), gb)
}

/// Differentiable 3D convolution (NCDHW). See `conv3dForward` for layouts and sizes.
public func conv3d(_ x: Variable, weight: Variable, bias: Variable? = nil,
                   stride: Size3 = Size3(all: 1), padding: Size3 = Size3(all: 0),
                   dilation: Size3 = Size3(all: 1)) -> Variable {
    let (y, pullback) = _vjpConv3D(x.value, weight: weight.value, bias: bias?.value,
                                   stride: stride, padding: padding, dilation: dilation,
                                   needInputGradient: x.requiresGrad)
    let inputs = bias.map { [x, weight, $0] } ?? [x, weight]
    return Variable.record(y, inputs: inputs) { gy in
        let (gx, gw, gb) = pullback(gy)
        return bias == nil ? [gx, gw] : [gx, gw, gb]
    }
}

/// Forward value and pullback of conv3d, side by side.
public func _vjpConv3D(_ x: Tensor, weight: Tensor, bias: Tensor?, stride: Size3, padding: Size3,
                       dilation: Size3, needInputGradient: Bool = true)
    -> (Tensor, (Tensor) -> (Tensor?, Tensor, Tensor?)) {
    let y = conv3dForward(x, weight: weight, bias: bias, stride: stride, padding: padding, dilation: dilation)
    return (y, { gy in
        conv3dBackward(x, weight: weight, hasBias: bias != nil, gy: gy, stride: stride, padding: padding,
                       dilation: dilation, needInputGradient: needInputGradient)
    })
}
