/// AVA v2.2 spatio-temporal action detection: annotations, detections and their errors.
///
/// File formats (SPEC §3): ground truth is a header-less CSV
/// `video_id,timestamp,x1,y1,x2,y2,action_id,person_id`, one row per (box, action), with
/// coordinates normalised to [0, 1]; detections share the first seven columns and end
/// with a score; the label map is a pbtxt of `item { name: "…" id: N }` (or
/// `label { name: "…" label_id: N }`) blocks; excluded timestamps are `video_id,timestamp`.

/// One AVA keyframe (1 Hz; AVA v2.2 keyframes are seconds 902–1798 of each movie).
/// The timestamp is an integer second, so `0902` and `902` name the same keyframe, as in
/// the official evaluator's `"%s,%04d" % (video_id, int(timestamp))` key.
public struct AVAKeyframe: Hashable, Sendable, CustomStringConvertible {
    public var videoID: String
    public var timestamp: Int

    public init(videoID: String, timestamp: Int) {
        self.videoID = videoID
        self.timestamp = timestamp
    }

    public var description: String { "\(videoID),\(timestamp)" }
}

/// An axis-aligned box in normalised image coordinates: `(x1, y1)` top-left,
/// `(x2, y2)` bottom-right.
public struct AVABox: Equatable, Sendable {
    public var x1: Double, y1: Double, x2: Double, y2: Double

    public init(x1: Double, y1: Double, x2: Double, y2: Double) {
        self.x1 = x1; self.y1 = y1; self.x2 = x2; self.y2 = y2
    }

    /// Width × height, without the "+1" of pixel-inclusive conventions (the official
    /// evaluator's `np_box_ops.area`). Negative for flipped boxes, as there.
    public var area: Double { (y2 - y1) * (x2 - x1) }

    /// Whether `x1 < x2` and `y1 < y2`. The official per-image evaluation drops detections
    /// that fail this (`_remove_invalid_boxes`) after the 50-per-keyframe cap.
    public var isValid: Bool { x1 < x2 && y1 < y2 }

    /// Intersection over union (`np_box_ops.iou`); 0 when the union is not positive.
    public func iou(_ other: AVABox) -> Double {
        let h = max(0, min(y2, other.y2) - max(y1, other.y1))
        let w = max(0, min(x2, other.x2) - max(x1, other.x1))
        let intersection = h * w
        let union = area + other.area - intersection
        return union > 0 ? intersection / union : 0
    }
}

/// One ground-truth row: a person box in a keyframe with one of its actions. A person
/// doing three actions appears in three rows, one ground-truth instance of each class.
public struct AVAGroundTruthRow: Equatable, Sendable {
    public var keyframe: AVAKeyframe
    public var box: AVABox
    public var actionID: Int
    /// The eighth column (person id) as a number; 1 when the row has seven columns.
    /// The official reader stores it in the score slot and sorts each keyframe's ground
    /// truth by it, descending, which decides ties in best-IoU matching.
    public var personID: Double

    public init(keyframe: AVAKeyframe, box: AVABox, actionID: Int, personID: Double = 1) {
        self.keyframe = keyframe; self.box = box; self.actionID = actionID; self.personID = personID
    }
}

/// One detection row: a box in a keyframe scored for one action.
public struct AVADetectionRow: Equatable, Sendable {
    public var keyframe: AVAKeyframe
    public var box: AVABox
    public var actionID: Int
    /// The eighth column; 1 when the row has seven columns (as the official reader).
    public var score: Double

    public init(keyframe: AVAKeyframe, box: AVABox, actionID: Int, score: Double) {
        self.keyframe = keyframe; self.box = box; self.actionID = actionID; self.score = score
    }
}

/// An action class of a label map.
public struct AVAClass: Equatable, Sendable {
    public var id: Int
    public var name: String

    public init(id: Int, name: String) {
        self.id = id
        self.name = name
    }
}

/// The classes that are evaluated, in file order.
public struct AVALabelMap: Equatable, Sendable {
    public var classes: [AVAClass]

    public init(classes: [AVAClass]) { self.classes = classes }

    public var ids: Set<Int> { Set(classes.map(\.id)) }

    public func name(of id: Int) -> String? { classes.first { $0.id == id }?.name }

    /// The 60 classes of the AVA v2.x "for ActivityNet" label maps (SPEC §3). Only ids:
    /// names come from the pbtxt.
    public static let evaluatedClassIDs: [Int] = [
        1, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 17, 20, 22, 24, 26, 27, 28, 29, 30,
        34, 36, 37, 38, 41, 43, 45, 46, 47, 48, 49, 51, 52, 54, 56, 57, 58, 59, 60, 61, 62,
        63, 64, 65, 66, 67, 68, 69, 70, 72, 73, 74, 76, 77, 78, 79, 80,
    ]
}

/// Failures reading AVA files or evaluating them. Parse errors name the file and the
/// 1-based line.
public enum AVAError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The file could not be read at all.
    case unreadable(file: String, reason: String)
    /// A line does not have the expected shape.
    case malformedLine(file: String, line: Int, reason: String)
    /// No evaluated class has any ground-truth box, so the mean AP is undefined.
    case noGroundTruth(detail: String)
    /// An evaluated row belongs to a video outside the listed test videos.
    case unlistedVideo(videoID: String)

    public var description: String {
        switch self {
        case let .unreadable(file, reason): return "\(file): cannot read: \(reason)"
        case let .malformedLine(file, line, reason): return "\(file):\(line): \(reason)"
        case let .noGroundTruth(detail): return "AVA evaluation: no evaluated class has ground truth (\(detail))"
        case let .unlistedVideo(videoID): return "AVA evaluation: video \(videoID) has evaluated rows but is not one of the listed test videos"
        }
    }
}
