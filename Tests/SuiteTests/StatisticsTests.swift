import Foundation
@testable import Suite
import XCTest

/// The statistics of the verdicts against values worked out by hand (or in the tables).
final class StatisticsTests: XCTestCase {
    func testTQuantilesMatchTheTables() {
        // Two-sided 95 % critical values, t_{0.975, df}.
        let table: [(Double, Double)] = [(1, 12.7062), (2, 4.3027), (3, 3.1824), (4, 2.7764), (10, 2.2281),
                                         (30, 2.0423), (.infinity, 1.95996)]
        for (df, expected) in table {
            XCTAssertEqual(Statistics.tQuantile(0.975, df: df), expected, accuracy: 5e-4, "df \(df)")
        }
        XCTAssertEqual(Statistics.tQuantile(0.95, df: 5), 2.0150, accuracy: 5e-4)
        XCTAssertEqual(Statistics.tQuantile(0.025, df: 4), -2.7764, accuracy: 5e-4)
        XCTAssertEqual(Statistics.tQuantile(0.5, df: 3), 0)
        // Fractional degrees of freedom lie between their neighbours.
        let q = Statistics.tQuantile(0.975, df: 2.5)
        XCTAssertTrue(q < 4.3027 && q > 3.1824, "\(q)")
        // The CDF: t = 1 with one degree of freedom is the Cauchy's 3/4.
        XCTAssertEqual(Statistics.tCDF(1, df: 1), 0.75, accuracy: 1e-12)
        XCTAssertEqual(Statistics.tCDF(0, df: 7), 0.5, accuracy: 1e-12)
    }

    func testMeanAndSampleStandardDeviation() {
        let xs = [2.0, 4, 4, 4, 5, 5, 7, 9]
        XCTAssertEqual(Statistics.mean(xs), 5)
        // Σ(x − 5)² = 32, over n − 1 = 7.
        XCTAssertEqual(Statistics.standardDeviation(xs)!, (32.0 / 7).squareRoot(), accuracy: 1e-12)
        XCTAssertNil(Statistics.standardDeviation([3]))
        XCTAssertEqual(Statistics.quantile(sorted: [1, 2, 3, 4], 0.5), 2.5)
    }

    /// d = (0.10, 0.05, 0.05): mean 0.0667, s = 0.0289, SE = s/√3 = 0.01667,
    /// t_{0.975,2} = 4.3027 → half-width 0.0717 → [−0.0050, 0.1384]: inconclusive.
    func testPairedIntervalByHand() {
        let c = Statistics.pairedComparison(differences: [0.80 - 0.70, 0.75 - 0.70, 0.70 - 0.65], itemVariance: nil)
        XCTAssertEqual(c.n, 3)
        XCTAssertEqual(c.difference, 0.066667, accuracy: 1e-6)
        XCTAssertEqual(c.standardError!, 0.016667, accuracy: 1e-6)
        XCTAssertEqual(c.degreesOfFreedom, 2)
        XCTAssertEqual(c.interval!.lower, -0.005044, accuracy: 1e-5)
        XCTAssertEqual(c.interval!.upper, 0.138378, accuracy: 1e-5)
        XCTAssertEqual(c.verdict, .inconclusive)
    }

    /// d = (0.10, 0.08, 0.12): mean 0.10, s = 0.02, SE = 0.011547, half-width 0.049683.
    func testVerdictHoldsAndIsContradicted() {
        let up = Statistics.pairedComparison(differences: [0.10, 0.08, 0.12], itemVariance: nil)
        XCTAssertEqual(up.interval!.lower, 0.050317, accuracy: 1e-5)
        XCTAssertEqual(up.interval!.upper, 0.149683, accuracy: 1e-5)
        XCTAssertEqual(up.verdict, .holds)
        let down = Statistics.pairedComparison(differences: [-0.10, -0.08, -0.12], itemVariance: nil)
        XCTAssertEqual(down.interval!.upper, -0.050317, accuracy: 1e-5)
        XCTAssertEqual(down.verdict, .contradicted)
    }

    /// The seed part s²/n = 0.0004/3 plus a test-set variance of 0.0004: SE² = 0.00053333,
    /// df = (SE²)² (n − 1) / (s²/n)² = 4² · 2 = 32, t_{0.975,32} = 2.0369 → half-width 0.047041.
    func testSeedAndTestSetPartsCombine() {
        let c = Statistics.pairedComparison(differences: [0.10, 0.08, 0.12], itemVariance: 0.0004)
        XCTAssertEqual(c.standardError!, 0.0230940, accuracy: 1e-6)
        XCTAssertEqual(c.degreesOfFreedom!, 32, accuracy: 1e-9)
        XCTAssertEqual(c.interval!.lower, 0.10 - 0.047041, accuracy: 1e-5)
        XCTAssertEqual(c.verdict, .holds)
    }

    /// One seed: without per-item values nothing can be said; with them, the bootstrap's
    /// standard error gives a normal interval (0.125 ± 1.96 · 0.05).
    func testOneSeed() {
        let bare = Statistics.pairedComparison(differences: [-0.125], itemVariance: nil)
        XCTAssertNil(bare.interval)
        XCTAssertNil(bare.standardError)
        XCTAssertEqual(bare.verdict, .inconclusive)
        let items = Statistics.pairedComparison(differences: [0.125], itemVariance: 0.0025)
        XCTAssertEqual(items.degreesOfFreedom, .infinity)
        XCTAssertEqual(items.interval!.lower, 0.125 - 0.097998, accuracy: 1e-5)
        XCTAssertEqual(items.interval!.upper, 0.125 + 0.097998, accuracy: 1e-5)
        XCTAssertEqual(items.verdict, .holds)
    }

    func testBootstrapIsSeededAndMatchesTheBinomialVariance() throws {
        // 40 items, 24 correct: the mean's variance is p(1 − p)/m = 0.24/40 = 0.006.
        let items = (0..<40).map { $0 < 24 ? 1.0 : 0.0 }
        let sample = [Statistics.ItemSample(items: items, testSet: "t")]
        let a = Statistics.bootstrap(sample) { $0[0] }, b = Statistics.bootstrap(sample) { $0[0] }
        XCTAssertEqual(a, b, "the bootstrap must be deterministic")
        XCTAssertEqual(a.count, Statistics.replicates)
        XCTAssertEqual(Statistics.variance(a), 0.006, accuracy: 0.0008)
        let interval = try XCTUnwrap(Statistics.bootstrapMeanInterval(sample))
        // ≈ 0.6 ± 1.96 · 0.0775.
        XCTAssertEqual(interval.lower, 0.45, accuracy: 0.03)
        XCTAssertEqual(interval.upper, 0.75, accuracy: 0.03)
        let constant = try XCTUnwrap(Statistics.bootstrapMeanInterval([Statistics.ItemSample(items: [1, 1, 1], testSet: "t")]))
        XCTAssertEqual(constant.lower, 1); XCTAssertEqual(constant.upper, 1)
        // Samples of one test set are drawn together: a copy moves exactly with the original.
        let twin = Statistics.bootstrap(sample + sample) { $0[0] - $0[1] }
        XCTAssertTrue(twin.allSatisfy { $0 == 0 })
        var rng = Statistics.Generator(seed: 1)
        XCTAssertTrue((0..<1000).allSatisfy { _ in (0..<7).contains(rng.index(below: 7)) })
    }

    /// t · √(2 s²/n + 2 v): s = 0.05 over 3 seeds, no per-item values → 4.3027 · √(2 · 0.0025/3).
    func testSmallestDecidableDifference() {
        XCTAssertEqual(Statistics.smallestDecidableDifference(seedStd: 0.05, n: 3, cellVariance: nil)!,
                       4.302653 * (2 * 0.0025 / 3).squareRoot(), accuracy: 1e-5)
        XCTAssertEqual(Statistics.smallestDecidableDifference(seedStd: nil, n: 1, cellVariance: 0.001)!,
                       1.959964 * 0.002.squareRoot(), accuracy: 1e-5)
        XCTAssertNil(Statistics.smallestDecidableDifference(seedStd: nil, n: 1, cellVariance: nil))
        // A one-seed cell beside cells of several (a suite run part-way): the pooled s with
        // one degree of freedom, t(0.975, 1) = 12.7062 · √(2 · 0.0025 / 1), and no trap.
        XCTAssertEqual(Statistics.smallestDecidableDifference(seedStd: 0.05, n: 1, cellVariance: nil)!,
                       12.706205 * 0.005.squareRoot(), accuracy: 1e-5)
    }
}

/// The data-parallel cost model against hand-computed cases.
final class DataParallelCostTests: XCTestCase {
    func testRingAllreduceTime() {
        // 1e6 floats = 4 MB; 2 ranks send 2·1/2 of it: 4e6 B / 1.25e9 B/s = 3.2 ms, plus one
        // bucket's 2·(N−1) = 2 latencies of 20 µs.
        XCTAssertEqual(CostModel.ringAllreduceSeconds(floats: 1e6, ranks: 2, gbits: 10), 3.2e-3 + 40e-6, accuracy: 1e-12)
        // 8 ranks at 100 Gbit/s, 2^23 floats (2 buckets): 2·7/8·33554432 B / 12.5e9 B/s + 2·14·20 µs.
        let bandwidthPart: Double = 2.0 * 7 / 8 * 33_554_432 / 12.5e9
        let latencyPart: Double = 2.0 * 14 * 20e-6
        XCTAssertEqual(CostModel.ringAllreduceSeconds(floats: Double(1 << 23), ranks: 8, gbits: 100), bandwidthPart + latencyPart,
                       accuracy: 1e-12)
        XCTAssertEqual(CostModel.ringAllreduceSeconds(floats: 1e6, ranks: 1, gbits: 10), 0)
    }

    func testStageCostOnRanks() throws {
        var e = CostEstimate(macs: 1e12, cpuSeconds: nil, notes: "")
        e.steps = 100; e.gradientFloats = 1e6; e.batch = 10
        let dp = try XCTUnwrap(CostModel.dataParallel(e, ranks: 2, gbits: 10, macsPerSecond: 1e10))
        // 100 s of compute on one rank: 50 s on two, plus 100 allreduces of 3.24 ms.
        XCTAssertEqual(dp.computeSeconds, 50, accuracy: 1e-9)
        XCTAssertEqual(dp.communicationSeconds, 0.324, accuracy: 1e-9)
        XCTAssertEqual(dp.efficiency(ranks: 2, oneRankSeconds: 100), 100 / 50.324 / 2, accuracy: 1e-9)
        // One clip takes 100 s / 1000 clips = 0.1 s, so 3.24 ms hides behind 0.0324 clips.
        XCTAssertEqual(dp.hidingBatch, 0.0324, accuracy: 1e-9)
        // A step's compute on one of two ranks: 5 clips of 0.1 s; its backward pass (2/3 of
        // it, 0.33 s) is longer than the allreduce, so overlap could hide all of it: 0.324 s.
        XCTAssertEqual(dp.perStepComputeSeconds, 0.5, accuracy: 1e-12)
        XCTAssertEqual(dp.overlapSavingSeconds, 0.324, accuracy: 1e-9)
        XCTAssertEqual(dp.overlapSavingShare, 0.324 / 50.324, accuracy: 1e-9)
        // A fast link and slow compute: the other way round, the backward pass bounds it.
        let slowLink = try XCTUnwrap(CostModel.dataParallel(e, ranks: 2, gbits: 0.01, macsPerSecond: 1e10))
        XCTAssertEqual(slowLink.perStepAllreduceSeconds, 3.2 + 40e-6, accuracy: 1e-9)
        XCTAssertEqual(slowLink.overlapSavingSeconds, 100 * 0.5 * 2 / 3, accuracy: 1e-9)
        XCTAssertNil(CostModel.dataParallel(CostEstimate(macs: 1, cpuSeconds: nil, notes: ""), ranks: 2, gbits: 10, macsPerSecond: 1))
    }
}
