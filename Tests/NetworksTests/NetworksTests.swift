import Foundation
import Networks
import Tensors
import XCTest

func assertClose(_ a: Tensor, _ e: Tensor, rtol: Float = 1e-4, atol: Float = 1e-5, _ message: String = "",
                 file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(a.shape, e.shape, message, file: file, line: line)
    guard a.shape == e.shape else { return }
    for i in 0..<a.count where !(abs(a.scalars[i] - e.scalars[i]) <= atol + rtol * abs(e.scalars[i])) {
        XCTFail("\(message) element \(i): \(a.scalars[i]) vs \(e.scalars[i])", file: file, line: line)
        return
    }
}

final class ResNetGoldenTests: XCTestCase {
    /// A stem and two basic blocks against PyTorch: output, input gradient, every parameter
    /// gradient and every running statistic (fixture `resnet_stem.safetensors`).
    func testStemAndTwoBlocksMatchPyTorch() throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../TensorsTests/Fixtures/resnet_stem.safetensors").standardizedFileURL
        let (t, _) = try Safetensors.read(url)
        var rng = RandomGenerator(seed: 0)
        let stemConv = Conv3d(3, 8, kernel: Size3(3, 7, 7), stride: Size3(1, 2, 2), padding: Size3(1, 3, 3), rng: &rng)
        let stemBN = BatchNorm(8)
        let block1 = BasicBlock3D(8, 8, stride: Size3(all: 1), conv1Temporal: 3, conv2Temporal: 3,
                                  zeroInitLastBN: false, rng: &rng)
        let block2 = BasicBlock3D(8, 16, stride: Size3(1, 2, 2), conv1Temporal: 3, conv2Temporal: 3,
                                  zeroInitLastBN: false, rng: &rng)
        let named = scoped("stem.conv", stemConv.namedParameters) + scoped("stem.bn", stemBN.namedParameters)
            + scoped("block1", block1.namedParameters) + scoped("block2", block2.namedParameters)
        let buffers = scoped("stem.bn", stemBN.namedBuffers) + scoped("block1", block1.namedBuffers)
            + scoped("block2", block2.namedBuffers)
        XCTAssertEqual(named.count, 18)
        for (name, v) in named {
            let value = try XCTUnwrap(t["param.\(name)"], "fixture lacks param.\(name)")
            XCTAssertEqual(value.shape, v.value.shape, name)
            v.value = value
        }
        let x = Variable(t["x"]!, requiresGrad: true)
        let y = block2(block1(relu(stemBN(stemConv(x), training: true)), training: true), training: true)
        assertClose(y.value, t["y"]!, "y")
        y.backward(seed: t["gy"]!)
        assertClose(x.grad!, t["gx"]!, rtol: 1e-4, atol: 1e-5, "gx")
        // Weight gradients sum thousands of products through three batch norms, so single
        // elements that nearly cancel differ in float32 summation order; they are held to
        // 1e-4 relative to the tensor's largest magnitude (and 1e-4 elementwise).
        for (name, v) in named {
            let expected = t["grad.\(name)"]!
            let scale = expected.scalars.map(abs).max() ?? 0
            assertClose(v.grad!, expected, rtol: 1e-4, atol: 1e-4 * scale, "grad.\(name)")
        }
        for (name, v) in buffers {
            let bn = String(name.split(separator: ".").dropLast().joined(separator: "."))
            let key = name.hasSuffix("running_mean") ? "running_mean.\(bn)" : "running_var.\(bn)"
            assertClose(v.value, t[key]!, key)
        }
    }
}

final class ResNet3DTests: XCTestCase {
    /// torchvision's r3d_18(num_classes=128) has 33,166,272 parameters (33,371,472 with 400
    /// classes); the same topology must give the same count.
    func testR3D18MatchesTorchvisionParameterCount() {
        var rng = RandomGenerator(seed: 1)
        let net = ResNet3D(.r3d18(numClasses: 400), rng: &rng)
        XCTAssertEqual(net.parameterCount, 33_371_472)
        let names = net.namedParameters.map(\.0)
        XCTAssertEqual(Set(names).count, names.count, "parameter names are unique")
        XCTAssertTrue(names.contains("layer2.0.down.conv.weight"))
        XCTAssertTrue(net.namedBuffers.map(\.0).contains("layer4.1.bn2.running_var"))
    }

    func testR3D18ShapesAtSmallInput() {
        var rng = RandomGenerator(seed: 1)
        var config = ResNet3DConfig.r3d18(numClasses: 5)
        config.stageWidths = [4, 8, 8, 8]
        config.stemChannels = 4
        let net = ResNet3D(config, rng: &rng)
        let x = Variable(Tensor.randomNormal([2, 3, 8, 32, 32], using: &rng))
        let features = net.features(x, training: true)
        XCTAssertEqual(features.map(\.shape), [[2, 4, 8, 16, 16], [2, 8, 4, 8, 8], [2, 8, 2, 4, 4], [2, 8, 1, 2, 2]])
        XCTAssertEqual(net(x, training: false).shape, [2, 5])
    }

    func testTrainingStepReducesLoss() {
        var rng = RandomGenerator(seed: 4)
        var config = ResNet3DConfig.r3d18(numClasses: 3)
        config.stageWidths = [4, 4, 8, 8]; config.stemChannels = 4
        let net = ResNet3D(config, rng: &rng)
        let sgd = SGD(parameters: net.namedParameters, learningRate: 0.05, momentum: 0.9, weightDecay: 1e-4)
        let x = Variable(Tensor.randomNormal([4, 3, 4, 16, 16], using: &rng))
        var losses: [Float] = []
        for _ in 0..<8 {
            sgd.zeroGrad()
            let loss = crossEntropy(logits: net(x, training: true), targets: [0, 1, 2, 1])
            loss.backward()
            sgd.step()
            losses.append(loss.value.scalar)
        }
        XCTAssertLessThan(losses.last!, losses.first! * 0.7, "\(losses)")
    }

    func testBottleneckNetworkRunsAndGradientsReachEveryParameter() {
        var rng = RandomGenerator(seed: 9)
        let config = ResNet3DConfig(block: .bottleneck, stemChannels: 4, stemKernel: Size3(1, 7, 7),
                                    stemStride: Size3(1, 2, 2), stemMaxPool: true, stageBlocks: [1, 1, 1, 1],
                                    stageWidths: [2, 4, 4, 4], stageStrides: [Size3(all: 1), Size3(1, 2, 2), Size3(1, 2, 2), Size3(1, 2, 2)],
                                    conv1Temporal: [1, 1, 3, 3], conv2Temporal: [1, 1, 1, 1], zeroInitLastBN: false,
                                    numClasses: 2)
        let net = ResNet3D(config, rng: &rng)
        let out = net(Variable(Tensor.randomNormal([2, 3, 4, 32, 32], using: &rng)), training: true)
        XCTAssertEqual(out.shape, [2, 2])
        sum(out).backward()
        for (name, p) in net.namedParameters { XCTAssertNotNil(p.grad, name) }
    }
}

final class OptimiserTests: XCTestCase {
    func testSGDMatchesPyTorchUpdateRule() {
        let p = Variable(Tensor(shape: [2], scalars: [1, -2]), requiresGrad: true)
        let sgd = SGD(parameters: [("p", p)], learningRate: 0.1, momentum: 0.9, weightDecay: 0.01)
        // Step 1: d = g + wd·p = [0.5+0.01, 0.5−0.02]; v = d; p −= 0.1·v.
        p.grad = Tensor(shape: [2], scalars: [0.5, 0.5])
        sgd.step()
        assertClose(p.value, Tensor(shape: [2], scalars: [1 - 0.1 * 0.51, -2 - 0.1 * 0.48]))
        // Step 2: v = 0.9·v + (g + wd·p).
        let p1 = p.value.scalars
        p.grad = Tensor(shape: [2], scalars: [-1, 0])
        sgd.step()
        let v0: Float = 0.9 * 0.51 + (-1 + 0.01 * p1[0])
        let v1: Float = 0.9 * 0.48 + (0 + 0.01 * p1[1])
        assertClose(p.value, Tensor(shape: [2], scalars: [p1[0] - 0.1 * v0, p1[1] - 0.1 * v1]))
    }

    func testSchedules() {
        let cosine = HalfCosineSchedule(base: 0.03, totalEpochs: 200)
        XCTAssertEqual(cosine.rate(atEpoch: 0), 0.03, accuracy: 1e-7)
        XCTAssertEqual(cosine.rate(atEpoch: 100), 0.015, accuracy: 1e-7)
        XCTAssertEqual(cosine.rate(atEpoch: 200), 0, accuracy: 1e-7)
        let steps = MultiStepSchedule(base: 0.1, milestones: [40, 80])
        XCTAssertEqual(steps.rate(atEpoch: 39.9), 0.1, accuracy: 1e-7)
        XCTAssertEqual(steps.rate(atEpoch: 40), 0.01, accuracy: 1e-7)
        XCTAssertEqual(steps.rate(atEpoch: 95), 0.001, accuracy: 1e-7)
        let warm = MultiStepSchedule(base: 0.1, milestones: [40], warmup: Warmup(epochs: 4))
        XCTAssertEqual(warm.rate(atEpoch: 1), 0.025, accuracy: 1e-7)
        XCTAssertEqual(warm.rate(atEpoch: 4), 0.1, accuracy: 1e-7)
    }
}

final class CheckpointTests: XCTestCase {
    func tempURL(_ name: String) -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("ckpt-\(UUID().uuidString)").appendingPathComponent(name)
    }

    func testRoundTripRestoresParametersAndBuffers() throws {
        var rng = RandomGenerator(seed: 1)
        var config = ResNet3DConfig.r3d18(numClasses: 3)
        config.stageWidths = [4, 4, 4, 4]; config.stemChannels = 4
        let a = ResNet3D(config, rng: &rng)
        _ = a(Variable(Tensor.randomNormal([2, 3, 2, 8, 8], using: &rng)), training: true) // moves running stats
        let url = tempURL("a.safetensors")
        try Checkpoint.save(a, extra: ["opt.step": Tensor(7)], metadata: ["epoch": "2"], to: url)
        let b = ResNet3D(config, rng: &rng)
        let (extra, meta) = try Checkpoint.load(into: b, from: url)
        XCTAssertEqual(meta["epoch"], "2")
        XCTAssertEqual(extra["opt.step"], Tensor(7))
        for ((na, va), (nb, vb)) in zip(a.namedState, b.namedState) {
            XCTAssertEqual(na, nb)
            XCTAssertEqual(va.value, vb.value, na)
        }
    }

    func testLoadErrorsNameFileAndTensor() throws {
        var rng = RandomGenerator(seed: 1)
        let small = Linear(3, 2, rng: &rng), other = Linear(4, 2, rng: &rng)
        let url = tempURL("lin.safetensors")
        try Checkpoint.save(small, to: url)
        XCTAssertThrowsError(try Checkpoint.load(into: other, from: url)) { error in
            XCTAssertEqual(error as? CheckpointError,
                           .shapeMismatch(path: url.path, name: "weight", expected: [2, 4], found: [2, 3]))
            XCTAssertTrue("\(error)".contains("lin.safetensors"))
        }
        XCTAssertThrowsError(try Checkpoint.load(into: small, prefix: "enc.", from: url)) { error in
            XCTAssertEqual(error as? CheckpointError, .missingTensor(path: url.path, name: "enc.weight"))
        }
    }
}

final class SlowFastConfigTests: XCTestCase {
    /// Stage widths, temporal kernels and strides of SPEC §2, checked on the built layers.
    func testPathwaysFollowTheSpec() {
        var rng = RandomGenerator(seed: 1)
        let slow = ResNet3D(.slowFast(depth: 50, pathway: .slow), rng: &rng)
        XCTAssertEqual(slow.config.stageOutputs, [256, 512, 1024, 2048])
        XCTAssertEqual(slow.stemConv.kernel, Size3(1, 7, 7))
        let fast = ResNet3D(.slowFast(depth: 50, pathway: .fast), rng: &rng)
        XCTAssertEqual(fast.config.stageOutputs, [32, 64, 128, 256])
        XCTAssertEqual(fast.stemConv.kernel, Size3(5, 7, 7))
        if case .bottleneck(let b) = slow.stages[2][0] {
            XCTAssertEqual(b.conv1.kernel, Size3(3, 1, 1), "res4 conv a is 3×1×1 on the slow path")
            XCTAssertEqual(b.conv2.stride, Size3(1, 2, 2), "conv b carries the spatial stride, never temporal")
            XCTAssertEqual(b.bn3.weight.value.scalars.allSatisfy { $0 == 0 }, true, "last BN zero-initialised")
        } else { XCTFail("R50 uses bottleneck blocks") }
        let r18 = ResNet3D(.slowFast(depth: 18, pathway: .fast, widthMultiplier: 0.5), rng: &rng)
        XCTAssertEqual(r18.config.stageOutputs, [4, 8, 16, 32])
        if case .basic(let b) = r18.stages[0][0] {
            XCTAssertEqual(b.conv1.kernel, Size3(3, 3, 3)); XCTAssertEqual(b.conv2.kernel, Size3(1, 3, 3))
        } else { XCTFail("R18 uses basic blocks") }
    }

    /// No temporal striding: T frames in, T frames out at every stage; res5 with dilation 2
    /// keeps res4's spatial size.
    func testNoTemporalStridingAndDilatedRes5() {
        var rng = RandomGenerator(seed: 2)
        let net = ResNet3D(.slowFast(depth: 18, pathway: .slow, widthMultiplier: 0.125), rng: &rng)
        let feats = net.features(Variable(Tensor.randomNormal([1, 3, 4, 64, 64], using: &rng)), training: false)
        XCTAssertEqual(feats.map { $0.shape[2] }, [4, 4, 4, 4])
        XCTAssertEqual(feats.map { $0.shape[3] }, [16, 8, 4, 2])
        let dilated = ResNet3D(.slowFast(depth: 18, pathway: .slow, widthMultiplier: 0.125, res5Dilation: 2), rng: &rng)
        let d = dilated.features(Variable(Tensor.randomNormal([1, 3, 4, 64, 64], using: &rng)), training: false)
        XCTAssertEqual(d[3].shape[3], 4)
    }
}

final class CostTests: XCTestCase {
    /// torchvision's r3d_18 is 40.7 GMAC-scale ("GFLOPS" in its docs) at 3×16×112×112; the
    /// count from our formulas must match that figure.
    func testR3D18MACsMatchTorchvisionFigure() {
        let macs = ResNet3DConfig.r3d18(numClasses: 400).forwardMACs(input: [1, 3, 16, 112, 112])
        XCTAssertEqual(macs / 1e9, 40.70, accuracy: 0.05)
    }
}
