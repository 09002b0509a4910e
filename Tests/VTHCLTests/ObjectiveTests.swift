import Foundation
import Networks
import Tensors
@testable import VTHCL
import XCTest

final class MemoryBankTests: XCTestCase {
    func testInitialisationRange() {
        var rng = RandomGenerator(seed: 1)
        let bank = MemoryBank(count: 50, dimension: 128, rng: &rng)
        let s = 1 / (128.0 / 3.0).squareRoot()
        XCTAssertTrue(bank.storage.scalars.allSatisfy { abs(Double($0)) <= s })
        XCTAssertGreaterThan(bank.storage.scalars.map { abs(Double($0)) }.max()!, s * 0.9)
    }

    /// v ← m·v + (1 − m)·x, then unit norm, row by row; other rows untouched.
    func testUpdateMatchesFormula() {
        let bank0 = MemoryBank(storage: Tensor(shape: [3, 2], scalars: [1, 0, 0, 1, 0.6, 0.8]), momentum: 0.5)
        var bank = bank0
        bank.update(indices: [0, 2], with: Tensor(shape: [2, 2], scalars: [0, 1, 0.6, 0.8]))
        let h = Float(0.5).squareRoot()
        XCTAssertEqual(bank.row(0)[0], h, accuracy: 1e-6)
        XCTAssertEqual(bank.row(0)[1], h, accuracy: 1e-6)
        XCTAssertEqual(bank.row(1), [0, 1])
        XCTAssertEqual(bank.row(2)[0], 0.6, accuracy: 1e-6)
        XCTAssertEqual(bank.row(2)[1], 0.8, accuracy: 1e-6)
    }
}

final class ObjectiveTests: XCTestCase {
    /// The loss equals −log(e^{q·v⁺/T} / (e^{q·v⁺/T} + Σ_j e^{q·v_j/T})), averaged over the
    /// batch, computed directly in Double.
    func testLossMatchesDirectFormula() {
        var rng = RandomGenerator(seed: 3)
        let bank = MemoryBank(count: 6, dimension: 4, rng: &rng)
        let q = l2Normalize(Variable(Tensor.randomNormal([2, 4], using: &rng)), axis: 1)
        let instances = [4, 1], negatives = [0, 2, 5, 3, 3, 0]
        let loss = tempoContrastiveLoss(queries: q, bank: bank, instances: instances, negatives: negatives,
                                        temperature: 0.07).value.scalar
        var expected = 0.0
        for b in 0..<2 {
            func dot(_ i: Int) -> Double {
                zip(q.value.scalars[(b * 4)..<(b * 4 + 4)], bank.row(i)).map { Double($0) * Double($1) }.reduce(0, +) / 0.07
            }
            let pos = exp(dot(instances[b]))
            let neg = negatives[(b * 3)..<(b * 3 + 3)].map { exp(dot($0)) }.reduce(0, +)
            expected += -log(pos / (pos + neg))
        }
        XCTAssertEqual(Double(loss), expected / 2, accuracy: 1e-4 * expected)
    }

    func tinyConfig(levels: [Int] = [2, 3, 4], alpha: Int = 2) -> VTHCLConfig {
        var c = VTHCLConfig()
        c.widthMultiplier = 0.125; c.levels = levels; c.alpha = alpha; c.slowFrames = 2; c.negatives = 8
        c.embeddingDimension = 8
        return c
    }

    /// One step: the total is Σ_k (L_f^k + L_s^k), and every parameter of both encoders
    /// and of every φ_k receives a gradient.
    func testGradientsReachBothEncodersAndEveryHead() {
        var rng = RandomGenerator(seed: 5)
        let config = tinyConfig()
        let model = VTHCLModel(config, rng: &rng)
        let objective = VTHCLObjective(config: config, instances: 10, rng: &rng)
        let slow = Variable(Tensor.randomNormal([2, 3, 2, 32, 32], using: &rng))
        let fast = Variable(Tensor.randomNormal([2, 3, 4, 32, 32], using: &rng))
        let (es, ef) = model.embed(slowClips: slow, fastClips: fast, training: true)
        XCTAssertEqual(es.count, 3)
        let negatives = objective.sampleNegatives(for: [3, 7], rng: &rng)
        XCTAssertEqual(negatives.count, 2 * 8)
        XCTAssertFalse(negatives[0..<8].contains(3) || negatives[8..<16].contains(7), "a query's own row is not its negative")
        let drawn = (0..<20).flatMap { _ in objective.sampleNegatives(for: [0], rng: &rng) }
        XCTAssertEqual(Set(drawn), Set(1..<10), "the other nine instances are all drawn")
        let (total, lf, ls) = objective.loss(slow: es, fast: ef, instances: [3, 7], negatives: negatives)
        let sum = zip(lf, ls).map { $0.value.scalar + $1.value.scalar }.reduce(0, +)
        XCTAssertEqual(total.value.scalar, sum, accuracy: 1e-4)
        total.backward()
        // Every parameter gets a gradient. (With zero-initialised last BNs the weights
        // inside a residual branch get exact zeros on the first step, so non-zero values
        // are checked on the stems and heads below.)
        for (name, p) in model.namedParameters {
            XCTAssertNotNil(p.grad, "no gradient for \(name)")
        }
        for name in ["head.slow.res3.fc1.weight", "head.fast.res5.fc2.weight", "slow.stem.conv.weight", "fast.stem.conv.weight"] {
            let g = model.namedParameters.first { $0.0 == name }!.1.grad!
            XCTAssertGreaterThan(g.scalars.map(abs).max()!, 0, "\(name) gradient is all zeros")
        }
    }

    /// Batch-normalised heads: gradients reach fc1, the first BN and fc2; the second BN has
    /// no trained parameters; each batch's embeddings are centred before normalisation, so
    /// their mean is far smaller than with the paper's head; both BNs' running statistics
    /// are checkpoint buffers and survive a save/load.
    func testBatchNormalisedHeads() throws {
        var rng = RandomGenerator(seed: 6)
        var config = tinyConfig(levels: [4])
        config.projection = .mlpBN
        let model = VTHCLModel(config, rng: &rng)
        let names = model.namedParameters.map(\.0).filter { $0.hasPrefix("head.slow.res5") }
        XCTAssertEqual(names, ["head.slow.res5.fc1.weight", "head.slow.res5.fc1.bias", "head.slow.res5.bn1.weight",
                               "head.slow.res5.bn1.bias", "head.slow.res5.fc2.weight", "head.slow.res5.fc2.bias"])
        let buffers = model.namedBuffers.map(\.0).filter { $0.hasPrefix("head.") }
        XCTAssertEqual(buffers.count, 2 * 2 * 2, "running mean and variance of two BNs in two heads")
        let objective = VTHCLObjective(config: config, instances: 10, rng: &rng)
        let slow = Variable(Tensor.randomNormal([4, 3, 2, 32, 32], using: &rng))
        let fast = Variable(Tensor.randomNormal([4, 3, 4, 32, 32], using: &rng))
        let (es, ef) = model.embed(slowClips: slow, fastClips: fast, training: true)
        let (total, _, _) = objective.loss(slow: es, fast: ef, instances: [0, 1, 2, 3],
                                           negatives: objective.sampleNegatives(for: [0, 1, 2, 3], rng: &rng))
        total.backward()
        for name in ["head.slow.res5.fc1.weight", "head.slow.res5.bn1.weight", "head.fast.res5.fc2.weight"] {
            let g = try XCTUnwrap(model.namedParameters.first { $0.0 == name }?.1.grad, name)
            XCTAssertGreaterThan(g.scalars.map(abs).max()!, 0, name)
        }
        func meanNorm(_ e: Tensor) -> Float {
            let d = e.shape[1]
            let mean = (0..<d).map { j in (0..<e.shape[0]).map { e.scalars[$0 * d + j] }.reduce(0, +) / Float(e.shape[0]) }
            return mean.map { $0 * $0 }.reduce(0, +).squareRoot()
        }
        var plainConfig = config
        plainConfig.projection = .mlp
        var rng2 = RandomGenerator(seed: 6)
        let plain = VTHCLModel(plainConfig, rng: &rng2)
        let plainEmbedding = withoutGradient { plain.embed(slowClips: slow, fastClips: fast, training: true).slow[0] }.value
        XCTAssertLessThan(meanNorm(es[0].value), 0.5 * meanNorm(plainEmbedding))
        // Running statistics round-trip through a checkpoint.
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("bn-head-\(UUID().uuidString).safetensors")
        defer { try? FileManager.default.removeItem(at: url) }
        try Checkpoint.save(model, to: url)
        var rng3 = RandomGenerator(seed: 99)
        let restored = VTHCLModel(config, rng: &rng3)
        try Checkpoint.load(into: restored, from: url)
        let key = "head.fast.res5.bn2.running_mean"
        XCTAssertEqual(restored.namedBuffers.first { $0.0 == key }!.1.value, model.namedBuffers.first { $0.0 == key }!.1.value)
        XCTAssertNotEqual(model.namedBuffers.first { $0.0 == key }!.1.value.scalars.map(abs).max()!, 0)
    }

    func testHierarchyDepthLevels() {
        XCTAssertEqual(VTHCLConfig.levels(forDepth: 1), [4])
        XCTAssertEqual(VTHCLConfig.levels(forDepth: 2), [3, 4])
        XCTAssertEqual(VTHCLConfig.levels(forDepth: 3), [2, 3, 4])
        var rng = RandomGenerator(seed: 1)
        let model = VTHCLModel(tinyConfig(levels: [4]), rng: &rng)
        XCTAssertEqual(Set(model.namedParameters.map(\.0).filter { $0.hasPrefix("head.") }.map { $0.split(separator: ".")[2] }), ["res5"])
    }

    func testBankUpdateUsesEmbeddings() {
        var rng = RandomGenerator(seed: 2)
        let config = tinyConfig(levels: [4])
        var objective = VTHCLObjective(config: config, instances: 4, rng: &rng)
        let before = objective
        let e = l2Normalize(Variable(Tensor.randomNormal([1, 8], using: &rng)), axis: 1).value
        objective.updateBanks(slow: [e], fast: [e], instances: [2])
        XCTAssertNotEqual(objective.slowBanks[0].row(2), before.slowBanks[0].row(2))
        XCTAssertEqual(objective.slowBanks[0].row(1), before.slowBanks[0].row(1))
        let norm = objective.fastBanks[0].row(2).map { $0 * $0 }.reduce(0, +)
        XCTAssertEqual(norm, 1, accuracy: 1e-5)
    }
}
