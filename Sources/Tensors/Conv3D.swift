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

/// Block sizes of the conv3d kernels, in floats of column matrix per block (per thread).
/// Blocks keep the column matrix in cache between its construction and the SGEMM that
/// reads it. Defaults can be overridden with `TEMPO_CONV_CHUNK` / `TEMPO_CONV_CHUNK_BWD`.
public struct Conv3DTuning: Sendable {
    public var forwardChunkFloats: Int
    /// The backward pass's blocks are larger: its weight-gradient SGEMM reduces over them.
    public var backwardChunkFloats: Int

    /// Use the direct AVX-512 kernels (`DirectConv3D`) where the shape and CPU allow;
    /// `false` forces im2col + SGEMM everywhere.
    public var direct: Bool

    public init(forwardChunkFloats: Int, backwardChunkFloats: Int, direct: Bool = true) {
        precondition(forwardChunkFloats > 0 && backwardChunkFloats > 0, "conv3d block sizes must be positive")
        self.forwardChunkFloats = forwardChunkFloats
        self.backwardChunkFloats = backwardChunkFloats
        self.direct = direct
    }

    /// `TEMPO_CONV_DIRECT=0` turns the direct kernels off.
    public static let `default`: Conv3DTuning = {
        let env = ProcessInfo.processInfo.environment
        return Conv3DTuning(forwardChunkFloats: env["TEMPO_CONV_CHUNK"].flatMap { Int($0) }.flatMap { $0 > 0 ? $0 : nil } ?? (1 << 18),
                            backwardChunkFloats: env["TEMPO_CONV_CHUNK_BWD"].flatMap { Int($0) }.flatMap { $0 > 0 ? $0 : nil } ?? (1 << 20),
                            direct: env["TEMPO_CONV_DIRECT"] != "0")
    }()

    /// Whether the direct kernels exist on this CPU.
    public static var directKernelsAvailable: Bool { DirectConv3D.available }
}

// MARK: - Column construction (vol2col / col2vol)

/// Writes the column matrix for output rows `rows` (a row is one (od, oh) pair) of one
/// sample: `col[k·ld + (r − rows.lowerBound)·Wo + ow]` with `k = ((c·kt + a)·kh + b)·kw + e`.
/// `ld` (≥ rows.count · Wo) lets several samples share one column block side by side.
@inlinable
public func vol2col(_ x: UnsafePointer<Float>, _ col: UnsafeMutablePointer<Float>, _ g: Conv3DGeometry,
                    rows: Range<Int>, ld: Int? = nil) {
    let C = g.inChannels, D = g.input.t, H = g.input.h, W = g.input.w
    let Ho = g.output.h, Wo = g.output.w
    let kt = g.kernel.t, kh = g.kernel.h, kw = g.kernel.w
    let sd = g.stride.t, sh = g.stride.h, sw = g.stride.w
    let pd = g.padding.t, ph = g.padding.h, pw = g.padding.w
    let dd = g.dilation.t, dh = g.dilation.h, dw = g.dilation.w
    let lc = ld ?? rows.count * Wo
    var k = 0
    for c in 0..<C {
        let xc = x + c * D * H * W
        for a in 0..<kt {
            for b in 0..<kh {
                for e in 0..<kw {
                    let iw0 = e * dw - pw
                    let owLo = iw0 >= 0 ? 0 : min(Wo, (-iw0 + sw - 1) / sw)
                    let owHi = W - 1 - iw0 < 0 ? 0 : max(owLo, min(Wo, (W - 1 - iw0) / sw + 1))
                    var dst = col + k * lc
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

/// The adjoint of `vol2col`: scatter-adds a column block back into one sample's input gradient.
@inlinable
public func col2vol(_ col: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>, _ g: Conv3DGeometry,
                    rows: Range<Int>, ld: Int? = nil) {
    let C = g.inChannels, D = g.input.t, H = g.input.h, W = g.input.w
    let Ho = g.output.h, Wo = g.output.w
    let kt = g.kernel.t, kh = g.kernel.h, kw = g.kernel.w
    let sd = g.stride.t, sh = g.stride.h, sw = g.stride.w
    let pd = g.padding.t, ph = g.padding.h, pw = g.padding.w
    let dd = g.dilation.t, dh = g.dilation.h, dw = g.dilation.w
    let lc = ld ?? rows.count * Wo
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

/// Output rows (one (od, oh) pair each) per column block, so the block stays cache-sized.
/// Blocks may span samples when a sample has few rows (deep, small layers), which keeps
/// the SGEMMs wide.
@inlinable
public func rowsPerChunk(_ g: Conv3DGeometry, floats: Int = Conv3DTuning.default.forwardChunkFloats) -> Int {
    let perRow = max(g.columnRows, g.outChannels) * g.output.w
    return max(1, floats / max(1, perRow))
}

/// A run of one sample's output rows inside a column block that spans global rows
/// `n·R + r` (R = output rows per sample).
@usableFromInline
struct Segment {
    @usableFromInline let sample: Int
    @usableFromInline let rows: Range<Int>
    /// Column offset of this run inside the block.
    @usableFromInline let offset: Int
    @usableFromInline init(sample: Int, rows: Range<Int>, offset: Int) {
        self.sample = sample; self.rows = rows; self.offset = offset
    }
}

@inlinable
func segments(of globalRows: Range<Int>, rowsPerSample R: Int, width Wo: Int) -> [Segment] {
    var result: [Segment] = []
    var r = globalRows.lowerBound, offset = 0
    while r < globalRows.upperBound {
        let n = r / R, local = r - n * R
        let end = min(globalRows.upperBound, (n + 1) * R)
        result.append(Segment(sample: n, rows: local..<(local + end - r), offset: offset))
        offset += (end - r) * Wo
        r = end
    }
    return result
}

// MARK: - Forward and pullback

/// 3D convolution forward. `x`: [N, Ci, D, H, W]; `weight`: [Co, Ci, kt, kh, kw];
/// `bias`: [Co] or nil. Returns [N, Co, Do, Ho, Wo] (sizes from `Conv3DGeometry`).
///
/// The N·Do·Ho output rows are cut into cache-sized blocks; each block builds its column
/// matrix [Ci·kt·kh·kw, cols] and multiplies it by the weight matrix with one
/// single-threaded SGEMM. Blocks run in parallel on disjoint outputs.
public func conv3dForward(_ x: Tensor, weight: Tensor, bias: Tensor?,
                          stride: Size3, padding: Size3, dilation: Size3,
                          tuning: Conv3DTuning = .default) -> Tensor {
    conv3dForwardKeepingInput(x, weight: weight, bias: bias, stride: stride, padding: padding, dilation: dilation,
                              tuning: tuning).y
}

/// `conv3dForward`, also returning the channels-last input copy the direct kernels made (nil
/// on the SGEMM path), which the weight gradient can reuse.
func conv3dForwardKeepingInput(_ x: Tensor, weight: Tensor, bias: Tensor?,
                               stride: Size3, padding: Size3, dilation: Size3,
                               tuning: Conv3DTuning) -> (y: Tensor, input: DirectConv3D.PaddedBatch?) {
    precondition(weight.rank == 5, "conv3d weight must be [Co, Ci, kt, kh, kw], got \(weight.shape)")
    precondition(x.rank == 5 && x.shape[1] == weight.shape[1],
                 "conv3d: input \(x.shape) does not match weight \(weight.shape) (channels)")
    let g = Conv3DGeometry(inputShape: x.shape, outChannels: weight.shape[0],
                           kernel: Size3(weight.shape[2], weight.shape[3], weight.shape[4]),
                           stride: stride, padding: padding, dilation: dilation)
    if let bias { precondition(shape: bias.shape, equals: [g.outChannels], "conv3d bias") }
    if tuning.direct && DirectConv3D.forwardApplies(g) {
        let input = DirectConv3D.paddedInput(x, g)
        var y = DirectConv3D.forward(input, weight: weight, g)
        if let bias { addChannelBias(&y, bias, g) }
        return (y, input)
    }
    let K = g.columnRows, Co = g.outChannels, L = g.output.product, Wo = g.output.w
    let inSample = g.inChannels * g.input.product, outSample = Co * L
    let R = g.output.t * g.output.h, totalRows = g.batch * R
    let chunkRows = rowsPerChunk(g, floats: tuning.forwardChunkFloats)
    let chunks = (totalRows + chunkRows - 1) / chunkRows
    let pointwise = g.isPointwiseIdentity

    var y = Tensor(uninitializedShape: g.outputShape) { out in
        x.scalars.withUnsafeBufferPointer { px in
            weight.scalars.withUnsafeBufferPointer { pw in
                let X = UnsafeSendable(px.baseAddress!), Wt = UnsafeSendable(pw.baseAddress!)
                let O = UnsafeSendable(out.baseAddress!)
                let run = { (range: Range<Int>) in
                    let cap = chunkRows * Wo
                    let col = UnsafeMutablePointer<Float>.allocate(capacity: K * cap)
                    let tmp = UnsafeMutablePointer<Float>.allocate(capacity: Co * cap)
                    defer { col.deallocate(); tmp.deallocate() }
                    for chunk in range {
                        let rows = (chunk * chunkRows)..<min(totalRows, (chunk + 1) * chunkRows)
                        let lc = rows.count * Wo
                        let segs = segments(of: rows, rowsPerSample: R, width: Wo)
                        if segs.count == 1 {
                            let s = segs[0]
                            let xs = X.pointer + s.sample * inSample
                            let os = O.pointer + s.sample * outSample + s.rows.lowerBound * Wo
                            if pointwise {
                                BLAS.gemm(m: Co, n: lc, k: K, a: Wt.pointer, lda: K,
                                          b: xs + s.rows.lowerBound * Wo, ldb: L, c: os, ldc: L)
                            } else {
                                Profiler.measure("conv3d.forward.vol2col (thread time)") { vol2col(xs, col, g, rows: s.rows) }
                                Profiler.measure("conv3d.forward.sgemm (thread time)") {
                                    BLAS.gemm(m: Co, n: lc, k: K, a: Wt.pointer, lda: K, b: col, ldb: lc, c: os, ldc: L)
                                }
                            }
                            continue
                        }
                        for s in segs { vol2col(X.pointer + s.sample * inSample, col + s.offset, g, rows: s.rows, ld: lc) }
                        BLAS.gemm(m: Co, n: lc, k: K, a: Wt.pointer, lda: K, b: col, ldb: lc, c: tmp, ldc: lc)
                        for s in segs {
                            let width = s.rows.count * Wo
                            for c in 0..<Co {
                                (O.pointer + s.sample * outSample + c * L + s.rows.lowerBound * Wo)
                                    .update(from: tmp + c * lc + s.offset, count: width)
                            }
                        }
                    }
                }
                let threadRanges = Parallel.ranges(chunks)
                if threadRanges.count == 1 {
                    run(0..<chunks)
                } else {
                    Parallel.forEach(chunks: threadRanges.count) { run(threadRanges[$0]) }
                }
            }
        }
    }
    if let bias { addChannelBias(&y, bias, g) }
    return (y, nil)
}

/// y[n, c, ...] += bias[c].
func addChannelBias(_ y: inout Tensor, _ bias: Tensor, _ g: Conv3DGeometry) {
    let Co = g.outChannels, L = g.output.product
    y.scalars.withUnsafeMutableBufferPointer { out in
        bias.scalars.withUnsafeBufferPointer { pb in
            for n in 0..<g.batch {
                for c in 0..<Co {
                    let base = out.baseAddress! + (n * Co + c) * L
                    let b = pb[c]
                    for i in 0..<L { base[i] += b }
                }
            }
        }
    }
}

/// Gradients of `conv3dForward` with respect to its input, weight and bias.
/// `gy` is [N, Co, Do, Ho, Wo]. Threads own disjoint samples (so input-gradient scatters
/// never collide); the weight gradient is summed over per-thread partials in a fixed
/// order, so results are bit-identical for a given thread count.
public func conv3dBackward(_ x: Tensor, weight: Tensor, hasBias: Bool, gy: Tensor,
                           stride: Size3, padding: Size3, dilation: Size3,
                           needInputGradient: Bool = true,
                           tuning: Conv3DTuning = .default) -> (gx: Tensor?, gw: Tensor, gb: Tensor?) {
    conv3dBackward(x, weight: weight, hasBias: hasBias, gy: gy, stride: stride, padding: padding, dilation: dilation,
                   needInputGradient: needInputGradient, tuning: tuning, paddedInput: nil)
}

/// `paddedInput`: the forward's channels-last copy of `x`, when it made one.
func conv3dBackward(_ x: Tensor, weight: Tensor, hasBias: Bool, gy: Tensor,
                    stride: Size3, padding: Size3, dilation: Size3,
                    needInputGradient: Bool, tuning: Conv3DTuning,
                    paddedInput: DirectConv3D.PaddedBatch?) -> (gx: Tensor?, gw: Tensor, gb: Tensor?) {
    let g = Conv3DGeometry(inputShape: x.shape, outChannels: weight.shape[0],
                           kernel: Size3(weight.shape[2], weight.shape[3], weight.shape[4]),
                           stride: stride, padding: padding, dilation: dilation)
    precondition(shape: gy.shape, equals: g.outputShape, "conv3d output gradient")
    let directWeight = tuning.direct && DirectConv3D.weightGradientApplies(g)
    let directInput = needInputGradient && tuning.direct && DirectConv3D.inputGradientApplies(g)
    let scatterInput = needInputGradient && tuning.direct && !directInput && DirectConv3D.inputGradientScatterApplies(g)
    var gw: [Float]? = nil, gx: [Float]? = nil
    if directWeight || directInput || scatterInput {
        let paddedGY = DirectConv3D.paddedOutputGradient(gy, g, forInputGradient: directInput)
        if directWeight { gw = DirectConv3D.weightGradient(paddedInput ?? DirectConv3D.paddedInput(x, g), gy: paddedGY, g) }
        if directInput { gx = DirectConv3D.inputGradient(paddedGY, weight: weight, g) }
        if scatterInput { gx = DirectConv3D.inputGradientByScatter(paddedGY, weight: weight, g) }
    }
    let needGEMMInput = needInputGradient && !directInput && !scatterInput
    if !directWeight || needGEMMInput {
        let rest = conv3dBackwardGEMM(x, weight: weight, gy: gy, g, needInputGradient: needGEMMInput,
                                      needWeightGradient: !directWeight, tuning: tuning)
        if !directWeight { gw = rest.gw }
        if needGEMMInput { gx = rest.gx }
    }
    var gb: Tensor? = nil
    if hasBias {
        let Co = g.outChannels, L = g.output.product
        var sums = [Float](repeating: 0, count: Co)
        gy.scalars.withUnsafeBufferPointer { p in
            for n in 0..<g.batch {
                for c in 0..<Co {
                    var s: Float = 0
                    let base = (n * Co + c) * L
                    for i in 0..<L { s += p[base + i] }
                    sums[c] += s
                }
            }
        }
        gb = Tensor(shape: [Co], scalars: sums)
    }
    return (gx.map { Tensor(shape: x.shape, scalars: $0) }, Tensor(shape: weight.shape, scalars: gw!), gb)
}

/// im2col + SGEMM gradients of conv3d (input and/or weight). Threads own disjoint samples
/// (so input-gradient scatters never collide); the weight gradient is summed over
/// per-thread partials in a fixed order, so results are bit-identical for a given thread count.
func conv3dBackwardGEMM(_ x: Tensor, weight: Tensor, gy: Tensor, _ g: Conv3DGeometry,
                        needInputGradient: Bool, needWeightGradient: Bool,
                        tuning: Conv3DTuning) -> (gx: [Float]?, gw: [Float]?) {
    let K = g.columnRows, Co = g.outChannels, L = g.output.product, Wo = g.output.w
    let inSample = g.inChannels * g.input.product, outSample = Co * L
    let R = g.output.t * g.output.h
    let chunkRows = rowsPerChunk(g, floats: tuning.backwardChunkFloats)
    let pointwise = g.isPointwiseIdentity
    let parts = Parallel.ranges(g.batch)
    var partials = [Float](repeating: 0, count: needWeightGradient ? parts.count * Co * K : 1)
    var gx: [Float] = needInputGradient ? [Float](repeating: 0, count: x.count) : []

    x.scalars.withUnsafeBufferPointer { px in
        weight.scalars.withUnsafeBufferPointer { pw in
            gy.scalars.withUnsafeBufferPointer { pgy in
                partials.withUnsafeMutableBufferPointer { pp in
                    gx.withUnsafeMutableBufferPointer { pgx in
                        let X = UnsafeSendable(px.baseAddress!), Wt = UnsafeSendable(pw.baseAddress!)
                        let GY = UnsafeSendable(pgy.baseAddress!), P = UnsafeSendable(pp.baseAddress!)
                        // An empty array may still have a base address (the shared empty storage):
                        // only a real input gradient may be written.
                        let GX = UnsafeSendable(needInputGradient ? pgx.baseAddress : nil)
                        let run = { (part: Int) in
                            let cap = chunkRows * Wo
                            let col = UnsafeMutablePointer<Float>.allocate(capacity: K * cap)
                            let dcol = UnsafeMutablePointer<Float>.allocate(capacity: K * cap)
                            let gyc = UnsafeMutablePointer<Float>.allocate(capacity: Co * cap)
                            defer { col.deallocate(); dcol.deallocate(); gyc.deallocate() }
                            let gw = P.pointer + part * Co * K
                            let partRows = (parts[part].lowerBound * R)..<(parts[part].upperBound * R)
                            var r0 = partRows.lowerBound
                            while r0 < partRows.upperBound {
                                let rows = r0..<min(partRows.upperBound, r0 + chunkRows)
                                r0 = rows.upperBound
                                let lc = rows.count * Wo
                                let segs = segments(of: rows, rowsPerSample: R, width: Wo)
                                // Output gradient block [Co, lc]: in place when one sample, else gathered.
                                let gyBlock: UnsafePointer<Float>, ldg: Int
                                if segs.count == 1 {
                                    gyBlock = UnsafePointer(GY.pointer + segs[0].sample * outSample + segs[0].rows.lowerBound * Wo)
                                    ldg = L
                                } else {
                                    for s in segs {
                                        for c in 0..<Co {
                                            (gyc + c * lc + s.offset).update(
                                                from: GY.pointer + s.sample * outSample + c * L + s.rows.lowerBound * Wo,
                                                count: s.rows.count * Wo)
                                        }
                                    }
                                    gyBlock = UnsafePointer(gyc); ldg = lc
                                }
                                // Input block [K, lc]: the sample itself for a plain 1×1×1 conv over one sample.
                                let xBlock: UnsafePointer<Float>, ldx: Int
                                if !needWeightGradient {
                                    xBlock = UnsafePointer(col); ldx = lc
                                } else if pointwise && segs.count == 1 {
                                    xBlock = UnsafePointer(X.pointer + segs[0].sample * inSample + segs[0].rows.lowerBound * Wo)
                                    ldx = L
                                } else {
                                    Profiler.measure("conv3d.backward.vol2col (thread time)") {
                                        for s in segs { vol2col(X.pointer + s.sample * inSample, col + s.offset, g, rows: s.rows, ld: lc) }
                                    }
                                    xBlock = UnsafePointer(col); ldx = lc
                                }
                                // gW += gY · colᵀ
                                if needWeightGradient {
                                Profiler.measure("conv3d.backward.sgemm-weight (thread time)") {
                                    BLAS.gemm(transB: true, m: Co, n: K, k: lc, a: gyBlock, lda: ldg, b: xBlock, ldb: ldx,
                                              beta: 1, c: gw, ldc: K)
                                }
                                }
                                guard let gxp = GX.pointer else { continue }
                                if pointwise && segs.count == 1 {
                                    // gX rows = Wᵀ · gY, written straight into the sample's gradient.
                                    BLAS.gemm(transA: true, m: K, n: lc, k: Co, a: Wt.pointer, lda: K, b: gyBlock, ldb: ldg,
                                              c: gxp + segs[0].sample * inSample + segs[0].rows.lowerBound * Wo, ldc: L)
                                    continue
                                }
                                // dcol = Wᵀ · gY, scattered back with col2vol.
                                Profiler.measure("conv3d.backward.sgemm-input (thread time)") {
                                    BLAS.gemm(transA: true, m: K, n: lc, k: Co, a: Wt.pointer, lda: K, b: gyBlock, ldb: ldg,
                                              c: dcol, ldc: lc)
                                }
                                Profiler.measure("conv3d.backward.col2vol (thread time)") {
                                    for s in segs { col2vol(dcol + s.offset, gxp + s.sample * inSample, g, rows: s.rows, ld: lc) }
                                }
                            }
                        }
                        if parts.count == 1 { run(0) } else { Parallel.forEach(chunks: parts.count, run) }
                    }
                }
            }
        }
    }

    guard needWeightGradient else { return (needInputGradient ? gx : nil, nil) }
    // Reduce the per-thread weight gradients in a fixed order.
    var gw = [Float](partials[0..<(Co * K)])
    for p in 1..<max(1, parts.count) {
        let base = p * Co * K
        for i in 0..<(Co * K) { gw[i] += partials[base + i] }
    }
    return (needInputGradient ? gx : nil, gw)
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
    let tuning = Conv3DTuning.default
    // The direct forward's channels-last input copy is kept until the pullback, whose weight
    // gradient reads the same copy.
    let (y, input) = Profiler.measure("conv3d.forward") {
        conv3dForwardKeepingInput(x, weight: weight, bias: bias, stride: stride, padding: padding, dilation: dilation,
                                  tuning: tuning)
    }
    return (y, { gy in
        Profiler.measure("conv3d.backward") {
            conv3dBackward(x, weight: weight, hasBias: bias != nil, gy: gy, stride: stride, padding: padding,
                           dilation: dilation, needInputGradient: needInputGradient, tuning: tuning, paddedInput: input)
        }
    })
}
