import Tensors

extension ResNet3DConfig {
    /// Multiply–adds of the convolutions (and classifier) of one forward pass on an input of
    /// shape [N, C, T, H, W], from the same output-size formulas the kernels use.
    public func forwardMACs(input: [Int]) -> Double {
        var shape = input
        var macs = 0.0
        func conv(_ co: Int, _ k: Size3, _ s: Size3, _ p: Size3, _ d: Size3 = Size3(all: 1)) {
            let g = Conv3DGeometry(inputShape: shape, outChannels: co, kernel: k, stride: s, padding: p, dilation: d)
            macs += Double(g.macs)
            shape = g.outputShape
        }
        func same(_ k: Size3, _ d: Size3 = Size3(all: 1)) -> Size3 {
            Size3(d.t * (k.t - 1) / 2, d.h * (k.h - 1) / 2, d.w * (k.w - 1) / 2)
        }
        conv(stemChannels, stemKernel, stemStride, same(stemKernel))
        if stemMaxPool {
            shape = Conv3DGeometry(inputShape: shape, outChannels: shape[1], kernel: Size3(1, 3, 3), stride: Size3(1, 2, 2),
                                   padding: Size3(0, 1, 1), dilation: Size3(all: 1)).outputShape
        }
        for s in 0..<4 {
            let dil = s == 3 ? Size3(1, res5Dilation, res5Dilation) : Size3(all: 1)
            for b in 0..<stageBlocks[s] {
                let stride = b == 0 ? stageStrides[s] : Size3(all: 1)
                let input = shape
                let out = stageOutputs[s]
                switch block {
                case .basic:
                    let k1 = Size3(conv1Temporal[s], 3, 3), k2 = Size3(conv2Temporal[s], 3, 3)
                    conv(stageWidths[s], k1, stride, same(k1, dil), dil)
                    conv(stageWidths[s], k2, Size3(all: 1), same(k2, dil), dil)
                case .bottleneck:
                    let ka = Size3(conv1Temporal[s], 1, 1), kb = Size3(1, 3, 3)
                    conv(stageWidths[s], ka, Size3(all: 1), same(ka))
                    conv(stageWidths[s], kb, stride, same(kb, dil), dil)
                    conv(out, Size3(all: 1), Size3(all: 1), Size3(all: 0))
                }
                if input[1] != out || stride != Size3(all: 1) {
                    let g = Conv3DGeometry(inputShape: input, outChannels: out, kernel: Size3(all: 1), stride: stride,
                                           padding: Size3(all: 0), dilation: Size3(all: 1))
                    macs += Double(g.macs)
                }
            }
        }
        if let classes = numClasses { macs += Double(shape[0] * shape[1] * classes) }
        return macs
    }
}

extension ResNet3DConfig {
    /// Trainable values (convolution weights, batch-norm scales and shifts, classifier): what a
    /// data-parallel step allreduces as gradients. Counted from the configuration, without
    /// building the network.
    public var parameterCount: Int {
        var total = 0, channels = inChannels
        func convBN(_ co: Int, _ k: Size3) { total += co * channels * k.t * k.h * k.w + 2 * co; channels = co }
        convBN(stemChannels, stemKernel)
        for s in 0..<4 {
            for b in 0..<stageBlocks[s] {
                let input = channels, out = stageOutputs[s]
                let stride = b == 0 ? stageStrides[s] : Size3(all: 1)
                switch block {
                case .basic:
                    convBN(stageWidths[s], Size3(conv1Temporal[s], 3, 3))
                    convBN(stageWidths[s], Size3(conv2Temporal[s], 3, 3))
                case .bottleneck:
                    convBN(stageWidths[s], Size3(conv1Temporal[s], 1, 1))
                    convBN(stageWidths[s], Size3(1, 3, 3))
                    convBN(out, Size3(all: 1))
                }
                if input != out || stride != Size3(all: 1) { total += out * input + 2 * out }
                channels = out
            }
        }
        if let classes = numClasses { total += channels * classes + classes }
        return total
    }
}
