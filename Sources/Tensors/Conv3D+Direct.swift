import CConvKernels

/// Direct conv3d: no column matrix. Activations are copied once into a zero-padded,
/// channels-last layout (one sample `[D+2pd][H+2ph][W+2pw][C]`) and AVX-512 kernels
/// (`CConvKernels`) accumulate each output tile in registers over every tap and channel.
///
/// - Forward: any stride, padding and dilation, `Co` a multiple of 64.
/// - Weight gradient: `Co` a multiple of 64.
/// - Input gradient, for stride 1: the forward kernel on the output gradient padded by
///   `dilation·(kernel − 1) − padding` per side, with the weights flipped and transposed;
///   needs `Ci` a multiple of 64 and that padding non-negative. Other convs with `Ci` a
///   multiple of 64 (strided ones) scatter each tap's products into a padded buffer.
///
/// Other shapes, and CPUs without AVX-512, use im2col + SGEMM (`conv3dForward`).
/// Every output element is summed by one thread in a fixed order, so the forward and input
/// gradient do not depend on the thread count; the weight gradient adds per-thread partial
/// sums in a fixed order (bit-identical for a given thread count).
enum DirectConv3D {
    static let available: Bool = tb_conv_kernels_available() != 0

    static func forwardApplies(_ g: Conv3DGeometry) -> Bool {
        available && g.outChannels % 64 == 0
    }

    static func weightGradientApplies(_ g: Conv3DGeometry) -> Bool {
        available && g.outChannels % 64 == 0
    }

    static func inputGradientApplies(_ g: Conv3DGeometry) -> Bool {
        available && g.stride == Size3(all: 1) && g.inChannels % 64 == 0 && transposedPadding(g) != nil
    }

    /// Input gradient of any other conv (strided ones): scattered tap by tap into a padded
    /// channels-last buffer; needs `Ci` a multiple of 64.
    static func inputGradientScatterApplies(_ g: Conv3DGeometry) -> Bool {
        available && g.inChannels % 64 == 0
    }

    /// Padding that turns the input gradient of a stride-1 conv into a plain convolution.
    static func transposedPadding(_ g: Conv3DGeometry) -> Size3? {
        let p = Size3(g.dilation.t * (g.kernel.t - 1) - g.padding.t,
                      g.dilation.h * (g.kernel.h - 1) - g.padding.h,
                      g.dilation.w * (g.kernel.w - 1) - g.padding.w)
        return p.t >= 0 && p.h >= 0 && p.w >= 0 ? p : nil
    }

    /// A batch in padded channels-last layout; frees its storage in `deinit`.
    final class PaddedBatch {
        let pointer: UnsafeMutablePointer<Float>
        let channels: Int, size: Size3, padding: Size3, batch: Int
        var padded: Size3 { Size3(size.t + 2 * padding.t, size.h + 2 * padding.h, size.w + 2 * padding.w) }

        /// Copies NCDHW `x` ([N, C, size...]) into padded channels-last storage.
        init(_ x: UnsafePointer<Float>, batch: Int, channels: Int, size: Size3, padding: Size3) {
            self.batch = batch; self.channels = channels; self.size = size; self.padding = padding
            let p = Size3(size.t + 2 * padding.t, size.h + 2 * padding.h, size.w + 2 * padding.w)
            let perSample = p.product * channels, inSample = size.product * channels
            pointer = .allocate(capacity: batch * perSample)
            let src = UnsafeSendable(x), dst = UnsafeSendable(pointer)
            Profiler.measure("conv3d.direct.to-channels-last (wall)") {
                Parallel.forEachRange(batch) { range in
                    for n in range {
                        tb_conv_to_cl(src.pointer + n * inSample, Int32(channels), Int32(size.t), Int32(size.h),
                                      Int32(size.w), Int32(padding.t), Int32(padding.h), Int32(padding.w),
                                      dst.pointer + n * perSample)
                    }
                }
            }
        }

        /// Zeroed padded storage for `batch` samples.
        init(zeroedBatch batch: Int, channels: Int, size: Size3, padding: Size3) {
            self.batch = batch; self.channels = channels; self.size = size; self.padding = padding
            let count = batch * Size3(size.t + 2 * padding.t, size.h + 2 * padding.h, size.w + 2 * padding.w).product * channels
            pointer = .allocate(capacity: count)
            pointer.initialize(repeating: 0, count: count)
        }

        deinit { pointer.deallocate() }
    }

    /// Float offsets of the kernel taps inside one padded sample, in (a, b, e) order.
    static func tapOffsets(kernel: Size3, dilation: Size3, padded: Size3, channels: Int) -> [Int] {
        var offsets: [Int] = []
        offsets.reserveCapacity(kernel.product)
        for a in 0..<kernel.t {
            for b in 0..<kernel.h {
                for e in 0..<kernel.w {
                    offsets.append(((a * dilation.t * padded.h + b * dilation.h) * padded.w + e * dilation.w) * channels)
                }
            }
        }
        return offsets
    }

    static func geometry(_ input: PaddedBatch, output: Size3, stride: Size3, kernel: Size3, dilation: Size3) -> tb_conv_geometry {
        let p = input.padded
        return tb_conv_geometry(channels: Int32(input.channels), dp: Int32(p.t), hp: Int32(p.h), wp: Int32(p.w),
                                dout: Int32(output.t), hout: Int32(output.h), wout: Int32(output.w),
                                sd: Int32(stride.t), sh: Int32(stride.h), sw: Int32(stride.w), taps: Int32(kernel.product),
                                kt: Int32(kernel.t), kh: Int32(kernel.h), kw: Int32(kernel.w),
                                dd: Int32(dilation.t), dh: Int32(dilation.h),
                                pad_d: Int32(input.padding.t), pad_h: Int32(input.padding.h),
                                in_d: Int32(input.size.t), in_h: Int32(input.size.h))
    }

    /// Runs the forward kernel of `input` (padded CL) with packed weights, writing NCDHW
    /// `[batch, coCount, output...]` into `out`.
    static func convolve(_ input: PaddedBatch, packed: [Float], coCount: Int, kernel: Size3, stride: Size3,
                         dilation: Size3, output: Size3, into out: UnsafeMutablePointer<Float>) {
        var geo = geometry(input, output: output, stride: stride, kernel: kernel, dilation: dilation)
        let offsets = tapOffsets(kernel: kernel, dilation: dilation, padded: input.padded, channels: input.channels)
        let L = output.product, Q = input.batch * L
        let cl = UnsafeMutablePointer<Float>.allocate(capacity: Q * coCount)
        defer { cl.deallocate() }
        let src = UnsafeSendable(UnsafePointer(input.pointer)), dst = UnsafeSendable(cl), O = UnsafeSendable(out)
        withUnsafePointer(to: &geo) { gp in
            let G = UnsafeSendable(gp)
            offsets.withUnsafeBufferPointer { po in
                packed.withUnsafeBufferPointer { pw in
                    let OFF = UnsafeSendable(po.baseAddress!), W = UnsafeSendable(pw.baseAddress!)
                    // Few positions (deep layers): the threads split the output channels instead.
                    let blocks = coCount / 64, threads = Parallel.threadCount
                    let byChannels = Q < 64 * threads && blocks >= threads
                    let parts = byChannels ? Parallel.ranges(blocks) : Parallel.ranges(Q)
                    Profiler.measure("conv3d.direct.kernel (wall)") {
                        Parallel.forEach(chunks: parts.count) { i in
                            let q = byChannels ? 0..<Q : parts[i], b = byChannels ? parts[i] : 0..<blocks
                            tb_conv_forward_cl(src.pointer, G.pointer, OFF.pointer, W.pointer, Int32(coCount),
                                               dst.pointer, q.lowerBound, q.upperBound, Int32(b.lowerBound), Int32(b.upperBound))
                        }
                    }
                }
            }
        }
        Profiler.measure("conv3d.direct.from-channels-last (wall)") {
            Parallel.forEachRange(input.batch) { range in
                for n in range {
                    tb_conv_from_cl(dst.pointer + n * L * coCount, Int32(coCount), L, O.pointer + n * L * coCount)
                }
            }
        }
    }

    /// Packs `weight` ([Co, Ci, kt, kh, kw]) for the forward kernel, or flipped and
    /// transposed for the input gradient.
    static func pack(_ weight: Tensor, forInputGradient: Bool, flip: Bool = true) -> [Float] {
        let Co = weight.shape[0], Ci = weight.shape[1], taps = weight.shape[2] * weight.shape[3] * weight.shape[4]
        let (j, r) = forInputGradient ? (Ci, Co) : (Co, Ci)
        let mode: Int32 = forInputGradient ? 1 : 0, flipped: Int32 = forInputGradient && flip ? 1 : 0
        return [Float](unsafeUninitializedCapacity: weight.count) { buffer, initialized in
            weight.scalars.withUnsafeBufferPointer { w in
                let W = UnsafeSendable(w.baseAddress!), O = UnsafeSendable(buffer.baseAddress!)
                Profiler.measure("conv3d.direct.pack-weights (wall)") {
                    Parallel.forEachRange(j / 64) { blocks in
                        tb_conv_pack_weights(W.pointer, Int32(j), Int32(r), Int32(taps), flipped, mode, O.pointer,
                                             Int32(blocks.lowerBound), Int32(blocks.upperBound))
                    }
                }
            }
            initialized = weight.count
        }
    }

    /// The padded channels-last copy of a conv input, as the forward and weight gradient read it.
    static func paddedInput(_ x: Tensor, _ g: Conv3DGeometry) -> PaddedBatch {
        x.scalars.withUnsafeBufferPointer {
            PaddedBatch($0.baseAddress!, batch: g.batch, channels: g.inChannels, size: g.input, padding: g.padding)
        }
    }

    /// Forward without bias: [N, Co, Do, Ho, Wo]. `input` is `paddedInput(x, g)`.
    static func forward(_ input: PaddedBatch, weight: Tensor, _ g: Conv3DGeometry) -> Tensor {
        let packed = pack(weight, forInputGradient: false)
        return Tensor(uninitializedShape: g.outputShape) { out in
            convolve(input, packed: packed, coCount: g.outChannels, kernel: g.kernel, stride: g.stride,
                     dilation: g.dilation, output: g.output, into: out.baseAddress!)
        }
    }

    /// The output gradient in padded CL layout, padded for the input-gradient convolution
    /// when that runs here, else unpadded.
    static func paddedOutputGradient(_ gy: Tensor, _ g: Conv3DGeometry, forInputGradient: Bool) -> PaddedBatch {
        let padding = forInputGradient ? transposedPadding(g)! : Size3(all: 0)
        return gy.scalars.withUnsafeBufferPointer {
            PaddedBatch($0.baseAddress!, batch: g.batch, channels: g.outChannels, size: g.output, padding: padding)
        }
    }

    /// Input gradient of a stride-1 conv: [N, Ci, D, H, W].
    static func inputGradient(_ gy: PaddedBatch, weight: Tensor, _ g: Conv3DGeometry) -> [Float] {
        let packed = pack(weight, forInputGradient: true)
        return [Float](unsafeUninitializedCapacity: g.batch * g.inChannels * g.input.product) { buffer, initialized in
            convolve(gy, packed: packed, coCount: g.inChannels, kernel: g.kernel, stride: Size3(all: 1),
                     dilation: g.dilation, output: g.input, into: buffer.baseAddress!)
            initialized = buffer.count
        }
    }

    /// Input gradient of any conv with `Ci` a multiple of 64: [N, Ci, D, H, W]. `gy` is the
    /// unpadded channels-last output gradient.
    static func inputGradientByScatter(_ gy: PaddedBatch, weight: Tensor, _ g: Conv3DGeometry) -> [Float] {
        precondition(gy.padding == Size3(all: 0), "the scattered input gradient reads an unpadded output gradient")
        let packed = pack(weight, forInputGradient: true, flip: false)
        let gin = PaddedBatch(zeroedBatch: g.batch, channels: g.inChannels, size: g.input, padding: g.padding)
        var geo = geometry(gin, output: g.output, stride: g.stride, kernel: g.kernel, dilation: g.dilation)
        let offsets = tapOffsets(kernel: g.kernel, dilation: g.dilation, padded: gin.padded, channels: g.inChannels)
        let L = g.output.product, blocks = g.inChannels / 64, Co = g.outChannels
        // Threads own whole channel blocks, else whole samples, so their scatters never meet.
        let byBlocks = blocks >= Parallel.threadCount
        let parts = byBlocks ? Parallel.ranges(blocks) : Parallel.ranges(g.batch)
        let Y = UnsafeSendable(UnsafePointer(gy.pointer)), GIN = UnsafeSendable(gin.pointer)
        withUnsafePointer(to: &geo) { gp in
            let G = UnsafeSendable(gp)
            offsets.withUnsafeBufferPointer { po in
                packed.withUnsafeBufferPointer { pw in
                    let OFF = UnsafeSendable(po.baseAddress!), W = UnsafeSendable(pw.baseAddress!)
                    Profiler.measure("conv3d.direct.input-gradient-scatter (wall)") {
                        Parallel.forEach(chunks: parts.count) { i in
                            let b = byBlocks ? parts[i] : 0..<blocks
                            let q = byBlocks ? 0..<(g.batch * L) : (parts[i].lowerBound * L)..<(parts[i].upperBound * L)
                            tb_conv_input_grad_scatter_cl(Y.pointer, Int32(Co), G.pointer, OFF.pointer, W.pointer, GIN.pointer,
                                                          q.lowerBound, q.upperBound, Int32(b.lowerBound), Int32(b.upperBound))
                        }
                    }
                }
            }
        }
        let perSample = gin.padded.product * g.inChannels, outSample = g.inChannels * g.input.product
        return [Float](unsafeUninitializedCapacity: g.batch * outSample) { out, initialized in
            let O = UnsafeSendable(out.baseAddress!)
            Profiler.measure("conv3d.direct.from-channels-last (wall)") {
                Parallel.forEachRange(g.batch) { range in
                    for n in range {
                        tb_conv_from_cl_padded(GIN.pointer + n * perSample, Int32(g.inChannels), Int32(g.input.t),
                                               Int32(g.input.h), Int32(g.input.w), Int32(g.padding.t), Int32(g.padding.h),
                                               Int32(g.padding.w), O.pointer + n * outSample)
                    }
                }
            }
            initialized = g.batch * outSample
        }
    }

    /// Weight gradient in the weight's own layout [Co, Ci, kt, kh, kw]. `input` is `paddedInput(x, g)`.
    static func weightGradient(_ input: PaddedBatch, gy: PaddedBatch, _ g: Conv3DGeometry) -> [Float] {
        var geo = geometry(input, output: g.output, stride: g.stride, kernel: g.kernel, dilation: g.dilation)
        let offsets = tapOffsets(kernel: g.kernel, dilation: g.dilation, padded: input.padded, channels: g.inChannels)
        let taps = g.kernel.product, Ci = g.inChannels, Co = g.outChannels, size = taps * Ci * Co
        let Q = g.batch * g.output.product
        // Many positions: threads split them and sum private partial gradients. Few positions
        // (deep layers, where those partials would cost more than the products): threads
        // split the taps and write disjoint parts of one gradient.
        let byTaps = Q < 2048 && taps >= 2 * Parallel.threadCount
        let parts = byTaps ? Parallel.ranges(taps) : Parallel.ranges(Q)
        // Every element is written by the kernel's first slice (each part holds ≥ 1 position or tap).
        var partials = [Float](unsafeUninitializedCapacity: (byTaps ? 1 : parts.count) * size) { _, n in
            n = (byTaps ? 1 : parts.count) * size
        }
        let gyPad = [Int32(gy.padding.t), Int32(gy.padding.h), Int32(gy.padding.w)]
        let gyDims = [Int32(gy.padded.t), Int32(gy.padded.h), Int32(gy.padded.w)]
        withUnsafePointer(to: &geo) { gp in
            offsets.withUnsafeBufferPointer { po in
                partials.withUnsafeMutableBufferPointer { pp in
                    gyPad.withUnsafeBufferPointer { ppad in
                        gyDims.withUnsafeBufferPointer { pdims in
                            let G = UnsafeSendable(gp), OFF = UnsafeSendable(po.baseAddress!), P = UnsafeSendable(pp.baseAddress!)
                            let X = UnsafeSendable(UnsafePointer(input.pointer)), Y = UnsafeSendable(UnsafePointer(gy.pointer))
                            let PAD = UnsafeSendable(ppad.baseAddress!), DIMS = UnsafeSendable(pdims.baseAddress!)
                            Profiler.measure("conv3d.direct.weight-gradient (wall)") {
                                Parallel.forEach(chunks: parts.count) { part in
                                    let q = byTaps ? 0..<Q : parts[part], t = byTaps ? parts[part] : 0..<taps
                                    tb_conv_weight_grad_cl(X.pointer, G.pointer, OFF.pointer, Y.pointer, PAD.pointer,
                                                           DIMS.pointer, Int32(Co), P.pointer + (byTaps ? 0 : part * size),
                                                           q.lowerBound, q.upperBound, Int32(t.lowerBound), Int32(t.upperBound))
                                }
                            }
                        }
                    }
                }
            }
        }
        // Sum the partials in a fixed order and reorder [tap][Ci][Co] → [Co][Ci][tap].
        let count = byTaps ? 1 : parts.count
        return [Float](unsafeUninitializedCapacity: size) { out, initialized in
            partials.withUnsafeBufferPointer { p in
                let P = UnsafeSendable(p.baseAddress!), O = UnsafeSendable(out.baseAddress!)
                Profiler.measure("conv3d.direct.weight-gradient-reorder (wall)") {
                    Parallel.forEachRange(Ci) { channels in
                        tb_conv_unpack_weight_grad(P.pointer, Int32(count), size, Int32(taps), Int32(Ci), Int32(Co),
                                                   O.pointer, Int32(channels.lowerBound), Int32(channels.upperBound))
                    }
                }
            }
            initialized = size
        }
    }
}
