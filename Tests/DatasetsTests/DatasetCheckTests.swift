import Foundation
@testable import Media
import XCTest
@testable import Datasets

/// `datasets check` finds every video and frame folder the clip cache build rejects (each
/// with its reason), and every gap in a frame folder's numbering; the cache fills a gap by
/// repeating the previous frame, so nothing after it moves in time.
final class DatasetCheckTests: XCTestCase {
    struct Damaged {
        var manifest: DatasetManifest
        var truncatedMP4: String
        var truncatedAVI: String
        var corruptJPEG: String
        var corruptFolder: String
        var gapFolder: String
        /// The removed frame's number and its 0-based frame index.
        var gapNumber: Int
        var gapIndex: Int
    }

    static func truncateToHalf(_ path: String) throws {
        let size = try FileManager.default.attributesOfItem(atPath: path)[.size] as! Int
        XCTAssertEqual(truncate(path, off_t(size / 2)), 0)
    }

    /// The tiny synthetic datasets with: a Kinetics MP4 and a UCF AVI cut to half their bytes,
    /// a JPEG in an AVA train folder cut to half its bytes, and a frame removed mid-folder
    /// in an AVA test folder.
    func damagedDatasets() throws -> Damaged {
        let dir = try TestSupport.tempDir(self)
        let m = try SyntheticTests.generate(dir)
        let kinetics = try Dataset.load(try m.entry("kinetics400"), split: .train).records[0].source
        let ucf = try Dataset.load(try m.entry("ucf101"), split: .train).records[0].source
        try Self.truncateToHalf(kinetics)
        try Self.truncateToHalf(ucf)
        let avaTrain = try Dataset.load(try m.entry("ava"), split: .train).records[0].source
        let avaTest = try Dataset.load(try m.entry("ava"), split: .test).records[0].source
        XCTAssertNotEqual(avaTrain, avaTest)
        func frames(_ folder: String) throws -> [String] {
            try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.hasSuffix(".jpg") }.sorted()
        }
        let corrupt = "\(avaTrain)/\(try frames(avaTrain)[40])"
        try Self.truncateToHalf(corrupt)
        let gapName = try frames(avaTest)[57]
        let number = Int(gapName.dropLast(4).split(separator: "_").last!)!
        let first = Int(try frames(avaTest)[0].dropLast(4).split(separator: "_").last!)!
        try FileManager.default.removeItem(atPath: "\(avaTest)/\(gapName)")
        return Damaged(manifest: m, truncatedMP4: kinetics, truncatedAVI: ucf, corruptJPEG: corrupt, corruptFolder: avaTrain,
                       gapFolder: avaTest, gapNumber: number, gapIndex: number - first)
    }

    func testFullCheckFindsWhatTheCacheBuildRejects() throws {
        let d = try damagedDatasets()
        let progress = ProgressLog()
        var found: [String: DatasetCheck.Problem] = [:]
        var gaps: [DatasetCheck.Gap] = []
        for entry in d.manifest.datasets {
            let report = DatasetCheck.check(entry, options: .init(quick: false, jobs: 2), progress: progress.callback)
            XCTAssertEqual(report.depth, "full")
            for s in report.splits.values {
                for p in s.problems { found[p.path] = p }
                gaps += s.gaps
                XCTAssertEqual(Set(s.undecodable), Set(s.problems.map(\.path)))
            }
            XCTAssertEqual(report.ok, !["kinetics400", "ucf101", "ava"].contains(entry.name), "\(entry.name): \(report)")

            // The cache build, given the same sources, rejects exactly what the check listed.
            var sources: [CacheSource] = []
            var fps = 30.0
            for split in SplitName.allCases {
                for r in try Dataset.load(entry, split: split).records where !sources.contains(where: { $0.path == r.source }) {
                    sources.append(CacheSource(id: r.id + "-" + split.rawValue, path: r.source))
                    fps = r.fps ?? fps
                }
            }
            let cache = ClipCache(directory: try TestSupport.tempDir(self) + "/cache", name: entry.name, spec: DecodeSpec(shortSide: 16),
                                  readerOptions: ReaderOptions(threads: 1, folderFPS: fps))
            let built = try cache.build(sources)
            let rejected = Set(built.bad.map(\.path))
            let listed = Set(report.splits.values.flatMap(\.undecodable))
            XCTAssertEqual(rejected, listed, "\(entry.name): the cache build and the check disagree")
        }
        XCTAssertEqual(Set(found.keys), [d.truncatedMP4, d.truncatedAVI, d.corruptFolder])
        XCTAssertTrue(found[d.truncatedAVI]!.reason.contains(d.truncatedAVI), found[d.truncatedAVI]!.reason)
        XCTAssertTrue(["truncated", "corrupt"].contains(found[d.truncatedAVI]!.kind), "\(found[d.truncatedAVI]!)")
        XCTAssertEqual(found[d.corruptFolder]!.kind, "corrupt")
        // The reason names the damaged file inside the folder.
        XCTAssertTrue(found[d.corruptFolder]!.reason.hasPrefix(d.corruptJPEG + ":"), found[d.corruptFolder]!.reason)
        XCTAssertEqual(gaps, [DatasetCheck.Gap(path: d.gapFolder, missing: ["\(d.gapNumber)"], frames: 1)])
        // Progress: one call per distinct source, counting up to the total, from 2 workers.
        XCTAssertTrue(progress.monotonic, "progress counts went backwards")
        XCTAssertGreaterThan(progress.calls, 0)
    }

    /// --quick reads headers and first frames: it still lists what they show (and gaps, from
    /// the file names), but only the full decode finds damage past the header.
    func testQuickCheckReadsHeadersOnly() throws {
        let d = try damagedDatasets()
        var quickBad = Set<String>(), fullBad = Set<String>(), quickGaps = 0
        for entry in d.manifest.datasets {
            let quick = DatasetCheck.check(entry, options: .init(quick: true, jobs: 2))
            XCTAssertEqual(quick.depth, "quick")
            quickBad.formUnion(quick.splits.values.flatMap(\.undecodable))
            quickGaps += quick.splits.values.map(\.gaps.count).reduce(0, +)
            fullBad.formUnion(DatasetCheck.check(entry, options: .init(quick: false, jobs: 1)).splits.values.flatMap(\.undecodable))
        }
        XCTAssertTrue(quickBad.isSubset(of: fullBad))
        XCTAssertFalse(quickBad.contains(d.corruptFolder), "a damaged 41st JPEG is past what --quick reads")
        XCTAssertFalse(quickBad.contains(d.truncatedAVI), "the AVI header survives truncation")
        XCTAssertEqual(fullBad, [d.truncatedMP4, d.truncatedAVI, d.corruptFolder])
        XCTAssertEqual(quickGaps, 1)
    }

    /// A folder with a gap is cached with the gap filled by the previous frame: every later
    /// frame keeps its index (and time), and the entry records the rule.
    func testCacheFillsAGapWithoutShiftingTime() throws {
        let d = try damagedDatasets()
        let spec = DecodeSpec(shortSide: 16)
        let cache = ClipCache(directory: try TestSupport.tempDir(self) + "/cache", name: "ava", spec: spec,
                              readerOptions: ReaderOptions(threads: 1, folderFPS: 30))
        let report = try cache.build([CacheSource(id: "gap", path: d.gapFolder)])
        XCTAssertEqual(report.bad, [])
        let files = try FileManager.default.contentsOfDirectory(atPath: d.gapFolder).filter { $0.hasSuffix(".jpg") }.sorted()
        let reader = try ClipCacheReader(cache)
        let entry = try reader.entry("gap")
        XCTAssertEqual(entry.frames, files.count + 1, "the cached sequence must keep the missing frame's slot")
        let clip = try reader.readClip(videoID: "gap", start: d.gapIndex - 1, count: 3)
        let frameBytes = clip.shape[1] * clip.shape[2] * 3
        func frame(_ i: Int) -> [UInt8] { Array(clip.pixels[(i * frameBytes)..<((i + 1) * frameBytes)]) }
        XCTAssertEqual(frame(1), frame(0), "the gap repeats the previous frame")
        // The frame after the gap is the JPEG numbered after it, at its own index.
        let after = files.first { Int($0.dropLast(4).split(separator: "_").last!)! == d.gapNumber + 1 }!
        let single = try TestSupport.tempDir(self) + "/single"
        try FileManager.default.createDirectory(atPath: single, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: "\(d.gapFolder)/\(after)", toPath: "\(single)/f_000001.jpg")
        let direct = try VideoReader(path: single).read(spec: spec)
        XCTAssertEqual(frame(2), Array(direct.frame(0)), "a frame after the gap moved in time")

        let file = try H5Object.openFile(cache.path)
        let dataset = try file.openDataset("videos/gap")
        XCTAssertEqual(try dataset.stringAttribute("frame_gap_rule"), "repeat-previous")
        XCTAssertEqual(try dataset.stringAttribute("filled_frames"), "\(d.gapIndex)")
        XCTAssertEqual(try dataset.intAttribute("filled_frame_count"), 1)
    }
}

final class ProgressLog: @unchecked Sendable {
    private let lock = NSLock()
    private(set) var calls = 0
    private(set) var monotonic = true
    private var last = 0

    var callback: @Sendable (Int, Int, String) -> Void {
        { [self] done, total, _ in
            lock.lock(); defer { lock.unlock() }
            if done != last + 1 || done > total { monotonic = false }
            last = done == total ? 0 : done
            calls += 1
        }
    }
}
