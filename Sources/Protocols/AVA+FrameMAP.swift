/// AVA frame-level mean average precision at IoU 0.5, computed as the official ActivityNet
/// evaluator does. Sources read: github.com/activitynet/ActivityNet
/// `Evaluation/get_ava_performance.py` and `Evaluation/ava/per_image_evaluation.py`
/// (commit 1212804), `Evaluation/ava/object_detection_evaluation.py` (commit 3b2ddda),
/// and the evaluator's `metrics.py` as redistributed unchanged in mmaction2 1.2.0
/// (`mmaction/evaluation/functional/ava_evaluation/metrics.py`).
/// The steps, and where each comes from:
///
/// 1. Rows whose action is not an evaluated class are dropped on reading (`read_csv`,
///    `class_whitelist`), ground truth and detections alike. The evaluated classes are the
///    label map's; without one, every class that occurs in the ground truth.
/// 2. At most 50 detection rows are kept per keyframe, over all classes together, the
///    highest-scoring ones (`read_csv(detections, class_whitelist, 50)`: a min-heap of
///    `(score, action_id, y1, x1, y2, x2)`; a row enters a full heap only with a score
///    strictly above the heap's least tuple, which it replaces). The cap counts (box,
///    action) rows, not boxes.
/// 3. Excluded keyframes are then dropped from both files (`run_evaluation`).
/// 4. Detection rows with `x1 ≥ x2` or `y1 ≥ y2` are dropped (`_remove_invalid_boxes`).
/// 5. Per keyframe and class, detections are visited in descending score; each takes the
///    ground-truth box of its class with the highest IoU (the first such box on equal IoU,
///    `np.argmax`), and is a true positive when that IoU ≥ 0.5 and the box is not yet
///    matched, otherwise a false positive: a detection whose best box is taken does not
///    fall back to its second-best box (`_compute_tp_fp_for_single_class`). A keyframe
///    without ground truth makes all its detections false positives. Ground-truth rows
///    are never merged: each (box, action) row is one instance of its class, so a person
///    with three actions is one instance in each of three classes.
/// 6. Per class with at least one ground-truth instance, all its scored detections are
///    ranked by descending score; precision and recall follow (`compute_precision_recall`),
///    AP is all-point interpolated: recall padded with 0 and 1, precision with 0 and 0,
///    precision made non-increasing from the right, then Σ Δrecall · precision over the
///    points where recall changes (`compute_average_precision`). A class with ground truth
///    and no detection scores 0.
/// 7. mAP is the mean over classes with ground truth (`np.nanmean`; classes without
///    ground truth have AP NaN and are left out).
///
/// Ties in score are not ordered by the official code in a way one can rely on: within a
/// keyframe they keep Python's heap order, and across keyframes `np.argsort(scores)[::-1]`
/// uses numpy's unstable default sort (numpy 2.4 orders the tied scores of
/// `[0.9, 0.5, 0.5, 0.7, 0.5, 0.5, 0.1, 0.5]` as indices 7, 5, 2, 4, 1: neither the
/// file order nor its reverse). This implementation fixes the order: equal scores keep
/// the order of the detections file, both within a keyframe and in the ranking of a
/// class (keyframes in order of first appearance, as the official per-keyframe
/// concatenation). When tied detections are all true or all false positives the AP does
/// not depend on it. Ground-truth boxes of a keyframe are ordered as the official reader
/// leaves them, by the eighth column (person id) descending (its `sorted(…, key=-score)`
/// over rows whose score slot holds the person id), and then in file order where the
/// official heap order is arbitrary; this only matters for a detection at exactly equal
/// IoU with two boxes of its class (`np.argmax` takes the first).
public enum AVAFrameMAP {
    /// The official evaluator's matching threshold.
    public static let iouThreshold = 0.5
    /// Detections kept per keyframe (`read_csv(..., capacity=50)`).
    public static let detectionsPerKeyframe = 50

    /// Evaluates detections against ground truth.
    ///
    /// - Parameters:
    ///   - classes: the evaluated class ids (a label map's), or nil for every class that
    ///     has a ground-truth row.
    ///   - excluded: keyframes removed from both ground truth and detections.
    /// - Throws: ``AVAError/noGroundTruth(detail:)`` when no evaluated class has ground truth.
    public static func evaluate(groundTruth: [AVAGroundTruthRow], detections: [AVADetectionRow],
                                classes: Set<Int>? = nil, excluded: Set<AVAKeyframe> = [],
                                detectionsPerKeyframe cap: Int = detectionsPerKeyframe,
                                iouThreshold: Double = iouThreshold) throws -> AVAFrameMAPResult {
        let evaluated = classes ?? Set(groundTruth.map(\.actionID))

        // Ground truth: filter, group by keyframe, order each keyframe's rows.
        var gtByKeyframe: [AVAKeyframe: [AVAGroundTruthRow]] = [:]
        for row in groundTruth where evaluated.contains(row.actionID) && !excluded.contains(row.keyframe) {
            gtByKeyframe[row.keyframe, default: []].append(row)
        }
        var instances: [Int: Int] = [:]
        for key in gtByKeyframe.keys {
            // Stable sort: Swift's `sort` is stable (introsort was replaced by a stable
            // merge sort in Swift 5), and the index is part of the key regardless.
            let rows = gtByKeyframe[key]!.enumerated().sorted {
                ($0.element.personID, -$0.offset) > ($1.element.personID, -$1.offset)
            }.map(\.element)
            gtByKeyframe[key] = rows
            for row in rows { instances[row.actionID, default: 0] += 1 }
        }

        // Detections: filter by class, cap per keyframe, drop excluded keyframes.
        var order: [AVAKeyframe] = []
        var kept: [AVAKeyframe: CappedRows] = [:]
        for (index, row) in detections.enumerated() where evaluated.contains(row.actionID) {
            if kept[row.keyframe] == nil { order.append(row.keyframe); kept[row.keyframe] = CappedRows() }
            kept[row.keyframe]!.offer(row, index: index, capacity: cap)
        }

        // Match per keyframe and class; collect (score, true positive) per class.
        var scored: [Int: [(score: Double, truePositive: Bool)]] = [:]
        var keptCount = 0, droppedInvalid = 0
        for key in order where !excluded.contains(key) {
            let rows = kept[key]!.rows.sorted { ($0.row.score, -$0.index) > ($1.row.score, -$1.index) }
            keptCount += rows.count
            let truth = gtByKeyframe[key] ?? []
            var matched = [Bool](repeating: false, count: truth.count)
            for (_, row) in rows {
                guard row.box.isValid else { droppedInvalid += 1; continue }
                var best = -1, bestIoU = -Double.infinity
                for (g, t) in truth.enumerated() where t.actionID == row.actionID {
                    let iou = row.box.iou(t.box)
                    if iou > bestIoU { best = g; bestIoU = iou }
                }
                var truePositive = false
                if best >= 0 && bestIoU >= iouThreshold && !matched[best] {
                    matched[best] = true
                    truePositive = true
                }
                scored[row.actionID, default: []].append((row.score, truePositive))
            }
        }

        var perClass: [Int: Double] = [:]
        for (id, count) in instances {
            // Descending score; ties in the order the official per-keyframe lists are
            // concatenated (keyframe of first appearance, then within-keyframe order).
            let ranked = (scored[id] ?? []).enumerated().sorted {
                ($0.element.score, -$0.offset) > ($1.element.score, -$1.offset)
            }.map(\.element.truePositive)
            perClass[id] = averagePrecision(rankedTruePositives: ranked, groundTruthCount: count)
        }
        guard !perClass.isEmpty else {
            throw AVAError.noGroundTruth(detail: "\(groundTruth.count) ground-truth rows, \(evaluated.count) evaluated classes, \(excluded.count) excluded keyframes")
        }
        let ids = perClass.keys.sorted()
        let mean = ids.reduce(0) { $0 + perClass[$1]! } / Double(ids.count)
        return AVAFrameMAPResult(meanAP: mean, perClassAP: perClass,
                                 classesWithoutGroundTruth: evaluated.subtracting(ids).sorted(),
                                 groundTruthInstances: instances.values.reduce(0, +),
                                 detectionsEvaluated: keptCount - droppedInvalid,
                                 detectionsDroppedByCap: detections.filter { evaluated.contains($0.actionID) }.count
                                    - kept.values.reduce(0) { $0 + $1.rows.count },
                                 detectionsDroppedInvalid: droppedInvalid)
    }

    /// All-point interpolated average precision (`metrics.compute_average_precision`) of a
    /// ranked list of detections (true = true positive) against `groundTruthCount`
    /// instances. 0 for an empty list.
    public static func averagePrecision(rankedTruePositives ranked: [Bool], groundTruthCount: Int) -> Double {
        precondition(groundTruthCount > 0, "average precision needs at least one ground-truth instance")
        guard !ranked.isEmpty else { return 0 }
        var recall: [Double] = [0], precision: [Double] = [0]
        var tp = 0
        for (i, isTP) in ranked.enumerated() {
            if isTP { tp += 1 }
            precision.append(Double(tp) / Double(i + 1))
            recall.append(Double(tp) / Double(groundTruthCount))
        }
        recall.append(1)
        precision.append(0)
        for i in stride(from: precision.count - 2, through: 0, by: -1) {
            precision[i] = max(precision[i], precision[i + 1])
        }
        var ap = 0.0
        for i in 1..<recall.count where recall[i] != recall[i - 1] {
            ap += (recall[i] - recall[i - 1]) * precision[i]
        }
        return ap
    }
}

/// The outcome of ``AVAFrameMAP/evaluate(groundTruth:detections:classes:excluded:detectionsPerKeyframe:iouThreshold:)``.
/// APs are fractions in [0, 1].
public struct AVAFrameMAPResult: Equatable, Sendable {
    /// Mean of `perClassAP`.
    public var meanAP: Double
    /// AP of every evaluated class that has ground truth, by class id.
    public var perClassAP: [Int: Double]
    /// Evaluated classes without ground truth (left out of the mean).
    public var classesWithoutGroundTruth: [Int]
    /// Ground-truth (box, action) rows that were evaluated.
    public var groundTruthInstances: Int
    /// Detection rows ranked (after class filter, cap, exclusions and invalid boxes).
    public var detectionsEvaluated: Int
    /// Detection rows of evaluated classes beyond the 50-per-keyframe cap.
    public var detectionsDroppedByCap: Int
    /// Detection rows dropped for `x1 ≥ x2` or `y1 ≥ y2`.
    public var detectionsDroppedInvalid: Int
}

/// The rows of one keyframe under the 50-per-keyframe cap, with the official heap's
/// admission rule (see ``AVAFrameMAP``): when full, a row replaces the least
/// `(score, action_id, y1, x1, y2, x2)` tuple if its score is strictly higher.
struct CappedRows {
    var rows: [(index: Int, row: AVADetectionRow)] = []

    static func tuple(_ r: AVADetectionRow) -> (Double, Int, Double, Double, Double, Double) {
        (r.score, r.actionID, r.box.y1, r.box.x1, r.box.y2, r.box.x2)
    }

    mutating func offer(_ row: AVADetectionRow, index: Int, capacity: Int) {
        if capacity < 1 || rows.count < capacity {
            rows.append((index, row))
            return
        }
        var least = 0
        for i in 1..<rows.count where Self.tuple(rows[i].row) < Self.tuple(rows[least].row) { least = i }
        if row.score > rows[least].row.score { rows[least] = (index, row) }
    }
}
