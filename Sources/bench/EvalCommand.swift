import ArgumentParser
import Foundation
import Protocols

/// `bench eval …`: score prediction files with the downstream protocols' metrics.
struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Score prediction files with the downstream protocols' metrics.",
        subcommands: [EvalAVA.self])
}

/// `bench eval ava`: AVA frame mAP at IoU 0.5, as the official ActivityNet evaluator.
struct EvalAVA: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ava",
        abstract: "AVA v2.2 frame mAP@0.5 IoU of a detections CSV against ground truth.",
        discussion: """
        Follows the official ActivityNet evaluator (get_ava_performance.py): rows of classes \
        outside the label map are ignored, at most 50 detections (the highest-scoring) are kept \
        per keyframe, excluded keyframes are dropped from both files, a detection is a true \
        positive when its best-IoU ground-truth box of the same class (IoU >= 0.5) is not yet \
        matched, AP is all-point interpolated, and mAP averages the classes that have ground \
        truth. Without --labelmap every class present in the ground truth is evaluated. Equal \
        scores are ranked in file order.
        """)

    @Option(help: "Ground-truth CSV: video_id,timestamp,x1,y1,x2,y2,action_id,person_id (normalised coordinates, no header).")
    var groundtruth: String

    @Option(help: "Detections CSV: video_id,timestamp,x1,y1,x2,y2,action_id,score.")
    var detections: String

    @Option(help: "Label map pbtxt of the evaluated classes (item { name: \"…\" id: N }).")
    var labelmap: String?

    @Option(help: "Excluded-timestamps CSV: video_id,timestamp.")
    var exclusions: String?

    @Flag(help: "Print {\"mAP\": X, \"per_class\": {\"ID\": AP, …}} (fractions in [0, 1]).")
    var json = false

    func run() throws {
        let labelMap = try labelmap.map(AVAFiles.readLabelMap)
        let truth = try AVAFiles.readGroundTruth(groundtruth)
        let detected = try AVAFiles.readDetections(detections)
        let excluded = try exclusions.map(AVAFiles.readExclusions) ?? []
        let result = try AVAFrameMAP.evaluate(groundTruth: truth, detections: detected,
                                              classes: labelMap?.ids, excluded: excluded)
        let ids = result.perClassAP.keys.sorted()
        if json {
            let perClass = ids.map { "\"\($0)\": \(result.perClassAP[$0]!)" }.joined(separator: ", ")
            print("{\"mAP\": \(result.meanAP), \"per_class\": {\(perClass)}}")
            return
        }
        print(String(format: "frame mAP@%.1fIOU: %.4f (%d classes with ground truth)",
                     AVAFrameMAP.iouThreshold, result.meanAP, ids.count))
        for id in ids {
            let name = labelMap?.name(of: id).map { "  \($0)" } ?? ""
            print(String(format: "%4d  %.4f", id, result.perClassAP[id]!) + name)
        }
        if !result.classesWithoutGroundTruth.isEmpty {
            print("no ground truth (not in the mean): " + result.classesWithoutGroundTruth.map(String.init).joined(separator: " "))
        }
        print("\(result.groundTruthInstances) ground-truth instances, \(result.detectionsEvaluated) detections ranked, "
              + "\(result.detectionsDroppedByCap) beyond 50 per keyframe, \(result.detectionsDroppedInvalid) invalid boxes")
    }
}
