import Foundation
import Media

/// What a finished stage stored: its metrics and everything needed to trust and reuse them.
public struct StageResult: Codable, Sendable, Equatable {
    public var identity: String
    public var suite: String
    public var stage: String
    public var kind: String
    public var key: String
    public var axes: [String: String]
    public var params: Params
    public var dataset: String?
    public var inputs: [String]
    public var codeVersion: String
    /// Metric name → value (fractions for accuracies and mAP).
    public var metrics: [String: Double]
    /// Artifact name → path relative to the stage's directory (checkpoints, figures).
    public var artifacts: [String: String]
    /// Counts such as `samples`, `skipped_bad_videos`.
    public var counts: [String: Int]
    public var seed: Int
    public var configHash: String
    /// SHA-256 of the main checkpoint this stage wrote or read, if any.
    public var checkpointHash: String?
    public var wallSeconds: Double
    public var startedAt: String
    public var finishedAt: String
    public var scale: String
    public var machine: String
    /// Per metric, the per-test-item values whose mean it is (see `StageOutcome.perItem`);
    /// empty in results stored before it was recorded.
    @EmptyIfAbsent public var perItem: [String: [Double]]
    /// The number of data-parallel ranks the stage ran on; absent (nil) for one process.
    public var ranks: Int? = nil
    /// The Slurm job that ran the stage (job id, node, tasks, requeues); absent outside Slurm.
    public var slurm: SlurmProvenance? = nil
    /// Items left out, by reason → names (see `StageOutcome.skipped`); empty in results
    /// stored before it was recorded, whose `counts` still say how many.
    @EmptyIfAbsent public var skipped: [String: [String]] = [:]
    /// What decides the order of floating-point summation, and so the exact bits of every
    /// metric (`Runner.numericPlatform`): CPU, thread count, BLAS kernel, rank count. Equal
    /// values reproduce a stage bit for bit; absent in results stored before it was recorded.
    public var numerics: String? = nil
    /// Per metric that is not a mean of per-item values (mAP, a class-mean recall), what a
    /// bootstrap needs to recompute it on a resample of the test set (see
    /// `StageOutcome.resampling`); empty in results stored before it was recorded.
    @EmptyIfAbsent public var resampling: [String: ResamplingData] = [:]
}

/// A dictionary that decodes as empty when its key is absent (fields added to stored files).
@propertyWrapper
public struct EmptyIfAbsent<Key: Hashable & Codable, Value: Codable & Equatable & Sendable>: Codable, Equatable, Sendable
    where Key: Sendable {
    public var wrappedValue: [Key: Value]
    public init(wrappedValue: [Key: Value]) { self.wrappedValue = wrappedValue }
    public init(from decoder: Decoder) throws { wrappedValue = try [Key: Value](from: decoder) }
    public func encode(to encoder: Encoder) throws { try wrappedValue.encode(to: encoder) }
}

extension KeyedDecodingContainer {
    public func decode<DK, DV>(_ type: EmptyIfAbsent<DK, DV>.Type, forKey key: Key) throws -> EmptyIfAbsent<DK, DV> {
        try decodeIfPresent(type, forKey: key) ?? EmptyIfAbsent(wrappedValue: [:])
    }
}

/// The content-addressed run store: `<root>/<identity>/` holds a stage's work files and,
/// once it has finished, `result.json` (written atomically). A stage counts as finished
/// exactly when its `result.json` exists and decodes.
public struct RunStore: Sendable {
    public let root: URL

    public init(root: URL) { self.root = root }

    public func directory(_ identity: String) -> URL { root.appendingPathComponent(identity) }
    func resultURL(_ identity: String) -> URL { directory(identity).appendingPathComponent("result.json") }

    public func result(_ identity: String) throws -> StageResult? {
        let url = resultURL(identity)
        guard FileManager.default.fileExists(atPath: url.path) else { return nil }
        do {
            return try JSONDecoder().decode(StageResult.self, from: Data(contentsOf: url))
        } catch let error as DecodingError {
            let (key, message) = Self.describe(error)
            throw SuiteFileError(file: url.path, line: nil, key: key, message: "unreadable stage result: \(message)")
        } catch {
            throw SuiteFileError(file: url.path, line: nil, key: "", message: "unreadable stage result: \(error)")
        }
    }

    /// The dotted key path a decoding error is at (`resampling.mAP.frameMAP.classes`) and what is wrong there.
    static func describe(_ error: DecodingError) -> (key: String, message: String) {
        func path(_ context: DecodingError.Context, _ last: CodingKey? = nil) -> String {
            (context.codingPath + (last.map { [$0] } ?? [])).map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }
                .joined(separator: ".").replacingOccurrences(of: ".[", with: "[")
        }
        switch error {
        case let .keyNotFound(key, context): return (path(context, key), "missing key")
        case let .typeMismatch(type, context): return (path(context), "expected \(type): \(context.debugDescription)")
        case let .valueNotFound(type, context): return (path(context), "expected \(type), found null")
        case let .dataCorrupted(context): return (path(context), context.debugDescription)
        @unknown default: return ("", "\(error)")
        }
    }

    public func save(_ result: StageResult) throws {
        let dir = directory(result.identity)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let data = try encoder.encode(result)
        let tmp = dir.appendingPathComponent(".result.json.\(getpid()).tmp")
        try data.write(to: tmp)
        guard rename(tmp.path, resultURL(result.identity).path) == 0 else {
            throw SuiteFileError(file: resultURL(result.identity).path, line: nil, key: "",
                                 message: "cannot move the result into place: \(String(cString: strerror(errno)))")
        }
    }

    /// Every stored result (unfinished stages have none).
    public func allResults() throws -> [StageResult] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: root.path) else { return [] }
        return try names.sorted().compactMap { try result($0) }
    }

    /// An exclusive lock on one stage, so two processes never run the same stage at once.
    public func lock(_ identity: String) throws -> FileLock {
        let dir = directory(identity)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return try FileLock(path: dir.appendingPathComponent(".lock").path)
    }
}
