import Foundation
import Tensors
import XCTest
@testable import Protocols

/// Weighted kNN vote on hand-checked features.
final class KNNProbeTests: XCTestCase {
    /// Training features (label): a = (1, 0) (1), b = (0.6, 0.8) (0), c = (0.6, −0.8) (0).
    /// Query (5, 0) normalises to (1, 0): similarities 1, 0.6, 0.6. With k = 3 and
    /// τ = 0.07 the single close neighbour outvotes the two far ones:
    /// class 1: e^(1/0.07) ≈ 1.6e6; class 0: 2·e^(0.6/0.07) ≈ 1.06e4. With τ = 100 the
    /// weights are nearly equal and the majority (class 0) wins. With k = 1, class 1.
    func testWeightedVote() throws {
        let train = Tensor(shape: [3, 2], scalars: [1, 0, 0.6, 0.8, 0.6, -0.8])
        let labels = [1, 0, 0]
        let query = Tensor(shape: [1, 2], scalars: [5, 0])
        let votes = try KNNProbe(k: 3, classCount: 2).votes(train: train, trainLabels: labels, queries: query)
        XCTAssertEqual(Double(votes.scalars[1]), exp(1 / 0.07), accuracy: exp(1 / 0.07) * 1e-5)
        XCTAssertEqual(Double(votes.scalars[0]), 2 * exp(0.6 / 0.07), accuracy: exp(0.6 / 0.07) * 1e-4)
        XCTAssertEqual(try KNNProbe(k: 3, classCount: 2).evaluate(train: train, trainLabels: labels, test: query, testLabels: [1]).top1.correct, 1)
        XCTAssertEqual(try KNNProbe(k: 3, temperature: 100, classCount: 2).evaluate(train: train, trainLabels: labels, test: query, testLabels: [0]).top1.correct, 1)
        XCTAssertEqual(try KNNProbe(k: 1, classCount: 2).evaluate(train: train, trainLabels: labels, test: query, testLabels: [1]).top1.correct, 1)
        // k = 2 takes a and b (b before c on equal similarity): votes e^(1/τ) for 1, e^(0.6/τ) for 0.
        let two = try KNNProbe(k: 2, temperature: 1, classCount: 2).votes(train: train, trainLabels: labels, queries: query)
        XCTAssertEqual(Double(two.scalars[1]), exp(1.0), accuracy: 1e-5)
        XCTAssertEqual(Double(two.scalars[0]), exp(0.6), accuracy: 1e-5)
    }

    /// Query (2, 1) against (1, 0) (0), (0, 1) (1), (1, 1) (1), (−1, 0) (0): cosine
    /// similarities 0.894, 0.447, 0.949, −0.894. k = 2 keeps (1, 1) and (1, 0); several
    /// queries and more classes than labels in use.
    func testNeighboursAndAccuracy() throws {
        let train = Tensor(shape: [4, 2], scalars: [1, 0, 0, 1, 1, 1, -1, 0])
        let queries = Tensor(shape: [2, 2], scalars: [2, 1, -3, 0.1])
        let votes = try KNNProbe(k: 2, temperature: 0.5, classCount: 3).votes(train: train, trainLabels: [0, 1, 1, 0], queries: queries)
        XCTAssertEqual(votes.shape, [2, 3])
        XCTAssertEqual(Double(votes.scalars[0]), exp((2 / sqrt(5.0)) / 0.5), accuracy: 1e-4)
        XCTAssertEqual(Double(votes.scalars[1]), exp((3 / sqrt(10.0)) / 0.5), accuracy: 1e-4)
        XCTAssertEqual(votes.scalars[2], 0)
        // Second query (−3, 0.1): nearest (−1, 0) (label 0), then (0, 1) (label 1).
        let s3 = 3 / sqrt(9.01), s1 = 0.1 / sqrt(9.01)
        XCTAssertEqual(Double(votes.scalars[3]), exp(s3 / 0.5), accuracy: 1e-4)
        XCTAssertEqual(Double(votes.scalars[4]), exp(s1 / 0.5), accuracy: 1e-4)
        let accuracy = try KNNProbe(k: 2, temperature: 0.5, classCount: 3).evaluate(train: train, trainLabels: [0, 1, 1, 0],
                                                                                   test: queries, testLabels: [1, 1])
        XCTAssertEqual(accuracy.top1, TopKAccuracy(k: 1, correct: 1, total: 2))
        XCTAssertEqual(accuracy.top5.correct, 2)
    }

    /// k is capped at a class's worth of gallery items, never below 1.
    func testNeighbourCountCap() {
        XCTAssertEqual(KNNProbe.neighbours(trainCount: 160, classCount: 10), 16)
        XCTAssertEqual(KNNProbe.neighbours(trainCount: 240_000, classCount: 400), 200)
        XCTAssertEqual(KNNProbe.neighbours(trainCount: 5, classCount: 10), 1)
        XCTAssertEqual(KNNProbe.neighbours(trainCount: 160, classCount: 10, requested: 5), 5)
    }

    func testTopIndicesPreferLowerIndexOnTies() {
        XCTAssertEqual(KNNProbe.topIndices([0.5, 0.9, 0.5, 0.9, 0.1][...], count: 3), [1, 3, 0])
        XCTAssertEqual(KNNProbe.topIndices([3, 1, 2][...], count: 5), [0, 2, 1])
    }

    func testRejectsBadInput() {
        let probe = KNNProbe(k: 2, classCount: 2)
        XCTAssertThrowsError(try probe.votes(train: Tensor.zeros([2, 3]), trainLabels: [0, 1], queries: Tensor.zeros([1, 2])))
        XCTAssertThrowsError(try probe.votes(train: Tensor.zeros([2, 3]), trainLabels: [0, 2], queries: Tensor.zeros([1, 3])))
        XCTAssertThrowsError(try KNNProbe(k: 0, classCount: 2).votes(train: Tensor.zeros([2, 3]), trainLabels: [0, 1], queries: Tensor.zeros([1, 3])))
    }
}
