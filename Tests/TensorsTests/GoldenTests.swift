import Foundation
import Tensors
import XCTest

/// Forward values and gradients against PyTorch (fixtures from `Fixtures/generate_golden.py`).
final class GoldenTests: XCTestCase {
    func checkConv(_ name: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let (t, meta) = try loadFixture("conv3d_\(name)")
        let x = Variable(t["x"]!, requiresGrad: true), w = Variable(t["w"]!, requiresGrad: true)
        let b = t["b"].map { Variable($0, requiresGrad: true) }
        XCTAssertEqual(meta["bias"] == "true", b != nil, file: file, line: line)
        let y = conv3d(x, weight: w, bias: b, stride: size3(meta["stride"]), padding: size3(meta["padding"]),
                       dilation: size3(meta["dilation"]))
        assertClose(y.value, t["y"]!, "\(name) y", file: file, line: line)
        y.backward(seed: t["gy"]!)
        assertClose(x.grad!, t["gx"]!, "\(name) gx", file: file, line: line)
        assertClose(w.grad!, t["gw"]!, "\(name) gw", file: file, line: line)
        if let b { assertClose(b.grad!, t["gb"]!, "\(name) gb", file: file, line: line) }
    }

    func testConv3DBasic() throws { try checkConv("basic") }
    func testConv3DStrided() throws { try checkConv("strided") }
    func testConv3DDilated() throws { try checkConv("dilated") }
    func testConv3DStem() throws { try checkConv("stem") }
    func testConv3DPointwise() throws { try checkConv("pointwise") }
    func testConv3DMixed() throws { try checkConv("mixed") }

    func testBatchNorm3D() throws {
        let (t, meta) = try loadFixture("batchnorm3d")
        let momentum = Float(meta["momentum"]!)!, eps = Float(meta["eps"]!)!
        var mean = t["running_mean_in"]!, variance = t["running_var_in"]!
        let x = Variable(t["x"]!, requiresGrad: true)
        let gamma = Variable(t["gamma"]!, requiresGrad: true), beta = Variable(t["beta"]!, requiresGrad: true)
        let y = batchNorm(x, gamma: gamma, beta: beta, runningMean: &mean, runningVariance: &variance,
                          training: true, momentum: momentum, epsilon: eps)
        assertClose(y.value, t["y"]!, "y")
        assertClose(mean, t["running_mean_out"]!, "running mean")
        assertClose(variance, t["running_var_out"]!, "running variance")
        y.backward(seed: t["gy"]!)
        assertClose(x.grad!, t["gx"]!, "gx")
        assertClose(gamma.grad!, t["ggamma"]!, "ggamma")
        assertClose(beta.grad!, t["gbeta"]!, "gbeta")
        let yEval = batchNorm(Variable(t["x"]!), gamma: gamma, beta: beta, runningMean: &mean,
                              runningVariance: &variance, training: false, momentum: momentum, epsilon: eps)
        assertClose(yEval.value, t["y_eval"]!, "y_eval")
        // Evaluation leaves the running statistics alone.
        assertClose(mean, t["running_mean_out"]!, "running mean after eval")
    }

    func checkMaxPool(_ name: String) throws {
        let (t, meta) = try loadFixture(name)
        let x = Variable(t["x"]!, requiresGrad: true)
        let y = maxPool3d(x, kernel: size3(meta["kernel"]), stride: size3(meta["stride"]), padding: size3(meta["padding"]))
        assertClose(y.value, t["y"]!, "\(name) y")
        y.backward(seed: t["gy"]!)
        assertClose(x.grad!, t["gx"]!, "\(name) gx")
    }

    func testMaxPool3D() throws { try checkMaxPool("maxpool3d") }
    func testMaxPool3DCubic() throws { try checkMaxPool("maxpool3d_b") }
}
