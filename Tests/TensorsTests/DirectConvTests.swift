import XCTest
@testable import Tensors

/// The direct AVX-512 conv3d kernels against the im2col + SGEMM path (itself checked by
/// finite differences and against PyTorch), on shapes that take each direct branch.
final class DirectConvTests: XCTestCase {
    override func setUpWithError() throws {
        guard Conv3DTuning.directKernelsAvailable else {
            print("skip: this CPU has no AVX-512F, so conv3d always runs im2col + SGEMM")
            throw XCTSkip("no AVX-512F: direct conv3d kernels not available")
        }
    }

    let gemm = Conv3DTuning(forwardChunkFloats: 1 << 18, backwardChunkFloats: 1 << 20, direct: false)
    let direct = Conv3DTuning(forwardChunkFloats: 1 << 18, backwardChunkFloats: 1 << 20, direct: true)

    /// Which direct branches `shape`/`co` take, so each test states what it covers.
    func branches(_ shape: [Int], co: Int, k: Size3, s: Size3, p: Size3, d: Size3) -> (Bool, Bool, Bool) {
        let g = Conv3DGeometry(inputShape: shape, outChannels: co, kernel: k, stride: s, padding: p, dilation: d)
        return (DirectConv3D.forwardApplies(g), DirectConv3D.weightGradientApplies(g),
                DirectConv3D.inputGradientApplies(g) || DirectConv3D.inputGradientScatterApplies(g))
    }

    func check(_ shape: [Int], co: Int, k: Size3, s: Size3 = Size3(all: 1), p: Size3, d: Size3 = Size3(all: 1),
               expect: (forward: Bool, weight: Bool, input: Bool), bias: Bool = false,
               file: StaticString = #filePath, line: UInt = #line) {
        let taken = branches(shape, co: co, k: k, s: s, p: p, d: d)
        XCTAssertEqual([taken.0, taken.1, taken.2], [expect.forward, expect.weight, expect.input],
                       "direct branches (forward, weight, input)", file: file, line: line)
        var rng = RandomGenerator(seed: 8)
        let x = Tensor.randomNormal(shape, using: &rng)
        let w = Tensor.randomNormal([co, shape[1], k.t, k.h, k.w], std: 0.1, using: &rng)
        let b = bias ? Tensor.randomNormal([co], using: &rng) : nil
        let y0 = conv3dForward(x, weight: w, bias: b, stride: s, padding: p, dilation: d, tuning: gemm)
        let y1 = conv3dForward(x, weight: w, bias: b, stride: s, padding: p, dilation: d, tuning: direct)
        assertClose(y1, y0, rtol: 1e-4, atol: 1e-4, "forward", file: file, line: line)
        let gy = Tensor.randomNormal(y0.shape, using: &rng)
        let g0 = conv3dBackward(x, weight: w, hasBias: bias, gy: gy, stride: s, padding: p, dilation: d, tuning: gemm)
        let g1 = conv3dBackward(x, weight: w, hasBias: bias, gy: gy, stride: s, padding: p, dilation: d, tuning: direct)
        assertClose(g1.gx!, g0.gx!, rtol: 1e-4, atol: 1e-4, "input gradient", file: file, line: line)
        assertClose(g1.gw, g0.gw, rtol: 1e-4, atol: 2e-4, "weight gradient", file: file, line: line)
        if bias { assertClose(g1.gb!, g0.gb!, rtol: 1e-5, atol: 1e-5, "bias gradient", file: file, line: line) }
        // Without an input gradient the weight gradient is unchanged.
        let g2 = conv3dBackward(x, weight: w, hasBias: false, gy: gy, stride: s, padding: p, dilation: d,
                                needInputGradient: false, tuning: direct)
        XCTAssertNil(g2.gx, file: file, line: line)
        assertClose(g2.gw, g1.gw, rtol: 0, atol: 0, "weight gradient without input gradient", file: file, line: line)
    }

    func testResidualBlockConv() {
        check([2, 64, 3, 5, 6], co: 64, k: Size3(all: 3), p: Size3(all: 1), expect: (true, true, true), bias: true)
    }

    func testStridedConvScattersTheInputGradient() {
        check([2, 64, 4, 7, 5], co: 128, k: Size3(all: 3), s: Size3(1, 2, 2), p: Size3(all: 1), expect: (true, true, true))
        // 128 input channels: threads split the two channel blocks instead of the samples.
        check([3, 128, 3, 5, 5], co: 64, k: Size3(all: 3), s: Size3(all: 2), p: Size3(all: 1), expect: (true, true, true))
    }

    func testStridedConvWithNarrowInputUsesSGEMMForTheInputGradient() {
        check([2, 32, 4, 7, 5], co: 64, k: Size3(all: 3), s: Size3(1, 2, 2), p: Size3(all: 1), expect: (true, true, false))
    }

    func testStemShape() {
        // RGB input: weight-gradient tiles of six (tap, channel) rows span taps.
        check([2, 3, 4, 10, 9], co: 64, k: Size3(3, 7, 7), s: Size3(1, 2, 2), p: Size3(1, 3, 3), expect: (true, true, false))
    }

    func testDilatedWithWidePadding() {
        check([1, 64, 5, 6, 7], co: 128, k: Size3(all: 3), p: Size3(2, 2, 2), d: Size3(2, 2, 2), expect: (true, true, true))
    }

    func testPaddingBeyondTheKernelSpan() {
        // Padding 3 on a 3-wide kernel: the transposed padding would be −1, so the input gradient is scattered.
        check([1, 64, 3, 4, 5], co: 64, k: Size3(all: 3), p: Size3(1, 3, 1), expect: (true, true, true))
    }

    func testPointwiseDownsample() {
        check([2, 64, 4, 6, 6], co: 128, k: Size3(all: 1), s: Size3(all: 2), p: Size3(all: 0), expect: (true, true, true))
    }

    func testNarrowOutputUsesSGEMM() {
        check([2, 16, 3, 4, 5], co: 32, k: Size3(1, 3, 3), p: Size3(0, 1, 1), expect: (false, false, false))
    }

    func testChannelTailsOfTheWeightKernel() {
        // 24 input channels × 27 taps: whole 6-row tiles; 40 × 27 = 1080 rows: tiles that span taps.
        check([2, 24, 2, 4, 5], co: 64, k: Size3(all: 3), p: Size3(all: 1), expect: (true, true, false))
        check([1, 40, 2, 3, 3], co: 64, k: Size3(all: 3), p: Size3(all: 1), expect: (true, true, false))
    }

    func testWeightGradientOverManyPositionSlices() {
        // 648 positions: threads split the taps and each sums three 256-position slices.
        check([2, 8, 4, 9, 9], co: 64, k: Size3(all: 3), p: Size3(all: 1), expect: (true, true, false))
        // 2048 positions: threads split the positions and add their partial gradients.
        check([2, 8, 4, 16, 16], co: 64, k: Size3(all: 3), p: Size3(all: 1), expect: (true, true, false))
    }

    func testPositionTailsAndManyBlocks() {
        // 7 output positions (not a multiple of the 6-position tile), 256 output channels.
        check([1, 64, 1, 1, 7], co: 256, k: Size3(1, 1, 3), p: Size3(0, 0, 1), expect: (true, true, true))
    }

    func testOneFrameInputSkipsDepthTapsInThePadding() {
        // One frame, 2×2: two thirds of the depth taps and a third of the height taps only
        // ever read padding; the kernels skip them and must still match.
        check([2, 64, 1, 2, 2], co: 64, k: Size3(all: 3), p: Size3(all: 1), expect: (true, true, true))
        check([2, 64, 2, 3, 3], co: 128, k: Size3(all: 3), s: Size3(all: 2), p: Size3(all: 1), expect: (true, true, true))
    }

    func testRowsWiderThanOneTransposeBlock() {
        // 17-wide rows: one full 16-wide channels-last transpose block and a 1-wide tail.
        check([1, 64, 2, 3, 17], co: 64, k: Size3(all: 3), p: Size3(all: 1), expect: (true, true, true))
    }

    func testFiniteDifferencesThroughDirectKernels() {
        var rng = RandomGenerator(seed: 3)
        let x = Tensor.randomNormal([1, 64, 2, 3, 4], using: &rng)
        let w = Tensor.randomNormal([64, 64, 3, 3, 3], std: 0.05, using: &rng)
        gradientCheck([x, w], eps: 1e-2, maxElements: 40) { v in
            conv3d(v[0], weight: v[1], stride: Size3(all: 1), padding: Size3(all: 1))
        }
    }

    func testForwardIsBitIdenticalAcrossRuns() {
        // Every output is summed in a fixed order by one thread: two runs give the same bits.
        var rng = RandomGenerator(seed: 4)
        let x = Tensor.randomNormal([3, 64, 2, 5, 5], using: &rng)
        let w = Tensor.randomNormal([64, 64, 3, 3, 3], std: 0.05, using: &rng)
        let a = conv3dForward(x, weight: w, bias: nil, stride: Size3(all: 1), padding: Size3(all: 1), dilation: Size3(all: 1))
        let b = conv3dForward(x, weight: w, bias: nil, stride: Size3(all: 1), padding: Size3(all: 1), dilation: Size3(all: 1))
        XCTAssertEqual(a.scalars, b.scalars)
    }
}
