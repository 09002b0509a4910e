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
    ///   - videos: the test videos, the units of `AVAFrameMAPResult/units` (a bootstrap
    ///     resamples them); nil for the videos of the evaluated rows, ground truth first, in
    ///     order of first appearance. A listed video may have no rows.
    /// - Throws: ``AVAError/noGroundTruth(detail:)`` when no evaluated class has ground truth;
    ///   ``AVAError/unlistedVideo(videoID:)`` when an evaluated row's video is not in `videos`.
    public static func evaluate(groundTruth: [AVAGroundTruthRow], detections: [AVADetectionRow],
                                classes: Set<Int>? = nil, excluded: Set<AVAKeyframe> = [],
                                detectionsPerKeyframe cap: Int = detectionsPerKeyframe,
                                iouThreshold: Double = iouThreshold, videos: [String]? = nil) throws -> AVAFrameMAPResult {
        let evaluated = classes ?? Set(groundTruth.map(\.actionID))
        // The resampling units: each evaluated row's video by its index.
        var unitIDs = videos ?? []
        var unitIndex: [String: Int] = [:]
        for (i, v) in unitIDs.enumerated() where unitIndex[v] == nil { unitIndex[v] = i }
        func unit(_ key: AVAKeyframe) throws -> Int {
            if let i = unitIndex[key.videoID] { return i }
            guard videos == nil else { throw AVAError.unlistedVideo(videoID: key.videoID) }
            unitIndex[key.videoID] = unitIDs.count
            unitIDs.append(key.videoID)
            return unitIDs.count - 1
        }

        // Ground truth: filter, group by keyframe, order each keyframe's rows.
        var gtByKeyframe: [AVAKeyframe: [AVAGroundTruthRow]] = [:]
        for row in groundTruth where evaluated.contains(row.actionID) && !excluded.contains(row.keyframe) {
            gtByKeyframe[row.keyframe, default: []].append(row)
        }
        var instances: [Int: Int] = [:]
        // Units in order of first appearance: ground-truth rows first, then detections.
        for row in groundTruth where gtByKeyframe[row.keyframe] != nil { _ = try unit(row.keyframe) }
        var unitInstances: [Int: [Int: Int]] = [:]  // class → unit → instances
        for key in gtByKeyframe.keys {
            // Stable sort: Swift's `sort` is stable (introsort was replaced by a stable
            // merge sort in Swift 5), and the index is part of the key regardless.
            let rows = gtByKeyframe[key]!.enumerated().sorted {
                ($0.element.personID, -$0.offset) > ($1.element.personID, -$1.offset)
            }.map(\.element)
            gtByKeyframe[key] = rows
            let u = try unit(key)
            for row in rows {
                instances[row.actionID, default: 0] += 1
                unitInstances[row.actionID, default: [:]][u, default: 0] += 1
            }
        }

        // Detections: filter by class, cap per keyframe, drop excluded keyframes.
        var order: [AVAKeyframe] = []
        var kept: [AVAKeyframe: CappedRows] = [:]
        for (index, row) in detections.enumerated() where evaluated.contains(row.actionID) {
            if kept[row.keyframe] == nil { order.append(row.keyframe); kept[row.keyframe] = CappedRows() }
            kept[row.keyframe]!.offer(row, index: index, capacity: cap)
        }

        // Match per keyframe and class; collect (score, true positive, unit) per class.
        var scored: [Int: [(score: Double, truePositive: Bool, unit: Int)]] = [:]
        var keptCount = 0, droppedInvalid = 0
        for key in order where !excluded.contains(key) {
            let u = try unit(key)
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
                scored[row.actionID, default: []].append((row.score, truePositive, u))
            }
        }

        var perClass: [Int: Double] = [:]
        // Per class: instances per unit and the ranking as units (every unit is known by now).
        var unitClasses: [AVAFrameMAPUnits.Class] = []
        for (id, count) in instances.sorted(by: { $0.key < $1.key }) {
            // Descending score; ties in the order the official per-keyframe lists are
            // concatenated (keyframe of first appearance, then within-keyframe order).
            let ranked = (scored[id] ?? []).enumerated().sorted {
                ($0.element.score, -$0.offset) > ($1.element.score, -$1.offset)
            }.map(\.element)
            perClass[id] = averagePrecision(rankedTruePositives: ranked.map(\.truePositive), groundTruthCount: count)
            let perUnit = unitInstances[id]!
            unitClasses.append(AVAFrameMAPUnits.Class(id: id, groundTruth: unitIDs.indices.map { perUnit[$0] ?? 0 },
                                                      ranked: ranked.map { 2 * $0.unit + ($0.truePositive ? 1 : 0) }))
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
                                 detectionsDroppedInvalid: droppedInvalid,
                                 units: try AVAFrameMAPUnits(videos: unitIDs, classes: unitClasses))
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
    /// The matching outcome per test video, from which the mAP of any resample of the
    /// videos follows without matching again (`AVAFrameMAPUnits`).
    public var units: AVAFrameMAPUnits
}

/// What frame mAP is computed from once detections are matched, kept per test video so a
/// bootstrap can resample the videos and recompute the mAP (`docs/statistics.md`). A
/// detection's true- or false-positive status depends only on its own keyframe (the
/// 50-per-keyframe cap and the matching are per keyframe), so it does not change when
/// videos are resampled; only the ranking a class's AP is taken over and its ground-truth
/// count do.
///
/// Layout (as stored in a stage result's JSON):
///
/// - `videos`: the units, video ids, indexed 0..<V.
/// - `classes`: one entry per evaluated class with at least one ground-truth instance in
///   the whole test set, ascending `id`:
///   - `groundTruth`: V counts, the class's ground-truth (box, action) rows in each video;
///   - `ranked`: the class's scored detections in the evaluator's ranking order (descending
///     score, ties as `AVAFrameMAP` orders them), each as the integer `2 · v + t`, v the
///     video's index and t 1 for a true positive, 0 for a false positive.
///
/// A resample gives video v the weight w_v (how often it was drawn). Class c's ranking in
/// the resample is `ranked` with each detection of video v repeated w_v times in place
/// (dropped when w_v = 0), its instance count G_c = Σ_v w_v · groundTruth_c[v], and
///
///     mAP = (1 / |C|) Σ_{c: G_c > 0} AP(ranking_c, G_c),
///
/// AP as ``AVAFrameMAP/averagePrecision(rankedTruePositives:groundTruthCount:)``, classes
/// summed in ascending id. With every weight 1 this is exactly the evaluated mAP. Copies of
/// a drawn video keep the ranking's order, next to each other; evaluating the resampled
/// files afresh would order copies with exactly equal scores by file position instead,
/// which changes the AP only where such a tie mixes true and false positives.
public struct AVAFrameMAPUnits: Codable, Equatable, Sendable {
    public struct Class: Codable, Equatable, Sendable {
        public var id: Int
        public var groundTruth: [Int]
        public var ranked: [Int]
        public init(id: Int, groundTruth: [Int], ranked: [Int]) { self.id = id; self.groundTruth = groundTruth; self.ranked = ranked }
    }
    public let videos: [String]
    public let classes: [Class]

    /// Checks the layout: distinct videos, V ground-truth counts per class, each ≥ 0 and at least one
    /// instance per class, ascending distinct ids, ranked entries in 0..<2V, and no video
    /// with more true positives of a class than instances.
    public init(videos: [String], classes: [Class]) throws {
        func bad(_ message: String) -> MetricError { .shapeMismatch("frame-mAP units: \(message)") }
        var seen = Set<String>()
        if let dup = videos.first(where: { !seen.insert($0).inserted }) { throw bad("video \(dup) is listed twice") }
        for (i, c) in classes.enumerated() {
            if i > 0, classes[i - 1].id >= c.id { throw bad("class ids must ascend, \(classes[i - 1].id) before \(c.id)") }
            guard c.groundTruth.count == videos.count else {
                throw bad("class \(c.id) has \(c.groundTruth.count) ground-truth counts for \(videos.count) videos")
            }
            guard c.groundTruth.allSatisfy({ $0 >= 0 }), c.groundTruth.reduce(0, +) > 0 else {
                throw bad("class \(c.id) needs non-negative ground-truth counts and at least one instance")
            }
            var truePositives = [Int](repeating: 0, count: videos.count)
            for e in c.ranked {
                guard e >= 0, e / 2 < videos.count else { throw bad("class \(c.id) ranks entry \(e), outside 0..<\(2 * videos.count)") }
                truePositives[e / 2] += e % 2
            }
            if let v = videos.indices.first(where: { truePositives[$0] > c.groundTruth[$0] }) {
                throw bad("class \(c.id) has \(truePositives[v]) true positives in video \(videos[v]) with \(c.groundTruth[v]) instances")
            }
        }
        self.videos = videos; self.classes = classes
    }

    enum CodingKeys: String, CodingKey { case videos, classes }

    /// Decodes and checks the layout as `init(videos:classes:)` does; a failure names the key.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let videos = try c.decode([String].self, forKey: .videos), classes = try c.decode([Class].self, forKey: .classes)
        do { try self.init(videos: videos, classes: classes) } catch {
            throw DecodingError.dataCorruptedError(forKey: .classes, in: c, debugDescription: "\(error)")
        }
    }

    /// The mAP with video weights (`weights.count == videos.count`), by the formula above;
    /// nil when no class has an instance in the weighted videos.
    public func meanAP(weights: [Int]) -> Double? {
        precondition(weights.count == videos.count, "one weight per video")
        var sum = 0.0, n = 0
        var ranking: [Bool] = []
        for c in classes {
            var instances = 0
            for (v, g) in c.groundTruth.enumerated() { instances += weights[v] * g }
            guard instances > 0 else { continue }
            ranking.removeAll(keepingCapacity: true)
            for e in c.ranked {
                let w = weights[e / 2]
                for _ in 0..<w { ranking.append(e % 2 == 1) }
            }
            sum += AVAFrameMAP.averagePrecision(rankedTruePositives: ranking, groundTruthCount: instances)
            n += 1
        }
        return n == 0 ? nil : sum / Double(n)
    }
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
