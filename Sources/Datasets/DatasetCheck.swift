import Foundation
import Media

/// `bench datasets check`: per split, counts and every missing or undecodable video.
public enum DatasetCheck {
    public struct SplitReport: Codable, Sendable, Equatable {
        public var videos: Int
        public var classes: Int
        public var missing: [String]
        public var undecodable: [String]
        /// AVA: labelled boxes and keyframes.
        public var boxes: Int?
        public var keyframes: Int?
        /// Epic: action segments.
        public var segments: Int?
        /// An annotation error that stopped the split from loading.
        public var error: String?

        public var ok: Bool { missing.isEmpty && undecodable.isEmpty && error == nil }
    }

    public struct Report: Codable, Sendable, Equatable {
        public var name: String
        public var format: String
        public var splits: [String: SplitReport]
        public var ok: Bool { splits.values.allSatisfy(\.ok) }
    }

    /// Loads both splits of `entry` and probes every source (metadata only; nothing is cached
    /// or decoded beyond the header / first JPEG).
    public static func check(_ entry: DatasetEntry, progress: ((Int, Int, String) -> Void)? = nil) -> Report {
        var splits: [String: SplitReport] = [:]
        for split in SplitName.allCases {
            let loaded: DatasetSplit
            do {
                loaded = try Dataset.load(entry, split: split)
            } catch {
                splits[split.rawValue] = SplitReport(videos: 0, classes: 0, missing: [], undecodable: [], error: "\(error)")
                continue
            }
            var missing: [String] = [], bad: [String] = []
            for (i, r) in loaded.records.enumerated() {
                progress?(i + 1, loaded.records.count, r.id)
                guard FileManager.default.fileExists(atPath: r.source) else { missing.append(r.source); continue }
                do {
                    let info = try VideoReader.probe(r.source, options: ReaderOptions(threads: 1, folderFPS: r.fps ?? 30))
                    if info.frames <= 0 { bad.append(r.source) }
                } catch {
                    bad.append(r.source)
                }
            }
            var report = SplitReport(videos: loaded.records.count, classes: loaded.classesPresent, missing: missing, undecodable: bad)
            if entry.format == .ava {
                report.boxes = loaded.boxCount
                report.keyframes = loaded.keyframeCount
            }
            if entry.format == .epic55 { report.segments = loaded.segmentCount }
            splits[split.rawValue] = report
        }
        return Report(name: entry.name, format: entry.format.rawValue, splits: splits)
    }
}
