import Tensors

/// A 3D convolution layer over NCDHW input. Weight [Co, Ci, kt, kh, kw], optional bias [Co].
/// Initialised Kaiming-normal for ReLU with fan-out, as torchvision's video ResNets do.
public final class Conv3d: Layer {
    public let inChannels: Int, outChannels: Int
    public let kernel: Size3, stride: Size3, padding: Size3, dilation: Size3
    public var weight: Variable
    public var bias: Variable?

    public init(_ inChannels: Int, _ outChannels: Int, kernel: Size3, stride: Size3 = Size3(all: 1),
                padding: Size3 = Size3(all: 0), dilation: Size3 = Size3(all: 1), bias: Bool = false,
                rng: inout RandomGenerator) {
        self.inChannels = inChannels; self.outChannels = outChannels
        self.kernel = kernel; self.stride = stride; self.padding = padding; self.dilation = dilation
        let fanOut = Float(outChannels * kernel.product)
        weight = Variable(Tensor.randomNormal([outChannels, inChannels, kernel.t, kernel.h, kernel.w],
                                              std: (2 / fanOut).squareRoot(), using: &rng), requiresGrad: true)
        self.bias = bias ? Variable(Tensor.zeros([outChannels]), requiresGrad: true) : nil
    }

    /// "Same" padding for odd kernels: `dilation · (kernel − 1) / 2` per axis.
    public static func samePadding(_ kernel: Size3, dilation: Size3 = Size3(all: 1)) -> Size3 {
        Size3(dilation.t * (kernel.t - 1) / 2, dilation.h * (kernel.h - 1) / 2, dilation.w * (kernel.w - 1) / 2)
    }

    public func callAsFunction(_ x: Variable) -> Variable {
        conv3d(x, weight: weight, bias: bias, stride: stride, padding: padding, dilation: dilation)
    }

    public var namedParameters: [(String, Variable)] {
        [("weight", weight)] + (bias.map { [("bias", $0)] } ?? [])
    }
}

/// Batch normalisation over channels (axis 1) with running statistics for evaluation.
public final class BatchNorm: Layer {
    public let channels: Int, momentum: Float, epsilon: Float
    /// Whether scale and shift are trained parameters (otherwise constant 1 and 0).
    public let affine: Bool
    public var weight: Variable
    public var bias: Variable
    public var runningMean: Variable
    public var runningVariance: Variable

    /// `zeroInit` starts the scale at 0 (the last BN of a residual block), so each block
    /// begins as the identity. `affine: false` keeps scale 1 and shift 0, untrained.
    public init(_ channels: Int, momentum: Float = 0.1, epsilon: Float = 1e-5, zeroInit: Bool = false, affine: Bool = true) {
        self.channels = channels; self.momentum = momentum; self.epsilon = epsilon; self.affine = affine
        weight = Variable(Tensor(repeating: zeroInit ? 0 : 1, shape: [channels]), requiresGrad: affine)
        bias = Variable(Tensor.zeros([channels]), requiresGrad: affine)
        runningMean = Variable(Tensor.zeros([channels]))
        runningVariance = Variable(Tensor.ones([channels]))
    }

    public func callAsFunction(_ x: Variable, training: Bool) -> Variable {
        batchNorm(x, gamma: weight, beta: bias, runningMean: &runningMean.value,
                  runningVariance: &runningVariance.value, training: training,
                  momentum: momentum, epsilon: epsilon)
    }

    public var namedParameters: [(String, Variable)] { affine ? [("weight", weight), ("bias", bias)] : [] }
    public var namedBuffers: [(String, Variable)] { [("running_mean", runningMean), ("running_var", runningVariance)] }
}

/// A fully connected layer: weight [out, in], bias [out]; PyTorch's default uniform init.
public final class Linear: Layer {
    public let inFeatures: Int, outFeatures: Int
    public var weight: Variable
    public var bias: Variable?

    public init(_ inFeatures: Int, _ outFeatures: Int, bias: Bool = true, rng: inout RandomGenerator) {
        self.inFeatures = inFeatures; self.outFeatures = outFeatures
        let bound = 1 / Float(inFeatures).squareRoot()
        weight = Variable(Tensor.randomUniform([outFeatures, inFeatures], low: -bound, high: bound, using: &rng), requiresGrad: true)
        self.bias = bias ? Variable(Tensor.randomUniform([outFeatures], low: -bound, high: bound, using: &rng), requiresGrad: true) : nil
    }

    public func callAsFunction(_ x: Variable) -> Variable { linear(x, weight: weight, bias: bias) }

    public var namedParameters: [(String, Variable)] {
        [("weight", weight)] + (bias.map { [("bias", $0)] } ?? [])
    }
}
