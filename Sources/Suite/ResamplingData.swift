import Foundation
import Protocols

/// What a bootstrap over the test set needs to recompute a metric that is not a mean of
/// per-item values (`StageResult.resampling`, `docs/statistics.md`). Exactly one field is
/// set; in JSON, an object with that one key:
///
/// - `classMeanRecall`: per test item its label and whether it was predicted
///   (`ClassRecallItems`); the units are the items.
/// - `frameMAP`: the frame-mAP matching outcome per test video (`AVAFrameMAPUnits`); the
///   units are the videos.
public struct ResamplingData: Codable, Equatable, Sendable {
    public private(set) var classMeanRecall: ClassRecallItems?
    public private(set) var frameMAP: AVAFrameMAPUnits?

    public static func classMeanRecall(_ items: ClassRecallItems) -> ResamplingData { ResamplingData(classMeanRecall: items) }
    public static func frameMAP(_ units: AVAFrameMAPUnits) -> ResamplingData { ResamplingData(frameMAP: units) }

    private init(classMeanRecall: ClassRecallItems? = nil, frameMAP: AVAFrameMAPUnits? = nil) {
        self.classMeanRecall = classMeanRecall; self.frameMAP = frameMAP
    }

    enum CodingKeys: String, CodingKey { case classMeanRecall, frameMAP }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        classMeanRecall = try c.decodeIfPresent(ClassRecallItems.self, forKey: .classMeanRecall)
        frameMAP = try c.decodeIfPresent(AVAFrameMAPUnits.self, forKey: .frameMAP)
        guard (classMeanRecall == nil) != (frameMAP == nil) else {
            throw DecodingError.dataCorrupted(DecodingError.Context(
                codingPath: c.codingPath,
                debugDescription: "needs exactly one of classMeanRecall and frameMAP, found \(c.allKeys.isEmpty ? "none" : c.allKeys.map(\.stringValue).sorted().joined(separator: " and "))"))
        }
    }

    /// The metric on the whole test set (every unit once): what the stage stored as its value.
    public var value: Double {
        if let r = classMeanRecall { return r.classMeanRecall }
        let u = frameMAP!
        return u.meanAP(weights: [Int](repeating: 1, count: u.videos.count)) ?? .nan
    }
}

/// `resampling`, after checking that each entry recomputed on the whole test set is the
/// stored metric exactly (what the bootstrap resamples must be what the table shows).
func consistentResampling(_ resampling: [String: ResamplingData], metrics: [String: Double], stage: PlannedStage) throws
    -> [String: ResamplingData] {
    for (name, data) in resampling.sorted(by: { $0.key < $1.key }) {
        guard let stored = metrics[name], data.value == stored else {
            throw SuiteCommandError(message: "stage \(stage.key): the resampling data of \(name) gives \(data.value), not the metric's \(metrics[name].map { "\($0)" } ?? "absent value")")
        }
    }
    return resampling
}
