import Foundation
import XCTest
@testable import Protocols

/// AVA frame mAP on hand-computed cases. AP arithmetic in the comments follows the
/// official all-point interpolation: recall padded with 0 and 1, precision with 0 and 0,
/// precision made non-increasing from the right, Σ Δrecall · precision.
final class AVAFrameMAPTests: XCTestCase {
    // Boxes in normalised (x1, y1, x2, y2).
    let a = AVABox(x1: 0.1, y1: 0.1, x2: 0.3, y2: 0.3)
    let b = AVABox(x1: 0.6, y1: 0.6, x2: 0.9, y2: 0.9)
    let c = AVABox(x1: 0.4, y1: 0.0, x2: 0.5, y2: 0.2)

    func key(_ t: Int, _ video: String = "vid") -> AVAKeyframe { AVAKeyframe(videoID: video, timestamp: t) }
    func gt(_ t: Int, _ box: AVABox, _ action: Int, person: Double = 1, video: String = "vid") -> AVAGroundTruthRow {
        AVAGroundTruthRow(keyframe: key(t, video), box: box, actionID: action, personID: person)
    }
    func det(_ t: Int, _ box: AVABox, _ action: Int, _ score: Double, video: String = "vid") -> AVADetectionRow {
        AVADetectionRow(keyframe: key(t, video), box: box, actionID: action, score: score)
    }

    func testAveragePrecisionArithmetic() {
        // TP, FP, TP of 2 instances: P = 1, 1/2, 2/3; R = 1/2, 1/2, 1 →
        // monotone P at the recall steps: 1 and 2/3 → 0.5·1 + 0.5·2/3.
        XCTAssertEqual(AVAFrameMAP.averagePrecision(rankedTruePositives: [true, false, true], groundTruthCount: 2), 0.5 + 1.0 / 3, accuracy: 1e-12)
        // Missed instances cap recall: one TP of 4 → 0.25.
        XCTAssertEqual(AVAFrameMAP.averagePrecision(rankedTruePositives: [true], groundTruthCount: 4), 0.25, accuracy: 1e-12)
        // A later better precision lifts earlier points: FP, TP, TP of 2 → 0.5·2/3 + 0.5·2/3.
        XCTAssertEqual(AVAFrameMAP.averagePrecision(rankedTruePositives: [false, true, true], groundTruthCount: 2), 2.0 / 3, accuracy: 1e-12)
        XCTAssertEqual(AVAFrameMAP.averagePrecision(rankedTruePositives: [], groundTruthCount: 3), 0)
    }

    func testIoUHasNoPlusOne() throws {
        XCTAssertEqual(a.iou(a), 1)
        // Half of a box: IoU exactly 0.5 (binary fractions), which counts as a match.
        let big = AVABox(x1: 0, y1: 0, x2: 0.5, y2: 0.5), half = AVABox(x1: 0, y1: 0, x2: 0.25, y2: 0.5)
        XCTAssertEqual(big.iou(half), 0.5)
        XCTAssertEqual(try AVAFrameMAP.evaluate(groundTruth: [gt(902, big, 1)], detections: [det(902, half, 1, 0.9)]).meanAP, 1)
        // With decimal coordinates the same geometry rounds to 0.49999999999999994 in
        // numpy's order of operations (area₁ + area₂ − intersection), a miss there and here.
        let big2 = AVABox(x1: 0, y1: 0, x2: 0.4, y2: 0.5), half2 = AVABox(x1: 0, y1: 0, x2: 0.2, y2: 0.5)
        XCTAssertEqual(half2.iou(big2), 0.49999999999999994)
        XCTAssertEqual(try AVAFrameMAP.evaluate(groundTruth: [gt(902, big2, 1)], detections: [det(902, half2, 1, 0.9)]).meanAP, 0)
        XCTAssertEqual(a.iou(b), 0)
    }

    /// Every box found with its exact class, including one person with two actions
    /// (one ground-truth instance in each class) → mAP 1.
    func testPerfectDetectorScoresOne() throws {
        let truth = [gt(902, a, 1), gt(902, a, 2), gt(902, b, 1), gt(903, a, 3), gt(903, b, 3, video: "other")]
        let detections = [det(902, a, 1, 0.9), det(902, a, 2, 0.3), det(902, b, 1, 0.8),
                          det(903, a, 3, 0.7), det(903, b, 3, 0.6, video: "other")]
        let r = try AVAFrameMAP.evaluate(groundTruth: truth, detections: detections)
        XCTAssertEqual(r.meanAP, 1)
        XCTAssertEqual(r.perClassAP, [1: 1, 2: 1, 3: 1])
        XCTAssertEqual(r.groundTruthInstances, 5)
    }

    /// A second detection of an already found box is a false positive: ranked TP, FP, TP
    /// against 2 instances → 0.5 + 0.5·2/3 = 5/6.
    func testDuplicateDetectionIsAFalsePositive() throws {
        let truth = [gt(902, a, 1), gt(902, b, 1)]
        let detections = [det(902, a, 1, 0.9), det(902, a, 1, 0.8), det(902, b, 1, 0.7)]
        let r = try AVAFrameMAP.evaluate(groundTruth: truth, detections: detections)
        XCTAssertEqual(r.meanAP, 5.0 / 6, accuracy: 1e-12)
    }

    /// G1 and G2 overlap. D1 = G1 takes G1. D2's best box is G1 (IoU 0.818), already
    /// taken, so D2 is a false positive although its IoU with G2 (0.739) passes 0.5:
    /// ranked TP, FP against 2 instances → 0.5. (Falling back to G2 would give 1.)
    func testDetectionWhoseBestBoxIsTakenIsAFalsePositive() throws {
        let g1 = AVABox(x1: 0.1, y1: 0.1, x2: 0.5, y2: 0.5), g2 = AVABox(x1: 0.2, y1: 0.1, x2: 0.6, y2: 0.5)
        let d2 = AVABox(x1: 0.14, y1: 0.1, x2: 0.54, y2: 0.5)
        XCTAssertEqual(d2.iou(g1), 0.144 / 0.176, accuracy: 1e-9)
        XCTAssertEqual(d2.iou(g2), 0.136 / 0.184, accuracy: 1e-9)
        let r = try AVAFrameMAP.evaluate(groundTruth: [gt(902, g1, 1), gt(902, g2, 1)],
                                         detections: [det(902, g1, 1, 0.9), det(902, d2, 1, 0.8)])
        XCTAssertEqual(r.meanAP, 0.5, accuracy: 1e-12)
    }

    /// Equal scores rank in file order (the official order is numpy's unstable sort).
    func testScoreTiesKeepFileOrder() throws {
        // Same keyframe: FP (box b) listed before TP (box a) → FP, TP → 0.5; swapped → 1.
        let truth = [gt(902, a, 1)]
        XCTAssertEqual(try AVAFrameMAP.evaluate(groundTruth: truth, detections: [det(902, b, 1, 0.5), det(902, a, 1, 0.5)]).meanAP, 0.5)
        XCTAssertEqual(try AVAFrameMAP.evaluate(groundTruth: truth, detections: [det(902, a, 1, 0.5), det(902, b, 1, 0.5)]).meanAP, 1)
        // Across keyframes: keyframe 905 appears first in the file, so its FP ranks first.
        let truth2 = [gt(902, a, 1)]
        let across = [det(905, a, 1, 0.5), det(902, a, 1, 0.5)]
        XCTAssertEqual(try AVAFrameMAP.evaluate(groundTruth: truth2, detections: across).meanAP, 0.5)
    }

    /// Classes without ground truth are left out of the mean; a class with ground truth
    /// and no detection counts as 0; rows of classes outside the label map are ignored.
    func testClassesWithoutGroundTruthAreNotAveraged() throws {
        let truth = [gt(902, a, 1), gt(902, b, 3), gt(902, c, 7)]
        let detections = [det(902, a, 1, 0.9), det(902, b, 2, 0.95), det(902, a, 7, 0.99)]
        let r = try AVAFrameMAP.evaluate(groundTruth: truth, detections: detections, classes: [1, 2, 3, 4])
        // Class 1: AP 1; class 3: no detection, AP 0; classes 2 and 4: no ground truth;
        // class 7 is not evaluated at all.
        XCTAssertEqual(r.perClassAP, [1: 1, 3: 0])
        XCTAssertEqual(r.meanAP, 0.5)
        XCTAssertEqual(r.classesWithoutGroundTruth, [2, 4])
        XCTAssertEqual(r.groundTruthInstances, 2)
        // Without a label map the classes are those of the ground truth: 1, 3, 7.
        let all = try AVAFrameMAP.evaluate(groundTruth: truth, detections: detections)
        XCTAssertEqual(all.perClassAP, [1: 1, 3: 0, 7: 0])
        XCTAssertThrowsError(try AVAFrameMAP.evaluate(groundTruth: truth, detections: detections, classes: [2, 4])) {
            guard case AVAError.noGroundTruth = $0 else { return XCTFail("\($0)") }
        }
    }

    /// Excluded keyframes drop out of both ground truth and detections. Without the
    /// exclusion: FP 0.99 and TP 0.95 in 903, TP 0.9 in 902 → 0.5·2/3 + 0.5·2/3 = 2/3.
    func testExcludedKeyframesAreDropped() throws {
        let truth = [gt(902, a, 1), gt(903, b, 1)]
        let detections = [det(902, a, 1, 0.9), det(903, b, 1, 0.95), det(903, c, 1, 0.99)]
        XCTAssertEqual(try AVAFrameMAP.evaluate(groundTruth: truth, detections: detections).meanAP, 2.0 / 3, accuracy: 1e-12)
        let r = try AVAFrameMAP.evaluate(groundTruth: truth, detections: detections, excluded: [key(903)])
        XCTAssertEqual(r.meanAP, 1)
        XCTAssertEqual(r.groundTruthInstances, 1)
        XCTAssertEqual(r.detectionsEvaluated, 1)
    }

    /// Detections in keyframes without any ground truth are false positives.
    func testDetectionsInKeyframesWithoutGroundTruthAreFalsePositives() throws {
        let r = try AVAFrameMAP.evaluate(groundTruth: [gt(902, a, 1)], detections: [det(910, a, 1, 0.9), det(902, a, 1, 0.8)])
        XCTAssertEqual(r.meanAP, 0.5)
    }

    /// Flipped boxes are dropped, not counted as false positives.
    func testInvalidDetectionBoxesAreDropped() throws {
        let flipped = AVABox(x1: 0.3, y1: 0.1, x2: 0.1, y2: 0.3)
        let r = try AVAFrameMAP.evaluate(groundTruth: [gt(902, a, 1)], detections: [det(902, flipped, 1, 0.9), det(902, a, 1, 0.8)])
        XCTAssertEqual(r.meanAP, 1)
        XCTAssertEqual(r.detectionsDroppedInvalid, 1)
    }

    /// At most 50 detection rows per keyframe, over all classes, the highest-scoring.
    func testFiftyDetectionsPerKeyframe() throws {
        let truth = [gt(902, a, 1), gt(902, b, 2)]
        // The true positive of class 1 comes first but scores lowest; 50 class-2 false
        // positives (box c) follow with higher scores and push it out.
        var detections = [det(902, a, 1, 0.1)]
        for i in 0..<50 { detections.append(det(902, c, 2, 0.2 + Double(i) / 100)) }
        let capped = try AVAFrameMAP.evaluate(groundTruth: truth, detections: detections)
        XCTAssertEqual(capped.perClassAP[1], 0)
        XCTAssertEqual(capped.detectionsDroppedByCap, 1)
        let uncapped = try AVAFrameMAP.evaluate(groundTruth: truth, detections: detections, detectionsPerKeyframe: 0)
        XCTAssertEqual(uncapped.perClassAP[1], 1)

        // A row whose score only equals the least kept score does not get in.
        var ties = (0..<50).map { _ in det(902, c, 2, 0.5) }
        ties.append(det(902, a, 1, 0.5))
        XCTAssertEqual(try AVAFrameMAP.evaluate(groundTruth: truth, detections: ties).perClassAP[1], 0)
        ties[50].score = 0.51
        XCTAssertEqual(try AVAFrameMAP.evaluate(groundTruth: truth, detections: ties).perClassAP[1], 1)

        // Rows of classes that are not evaluated do not take places; the cap is per keyframe.
        var other = (0..<60).map { i in det(902, c, 9, 0.9 + Double(i) / 1000) }
        other += (0..<60).map { i in det(903, c, 2, 0.9 + Double(i) / 1000) }
        other.append(det(902, a, 1, 0.1))
        XCTAssertEqual(try AVAFrameMAP.evaluate(groundTruth: truth, detections: other, classes: [1, 2]).perClassAP[1], 1)
    }

    /// Ground-truth boxes of a keyframe are ordered by person id, descending, as the
    /// official reader leaves them: a detection at equal IoU with two boxes takes the one
    /// of the higher person id. Here the second detection then still finds its box.
    func testEqualIoUPicksTheOfficialGroundTruthOrder() throws {
        // Binary fractions, so both IoUs are exactly 0.6.
        let left = AVABox(x1: 0, y1: 0, x2: 0.5, y2: 0.5), right = AVABox(x1: 0.25, y1: 0, x2: 0.75, y2: 0.5)
        let middle = AVABox(x1: 0.125, y1: 0, x2: 0.625, y2: 0.5)
        XCTAssertEqual(middle.iou(left), 0.6)
        XCTAssertEqual(middle.iou(right), 0.6)
        // middle (0.9) takes the box of person 7 (right); left (0.8) then takes left → AP 1.
        let truth = [gt(902, left, 1, person: 3), gt(902, right, 1, person: 7)]
        let detections = [det(902, middle, 1, 0.9), det(902, left, 1, 0.8)]
        XCTAssertEqual(try AVAFrameMAP.evaluate(groundTruth: truth, detections: detections).meanAP, 1)
        // With the person ids swapped, middle takes left and the left detection is a
        // duplicate: TP, FP of 2 → 0.5.
        let swapped = [gt(902, left, 1, person: 7), gt(902, right, 1, person: 3)]
        XCTAssertEqual(try AVAFrameMAP.evaluate(groundTruth: swapped, detections: detections).meanAP, 0.5)
    }
}

/// The whole pipeline (readers, class filter, cap, exclusions, invalid boxes, matching,
/// AP) against an independent numpy implementation of the official evaluator on a random
/// problem (`Fixtures/generate_ava.py`; distinct scores, so tie order plays no part).
final class AVAOfficialCrossCheckTests: XCTestCase {
    func fixture(_ name: String) -> String { fixturesDirectory.appendingPathComponent(name).path }

    func testMatchesReferenceImplementation() throws {
        let labels = try AVAFiles.readLabelMap(fixture("ava_labelmap.pbtxt"))
        let truth = try AVAFiles.readGroundTruth(fixture("ava_groundtruth.csv"))
        let detections = try AVAFiles.readDetections(fixture("ava_detections.csv"))
        let excluded = try AVAFiles.readExclusions(fixture("ava_exclusions.csv"))
        let expected = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: fixture("ava_expected.json")))) as? [String: Any])
        let expectedPerClass = try XCTUnwrap(expected["per_class"] as? [String: Double])

        let r = try AVAFrameMAP.evaluate(groundTruth: truth, detections: detections, classes: labels.ids, excluded: excluded)
        XCTAssertEqual(r.meanAP, try XCTUnwrap(expected["mAP"] as? Double), accuracy: 1e-12)
        XCTAssertEqual(Set(r.perClassAP.keys.map(String.init)), Set(expectedPerClass.keys))
        for (id, ap) in r.perClassAP { XCTAssertEqual(ap, expectedPerClass[String(id)] ?? -1, accuracy: 1e-12, "class \(id)") }
        XCTAssertEqual(r.classesWithoutGroundTruth, [9])
        // The problem exercises the cap, the exclusions and the invalid-box rule.
        XCTAssertGreaterThan(r.detectionsDroppedByCap, 0)
        XCTAssertGreaterThan(r.detectionsDroppedInvalid, 0)
        let uncapped = try AVAFrameMAP.evaluate(groundTruth: truth, detections: detections, classes: labels.ids,
                                                excluded: excluded, detectionsPerKeyframe: 0)
        XCTAssertNotEqual(uncapped.meanAP, r.meanAP, accuracy: 1e-6)
        let unexcluded = try AVAFrameMAP.evaluate(groundTruth: truth, detections: detections, classes: labels.ids)
        XCTAssertNotEqual(unexcluded.meanAP, r.meanAP, accuracy: 1e-6)
    }
}

/// The per-video matching outcome (`AVAFrameMAPUnits`) and the mAP of a resample of the
/// test videos recomputed from it, against hand-computed values and against evaluating the
/// resampled files afresh.
final class AVAFrameMAPUnitsTests: XCTestCase {
    let a = AVABox(x1: 0.1, y1: 0.1, x2: 0.3, y2: 0.3)
    let b = AVABox(x1: 0.6, y1: 0.6, x2: 0.9, y2: 0.9)
    let c = AVABox(x1: 0.4, y1: 0.0, x2: 0.5, y2: 0.2)

    func gt(_ video: String, _ box: AVABox, _ action: Int) -> AVAGroundTruthRow {
        AVAGroundTruthRow(keyframe: AVAKeyframe(videoID: video, timestamp: 902), box: box, actionID: action)
    }
    func det(_ video: String, _ box: AVABox, _ action: Int, _ score: Double) -> AVADetectionRow {
        AVADetectionRow(keyframe: AVAKeyframe(videoID: video, timestamp: 902), box: box, actionID: action, score: score)
    }

    /// Two videos. Class 1: v1 has box a, v2 box b; detections v1·a 0.9 (TP), v2·a 0.8 (FP),
    /// v1·c 0.7 (FP), v2·b 0.6 (TP). Class 2: v2 has box c; detections v1·a 0.85 (FP), v2·c 0.5 (TP).
    func tiny() throws -> AVAFrameMAPResult {
        try AVAFrameMAP.evaluate(groundTruth: [gt("v1", a, 1), gt("v2", b, 1), gt("v2", c, 2)],
                                 detections: [det("v1", a, 1, 0.9), det("v1", c, 1, 0.7), det("v1", a, 2, 0.85),
                                              det("v2", a, 1, 0.8), det("v2", b, 1, 0.6), det("v2", c, 2, 0.5)],
                                 classes: [1, 2], videos: ["v1", "v2"])
    }

    func testLayoutOfTheTinyCase() throws {
        let u = try tiny().units
        XCTAssertEqual(u.videos, ["v1", "v2"])
        // Class 1 ranked TP v1, FP v2, FP v1, TP v2 → 2·0+1, 2·1, 2·0, 2·1+1.
        XCTAssertEqual(u.classes, [AVAFrameMAPUnits.Class(id: 1, groundTruth: [1, 1], ranked: [1, 2, 0, 3]),
                                   AVAFrameMAPUnits.Class(id: 2, groundTruth: [0, 1], ranked: [0, 3])])
    }

    /// By hand (AP: Σ Δrecall · precision made non-increasing from the right):
    /// - whole set: class 1 TP FP FP TP of 2 → 0.5·1 + 0.5·0.5 = 0.75; class 2 FP TP of 1 →
    ///   0.5; mAP 0.625.
    /// - v1 drawn twice: class 1 TP TP FP FP of 2 → 1; class 2 has no instance and drops
    ///   out; mAP 1.
    /// - v2 drawn twice: class 1 FP FP TP TP of 2 → 0.5·0.5 + 0.5·0.5 = 0.5; class 2 TP TP
    ///   of 2 → 1; mAP 0.75.
    /// - weights (1, 2): class 1 TP FP FP FP TP TP of 3: precision 1, ½, ⅓, ¼, ⅖, ½ →
    ///   ⅓·1 + ⅓·½ + ⅓·½ = ⅔; class 2 FP TP TP of 2: precision 0, ½, ⅔ → ½·⅔ + ½·⅔ = ⅔;
    ///   mAP ⅔.
    func testResampledMAPByHand() throws {
        let r = try tiny()
        XCTAssertEqual(r.meanAP, 0.625, accuracy: 1e-12)
        XCTAssertEqual(r.units.meanAP(weights: [1, 1]), r.meanAP, "every weight 1 is the evaluated mAP, bit for bit")
        XCTAssertEqual(try XCTUnwrap(r.units.meanAP(weights: [2, 0])), 1, accuracy: 1e-12)
        XCTAssertEqual(try XCTUnwrap(r.units.meanAP(weights: [0, 2])), 0.75, accuracy: 1e-12)
        XCTAssertEqual(try XCTUnwrap(r.units.meanAP(weights: [1, 2])), 2.0 / 3, accuracy: 1e-12)
        XCTAssertNil(r.units.meanAP(weights: [0, 0]), "no instance in the resample: undefined")
        // A video with no rows is still a unit (its draws add nothing but take a place).
        let padded = try AVAFrameMAP.evaluate(groundTruth: [gt("v1", a, 1), gt("v2", b, 1), gt("v2", c, 2)],
                                              detections: [det("v1", a, 1, 0.9)], classes: [1, 2], videos: ["v0", "v1", "v2"])
        XCTAssertEqual(padded.units.videos, ["v0", "v1", "v2"])
        XCTAssertEqual(padded.units.classes.map(\.groundTruth), [[0, 1, 1], [0, 0, 1]])
        XCTAssertNil(padded.units.meanAP(weights: [3, 0, 0]))
    }

    func testRowsOfAnUnlistedVideoAreAnError() {
        XCTAssertThrowsError(try AVAFrameMAP.evaluate(groundTruth: [gt("v1", a, 1)], detections: [det("v9", a, 1, 0.5)],
                                                      videos: ["v1"])) {
            XCTAssertEqual($0 as? AVAError, .unlistedVideo(videoID: "v9"))
        }
    }

    /// Units round-trip through JSON; a stored layout that does not fit is refused with the key named.
    func testUnitsRoundTripAndBadLayoutsAreRefused() throws {
        let u = try tiny().units
        let data = try JSONEncoder().encode(u)
        XCTAssertEqual(try JSONDecoder().decode(AVAFrameMAPUnits.self, from: data), u)
        let bad = [
            #"{"videos": ["v1"], "classes": [{"id": 1, "groundTruth": [1], "ranked": [2]}]}"#,  // video 1 of 1
            #"{"videos": ["v1"], "classes": [{"id": 1, "groundTruth": [1, 0], "ranked": []}]}"#,  // 2 counts
            #"{"videos": ["v1"], "classes": [{"id": 1, "groundTruth": [1], "ranked": [1, 1]}]}"#,  // 2 TPs of 1
            #"{"videos": ["v1"], "classes": [{"id": 1, "groundTruth": [0], "ranked": []}]}"#,  // no instance
            #"{"videos": ["v1", "v1"], "classes": []}"#,
            #"{"videos": ["v1"], "classes": [{"id": 2, "groundTruth": [1], "ranked": []}, {"id": 1, "groundTruth": [1], "ranked": []}]}"#,
        ]
        for text in bad {
            XCTAssertThrowsError(try JSONDecoder().decode(AVAFrameMAPUnits.self, from: Data(text.utf8)), text) { error in
                guard case DecodingError.dataCorrupted(let context) = error else { return XCTFail("\(error)") }
                XCTAssertEqual(context.codingPath.map(\.stringValue), ["classes"], text)
                XCTAssertTrue(context.debugDescription.contains("frame-mAP units"), context.debugDescription)
            }
        }
    }

    /// On the cross-check fixture (4 videos, one with detections only; cap, exclusions and
    /// invalid boxes at work; distinct scores): the mAP recomputed for a resample equals
    /// evaluating afresh the files in which each drawn video appears once per draw under a
    /// new id. (Copies of a detection tie only with each other and share their status, so
    /// their order cannot matter.)
    func testRecomputedMAPEqualsEvaluatingTheResampledFiles() throws {
        func fixture(_ name: String) -> String { fixturesDirectory.appendingPathComponent(name).path }
        let labels = try AVAFiles.readLabelMap(fixture("ava_labelmap.pbtxt"))
        let truth = try AVAFiles.readGroundTruth(fixture("ava_groundtruth.csv"))
        let detections = try AVAFiles.readDetections(fixture("ava_detections.csv"))
        let excluded = try AVAFiles.readExclusions(fixture("ava_exclusions.csv"))
        let r = try AVAFrameMAP.evaluate(groundTruth: truth, detections: detections, classes: labels.ids, excluded: excluded)
        let units = r.units
        XCTAssertEqual(units.videos, ["clipA_x1", "clipB-y2", "clipC_z3", "clipD_none"])
        XCTAssertEqual(units.meanAP(weights: [1, 1, 1, 1]), r.meanAP)

        // Draws: fixed ones, then ones from a fixed linear congruential sequence.
        var draws: [[Int]] = [[0, 0, 0, 0], [3, 3, 2, 1], [1, 1, 2, 2], [2, 0, 3, 0]]
        var state: UInt64 = 12345
        for _ in 0..<12 {
            draws.append((0..<4).map { _ in
                state = state &* 6364136223846793005 &+ 1442695040888963407
                return Int(state >> 33) % 4
            })
        }
        for draw in draws {
            var weights = [0, 0, 0, 0]
            for v in draw { weights[v] += 1 }
            func copies<R>(_ rows: [R], _ key: (R) -> AVAKeyframe, _ rekey: (R, AVAKeyframe) -> R) -> [R] {
                draw.enumerated().flatMap { position, v in
                    rows.filter { key($0).videoID == units.videos[v] }.map {
                        rekey($0, AVAKeyframe(videoID: "\(units.videos[v])#\(position)", timestamp: key($0).timestamp))
                    }
                }
            }
            let t = copies(truth, \.keyframe) { var r = $0; r.keyframe = $1; return r }
            let d = copies(detections, \.keyframe) { var r = $0; r.keyframe = $1; return r }
            let x = Set(draw.enumerated().flatMap { position, v in
                excluded.filter { $0.videoID == units.videos[v] }.map { AVAKeyframe(videoID: "\($0.videoID)#\(position)", timestamp: $0.timestamp) }
            })
            let recomputed = units.meanAP(weights: weights)
            guard t.contains(where: { labels.ids.contains($0.actionID) && !x.contains($0.keyframe) }) else {
                XCTAssertNil(recomputed, "\(draw)"); continue
            }
            let fresh = try AVAFrameMAP.evaluate(groundTruth: t, detections: d, classes: labels.ids, excluded: x)
            XCTAssertEqual(try XCTUnwrap(recomputed, "\(draw)"), fresh.meanAP, accuracy: 1e-12, "draw \(draw)")
        }
    }
}
