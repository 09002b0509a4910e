import Foundation

/// The two splits every dataset is read as. Kinetics' `val` CSV, AVA's `val` CSV and
/// Epic's held-out videos play the part of `test`.
public enum SplitName: String, Codable, Sendable, CaseIterable {
    case train, test
}

/// One labelled person box at an AVA keyframe: coordinates normalised to [0, 1]
/// (`x1 < x2`, `y1 < y2`), every action id annotated for it (AVA ids, 1-based).
public struct AVABox: Codable, Sendable, Equatable {
    public var x1: Double, y1: Double, x2: Double, y2: Double
    public var actions: [Int]
    /// `person_id` (-1 when the file gives none); -1 for proposals.
    public var personID: Int
    /// Detector score for proposals; nil for ground truth.
    public var score: Double?

    public init(x1: Double, y1: Double, x2: Double, y2: Double, actions: [Int], personID: Int = -1, score: Double? = nil) {
        self.x1 = x1; self.y1 = y1; self.x2 = x2; self.y2 = y2
        self.actions = actions
        self.personID = personID
        self.score = score
    }
}

/// An AVA keyframe: second `second` of the movie (902–1798), shown by frame
/// `frameIndex = (second − 900) · 30` (0-based) of the extracted 30 fps frames.
public struct AVAKeyframe: Codable, Sendable, Equatable {
    public var second: Int
    public var frameIndex: Int
    public var boxes: [AVABox]
    /// Person proposals (detector boxes with scores), when a proposals file is given.
    public var proposals: [AVABox]

    public init(second: Int, frameIndex: Int, boxes: [AVABox], proposals: [AVABox] = []) {
        self.second = second; self.frameIndex = frameIndex; self.boxes = boxes; self.proposals = proposals
    }
}

/// One Epic-Kitchens action segment. Times in seconds from the video start.
public struct EpicSegment: Codable, Sendable, Equatable {
    public var uid: Int
    public var narration: String
    public var start: Double
    public var stop: Double
    /// Frame numbers as given in the CSV (1-based, at the video's rate).
    public var startFrame: Int
    public var stopFrame: Int
    public var verb: Int
    public var noun: Int

    public init(uid: Int, narration: String, start: Double, stop: Double, startFrame: Int, stopFrame: Int, verb: Int, noun: Int) {
        self.uid = uid; self.narration = narration; self.start = start; self.stop = stop
        self.startFrame = startFrame; self.stopFrame = stopFrame; self.verb = verb; self.noun = noun
    }
}

/// One video of a dataset split, as the adapters produce it.
public struct VideoRecord: Codable, Sendable, Equatable {
    /// Unique within the dataset (e.g. `ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01`, an AVA
    /// movie id, `P01_01`); also the clip-cache key.
    public var id: String
    /// The video file, or the folder of JPEG frames.
    public var source: String
    /// Whether `source` is a JPEG frame folder (AVA, Epic) rather than a video file.
    public var isFrameFolder: Bool
    /// Class index (0-based) for single-label datasets; nil for AVA and Epic.
    public var label: Int?
    /// Frame rate of the source when the annotation fixes it (AVA 30, Epic per video);
    /// nil when the file itself says.
    public var fps: Double?
    /// AVA keyframes with boxes (excluded timestamps removed).
    public var keyframes: [AVAKeyframe]
    /// AVA seconds listed in the excluded-timestamps file.
    public var excludedSeconds: [Int]
    /// Epic action segments, sorted by start time.
    public var segments: [EpicSegment]

    public init(id: String, source: String, isFrameFolder: Bool = false, label: Int? = nil, fps: Double? = nil,
                keyframes: [AVAKeyframe] = [], excludedSeconds: [Int] = [], segments: [EpicSegment] = []) {
        self.id = id
        self.source = source
        self.isFrameFolder = isFrameFolder
        self.label = label
        self.fps = fps
        self.keyframes = keyframes
        self.excludedSeconds = excludedSeconds
        self.segments = segments
    }

}

/// A dataset split read by an adapter: its records and the class names (index = label).
public struct DatasetSplit: Sendable, Equatable {
    public var dataset: String
    public var format: DatasetFormat
    public var split: SplitName
    public var records: [VideoRecord]
    /// Class names by label: UCF/HMDB/Kinetics classes, AVA action names by id (in
    /// `actionNames`), Epic verbs.
    public var classes: [String]
    /// AVA: action id → name from the label map.
    public var actionNames: [Int: String]
    /// Epic: noun class names by id.
    public var nouns: [String]

    public init(dataset: String, format: DatasetFormat, split: SplitName, records: [VideoRecord],
                classes: [String], actionNames: [Int: String] = [:], nouns: [String] = []) {
        self.dataset = dataset
        self.format = format
        self.split = split
        self.records = records
        self.classes = classes
        self.actionNames = actionNames
        self.nouns = nouns
    }

    /// Number of distinct classes present in the split's labels (AVA: actions; Epic: verbs).
    public var classesPresent: Int {
        switch format {
        case .ava: return Set(records.flatMap { $0.keyframes.flatMap { $0.boxes.flatMap(\.actions) } }).count
        case .epic55: return Set(records.flatMap { $0.segments.map(\.verb) }).count
        default: return Set(records.compactMap(\.label)).count
        }
    }

    /// AVA: labelled boxes (one per person per keyframe).
    public var boxCount: Int { records.reduce(0) { $0 + $1.keyframes.reduce(0) { $0 + $1.boxes.count } } }
    /// AVA: keyframes.
    public var keyframeCount: Int { records.reduce(0) { $0 + $1.keyframes.count } }
    /// Epic: action segments.
    public var segmentCount: Int { records.reduce(0) { $0 + $1.segments.count } }
}
