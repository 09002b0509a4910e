import Foundation
import Tensors

/// Classification metrics of the downstream protocols: top-k accuracy, clip- and
/// video-level recognition accuracy (SPEC §3: video top-1 from softmax averaged over a
/// video's clips; clip top-1 kept separately) and Epic-Kitchens verb/noun accuracy.
///
/// Scores are rows of a [B, C] tensor (B samples, C classes). A label counts as within the
/// top k when fewer than k classes rank above it, classes ranking by score and, on equal
/// score, by lower class index (the first-maximum rule of `argmax`), so top-1 is exactly
/// "argmax equals the label".

/// Failures of the metric functions: inputs that do not fit together.
public enum MetricError: Error, Equatable, Sendable, CustomStringConvertible {
    case shapeMismatch(String)
    case labelOutOfRange(sample: Int, label: Int, classes: Int)
    case empty(String)
    case invalidK(Int)
    case videoWithoutClips(video: Int)

    public var description: String {
        switch self {
        case let .shapeMismatch(detail): return "metric inputs do not fit: \(detail)"
        case let .labelOutOfRange(sample, label, classes): return "label \(label) of sample \(sample) is outside 0..<\(classes)"
        case let .empty(what): return "no \(what) to score"
        case let .invalidK(k): return "top-k needs k ≥ 1, got \(k)"
        case let .videoWithoutClips(video): return "video \(video) has no clips"
        }
    }
}

/// The fraction of samples whose label is within the top `k` predictions.
public struct TopKAccuracy: Equatable, Sendable, CustomStringConvertible {
    public let k: Int
    public let correct: Int
    public let total: Int
    /// Per sample, whether it was correct (empty when not recorded): what a bootstrap over
    /// test items resamples.
    public let hits: [Bool]

    public init(k: Int, correct: Int, total: Int, hits: [Bool] = []) {
        self.k = k; self.correct = correct; self.total = total; self.hits = hits
    }

    /// `hits` as 1/0 values, whose mean is `fraction`.
    public var perItem: [Double] { hits.map { $0 ? 1 : 0 } }

    public static func == (a: TopKAccuracy, b: TopKAccuracy) -> Bool { a.k == b.k && a.correct == b.correct && a.total == b.total }

    /// `correct / total`, in [0, 1].
    public var fraction: Double { total == 0 ? 0 : Double(correct) / Double(total) }

    public var description: String { String(format: "top-%d %.4f (%d/%d)", k, fraction, correct, total) }
}

/// Rank test shared by every metric: whether `label` is among the top `k` of `scores`.
@inlinable
func isInTopK<S: Collection>(_ scores: S, label: Int, k: Int) -> Bool where S.Element: Comparable, S.Index == Int {
    let base = scores.startIndex
    let target = scores[base + label]
    var above = 0
    for c in 0..<scores.count {
        let s = scores[base + c]
        if s > target || (s == target && c < label) {
            above += 1
            if above >= k { return false }
        }
    }
    return true
}

/// Checks that `scores` is [B, C] with `labels.count == B` and every label in `0..<C`.
func validate(scores: Tensor, labels: [Int], what: String) throws -> (rows: Int, classes: Int) {
    guard scores.rank == 2 else { throw MetricError.shapeMismatch("\(what) must be [samples, classes], got \(scores.shape)") }
    let B = scores.shape[0], C = scores.shape[1]
    guard B == labels.count else { throw MetricError.shapeMismatch("\(what) has \(B) rows for \(labels.count) labels") }
    guard B > 0 else { throw MetricError.empty(what) }
    guard C > 0 else { throw MetricError.shapeMismatch("\(what) has no classes") }
    if let bad = labels.firstIndex(where: { !(0..<C).contains($0) }) {
        throw MetricError.labelOutOfRange(sample: bad, label: labels[bad], classes: C)
    }
    return (B, C)
}

/// Top-k accuracy of `scores` [B, C] (logits or probabilities: only the order matters)
/// against `labels` (B class indices in `0..<C`).
public func topKAccuracy(scores: Tensor, labels: [Int], k: Int) throws -> TopKAccuracy {
    guard k >= 1 else { throw MetricError.invalidK(k) }
    let (B, C) = try validate(scores: scores, labels: labels, what: "scores")
    let hits = (0..<B).map { b in isInTopK(scores.scalars[(b * C)..<((b + 1) * C)], label: labels[b], k: k) }
    return TopKAccuracy(k: k, correct: hits.filter { $0 }.count, total: B, hits: hits)
}

// MARK: Recognition (UCF-101, HMDB-51)

/// Accuracy of single clips: every test clip is scored on its own against its video's
/// label. Not the paper's headline number; kept to show what clip averaging adds.
public struct ClipAccuracy: Equatable, Sendable {
    public let top1: TopKAccuracy
    public let top5: TopKAccuracy
    /// Per test video v, c_v · V / M (c_v of its clips top-1 correct, V videos, M clips), so
    /// that the mean over videos is clip top-1 exactly. A bootstrap resamples these, whole
    /// videos at a time: the clips of one video are not independent draws. Empty when not
    /// recorded.
    public let top1PerVideo: [Double]

    public init(top1: TopKAccuracy, top5: TopKAccuracy, top1PerVideo: [Double] = []) {
        self.top1 = top1; self.top5 = top5; self.top1PerVideo = top1PerVideo
    }

    /// Number of clips scored.
    public var clips: Int { top1.total }
}

/// Accuracy of whole videos: softmax of each clip's logits, averaged over the video's
/// clips, then ranked. The paper's reported recognition number (video top-1).
public struct VideoAccuracy: Equatable, Sendable {
    public let top1: TopKAccuracy
    public let top5: TopKAccuracy
    /// Number of videos scored.
    public var videos: Int { top1.total }
}

/// Both levels of a recognition test, in fields of distinct types so a clip number can
/// never be reported as a video number.
public struct RecognitionAccuracy: Equatable, Sendable {
    public let video: VideoAccuracy
    public let clip: ClipAccuracy
}

public enum RecognitionMetrics {
    /// Video-level class probabilities: `clipLogits` [M, C] (M clips), `clipVideo` (M video
    /// indices in `0..<videoCount`) → [videoCount, C], each row the mean over the video's
    /// clips of the clip softmax. Every video must have at least one clip.
    public static func videoProbabilities(clipLogits: Tensor, clipVideo: [Int], videoCount: Int) throws -> Tensor {
        guard clipLogits.rank == 2 else { throw MetricError.shapeMismatch("clip logits must be [clips, classes], got \(clipLogits.shape)") }
        let M = clipLogits.shape[0], C = clipLogits.shape[1]
        guard clipVideo.count == M else { throw MetricError.shapeMismatch("\(M) clip rows for \(clipVideo.count) clip→video indices") }
        guard M > 0 else { throw MetricError.empty("clips") }
        guard C > 0 else { throw MetricError.shapeMismatch("clip logits have no classes") }
        var sums = [Double](repeating: 0, count: videoCount * C)
        var counts = [Int](repeating: 0, count: videoCount)
        for m in 0..<M {
            let v = clipVideo[m]
            guard (0..<videoCount).contains(v) else {
                throw MetricError.shapeMismatch("clip \(m) belongs to video \(v), outside 0..<\(videoCount)")
            }
            let row = clipLogits.scalars[(m * C)..<((m + 1) * C)].map(Double.init)
            let top = row.max()!
            let exps = row.map { Foundation.exp($0 - top) }
            let total = exps.reduce(0, +)
            for c in 0..<C { sums[v * C + c] += exps[c] / total }
            counts[v] += 1
        }
        if let empty = counts.firstIndex(of: 0) { throw MetricError.videoWithoutClips(video: empty) }
        return Tensor(shape: [videoCount, C], scalars: (0..<(videoCount * C)).map { Float(sums[$0] / Double(counts[$0 / C])) })
    }

    /// Clip- and video-level top-1/top-5. `clipLogits` [M, C]; `clipVideo` gives each
    /// clip's video in `0..<V`; `videoLabels` (V labels) each video's class.
    public static func evaluate(clipLogits: Tensor, clipVideo: [Int], videoLabels: [Int]) throws -> RecognitionAccuracy {
        let probabilities = try videoProbabilities(clipLogits: clipLogits, clipVideo: clipVideo, videoCount: videoLabels.count)
        let clipLabels = clipVideo.map { videoLabels[$0] }
        let clipTop1 = try topKAccuracy(scores: clipLogits, labels: clipLabels, k: 1)
        var correctClips = [Int](repeating: 0, count: videoLabels.count)
        for (m, hit) in clipTop1.hits.enumerated() where hit { correctClips[clipVideo[m]] += 1 }
        let scale = Double(videoLabels.count) / Double(clipVideo.count)
        return RecognitionAccuracy(
            video: VideoAccuracy(top1: try topKAccuracy(scores: probabilities, labels: videoLabels, k: 1),
                                 top5: try topKAccuracy(scores: probabilities, labels: videoLabels, k: 5)),
            clip: ClipAccuracy(top1: clipTop1, top5: try topKAccuracy(scores: clipLogits, labels: clipLabels, k: 5),
                               top1PerVideo: correctClips.map { Double($0) * scale }))
    }
}

// MARK: Epic-Kitchens anticipation

/// Epic-Kitchens-55 action anticipation accuracy: the verb (125 classes) and noun (352
/// classes) heads scored separately, top-1 and top-5 each, and the class-mean top-5 recall
/// of each head (`ClassRecallItems`).
public struct EpicAnticipationAccuracy: Equatable, Sendable {
    public let verbTop1: TopKAccuracy
    public let verbTop5: TopKAccuracy
    public let nounTop1: TopKAccuracy
    public let nounTop5: TopKAccuracy
    /// Per segment, its verb (noun) label and whether it was within the top 5: the class-mean
    /// top-5 recall's items.
    public let verbRecall5: ClassRecallItems
    public let nounRecall5: ClassRecallItems

    /// `verbScores` [B, verbs] and `nounScores` [B, nouns] of the same B segments.
    public init(verbScores: Tensor, verbLabels: [Int], nounScores: Tensor, nounLabels: [Int]) throws {
        guard verbScores.rank == 2, nounScores.rank == 2, verbScores.shape[0] == nounScores.shape[0] else {
            throw MetricError.shapeMismatch("verb scores \(verbScores.shape) and noun scores \(nounScores.shape) must be [B, classes] with the same B")
        }
        verbTop1 = try topKAccuracy(scores: verbScores, labels: verbLabels, k: 1)
        verbTop5 = try topKAccuracy(scores: verbScores, labels: verbLabels, k: 5)
        nounTop1 = try topKAccuracy(scores: nounScores, labels: nounLabels, k: 1)
        nounTop5 = try topKAccuracy(scores: nounScores, labels: nounLabels, k: 5)
        verbRecall5 = try ClassRecallItems(labels: verbLabels, hits: verbTop5.hits)
        nounRecall5 = try ClassRecallItems(labels: nounLabels, hits: nounTop5.hits)
    }
}

// MARK: Class-mean recall

/// The items of a class-mean recall: per test item (in test order) its label and whether it
/// was predicted (the label within the top k). Stored with a stage's result, so a bootstrap
/// over items can recompute the recall on a resample (`docs/statistics.md`).
///
/// With item weights w_i (how often a resample drew item i; all 1 for the test set itself)
/// and C the classes with Σ_{label_i = c} w_i > 0,
///
///     R = (1 / |C|) Σ_{c ∈ C} (Σ_{i: label_i = c} w_i · hit_i) / (Σ_{i: label_i = c} w_i),
///
/// summed over classes in ascending label order. A class absent from a resample drops out of
/// its mean, as a class absent from a test set would. Unlike accuracy, R weights every class
/// equally however rare, so it is not a mean of per-item values and must be recomputed.
public struct ClassRecallItems: Codable, Equatable, Sendable {
    /// Class labels (≥ 0), one per item.
    public let labels: [Int]
    /// Whether each item was predicted, one per item.
    public let hits: [Bool]

    /// Throws when the two lists differ in length, are empty, or a label is negative.
    public init(labels: [Int], hits: [Bool]) throws {
        guard labels.count == hits.count else { throw MetricError.shapeMismatch("\(labels.count) labels for \(hits.count) hits") }
        guard !labels.isEmpty else { throw MetricError.empty("items for a class-mean recall") }
        if let bad = labels.firstIndex(where: { $0 < 0 }) {
            throw MetricError.shapeMismatch("label \(labels[bad]) of item \(bad) is negative")
        }
        self.labels = labels; self.hits = hits
    }

    enum CodingKeys: String, CodingKey { case labels, hits }

    /// Decodes and checks the lists as `init(labels:hits:)` does; a failure names the key.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let labels = try c.decode([Int].self, forKey: .labels), hits = try c.decode([Bool].self, forKey: .hits)
        do { try self.init(labels: labels, hits: hits) } catch {
            throw DecodingError.dataCorruptedError(forKey: .labels, in: c, debugDescription: "\(error)")
        }
    }

    public var count: Int { labels.count }

    /// R over the whole test set (every weight 1).
    public var classMeanRecall: Double { classMeanRecall(weights: [Int](repeating: 1, count: count))! }

    /// R with item weights (`weights.count == count`; a resample's draw counts); nil when
    /// every weight is 0.
    public func classMeanRecall(weights: [Int]) -> Double? {
        precondition(weights.count == labels.count, "one weight per item")
        var drawn: [Int: Int] = [:], hit: [Int: Int] = [:]
        for (i, w) in weights.enumerated() where w > 0 {
            drawn[labels[i], default: 0] += w
            if hits[i] { hit[labels[i], default: 0] += w }
        }
        guard !drawn.isEmpty else { return nil }
        let classes = drawn.keys.sorted()
        let sum = classes.reduce(0.0) { $0 + Double(hit[$1] ?? 0) / Double(drawn[$1]!) }
        return sum / Double(classes.count)
    }
}
