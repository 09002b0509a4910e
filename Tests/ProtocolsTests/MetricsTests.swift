import Foundation
import Tensors
import XCTest
@testable import Protocols

/// Classification metrics on hand-worked cases.
final class MetricsTests: XCTestCase {
    /// Row 0: label 2 is second (0.5 > 0.4). Row 1: label 1 ties class 0, which ranks
    /// first (lower index). Row 2: label 0 is first. → top-1 1/3, top-2 3/3.
    func testTopK() throws {
        let scores = Tensor(shape: [3, 3], scalars: [0.1, 0.5, 0.4, 0.3, 0.3, 0.2, 0.9, 0, 0.05])
        let top1 = try topKAccuracy(scores: scores, labels: [2, 1, 0], k: 1)
        XCTAssertEqual(top1, TopKAccuracy(k: 1, correct: 1, total: 3))
        XCTAssertEqual(top1.fraction, 1.0 / 3, accuracy: 1e-12)
        XCTAssertEqual(try topKAccuracy(scores: scores, labels: [2, 1, 0], k: 2).correct, 3)
        XCTAssertEqual(try topKAccuracy(scores: scores, labels: [2, 1, 0], k: 5).correct, 3, "k beyond the class count")
    }

    func testTopKRejectsBadInput() {
        let scores = Tensor.zeros([2, 3])
        XCTAssertThrowsError(try topKAccuracy(scores: scores, labels: [0], k: 1))
        XCTAssertThrowsError(try topKAccuracy(scores: scores, labels: [0, 3], k: 1)) {
            XCTAssertEqual($0 as? MetricError, .labelOutOfRange(sample: 1, label: 3, classes: 3))
        }
        XCTAssertThrowsError(try topKAccuracy(scores: scores, labels: [0, 1], k: 0))
        XCTAssertThrowsError(try topKAccuracy(scores: Tensor.zeros([0, 3]), labels: [], k: 1))
    }

    /// Clip logits are log-probabilities plus a per-clip constant (softmax removes it).
    /// Video 0 (label 0): clips (.5 .4 .1) ✓, (.1 .5 .4) ✗, (.45 .35 .2) ✓; mean
    /// (.35 .4167 .2333) → class 1 ✗, although two of three clips are right.
    /// Video 1 (label 2): clips (.2 .5 .3) ✗, (.1 .1 .8) ✓; mean (.15 .3 .55) → 2 ✓.
    /// Clip top-1 3/5; video top-1 1/2. Per-video clip items: 2 · 2/5 = 0.8 and 1 · 2/5 = 0.4,
    /// whose mean is 3/5.
    func testVideoAccuracyAveragesClipSoftmax() throws {
        let probabilities: [[Double]] = [[0.5, 0.4, 0.1], [0.1, 0.5, 0.4], [0.45, 0.35, 0.2], [0.2, 0.5, 0.3], [0.1, 0.1, 0.8]]
        let shifts: [Double] = [0, 5, -3, 1.5, 7]
        let logits = zip(probabilities, shifts).flatMap { p, s in p.map { Float(log($0) + s) } }
        let clipVideo = [0, 0, 0, 1, 1]
        let result = try RecognitionMetrics.evaluate(clipLogits: Tensor(shape: [5, 3], scalars: logits),
                                                     clipVideo: clipVideo, videoLabels: [0, 2])
        XCTAssertEqual(result.clip.top1, TopKAccuracy(k: 1, correct: 3, total: 5))
        XCTAssertEqual(result.clip.clips, 5)
        XCTAssertEqual(result.clip.top1PerVideo.count, 2)
        XCTAssertEqual(result.clip.top1PerVideo[0], 0.8, accuracy: 1e-12)
        XCTAssertEqual(result.clip.top1PerVideo[1], 0.4, accuracy: 1e-12)
        XCTAssertEqual(result.clip.top1PerVideo.reduce(0, +) / 2, result.clip.top1.fraction, accuracy: 1e-12)
        XCTAssertEqual(result.video.top1, TopKAccuracy(k: 1, correct: 1, total: 2))
        XCTAssertEqual(result.video.videos, 2)
        XCTAssertEqual(result.video.top5.correct, 2)

        let mean = try RecognitionMetrics.videoProbabilities(clipLogits: Tensor(shape: [5, 3], scalars: logits),
                                                            clipVideo: clipVideo, videoCount: 2)
        assertClose(mean, Tensor(shape: [2, 3], scalars: [0.35, 1.25 / 3, 0.7 / 3, 0.15, 0.3, 0.55]), rtol: 1e-5, atol: 1e-6)
    }

    /// Averaging probabilities is not averaging logits: clips (.99 .01), (.99 .01),
    /// (1e-6 ≈1). Mean softmax (.66 .34) picks class 0; mean logits (log of the geometric
    /// mean: .0099 vs .0464) would pick class 1.
    func testVideoAccuracyUsesSoftmaxNotLogits() throws {
        let p: [[Double]] = [[0.99, 0.01], [0.99, 0.01], [1e-6, 1 - 1e-6]]
        let logits = Tensor(shape: [3, 2], scalars: p.flatMap { $0.map { Float(log($0)) } })
        let r = try RecognitionMetrics.evaluate(clipLogits: logits, clipVideo: [0, 0, 0], videoLabels: [0])
        XCTAssertEqual(r.video.top1.correct, 1)
        XCTAssertEqual(r.clip.top1.correct, 2)
        let mean = try RecognitionMetrics.videoProbabilities(clipLogits: logits, clipVideo: [0, 0, 0], videoCount: 1)
        assertClose(mean, Tensor(shape: [1, 2], scalars: [0.66, 0.34]), rtol: 1e-5, atol: 1e-6)
        let meanLogits = Tensor(shape: [1, 2], scalars: [(0..<3).map { logits.scalars[2 * $0] }.reduce(0, +) / 3,
                                                          (0..<3).map { logits.scalars[2 * $0 + 1] }.reduce(0, +) / 3])
        XCTAssertEqual(try topKAccuracy(scores: meanLogits, labels: [0], k: 1).correct, 0, "logit averaging would disagree")
    }

    func testVideoWithoutClipsIsAnError() {
        XCTAssertThrowsError(try RecognitionMetrics.evaluate(clipLogits: Tensor.zeros([2, 3]), clipVideo: [0, 2], videoLabels: [0, 1, 2])) {
            XCTAssertEqual($0 as? MetricError, .videoWithoutClips(video: 1))
        }
        XCTAssertThrowsError(try RecognitionMetrics.evaluate(clipLogits: Tensor.zeros([2, 3]), clipVideo: [0, 3], videoLabels: [0, 1, 2]))
    }

    /// Verbs (6 classes): row 0 label 5 ranks 6th (neither), row 1 label 5 ranks 1st.
    /// Nouns (7 classes): row 0 label 2 ranks 5th (4 higher scores); row 1 all tied, label
    /// 4 ranks 5th (lower indices first). → verb 1/2 and 1/2; noun 0/2 and 2/2.
    func testEpicVerbNounAccuracy() throws {
        let verbs = Tensor(shape: [2, 6], scalars: [6, 5, 4, 3, 2, 1, 0, 0, 0, 0, 0, 1])
        let nouns = Tensor(shape: [2, 7], scalars: [1, 2, 3, 4, 5, 6, 7, 0, 0, 0, 0, 0, 0, 0])
        let r = try EpicAnticipationAccuracy(verbScores: verbs, verbLabels: [5, 5], nounScores: nouns, nounLabels: [2, 4])
        XCTAssertEqual(r.verbTop1.correct, 1)
        XCTAssertEqual(r.verbTop5.correct, 1)
        XCTAssertEqual(r.nounTop1.correct, 0)
        XCTAssertEqual(r.nounTop5.correct, 2)
        XCTAssertEqual(r.nounTop5.total, 2)
        // Class-mean top-5 recall: verbs one class (5) hit once of twice → 0.5; nouns both hit → 1.
        XCTAssertEqual(r.verbRecall5.classMeanRecall, 0.5)
        XCTAssertEqual(r.nounRecall5.classMeanRecall, 1)
        XCTAssertEqual(r.nounRecall5.labels, [2, 4])
        XCTAssertThrowsError(try EpicAnticipationAccuracy(verbScores: verbs, verbLabels: [5, 5],
                                                          nounScores: Tensor.zeros([3, 7]), nounLabels: [0, 0, 0]))
    }

    /// Labels 0 0 0 1 2 2, hits ✓ ✗ ✗ ✓ ✓ ✗: recalls 1/3, 1, 1/2 → (1/3 + 1 + 1/2)/3 = 11/18,
    /// while accuracy is 3/6. Weights (0, 0, 2, 1, 1, 0) — the draw {2, 2, 3, 4} — give class
    /// 0: 0/2, class 1: 1/1, class 2: 1/1 → 2/3; a class not drawn drops out of the mean.
    func testClassMeanRecall() throws {
        let items = try ClassRecallItems(labels: [0, 0, 0, 1, 2, 2], hits: [true, false, false, true, true, false])
        XCTAssertEqual(items.classMeanRecall, 11.0 / 18, accuracy: 1e-15)
        XCTAssertEqual(try XCTUnwrap(items.classMeanRecall(weights: [0, 0, 2, 1, 1, 0])), 2.0 / 3, accuracy: 1e-15)
        XCTAssertEqual(try XCTUnwrap(items.classMeanRecall(weights: [0, 0, 0, 3, 0, 3])), 0.5, accuracy: 1e-15)
        XCTAssertNil(items.classMeanRecall(weights: [0, 0, 0, 0, 0, 0]))
        XCTAssertThrowsError(try ClassRecallItems(labels: [0, 1], hits: [true]))
        XCTAssertThrowsError(try ClassRecallItems(labels: [], hits: []))
        XCTAssertThrowsError(try ClassRecallItems(labels: [-1], hits: [true]))
        // JSON round trip; a stored pair of lists that does not fit is refused, naming the key.
        XCTAssertEqual(try JSONDecoder().decode(ClassRecallItems.self, from: JSONEncoder().encode(items)), items)
        XCTAssertThrowsError(try JSONDecoder().decode(ClassRecallItems.self, from: Data(#"{"labels": [0, 1], "hits": [true]}"#.utf8))) { error in
            guard case DecodingError.dataCorrupted(let context) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(context.codingPath.map(\.stringValue), ["labels"])
        }
    }
}
