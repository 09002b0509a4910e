import Networks
import Tensors
import XCTest

/// A stand-in for rank `rank` of `size` whose peers hold exactly what it holds: an allreduce
/// multiplies by the size, an allgather repeats.
final class MirroredGroup: ProcessGroup {
    let rank: Int, size: Int
    var calls = 0
    init(rank: Int, size: Int) { self.rank = rank; self.size = size }
    func allreduceSum(_ buffer: inout [Float]) throws { calls += 1; buffer = buffer.map { $0 * Float(size) } }
    func allreduceSum(_ buffer: inout [Double]) throws { calls += 1; buffer = buffer.map { $0 * Double(size) } }
    func allgather(_ local: [Float]) throws -> [Float] { Array([[Float]](repeating: local, count: size).joined()) }
    func broadcast(_ data: inout [UInt8], root: Int) throws {}
    func barrier() throws {}
}

final class DataParallelTests: XCTestCase {
    func testSlicesCoverTheBatchInOrder() {
        for (batch, shards) in [(8, 2), (7, 3), (4, 4), (5, 1)] {
            let slices = (0..<shards).map { DataParallel.slice(batch, shards: shards, shard: $0) }
            XCTAssertEqual(slices.flatMap { Array($0) }, Array(0..<batch))
            XCTAssertLessThanOrEqual(slices.map(\.count).max()! - slices.map(\.count).min()!, 1)
        }
        XCTAssertEqual(DataParallel.localItems(8, shards: 4, in: MirroredGroup(rank: 1, size: 2)), 4..<8)
        XCTAssertEqual(DataParallel.localItems(8, shards: 2, in: SingleProcess()), 0..<8)
        XCTAssertThrowsError(try DataParallel.shards(3, in: MirroredGroup(rank: 0, size: 2)))
        XCTAssertEqual(try DataParallel.shards(nil, in: MirroredGroup(rank: 0, size: 2)), 2)
    }

    /// Gradients are summed bucket by bucket; a parameter no rank used keeps no gradient.
    func testGradientsAreSummedInBuckets() throws {
        let a = Variable(Tensor(shape: [3], scalars: [1, 2, 3])), b = Variable(Tensor(shape: [2], scalars: [0, 0])), c = Variable(Tensor(shape: [2], scalars: [5, 6]))
        a.grad = Tensor(shape: [3], scalars: [0.5, -1, 2]); c.grad = Tensor(shape: [2], scalars: [1, 1])
        let group = MirroredGroup(rank: 0, size: 2)
        try DataParallel.reduceGradients([("a", a), ("b", b), ("c", c)], in: group, bucketFloats: 3)
        XCTAssertEqual(a.grad?.scalars, [1, -2, 4])
        XCTAssertNil(b.grad)
        XCTAssertEqual(c.grad?.scalars, [2, 2])
        XCTAssertEqual(group.calls, 2, "two buckets")
    }

    /// The time a step spends in the gradient allreduce is counted (what `bench perf
    /// pretrain-step` reports), waiting included; a world of one makes no call and counts none.
    func testGradientAllreduceTimeIsCounted() throws {
        final class SlowGroup: ProcessGroup {
            let rank = 0, size = 2
            func allreduceSum(_ buffer: inout [Float]) throws { usleep(20_000); buffer = buffer.map { $0 * 2 } }
            func allreduceSum(_ buffer: inout [Double]) throws { usleep(20_000); buffer = buffer.map { $0 * 2 } }
            func allgather(_ local: [Float]) throws -> [Float] { local + local }
            func broadcast(_ data: inout [UInt8], root: Int) throws {}
            func barrier() throws {}
        }
        let a = Variable(Tensor(shape: [3], scalars: [1, 2, 3])), b = Variable(Tensor(shape: [2], scalars: [0, 0]))
        a.grad = Tensor(shape: [3], scalars: [1, 1, 1]); b.grad = Tensor(shape: [2], scalars: [1, 1])
        let before = DataParallel.communication
        try DataParallel.reduceGradients([("a", a), ("b", b)], in: SlowGroup(), bucketFloats: 3)  // two buckets
        let after = DataParallel.communication
        XCTAssertEqual(after.gradientCalls, before.gradientCalls + 1)
        XCTAssertGreaterThanOrEqual(after.gradientSeconds - before.gradientSeconds, 0.04, "two allreduces of 20 ms")
        XCTAssertLessThan(after.gradientSeconds - before.gradientSeconds, 5)
        XCTAssertEqual(after.batchNormCalls, before.batchNormCalls)
        try DataParallel.reduceGradients([("a", a)], in: SingleProcess())
        XCTAssertEqual(DataParallel.communication, after)
        XCTAssertEqual(a.grad?.scalars, [2, 2, 2])
    }

    /// Per-shard batch norm: the running statistics end at the mean of each shard's update
    /// from the same starting point.
    func testShardBuffersEndAtTheMeanOfTheShards() throws {
        let buffer = Variable(Tensor(shape: [2], scalars: [0, 0]))
        var seen: [[Float]] = []
        try DataParallel.forEachShard(0..<2, total: 2, buffers: [("bn.running_mean", buffer)], in: SingleProcess()) { s in
            seen.append(buffer.value.scalars)
            buffer.value = Tensor(shape: [2], scalars: s == 0 ? [1, 2] : [3, 6])
        }
        XCTAssertEqual(seen, [[0, 0], [0, 0]], "every shard starts from the step's buffers")
        XCTAssertEqual(buffer.value.scalars, [2, 4])
        let rows = DataParallel.rows(Tensor(shape: [3, 2], scalars: [1, 2, 3, 4, 5, 6]), 1..<3)
        XCTAssertEqual(rows.shape, [2, 2]); XCTAssertEqual(rows.scalars, [3, 4, 5, 6])
    }

    /// Synchronised batch norm on a rank whose peer holds the same batch equals plain batch
    /// norm over both copies: output, running statistics, input gradient, and (summed over
    /// the two ranks) the parameter gradients.
    func testSynchronisedBatchNormEqualsBatchNormOverTheWholeBatch() throws {
        var rng = RandomGenerator(seed: 3)
        let x = Tensor.randomNormal([2, 3, 2, 4, 4], using: &rng), gy = Tensor.randomNormal([2, 3, 2, 4, 4], using: &rng)
        let gamma = Tensor.randomNormal([3], using: &rng), beta = Tensor.randomNormal([3], using: &rng)
        let both = Tensor(shape: [4, 3, 2, 4, 4], scalars: x.scalars + x.scalars)
        let bothGy = Tensor(shape: [4, 3, 2, 4, 4], scalars: gy.scalars + gy.scalars)
        var rm1 = Tensor.zeros([3]), rv1 = Tensor.ones([3]), rm2 = Tensor.zeros([3]), rv2 = Tensor.ones([3])
        let (yAll, pullAll) = _vjpBatchNorm(both, gamma: gamma, beta: beta, runningMean: &rm1, runningVariance: &rv1,
                                            training: true, momentum: 0.1, epsilon: 1e-5)
        let (gxAll, ggAll, gbAll) = pullAll(bothGy)
        let group = MirroredGroup(rank: 0, size: 2)
        let batchNormCallsBefore = DataParallel.communication.batchNormCalls
        let (y, gx, gg, gb) = try DataParallel.withBatchNormSync(true, shards: 2, in: group) { () -> (Tensor, Tensor, Tensor, Tensor) in
            let (y, pull) = _vjpBatchNorm(x, gamma: gamma, beta: beta, runningMean: &rm2, runningVariance: &rv2,
                                          training: true, momentum: 0.1, epsilon: 1e-5)
            let (gx, gg, gb) = pull(gy)
            return (y, gx, gg, gb)
        }
        XCTAssertNil(BatchNormSync.reduce, "synchronisation ends with the step")
        XCTAssertEqual(group.calls, 3, "two reductions forward, one backward")
        XCTAssertEqual(DataParallel.communication.batchNormCalls - batchNormCallsBefore, 3, "each one counted")
        assertClose(y, Tensor(shape: x.shape, scalars: Array(yAll.scalars.prefix(x.count))), rtol: 1e-5, atol: 1e-6)
        assertClose(gx, Tensor(shape: x.shape, scalars: Array(gxAll.scalars.prefix(x.count))), rtol: 1e-4, atol: 1e-5)
        assertClose(rm2, rm1, rtol: 1e-5, atol: 1e-6); assertClose(rv2, rv1, rtol: 1e-5, atol: 1e-6)
        assertClose(gg * 2, ggAll, rtol: 1e-4, atol: 1e-5); assertClose(gb * 2, gbAll, rtol: 1e-4, atol: 1e-5)
        XCTAssertThrowsError(try DataParallel.withBatchNormSync(true, shards: 4, in: group) {})
    }
}

/// The parameter count the cost model allreduces equals what the built networks hold.
final class ParameterCountTests: XCTestCase {
    func testCountMatchesBuiltNetworks() {
        for depth in [18, 50] {
            for pathway in [Pathway.slow, .fast] {
                var config = ResNet3DConfig.slowFast(depth: depth, pathway: pathway, widthMultiplier: 0.25)
                for classes in [nil, 7] as [Int?] {
                    config.numClasses = classes
                    var rng = RandomGenerator(seed: 1)
                    let built = ResNet3D(config, rng: &rng).parameters.reduce(0) { $0 + $1.value.count }
                    XCTAssertEqual(config.parameterCount, built, "R\(depth) \(pathway) classes \(classes.map(String.init) ?? "none")")
                }
            }
        }
    }
}
