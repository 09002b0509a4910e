import XCTest
@testable import Media

final class ClipCacheTests: XCTestCase {
    /// `count` small synthetic AVI videos under `dir/videos`.
    static func makeVideos(_ dir: String, count: Int, frames: Int = 40) throws -> [CacheSource] {
        let folder = "\(dir)/videos"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        var sources: [CacheSource] = []
        for i in 0..<count {
            var f = TestSupport.syntheticFrames(count: frames, width: 96, height: 64)
            for j in stride(from: 0, to: f.pixels.count, by: 7) { f.pixels[j] &+= UInt8(i * 29 & 0xff) }
            let path = "\(folder)/v\(i).avi"
            try VideoWriter.write(f, to: path)
            sources.append(CacheSource(id: "class\(i % 2)/v\(i)", path: path))
        }
        return sources
    }

    func testBuildReadHitAndLayout() throws {
        let dir = try TestSupport.tempDir(self)
        let sources = try ClipCacheTests.makeVideos(dir, count: 3, frames: 70)
        let spec = DecodeSpec(shortSide: 32)
        let cache = ClipCache(directory: "\(dir)/cache", name: "demo", spec: spec)
        XCTAssertTrue(cache.path.hasSuffix("cache/demo/s32-native-bilinear.h5"))
        let first = try cache.build(sources)
        XCTAssertEqual(first.decoded, 3)
        XCTAssertEqual(first.entries, 3)
        XCTAssertTrue(first.bad.isEmpty)
        let second = try cache.build(sources)
        XCTAssertEqual(second.hits, 3)
        XCTAssertEqual(second.decoded, 0)

        let reader = try ClipCacheReader(cache)
        XCTAssertEqual(Set(reader.videoIDs), Set(sources.map(\.id)))
        let entry = try reader.entry("class1/v1")
        XCTAssertEqual([entry.frames, entry.height, entry.width], [70, 32, 48])
        XCTAssertEqual(entry.fps, 25, accuracy: 1e-6)
        let direct = try VideoReader(path: sources[1].path).read(spec: spec)
        let clip = try reader.readClip(videoID: "class1/v1", start: 5, count: 64)
        XCTAssertEqual(clip.shape, [64, 32, 48, 3])
        XCTAssertEqual(clip.pixels, Array(direct.pixels[(5 * direct.frameBytes)..<(69 * direct.frameBytes)]))
        XCTAssertThrowsError(try reader.readClip(videoID: "class1/v1", start: 10, count: 64)) { error in
            XCTAssertEqual((error as? MediaError)?.file, cache.path)
        }

        // Chunked by frames, compressed, with the documented attributes.
        let file = try H5Object.openFile(cache.path)
        let d = try file.openDataset("videos/class1%2Fv1")
        XCTAssertEqual(try d.stringAttribute("video_id"), "class1/v1")
        XCTAssertEqual(try d.stringAttribute("ffmpeg_version"), MediaLibraries.ffmpegVersion)
        XCTAssertEqual(try d.intAttribute("source_size"), Int64(try Data(contentsOf: URL(fileURLWithPath: sources[1].path)).count))
        XCTAssertTrue(try d.stringAttribute("source_hash")?.hasPrefix("sha256:") ?? false)
        XCTAssertEqual(try file.stringAttribute("compression"), ClipCache.defaultCompression.tag)
        XCTAssertLessThan(d.storageSize, 70 * 32 * 48 * 3)
        let stats = try reader.stats()
        XCTAssertEqual(stats.entries, 3)
        XCTAssertEqual(stats.frames, 210)
        XCTAssertEqual(stats.hitRate ?? 0, 0.5, accuracy: 1e-9)
        XCTAssertTrue(try reader.verify().ok)
    }

    func testChangedSourceOrDecoderIsAMiss() throws {
        let dir = try TestSupport.tempDir(self)
        let sources = try ClipCacheTests.makeVideos(dir, count: 2)
        let cache = ClipCache(directory: "\(dir)/cache", name: "m", spec: DecodeSpec(shortSide: 32))
        _ = try cache.build(sources)
        // A different video under the same name: a miss, and the entry follows the new file.
        let replacement = TestSupport.syntheticFrames(count: 30, width: 96, height: 64)
        try VideoWriter.write(replacement, to: sources[0].path)
        var report = try cache.build(sources)
        XCTAssertEqual(report.decoded, 1)
        XCTAssertEqual(report.hits, 1)
        XCTAssertEqual(try ClipCacheReader(cache).entry(sources[0].id).frames, 30)
        // An entry decoded by another FFmpeg build: a miss.
        do {
            let file = try H5Object.openFile(cache.path, writable: true)
            try file.openDataset("videos/" + ClipCache.key(for: sources[1].id)).setAttribute("ffmpeg_version", "libavformat 58.0.0")
        }
        report = try cache.build(sources)
        XCTAssertEqual(report.decoded, 1)
        XCTAssertEqual(report.hits, 1)
        XCTAssertEqual(report.entries, 2)
    }

    /// Bad videos: recorded and listed, the build carries on and keeps the good ones.
    func testBuildContinuesPastBadVideos() throws {
        let dir = try TestSupport.tempDir(self)
        let good = try ClipCacheTests.makeVideos(dir, count: 2)
        let bad = try BadInputTests.makeBadFiles(dir)
        let sources = [good[0]] + bad.map { CacheSource(id: URL(fileURLWithPath: $0.0).lastPathComponent, path: $0.0) } + [good[1]]
        let cache = ClipCache(directory: "\(dir)/cache", name: "b", spec: DecodeSpec(shortSide: 32))
        let report = try cache.build(sources)
        XCTAssertEqual(report.decoded, 2)
        XCTAssertEqual(report.bad.count, bad.count)
        XCTAssertEqual(report.entries, 2)
        for (b, (path, kinds)) in zip(report.bad, bad) {
            XCTAssertEqual(b.path, path)
            XCTAssertTrue(kinds.contains(b.kind), "\(b)")
        }
        let stats = try ClipCacheReader(cache).stats()
        XCTAssertEqual(Set(stats.bad.map(\.path)), Set(bad.map(\.0)))
        // Known-bad videos are reported again without new work; good ones stay cached.
        let again = try cache.build(sources)
        XCTAssertEqual(again.hits, 2)
        XCTAssertEqual(again.bad.count, bad.count)
    }

    func testVerifyFindsDamagedEntry() throws {
        let dir = try TestSupport.tempDir(self)
        let sources = try ClipCacheTests.makeVideos(dir, count: 1, frames: 64)
        let cache = ClipCache(directory: "\(dir)/cache", name: "v", spec: .native)
        _ = try cache.build(sources)
        // Overwrite bytes in the middle of the chunk data.
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: cache.path))
        let size = try handle.seekToEnd()
        try handle.seek(toOffset: size / 2)
        handle.write(Data(repeating: 0xA5, count: 4096))
        try handle.close()
        let report = try ClipCacheReader(cache).verify()
        XCTAssertFalse(report.ok)
        XCTAssertEqual(report.corrupt.first?.first, sources[0].id)
    }

    func testSourcesInFolder() throws {
        let dir = try TestSupport.tempDir(self)
        _ = try ClipCacheTests.makeVideos(dir, count: 2)
        try FrameFolderWriter.write(TestSupport.syntheticFrames(count: 3, width: 16, height: 16), to: "\(dir)/videos/P01/P01_01")
        let found = try ClipCache.sources(inFolder: "\(dir)/videos")
        XCTAssertEqual(found.map(\.id), ["P01/P01_01", "v0", "v1"])
    }
}
