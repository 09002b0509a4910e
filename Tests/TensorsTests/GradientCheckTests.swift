import Tensors
import XCTest

/// Finite-difference checks of every differentiable op's pullback.
final class GradientCheckTests: XCTestCase {
    var rng = RandomGenerator(seed: 7)
    func normal(_ shape: [Int], std: Float = 1) -> Tensor { Tensor.randomNormal(shape, std: std, using: &rng) }

    func conv(_ x: [Int], co: Int, k: Size3, s: Size3, p: Size3, d: Size3, bias: Bool) {
        var inputs = [normal(x), normal([co, x[1], k.t, k.h, k.w], std: 0.3)]
        if bias { inputs.append(normal([co])) }
        gradientCheck(inputs) { v in
            conv3d(v[0], weight: v[1], bias: bias ? v[2] : nil, stride: s, padding: p, dilation: d)
        }
    }

    func testConv3DPlain() { conv([2, 3, 4, 5, 5], co: 4, k: Size3(all: 3), s: Size3(all: 1), p: Size3(all: 1), d: Size3(all: 1), bias: true) }
    func testConv3DStrided() { conv([2, 2, 5, 7, 6], co: 3, k: Size3(all: 3), s: Size3(2, 2, 2), p: Size3(1, 1, 1), d: Size3(all: 1), bias: false) }
    func testConv3DPadded() { conv([1, 2, 3, 4, 4], co: 3, k: Size3(1, 3, 3), s: Size3(all: 1), p: Size3(0, 2, 2), d: Size3(all: 1), bias: true) }
    func testConv3DDilated() { conv([1, 2, 6, 7, 7], co: 2, k: Size3(all: 3), s: Size3(all: 1), p: Size3(2, 2, 2), d: Size3(2, 2, 2), bias: false) }
    func testConv3DMixedAxes() { conv([2, 3, 5, 6, 7], co: 2, k: Size3(3, 1, 2), s: Size3(1, 2, 3), p: Size3(1, 0, 1), d: Size3(2, 1, 1), bias: true) }
    func testConv3DPointwise() { conv([2, 4, 2, 3, 3], co: 5, k: Size3(all: 1), s: Size3(all: 1), p: Size3(all: 0), d: Size3(all: 1), bias: false) }
    func testConv3DPointwiseStrided() { conv([2, 4, 2, 5, 5], co: 3, k: Size3(all: 1), s: Size3(1, 2, 2), p: Size3(all: 0), d: Size3(all: 1), bias: false) }

    func testBatchNormTraining() {
        var mean = Tensor.zeros([3]), variance = Tensor.ones([3])
        gradientCheck([normal([2, 3, 2, 3, 2]), normal([3]), normal([3])], eps: 5e-3) { v in
            batchNorm(v[0], gamma: v[1], beta: v[2], runningMean: &mean, runningVariance: &variance, training: true)
        }
    }

    func testBatchNormEvaluation() {
        var mean = normal([3]), variance = Tensor(shape: [3], scalars: [0.5, 1.5, 2])
        gradientCheck([normal([2, 3, 2, 2, 2]), normal([3]), normal([3])]) { v in
            batchNorm(v[0], gamma: v[1], beta: v[2], runningMean: &mean, runningVariance: &variance, training: false)
        }
    }

    func testReLU() { gradientCheck([separatedValues([2, 3, 4])]) { relu($0[0]) } }

    func testMaxPool3D() {
        gradientCheck([separatedValues([2, 2, 3, 6, 6])]) {
            maxPool3d($0[0], kernel: Size3(1, 3, 3), stride: Size3(1, 2, 2), padding: Size3(0, 1, 1))
        }
        gradientCheck([separatedValues([1, 2, 4, 4, 4], seed: 8)]) {
            maxPool3d($0[0], kernel: Size3(2, 2, 2), stride: Size3(2, 2, 2))
        }
    }

    func testAvgPool3D() {
        gradientCheck([normal([2, 2, 4, 4, 6])]) { avgPool3d($0[0], kernel: Size3(2, 2, 3), stride: Size3(2, 1, 3)) }
    }

    func testGlobalAveragePool() { gradientCheck([normal([2, 3, 2, 3, 4])]) { globalAvgPool($0[0]) } }

    func testLinearAndMatmul() {
        gradientCheck([normal([4, 5]), normal([3, 5]), normal([3])]) { linear($0[0], weight: $0[1], bias: $0[2]) }
        gradientCheck([normal([4, 5]), normal([5, 2])]) { matmul($0[0], $0[1]) }
    }

    func testAddMultiplyScaleReductions() {
        gradientCheck([normal([2, 3]), normal([2, 3])]) { add($0[0], $0[1]) }
        gradientCheck([normal([2, 3]), normal([2, 3])]) { multiply($0[0], $0[1]) }
        gradientCheck([normal([2, 3])]) { scale($0[0], by: 1 / 0.07) }
        gradientCheck([normal([2, 3])]) { sum($0[0]) }
        gradientCheck([normal([2, 3])]) { mean($0[0]) }
        gradientCheck([normal([2, 3])]) { meanSquare($0[0]) }
    }

    func testConcatReshapePermute() {
        gradientCheck([normal([2, 3, 2, 2]), normal([2, 1, 2, 2])]) { concat([$0[0], $0[1]], axis: 1) }
        gradientCheck([normal([2, 3, 4])]) { reshape($0[0], [6, -1]) }
        gradientCheck([normal([2, 3, 4, 5])]) { permute($0[0], [2, 0, 3, 1]) }
    }

    func testDropout() {
        // The mask is drawn from a generator re-seeded on every evaluation, so the function
        // being differentiated is fixed.
        gradientCheck([normal([4, 6])]) { v in
            var r = RandomGenerator(seed: 11)
            return dropout(v[0], probability: 0.3, training: true, using: &r)
        }
    }

    func testSoftmaxFamily() {
        gradientCheck([normal([3, 5])]) { softmax($0[0]) }
        gradientCheck([normal([3, 5])]) { logSoftmax($0[0]) }
    }

    func testLosses() {
        gradientCheck([normal([4, 5])]) { crossEntropy(logits: $0[0], targets: [0, 4, 2, 2]) }
        let targets = Tensor(shape: [3, 4], scalars: [1, 0, 0, 1, 0, 0, 1, 0, 1, 1, 0, 0])
        gradientCheck([normal([3, 4])]) { binaryCrossEntropyWithLogits(logits: $0[0], targets: targets) }
    }

    func testL2Normalize() {
        gradientCheck([normal([3, 6])]) { l2Normalize($0[0], axis: 1) }
        gradientCheck([normal([2, 4, 3])]) { l2Normalize($0[0], axis: 1) }
    }

    func testBankDot() {
        let bank = normal([7, 4])
        gradientCheck([normal([3, 4])]) { bankDot($0[0], bank: bank, indices: [0, 3, 6, 1, 1, 2, 5, 4, 0], perRow: 3) }
    }
}
