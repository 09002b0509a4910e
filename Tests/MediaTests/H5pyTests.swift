import XCTest
@testable import Media

/// Deflate files written here open in plain h5py (no plugin) with the documented layout
/// (docs/cache-layout.md); zstd files: `ZstdTests`.
final class H5pyTests: XCTestCase {
    /// A Python with h5py: $TEMPO_PYTHON, else python3 on PATH; or a skip.
    private func python() throws -> String {
        try H5pyTests.python(importing: "h5py, numpy", skip: "h5py is not available (set TEMPO_PYTHON to a python with h5py and numpy)")
    }

    /// $TEMPO_PYTHON, else python3 on PATH, where `import <modules>` works; or a skip saying `skip`.
    static func python(importing modules: String, skip: String) throws -> String {
        var candidates: [String] = []
        if let p = ProcessInfo.processInfo.environment["TEMPO_PYTHON"] { candidates.append(p) }
        if let p = TestSupport.which("python3") { candidates.append(p) }
        for p in candidates {
            if let (status, _, _) = try? TestSupport.run(p, ["-c", "import \(modules)"]), status == 0 { return p }
        }
        throw XCTSkip(skip)
    }

    func testExtractAndCacheReadableByH5py() throws {
        let py = try python()
        let dir = try TestSupport.tempDir(self)
        let bikes = try TestSupport.fixture("bikes.mp4")
        let out = "\(dir)/x.h5"
        let n = try FramesFile.extract(source: bikes, to: out, spec: DecodeSpec(shortSide: 64, fps: 5), start: .time(1), count: 12,
                                       compression: .deflate(level: 1))
        XCTAssertEqual(n, 12)
        let ours = try FramesFile.read(out)
        let sources = try ClipCacheTests.makeVideos(dir, count: 1)
        let cache = ClipCache(directory: "\(dir)/cache", name: "py", spec: DecodeSpec(shortSide: 32),
                              compression: .deflate(level: 1))
        _ = try cache.build(sources)
        let script = """
        import h5py, numpy as np, sys
        with h5py.File(sys.argv[1], "r") as f:
            d = f["frames"]
            assert d.dtype == np.uint8 and d.shape == (12, 64, 151, 3), (d.dtype, d.shape)
            assert d.attrs["fps"] == 5.0 and d.attrs["source"] == sys.argv[3], dict(d.attrs)
            print(int(d[...].astype(np.int64).sum()))
        with h5py.File(sys.argv[2], "r") as f:
            assert f.attrs["format"] == "tempo-bench/clip-cache"
            v = f["videos"]["class0%2Fv0"]
            assert v.attrs["video_id"] == "class0/v0" and v.shape == (40, 32, 48, 3), v.shape
            assert v.chunks == (int(sys.argv[4]), 32, 48, 3) and v.compression == "gzip", (v.chunks, v.compression)
            assert f.attrs["chunk_frames"] == int(sys.argv[4]) and f.attrs["compression"] == "deflate-1"
            assert v.attrs["source_hash"].startswith("sha256:")
            print(int(v[5:37].astype(np.int64).sum()))
            print(len(f["videos"]))
        """
        let chunkFrames = String(ClipCache.defaultChunkFrames)
        let (status, stdout, stderr) = try TestSupport.run(py, ["-c", script, out, cache.path, bikes, chunkFrames])
        XCTAssertEqual(status, 0, stderr)
        let lines = String(decoding: stdout, as: UTF8.self).split(separator: "\n")
        XCTAssertEqual(lines.first.map(String.init), String(ours.pixels.reduce(0) { $0 + Int($1) }))
        // The same window through the reader's direct chunk path.
        let window = try ClipCacheReader(cache).readClip(videoID: "class0/v0", start: 5, count: 32)
        XCTAssertEqual(lines.dropFirst().first.map(String.init), String(window.pixels.reduce(0) { $0 + Int($1) }))
        XCTAssertEqual(lines.last, "1")
    }

    /// A chunk stored with the deflate filter skipped (filter mask bit 0) reads in h5py too,
    /// with the same bytes as our reader.
    func testFilterSkippedChunkReadableByH5py() throws {
        let py = try python()
        let dir = try TestSupport.tempDir(self)
        let sources = try ClipCacheTests.makeVideos(dir, count: 1)
        let cache = ClipCache(directory: "\(dir)/cache", name: "py", spec: DecodeSpec(shortSide: 32),
                              compression: .deflate(level: 1))
        _ = try cache.build(sources)
        let chunkFrames = ClipCache.defaultChunkFrames
        let bytes = (0..<(chunkFrames * 32 * 48 * 3)).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        try DirectChunkTests.writeRawChunk(bytes, frame: chunkFrames, cache: cache, id: sources[0].id)
        let ours = try ClipCacheReader(cache).readClip(videoID: sources[0].id, start: 0, count: 40)
        let script = """
        import h5py, numpy as np, sys
        with h5py.File(sys.argv[1], "r") as f:
            print(int(f["videos"]["class0%2Fv0"][...].astype(np.int64).sum()))
        """
        let (status, stdout, stderr) = try TestSupport.run(py, ["-c", script, cache.path])
        XCTAssertEqual(status, 0, stderr)
        XCTAssertEqual(String(decoding: stdout, as: UTF8.self).split(separator: "\n").first.map(String.init),
                       String(ours.pixels.reduce(0) { $0 + Int($1) }))
    }
}
