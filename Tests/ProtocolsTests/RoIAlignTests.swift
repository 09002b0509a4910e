import Foundation
import Tensors
import XCTest
@testable import Protocols

/// RoIAlign: goldens from torchvision, a hand-worked case, and finite-difference gradients.
final class RoIAlignTests: XCTestCase {
    /// Forward and feature gradient against `torchvision.ops.roi_align` for every case of
    /// `Fixtures/roialign.safetensors` (see `generate_roialign.py`): boxes inside, across
    /// and beyond the image edges, smaller than a cell, and the whole image.
    func testMatchesTorchvision() throws {
        let (tensors, metadata) = try Safetensors.read(fixturesDirectory.appendingPathComponent("roialign.safetensors"))
        let x = try XCTUnwrap(tensors["x"]), boxes = try XCTUnwrap(tensors["boxes"])
        let size = try XCTUnwrap(Int(metadata["output_size"] ?? ""))
        let scale = try XCTUnwrap(Double(metadata["spatial_scale"] ?? ""))
        let cases = (metadata["cases"] ?? "").split(separator: ",").map(String.init)
        XCTAssertEqual(cases.count, 3)
        for name in cases {
            let aligned = metadata["\(name).aligned"] == "true"
            let ratio = try XCTUnwrap(Int(metadata["\(name).sampling_ratio"] ?? ""))
            let features = Variable(x, requiresGrad: true)
            let y = roiAlign(features, boxes: boxes, outputSize: size, spatialScale: Float(scale),
                             samplingRatio: ratio, aligned: aligned)
            XCTAssertEqual(y.shape, [boxes.shape[0], x.shape[1], size, size])
            assertClose(y.value, try XCTUnwrap(tensors["y_\(name)"]), rtol: 1e-5, atol: 1e-6, "forward \(name)")
            y.backward(seed: try XCTUnwrap(tensors["gy_\(name)"]))
            assertClose(try XCTUnwrap(features.grad), try XCTUnwrap(tensors["gx_\(name)"]), rtol: 1e-5, atol: 1e-5, "gradient \(name)")
        }
    }

    /// Bilinear sampling reproduces a linear function exactly, so on f(y, x) = 2y + 3x + 1
    /// every bin is f at its centre. Box (16, 16)–(72, 72) px at scale 1/16, aligned:
    /// feature x from 16/16 − 0.5 = 0.5 to 72/16 − 0.5 = 4, bins 0.5 wide, centres
    /// 0.75, 1.25, …, 3.75 on both axes.
    func testLinearRampIsSampledAtBinCentres() {
        let H = 6, W = 8
        var scalars: [Float] = []
        for c in 0..<2 { for y in 0..<H { for x in 0..<W { scalars.append(Float(2 * y + 3 * x + 1 + 10 * c)) } } }
        let features = Tensor(shape: [1, 2, H, W], scalars: scalars)
        let boxes = Tensor(shape: [1, 5], scalars: [0, 16, 16, 72, 72])
        for ratio in [0, 2, 3] {
            let y = roiAlign(Variable(features), boxes: boxes, samplingRatio: ratio).value
            XCTAssertEqual(y.shape, [1, 2, 7, 7])
            var expected: [Float] = []
            for c in 0..<2 {
                for ph in 0..<7 {
                    for pw in 0..<7 {
                        let yc = 0.5 + (Float(ph) + 0.5) * 0.5, xc = 0.5 + (Float(pw) + 0.5) * 0.5
                        expected.append(2 * yc + 3 * xc + 1 + 10 * Float(c))
                    }
                }
            }
            assertClose(y, Tensor(shape: [1, 2, 7, 7], scalars: expected), rtol: 1e-6, atol: 1e-5, "sampling ratio \(ratio)")
        }
    }

    /// Boxes entirely more than one cell outside the map pool to zero and get no gradient.
    func testBoxOutsideTheMapPoolsToZero() {
        let x = Variable(Tensor.ones([1, 1, 4, 4]), requiresGrad: true)
        let y = roiAlign(x, boxes: Tensor(shape: [1, 5], scalars: [0, -200, -200, -100, -100]))
        XCTAssertEqual(y.value.scalars, [Float](repeating: 0, count: 49))
        y.backward()
        XCTAssertEqual(x.grad?.scalars, [Float](repeating: 0, count: 16))
    }

    func testGradientFiniteDifferences() {
        var rng = RandomGenerator(seed: 3)
        let x = Tensor.randomNormal([2, 3, 5, 6], using: &rng)
        let boxes = Tensor(shape: [4, 5], scalars: [
            0, 8, 4, 70, 60,
            1, -10, 20, 50, 90,
            1, 30.5, 10.25, 96, 80,
            0, 60, 50, 66, 53,
        ])
        for ratio in [0, 2] {
            gradientCheck([x]) { roiAlign($0[0], boxes: boxes, samplingRatio: ratio) }
        }
    }

    /// The video form averages over time first: equal to RoIAlign of the temporal mean,
    /// and differentiable through the pool.
    func testVideoFeaturesAreAveragedOverTime() {
        var rng = RandomGenerator(seed: 4)
        let x = Tensor.randomNormal([2, 2, 3, 4, 5], using: &rng)
        let boxes = Tensor(shape: [2, 5], scalars: [1, 4, 6, 60, 50, 0, 0, 0, 80, 64])
        var mean = Tensor.zeros([2, 2, 4, 5])
        for n in 0..<2 { for c in 0..<2 { for t in 0..<3 { for i in 0..<20 {
            mean.scalars[(n * 2 + c) * 20 + i] += x.scalars[((n * 2 + c) * 3 + t) * 20 + i] / 3
        } } } }
        let video = roiAlign3D(Variable(x), boxes: boxes).value
        assertClose(video, roiAlign(Variable(mean), boxes: boxes).value, rtol: 1e-5, atol: 1e-6)
        gradientCheck([x]) { roiAlign3D($0[0], boxes: boxes, samplingRatio: 2) }
    }
}
