import CHDF5
import XCTest
@testable import Media

/// The reader's direct chunk path (`H5Dread_chunk` + libdeflate or zstd) against HDF5's own
/// pipeline (`H5Dread`): same bytes for every window, typed errors for damaged chunks.
final class DirectChunkTests: XCTestCase {
    /// A cache of two 70-frame videos (32x48), deflate unless said otherwise: with 16-frame
    /// chunks the last chunk holds 6 frames and is stored full-size.
    static func makeCache(_ dir: String, chunkFrames: Int = 16,
                          compression: CacheCompression = .deflate(level: 1)) throws -> (ClipCache, [CacheSource]) {
        let sources = try ClipCacheTests.makeVideos(dir, count: 2, frames: 70)
        let cache = ClipCache(directory: "\(dir)/cache", name: "direct", spec: DecodeSpec(shortSide: 32),
                              chunkFrames: chunkFrames, compression: compression)
        _ = try cache.build(sources)
        return (cache, sources)
    }

    private func makeCache(_ dir: String, chunkFrames: Int = 16) throws -> (ClipCache, [CacheSource]) {
        try DirectChunkTests.makeCache(dir, chunkFrames: chunkFrames)
    }

    /// Windows covering every case: inside one chunk, on and across chunk edges, the last
    /// (partial) chunk, single frames, the whole video, plus seeded random ones.
    static func windows(frames: Int, chunkFrames: Int) -> [(Int, Int)] {
        var w: [(Int, Int)] = [(0, frames), (0, 1), (frames - 1, 1), (0, chunkFrames), (chunkFrames, chunkFrames),
                               (chunkFrames - 1, 2), (1, chunkFrames), (frames - 64, 64), (5, 64), (0, 64),
                               (frames / chunkFrames * chunkFrames - 1, frames % chunkFrames + 1)]
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        for _ in 0..<60 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            let count = 1 + Int((state >> 33) % UInt64(frames))
            let start = Int((state >> 17) % UInt64(frames - count + 1))
            w.append((start, count))
        }
        return w.filter { $0.0 >= 0 && $0.1 > 0 && $0.0 + $0.1 <= frames }
    }

    static func assertPathsAgree(_ reader: ClipCacheReader, _ id: String, chunkFrames: Int,
                                 file: StaticString = #filePath, line: UInt = #line) throws {
        let frames = try reader.entry(id).frames
        for (start, count) in windows(frames: frames, chunkFrames: chunkFrames) {
            let direct = try reader.readClip(videoID: id, start: start, count: count, direct: true)
            let pipeline = try reader.readClip(videoID: id, start: start, count: count, direct: false)
            XCTAssertEqual(direct.shape, pipeline.shape, file: file, line: line)
            XCTAssertTrue(direct.pixels == pipeline.pixels, "frames \(start)..<\(start + count) of \(id) differ",
                          file: file, line: line)
        }
    }

    static func dataset(_ cache: ClipCache, _ id: String, writable: Bool = false) throws -> (H5Object, H5Object) {
        let file = try H5Object.openFile(cache.path, writable: writable)
        return (file, try file.openDataset("videos/" + ClipCache.key(for: id)))
    }

    /// Replaces the chunk starting at `frame` of entry `id` by `bytes`, stored with the deflate
    /// filter marked skipped (filter mask 1), as HDF5 does when an optional filter fails.
    static func writeRawChunk(_ bytes: [UInt8], frame: Int, cache: ClipCache, id: String) throws {
        let file = try H5Object.openFile(cache.path, writable: true)
        let d = try file.openDataset("videos/" + ClipCache.key(for: id))
        var offset: [hsize_t] = [hsize_t(frame), 0, 0, 0]
        XCTAssertGreaterThanOrEqual(H5Dwrite_chunk(d.id, shim_H5P_DEFAULT(), 1, &offset, bytes.count, bytes), 0)
        try file.flush()
    }

    func testDirectReadsMatchH5Dread() throws {
        for chunkFrames in [16, 8, 7, 4, 1] {
            let dir = try TestSupport.tempDir(self)
            let (cache, sources) = try makeCache(dir, chunkFrames: chunkFrames)
            // The fast path must really be taken for these entries.
            let (_, d) = try DirectChunkTests.dataset(cache, sources[0].id)
            XCTAssertEqual(try d.storedChunkLayout(frameShape: [32, 48, 3]), .init(chunkFrames: chunkFrames, codec: .deflate))
            let reader = try ClipCacheReader(cache)
            for s in sources { try DirectChunkTests.assertPathsAgree(reader, s.id, chunkFrames: chunkFrames) }
            XCTAssertTrue(try reader.verify().ok)
        }
    }

    func testUncompressedEntriesUseH5Dread() throws {
        let dir = try TestSupport.tempDir(self)
        let sources = try ClipCacheTests.makeVideos(dir, count: 1, frames: 40)
        let cache = ClipCache(directory: "\(dir)/cache", name: "raw", spec: DecodeSpec(shortSide: 32), deflateLevel: 0)
        _ = try cache.build(sources)
        let (_, d) = try DirectChunkTests.dataset(cache, sources[0].id)
        XCTAssertNil(try d.storedChunkLayout(frameShape: [32, 48, 3]))
        let reader = try ClipCacheReader(cache)
        let clip = try reader.readClip(videoID: sources[0].id, start: 3, count: 30)
        let direct = try VideoReader(path: sources[0].path).read(spec: DecodeSpec(shortSide: 32))
        XCTAssertEqual(clip.pixels, Array(direct.pixels[(3 * direct.frameBytes)..<(33 * direct.frameBytes)]))
    }

    /// A chunk written with the deflate filter skipped (filter mask bit 0), as HDF5 does for an
    /// optional filter that fails: both paths return its raw bytes.
    func testFilterSkippedChunksAreReadRaw() throws {
        let dir = try TestSupport.tempDir(self)
        let (cache, sources) = try makeCache(dir)
        let id = sources[1].id
        let chunkBytes = 16 * 32 * 48 * 3
        // Chunk 1 (frames 16..<32) and the last, partial chunk (frames 64..<70, stored full-size).
        var patterns: [Int: [UInt8]] = [:]
        for frame in [16, 64] {
            patterns[frame] = (0..<chunkBytes).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ frame) }
            try DirectChunkTests.writeRawChunk(patterns[frame]!, frame: frame, cache: cache, id: id)
        }
        let reader = try ClipCacheReader(cache)
        try DirectChunkTests.assertPathsAgree(reader, id, chunkFrames: 16)
        let frameBytes = 32 * 48 * 3
        let clip = try reader.readClip(videoID: id, start: 10, count: 60)
        XCTAssertEqual(Array(clip.pixels[(6 * frameBytes)..<(22 * frameBytes)]), patterns[16]!)
        XCTAssertEqual(Array(clip.pixels[(54 * frameBytes)...]), Array(patterns[64]![..<(6 * frameBytes)]))
    }

    /// Overwrites 256 bytes in the middle of the stored (filtered) chunk of `id` that starts
    /// at frame `frame`.
    static func damageChunk(_ cache: ClipCache, _ id: String, atFrame frame: hsize_t,
                            file: StaticString = #filePath, line: UInt = #line) throws {
        var address: haddr_t = 0
        var size: hsize_t = 0
        do {
            let (_, d) = try DirectChunkTests.dataset(cache, id)
            var offset: [hsize_t] = [frame, 0, 0, 0]
            var mask: UInt32 = 0
            XCTAssertGreaterThanOrEqual(H5Dget_chunk_info_by_coord(d.id, &offset, &mask, &address, &size), 0,
                                        file: file, line: line)
            XCTAssertEqual(mask, 0, "the chunk was stored unfiltered", file: file, line: line)
        }
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: cache.path))
        try handle.seek(toOffset: UInt64(address) + UInt64(size) / 2)
        handle.write(Data(repeating: 0xA5, count: 256))
        try handle.close()
    }

    /// After `damageChunk(cache, id, atFrame: 32)` (4-frame chunks, 70 frames): windows clear of
    /// the chunk still read; those touching it throw `.corrupt` naming the file, the video, the
    /// chunk and (when given) `reason`.
    static func assertDamageAtFrame32(_ reader: ClipCacheReader, _ cache: ClipCache, _ id: String, reason: String? = nil,
                                      file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertNoThrow(try reader.readClip(videoID: id, start: 0, count: 32), file: file, line: line)
        XCTAssertNoThrow(try reader.readClip(videoID: id, start: 48, count: 22), file: file, line: line)
        for (start, count) in [(32, 16), (20, 40), (40, 1)] {
            XCTAssertThrowsError(try reader.readClip(videoID: id, start: start, count: count), file: file, line: line) { error in
                guard case .corrupt(let path, let detail)? = error as? MediaError else {
                    return XCTFail("expected MediaError.corrupt, got \(error)", file: file, line: line)
                }
                XCTAssertEqual(path, cache.path, file: file, line: line)
                XCTAssertTrue(detail.contains("'\(id)'") && detail.contains("chunk at frame 32")
                              && (reason.map { detail.contains($0) } ?? true), detail, file: file, line: line)
            }
        }
    }

    /// Damage inside one compressed chunk: a typed `.corrupt` error naming the file and video.
    func testCorruptChunkIsATypedError() throws {
        let dir = try TestSupport.tempDir(self)
        let (cache, sources) = try makeCache(dir)
        let id = sources[0].id
        try DirectChunkTests.damageChunk(cache, id, atFrame: 32)

        let reader = try ClipCacheReader(cache)
        DirectChunkTests.assertDamageAtFrame32(reader, cache, id)
        let report = try reader.verify()
        XCTAssertEqual(report.corrupt.map { $0[0] }, [id])
    }

    /// Readers on many threads share one `ClipCacheReader` (as sampler workers do).
    func testConcurrentReadersAgree() throws {
        let dir = try TestSupport.tempDir(self)
        let (cache, sources) = try makeCache(dir)
        let reader = try ClipCacheReader(cache)
        let id = sources[1].id
        let expected = try (0..<7).map { try reader.readClip(videoID: id, start: $0 * 6, count: 28, direct: false).pixels }
        let failures = NSLock()
        nonisolated(unsafe) var mismatches = 0
        DispatchQueue.concurrentPerform(iterations: 28) { i in
            let k = i % 7
            let got = try? reader.readClip(videoID: id, start: k * 6, count: 28).pixels
            if got != expected[k] { failures.withLock { mismatches += 1 } }
        }
        XCTAssertEqual(mismatches, 0)
    }
}
