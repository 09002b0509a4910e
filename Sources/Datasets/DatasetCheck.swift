import Foundation
import Media

/// `bench datasets check`: per split, counts and every missing or damaged video or frame
/// folder, each with its reason, and every gap in a frame folder's numbering.
///
/// By default every video and frame folder is decoded in full (frame by frame, without
/// converting), with the checks the clip cache build applies, so a check that passes means
/// the build will reject nothing; `quick` reads only headers and first frames. Decoding runs
/// on `jobs` workers.
public enum DatasetCheck {
    /// A video or frame folder the cache build would reject.
    public struct Problem: Codable, Sendable, Equatable {
        public var path: String
        /// `MediaError.kind`: `truncated`, `corrupt`, `not-a-video`, `empty`, ...
        public var kind: String
        public var reason: String
    }

    /// Frame numbers missing inside a JPEG frame folder. The cache fills them by repeating
    /// the previous frame (recorded in the entry's `frame_gap_rule` / `filled_frames`), so
    /// later frames keep their times; they are listed because the frames are not real.
    public struct Gap: Codable, Sendable, Equatable {
        public var path: String
        /// Missing frame numbers as ranges, e.g. `["12", "40-41"]`.
        public var missing: [String]
        public var frames: Int
    }

    public struct SplitReport: Codable, Sendable, Equatable {
        public var videos: Int
        public var classes: Int
        public var missing: [String]
        /// Paths of the videos and frame folders the cache build would reject (reasons in `problems`).
        public var undecodable: [String]
        public var problems: [Problem] = []
        public var gaps: [Gap] = []
        /// AVA: labelled boxes and keyframes.
        public var boxes: Int?
        public var keyframes: Int?
        /// Epic: action segments.
        public var segments: Int?
        /// An annotation error that stopped the split from loading.
        public var error: String?

        /// Gaps do not fail the check: the build fills them without shifting time.
        public var ok: Bool { missing.isEmpty && undecodable.isEmpty && error == nil }
    }

    public struct Report: Codable, Sendable, Equatable {
        public var name: String
        public var format: String
        public var splits: [String: SplitReport]
        /// `full` (every frame decoded) or `quick` (headers and first frames).
        public var depth: String = "full"
        public var ok: Bool { splits.values.allSatisfy(\.ok) }
    }

    public struct Options: Sendable {
        /// Headers and first frames only.
        public var quick: Bool
        /// Parallel workers (each decodes one video at a time, single-threaded).
        public var jobs: Int

        public init(quick: Bool = false, jobs: Int = ProcessInfo.processInfo.activeProcessorCount) {
            self.quick = quick
            self.jobs = max(1, jobs)
        }
    }

    /// The outcome of checking one source.
    enum Finding: Sendable {
        case fine
        case missing
        case problem(Problem)
    }

    /// Loads both splits of `entry` and checks every source. `progress` gets (done, total,
    /// path) after each source, from the worker threads (one call at a time).
    public static func check(_ entry: DatasetEntry, options: Options = Options(),
                             progress: (@Sendable (Int, Int, String) -> Void)? = nil) -> Report {
        var splits: [String: SplitReport] = [:]
        var loadedSplits: [(SplitName, DatasetSplit)] = []
        for split in SplitName.allCases {
            do {
                loadedSplits.append((split, try Dataset.load(entry, split: split)))
            } catch {
                splits[split.rawValue] = SplitReport(videos: 0, classes: 0, missing: [], undecodable: [], error: "\(error)")
            }
        }
        // Every distinct source once, over all splits, in parallel.
        var sources: [(path: String, fps: Double, folder: Bool)] = []
        var seen = Set<String>()
        for (_, loaded) in loadedSplits {
            for r in loaded.records where seen.insert(r.source).inserted {
                sources.append((r.source, r.fps ?? 30, r.isFrameFolder))
            }
        }
        let list = sources
        let findings = Findings(count: list.count)
        let counter = Counter()
        let total = list.count
        let jobs = min(options.jobs, max(1, total))
        let quick = options.quick
        DispatchQueue.concurrentPerform(iterations: jobs) { worker in
            var i = worker
            while i < total {
                let s = list[i]
                let result = checkSource(s.path, fps: s.fps, quick: quick)
                findings.set(i, result)
                counter.step { done in progress?(done, total, s.path) }
                i += jobs
            }
        }
        let byPath = Dictionary(uniqueKeysWithValues: zip(sources.map(\.path), findings.all))

        for (split, loaded) in loadedSplits {
            var report = SplitReport(videos: loaded.records.count, classes: loaded.classesPresent, missing: [], undecodable: [])
            var listed = Set<String>()
            for r in loaded.records where listed.insert(r.source).inserted {
                guard let (finding, gap) = byPath[r.source] else { continue }
                switch finding {
                case .fine: break
                case .missing: report.missing.append(r.source)
                case .problem(let p):
                    report.undecodable.append(r.source)
                    report.problems.append(p)
                }
                if let gap { report.gaps.append(gap) }
            }
            if entry.format == .ava {
                report.boxes = loaded.boxCount
                report.keyframes = loaded.keyframeCount
            }
            if entry.format == .epic55 { report.segments = loaded.segmentCount }
            splits[split.rawValue] = report
        }
        return Report(name: entry.name, format: entry.format.rawValue, splits: splits, depth: quick ? "quick" : "full")
    }

    /// Checks one video or frame folder as the cache build would read it.
    static func checkSource(_ path: String, fps: Double, quick: Bool) -> (Finding, Gap?) {
        guard FileManager.default.fileExists(atPath: path) else { return (.missing, nil) }
        var gap: Gap? = nil
        do {
            let reader = try VideoReader(path: path, options: ReaderOptions(threads: 1, folderFPS: fps))
            if reader.frameGapRule != nil {
                let ranges = try VideoReader.frameNumberGaps(path)
                if !ranges.isEmpty {
                    gap = Gap(path: path, missing: ranges.map { $0.count == 1 ? "\($0.lowerBound)" : "\($0.lowerBound)-\($0.upperBound)" },
                              frames: ranges.reduce(0) { $0 + $1.count })
                }
            }
            if quick {
                if reader.info.frames <= 0 {
                    return (.problem(Problem(path: path, kind: "corrupt", reason: "\(path): the header declares no frames")), gap)
                }
            } else {
                try reader.decodeAllFrames()
            }
        } catch {
            return (.problem(Problem(path: path, kind: error.kind, reason: error.description)), gap)
        }
        return (.fine, gap)
    }

    /// Results written by the workers, one slot per source.
    final class Findings: @unchecked Sendable {
        private var slots: [(Finding, Gap?)]
        private let lock = NSLock()
        init(count: Int) { slots = Array(repeating: (.fine, nil), count: count) }
        func set(_ i: Int, _ value: (Finding, Gap?)) { lock.lock(); slots[i] = value; lock.unlock() }
        var all: [(Finding, Gap?)] { lock.lock(); defer { lock.unlock() }; return slots }
    }

    final class Counter: @unchecked Sendable {
        private var value = 0
        private let lock = NSLock()
        /// Counts one more and calls `body` with the count, one call at a time.
        func step(_ body: (Int) -> Void) { lock.lock(); defer { lock.unlock() }; value += 1; body(value) }
    }
}
