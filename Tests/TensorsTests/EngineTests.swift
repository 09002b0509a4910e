import Foundation
import Tensors
import XCTest

/// Autodiff mechanics, determinism, safetensors and small kernel facts.
final class EngineTests: XCTestCase {
    func testGradientsAccumulateAcrossUsesAndBackwardCalls() {
        let p = Variable(Tensor(shape: [2], scalars: [1, 2]), requiresGrad: true)
        // y = Σ (p ⊙ p + p) → dy/dp = 2p + 1, with p used three times.
        let y = sum(add(multiply(p, p), p))
        y.backward()
        assertClose(p.grad!, Tensor(shape: [2], scalars: [3, 5]))
        sum(p).backward()
        assertClose(p.grad!, Tensor(shape: [2], scalars: [4, 6]), "accumulates until zeroGrad")
        p.zeroGrad()
        XCTAssertNil(p.grad)
    }

    func testNoGradientModeRecordsNothing() {
        let p = Variable(Tensor.ones([3]), requiresGrad: true)
        let y = withoutGradient { relu(multiply(p, p)) }
        XCTAssertFalse(y.requiresGrad)
        XCTAssertTrue(relu(p).requiresGrad, "mode is restored after the closure")
        XCTAssertFalse(relu(Variable(Tensor.ones([3]))).requiresGrad, "constants need no pullback")
    }

    func testDeepChainDoesNotRecurse() {
        // A long chain would overflow a recursive topological sort.
        let p = Variable(Tensor.ones([1]), requiresGrad: true)
        var y = p
        for _ in 0..<20_000 { y = scale(y, by: 1) }
        y.backward()
        XCTAssertEqual(p.grad!.scalars, [1])
    }

    func testRandomGeneratorIsReproducibleAndUniform() {
        var a = RandomGenerator(seed: 42), b = RandomGenerator(seed: 42), c = RandomGenerator(seed: 43)
        let xa = (0..<1000).map { _ in a.nextUniform() }
        XCTAssertEqual(xa, (0..<1000).map { _ in b.nextUniform() })
        XCTAssertNotEqual(xa, (0..<1000).map { _ in c.nextUniform() })
        let m = xa.reduce(0, +) / 1000
        XCTAssertEqual(m, 0.5, accuracy: 0.05)
        XCTAssertTrue(xa.allSatisfy { $0 >= 0 && $0 < 1 })
        var n = RandomGenerator(seed: 1)
        let normals = (0..<20_000).map { _ in n.nextNormal() }
        let mean = normals.reduce(0, +) / 20_000
        let variance = normals.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / 20_000
        XCTAssertEqual(mean, 0, accuracy: 0.03)
        XCTAssertEqual(variance, 1, accuracy: 0.05)
    }

    func testConvolutionIsBitIdenticalAcrossRuns() {
        var rng = RandomGenerator(seed: 3)
        let x = Tensor.randomNormal([4, 8, 4, 12, 12], using: &rng)
        let w = Tensor.randomNormal([8, 8, 3, 3, 3], using: &rng)
        let one = Size3(all: 1)
        let y1 = conv3dForward(x, weight: w, bias: nil, stride: one, padding: one, dilation: one)
        let y2 = conv3dForward(x, weight: w, bias: nil, stride: one, padding: one, dilation: one)
        XCTAssertEqual(y1.scalars, y2.scalars)
        let g1 = conv3dBackward(x, weight: w, hasBias: false, gy: y1, stride: one, padding: one, dilation: one)
        let g2 = conv3dBackward(x, weight: w, hasBias: false, gy: y1, stride: one, padding: one, dilation: one)
        XCTAssertEqual(g1.gw.scalars, g2.gw.scalars)
        XCTAssertEqual(g1.gx!.scalars, g2.gx!.scalars)
    }

    func testConvOutputSizeFormula() {
        let g = Conv3DGeometry(inputShape: [1, 3, 8, 112, 112], outChannels: 64, kernel: Size3(1, 7, 7),
                               stride: Size3(1, 2, 2), padding: Size3(0, 3, 3), dilation: Size3(all: 1))
        XCTAssertEqual(g.outputShape, [1, 64, 8, 56, 56])
        let d = Conv3DGeometry(inputShape: [1, 3, 8, 14, 14], outChannels: 4, kernel: Size3(1, 3, 3),
                               stride: Size3(all: 1), padding: Size3(0, 2, 2), dilation: Size3(1, 2, 2))
        XCTAssertEqual(d.outputShape, [1, 4, 8, 14, 14], "dilation 2 with padding 2 keeps the size")
    }

    func testCrossEntropyValueMatchesDirectFormula() {
        let logits = Tensor(shape: [2, 3], scalars: [1, 2, 3, 0, 0, 0])
        let loss = crossEntropy(logits: Variable(logits), targets: [2, 1]).value.scalar
        let expected = (-log(exp(3.0) / (exp(1.0) + exp(2.0) + exp(3.0))) + log(3.0)) / 2
        XCTAssertEqual(Double(loss), expected, accuracy: 1e-6)
        let bce = binaryCrossEntropyWithLogits(logits: Variable(Tensor(shape: [2], scalars: [0, 2])),
                                               targets: Tensor(shape: [2], scalars: [1, 0])).value.scalar
        XCTAssertEqual(Double(bce), (log(2.0) + log(1 + exp(2.0))) / 2, accuracy: 1e-6)
    }

    func testL2NormalizeGivesUnitRows() {
        let y = l2Normalize(Variable(Tensor(shape: [2, 2], scalars: [3, 4, 0, 2])), axis: 1).value
        assertClose(y, Tensor(shape: [2, 2], scalars: [0.6, 0.8, 0, 1]))
    }

    func testPermuteMatchesIndexFormula() {
        let x = Tensor(shape: [2, 3, 4], scalars: (0..<24).map(Float.init))
        let y = permuteForward(x, [2, 0, 1])
        XCTAssertEqual(y.shape, [4, 2, 3])
        for a in 0..<2 { for b in 0..<3 { for c in 0..<4 {
            XCTAssertEqual(y.scalars[(c * 2 + a) * 3 + b], x.scalars[(a * 3 + b) * 4 + c])
        } } }
    }

    func testSafetensorsRoundTrip() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("st-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("a.safetensors")
        var rng = RandomGenerator(seed: 1)
        let tensors = ["layer.weight": Tensor.randomNormal([3, 4, 1, 1, 2], using: &rng), "b": Tensor(2.5),
                       "empty": Tensor.zeros([0, 3])]
        try Safetensors.write(tensors, metadata: ["format": "pt", "epoch": "3"], to: url)
        let (back, meta) = try Safetensors.read(url)
        XCTAssertEqual(back, tensors)
        XCTAssertEqual(meta["epoch"], "3")
        // The header is 8-byte aligned JSON, as the format requires.
        let data = try Data(contentsOf: url)
        let n = data.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
        XCTAssertEqual(n % 8, 0)
    }

    func testSafetensorsErrorsNameTheFile() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("st-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let bad = dir.appendingPathComponent("bad.safetensors")
        try Data([1, 2, 3]).write(to: bad)
        XCTAssertThrowsError(try Safetensors.read(bad)) { error in
            XCTAssertTrue("\(error)".contains("bad.safetensors"), "\(error)")
        }
        XCTAssertThrowsError(try Safetensors.read(dir.appendingPathComponent("missing.safetensors"))) { error in
            XCTAssertTrue("\(error)".contains("missing.safetensors"), "\(error)")
        }
        let lying = dir.appendingPathComponent("lying.safetensors")
        var data = Data()
        withUnsafeBytes(of: UInt64(1_000_000).littleEndian) { data.append(contentsOf: $0) }
        data.append(Data("{}".utf8))
        try data.write(to: lying)
        XCTAssertThrowsError(try Safetensors.read(lying)) { error in
            XCTAssertTrue("\(error)".contains("header length"), "\(error)")
        }
    }

    /// Python's `safetensors` package reads our files (when it is installed).
    func testPythonSafetensorsReadsOurFile() throws {
        let python = ProcessInfo.processInfo.environment["TEMPO_PYTHON"] ?? "python3"
        let probe = Process()
        probe.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        probe.arguments = [python, "-c", "import safetensors.numpy"]
        probe.standardError = FileHandle.nullDevice
        try probe.run(); probe.waitUntilExit()
        guard probe.terminationStatus == 0 else {
            print("skipped: Python package 'safetensors' (and numpy) not importable by \(python); set TEMPO_PYTHON to a venv's python")
            throw XCTSkip("Python safetensors not installed")
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("st-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("c.safetensors")
        try Safetensors.write(["w": Tensor(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6.5])], metadata: ["k": "v"], to: url)
        let check = Process()
        check.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        check.arguments = [python, "-c", """
            import sys, safetensors.numpy as s
            d = s.load_file(sys.argv[1])
            assert d['w'].shape == (2, 3) and d['w'].dtype.name == 'float32', d
            assert abs(float(d['w'].sum()) - 21.5) < 1e-6
            """, url.path]
        try check.run(); check.waitUntilExit()
        XCTAssertEqual(check.terminationStatus, 0)
    }
}

/// conv3d cuts its work into column blocks that may split a sample or span several; the
/// result must not depend on where the cuts fall.
final class ConvBlockingTests: XCTestCase {
    func check(_ shape: [Int], co: Int, k: Size3, s: Size3, p: Size3, d: Size3 = Size3(all: 1)) {
        var rng = RandomGenerator(seed: 21)
        let x = Tensor.randomNormal(shape, using: &rng)
        let w = Tensor.randomNormal([co, shape[1], k.t, k.h, k.w], std: 0.2, using: &rng)
        let whole = Conv3DTuning(forwardChunkFloats: 1 << 30, backwardChunkFloats: 1 << 30)
        let y0 = conv3dForward(x, weight: w, bias: nil, stride: s, padding: p, dilation: d, tuning: whole)
        let gy = Tensor.randomNormal(y0.shape, using: &rng)
        let g0 = conv3dBackward(x, weight: w, hasBias: false, gy: gy, stride: s, padding: p, dilation: d, tuning: whole)
        // One output row per block, a few rows, and blocks that straddle sample boundaries.
        for floats in [1, 3 * 1000, 7 * 1777] {
            let t = Conv3DTuning(forwardChunkFloats: floats, backwardChunkFloats: floats)
            let y = conv3dForward(x, weight: w, bias: nil, stride: s, padding: p, dilation: d, tuning: t)
            assertClose(y, y0, rtol: 1e-5, atol: 1e-5, "forward, block \(floats)")
            let g = conv3dBackward(x, weight: w, hasBias: false, gy: gy, stride: s, padding: p, dilation: d, tuning: t)
            assertClose(g.gx!, g0.gx!, rtol: 1e-5, atol: 1e-5, "input gradient, block \(floats)")
            assertClose(g.gw, g0.gw, rtol: 1e-4, atol: 1e-4, "weight gradient, block \(floats)")
        }
    }

    func testThreeByThree() { check([3, 4, 3, 9, 10], co: 5, k: Size3(all: 3), s: Size3(all: 1), p: Size3(all: 1)) }
    func testStridedDilated() { check([3, 3, 5, 11, 9], co: 4, k: Size3(3, 3, 3), s: Size3(1, 2, 2), p: Size3(2, 2, 2), d: Size3(2, 2, 2)) }
    func testPointwise() { check([3, 6, 2, 7, 5], co: 4, k: Size3(all: 1), s: Size3(all: 1), p: Size3(all: 0)) }
}
