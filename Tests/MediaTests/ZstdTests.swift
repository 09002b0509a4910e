import CHDF5
import CZstd
import XCTest
@testable import Media

/// Zstandard caches (HDF5 filter 32015): the direct chunk path against `H5Dread` through the
/// filter registered in-process and against a deflate cache of the same videos, damaged and
/// filter-skipped chunks, and h5py + hdf5plugin reading (and writing) the same format.
final class ZstdTests: XCTestCase {
    private let frameBytes = 32 * 48 * 3

    /// The filter and its level as stored in the dataset's creation property list.
    private func filter(_ d: H5Object) -> (id: H5Z_filter_t, values: [UInt32], optional: Bool) {
        let dcpl = H5Dget_create_plist(d.id)
        defer { H5Pclose(dcpl) }
        var flags: UInt32 = 0, count = 8, config: UInt32 = 0
        var values = [UInt32](repeating: 0, count: 8)
        let id = H5Pget_filter2(dcpl, 0, &flags, &count, &values, 0, nil, &config)
        return (id, Array(values.prefix(count)), flags & UInt32(H5Z_FLAG_OPTIONAL) != 0)
    }

    func testRoundTripMatchesH5DreadAndDeflate() throws {
        let dir = try TestSupport.tempDir(self)
        let (zstd, sources) = try DirectChunkTests.makeCache(dir, chunkFrames: 4, compression: .zstd(level: 1))
        let deflate = ClipCache(directory: "\(dir)/cache", name: "deflate", spec: DecodeSpec(shortSide: 32),
                                chunkFrames: 4, compression: .deflate(level: 1))
        _ = try deflate.build(sources)

        let file = try H5Object.openFile(zstd.path)
        XCTAssertEqual(try file.stringAttribute("compression"), "zstd-1")
        let (_, d) = try DirectChunkTests.dataset(zstd, sources[0].id)
        let f = filter(d)
        XCTAssertEqual(f.id, 32015)
        XCTAssertEqual(f.values, [1])
        XCTAssertTrue(f.optional)
        XCTAssertEqual(try d.storedChunkLayout(frameShape: [32, 48, 3]), .init(chunkFrames: 4, codec: .zstd))
        XCTAssertLessThan(d.storageSize, 70 * frameBytes)

        let zr = try ClipCacheReader(zstd), dr = try ClipCacheReader(deflate)
        for s in sources {
            try DirectChunkTests.assertPathsAgree(zr, s.id, chunkFrames: 4)
            for (start, count) in DirectChunkTests.windows(frames: 70, chunkFrames: 4) {
                let a = try zr.readClip(videoID: s.id, start: start, count: count)
                let b = try dr.readClip(videoID: s.id, start: start, count: count)
                XCTAssertTrue(a.pixels == b.pixels, "frames \(start)..<\(start + count) of \(s.id): zstd and deflate differ")
            }
        }
        XCTAssertTrue(try zr.verify().ok)
    }

    /// Every chunking, and a negative ("fast") level stored as its two's complement in cd_values.
    func testChunkingsAndFastLevels() throws {
        for (chunkFrames, level) in [(16, 3), (7, 1), (1, 1), (8, -5)] {
            let dir = try TestSupport.tempDir(self)
            let (cache, sources) = try DirectChunkTests.makeCache(dir, chunkFrames: chunkFrames, compression: .zstd(level: level))
            let (_, d) = try DirectChunkTests.dataset(cache, sources[1].id)
            XCTAssertEqual(filter(d).values, [UInt32(bitPattern: Int32(level))])
            let reader = try ClipCacheReader(cache)
            for s in sources { try DirectChunkTests.assertPathsAgree(reader, s.id, chunkFrames: chunkFrames) }
            let direct = try VideoReader(path: sources[1].path).read(spec: DecodeSpec(shortSide: 32))
            XCTAssertEqual(try reader.readClip(videoID: sources[1].id, start: 0, count: 70).pixels, direct.pixels)
        }
    }

    /// Damage inside one zstd chunk: the direct path throws `.corrupt` naming the file, video
    /// and chunk with zstd's reason; HDF5's pipeline a typed `.hdf5` error naming the file.
    func testCorruptChunkIsATypedError() throws {
        let dir = try TestSupport.tempDir(self)
        let (cache, sources) = try DirectChunkTests.makeCache(dir, compression: .zstd(level: 1))
        let id = sources[0].id
        try DirectChunkTests.damageChunk(cache, id, atFrame: 32)

        let reader = try ClipCacheReader(cache)
        DirectChunkTests.assertDamageAtFrame32(reader, cache, id, reason: "ZSTD_decompressDCtx")
        XCTAssertThrowsError(try reader.readClip(videoID: id, start: 32, count: 16, direct: false)) { error in
            guard case .hdf5(let file, let what, let message)? = error as? MediaError else {
                return XCTFail("expected MediaError.hdf5, got \(error)")
            }
            XCTAssertEqual(file, cache.path)
            XCTAssertEqual(what, "H5Dread")
            XCTAssertTrue(message.contains("ZSTD_decompressDCtx"), message)
        }
        XCTAssertEqual(try reader.verify().corrupt.map { $0[0] }, [id])
    }

    /// Bytes that are no zstd frame at all, and a frame of the wrong size: typed errors.
    func testDecompressorErrors() throws {
        let d = try ZstdDecompressor(file: "x.h5")
        let out = UnsafeMutableRawBufferPointer.allocate(byteCount: 64, alignment: 8)
        defer { out.deallocate() }
        let junk: [UInt8] = Array(repeating: 7, count: 32)
        XCTAssertThrowsError(try junk.withUnsafeBytes { src in
            try d.decompress(src, into: out, file: "x.h5", what: "junk")
        }) { error in
            guard case .corrupt(let file, let detail)? = error as? MediaError else { return XCTFail("\(error)") }
            XCTAssertEqual(file, "x.h5")
            XCTAssertTrue(detail.hasPrefix("junk: ZSTD_decompressDCtx: "), detail)
        }
        var frame = [UInt8](repeating: 0, count: 256)
        let input = [UInt8](repeating: 9, count: 32)
        let n = ZSTD_compress(&frame, frame.count, input, input.count, 1)
        XCTAssertEqual(ZSTD_isError(n), 0)
        XCTAssertThrowsError(try frame.prefix(n).withUnsafeBytes { src in
            try d.decompress(src, into: out, file: "x.h5", what: "short")
        }) { error in
            guard case .corrupt(_, let detail)? = error as? MediaError else { return XCTFail("\(error)") }
            XCTAssertTrue(detail.contains("32 bytes, expected 64"), detail)
        }
    }

    /// Chunks stored with the zstd filter skipped (filter mask bit 0), as HDF5 does when an
    /// optional filter fails: both paths return their raw bytes.
    func testFilterSkippedChunksAreReadRaw() throws {
        let dir = try TestSupport.tempDir(self)
        let (cache, sources) = try DirectChunkTests.makeCache(dir, compression: .zstd(level: 1))
        let id = sources[1].id
        let chunkBytes = 16 * frameBytes
        var patterns: [Int: [UInt8]] = [:]
        for frame in [16, 64] {
            patterns[frame] = (0..<chunkBytes).map { UInt8(truncatingIfNeeded: $0 &* 13 &+ frame) }
            try DirectChunkTests.writeRawChunk(patterns[frame]!, frame: frame, cache: cache, id: id)
        }
        let reader = try ClipCacheReader(cache)
        try DirectChunkTests.assertPathsAgree(reader, id, chunkFrames: 16)
        let clip = try reader.readClip(videoID: id, start: 10, count: 60)
        XCTAssertEqual(Array(clip.pixels[(6 * frameBytes)..<(22 * frameBytes)]), patterns[16]!)
        XCTAssertEqual(Array(clip.pixels[(54 * frameBytes)...]), Array(patterns[64]![..<(6 * frameBytes)]))
    }

    /// The codec does not decide reuse (as the deflate level never did): a zstd build over a
    /// deflate cache keeps its entries and adds new ones as zstd, and both read back.
    func testMixedCodecsInOneCache() throws {
        let dir = try TestSupport.tempDir(self)
        let sources = try ClipCacheTests.makeVideos(dir, count: 3, frames: 40)
        let spec = DecodeSpec(shortSide: 32)
        _ = try ClipCache(directory: "\(dir)/cache", name: "mix", spec: spec, compression: .deflate(level: 1)).build(Array(sources.prefix(2)))
        let zstd = ClipCache(directory: "\(dir)/cache", name: "mix", spec: spec, compression: .zstd(level: 2))
        let report = try zstd.build(sources)
        XCTAssertEqual(report.hits, 2)
        XCTAssertEqual(report.decoded, 1)
        let file = try H5Object.openFile(zstd.path)
        XCTAssertEqual(try file.stringAttribute("compression"), "zstd-2")
        let layouts = try sources.map { try DirectChunkTests.dataset(zstd, $0.id).1.storedChunkLayout(frameShape: [32, 48, 3])?.codec }
        XCTAssertEqual(layouts, [.deflate, .deflate, .zstd])
        let reader = try ClipCacheReader(zstd)
        for s in sources {
            let direct = try VideoReader(path: s.path).read(spec: spec)
            XCTAssertEqual(try reader.readClip(videoID: s.id, start: 0, count: 40).pixels, direct.pixels)
        }
        XCTAssertTrue(try reader.verify().ok)
    }

    func testExtractWithZstd() throws {
        let dir = try TestSupport.tempDir(self)
        let bikes = try TestSupport.fixture("bikes.mp4")
        let spec = DecodeSpec(shortSide: 64, fps: 5)
        try FramesFile.extract(source: bikes, to: "\(dir)/z.h5", spec: spec, count: 12, compression: .zstd(level: 3))
        try FramesFile.extract(source: bikes, to: "\(dir)/d.h5", spec: spec, count: 12, compression: .deflate(level: 1))
        let z = try FramesFile.read("\(dir)/z.h5"), d = try FramesFile.read("\(dir)/d.h5")
        XCTAssertEqual(z.count, 12)
        XCTAssertTrue(z.pixels == d.pixels)
        let file = try H5Object.openFile("\(dir)/z.h5")
        let frames = try file.openDataset("frames")
        XCTAssertEqual(try frames.stringAttribute("compression"), "zstd-3")
        XCTAssertEqual(filter(frames).id, 32015)
    }

    func testCompressionNames() throws {
        XCTAssertEqual(try CacheCompression(tag: "zstd-1"), .zstd(level: 1))
        XCTAssertEqual(try CacheCompression(tag: "zstd--5"), .zstd(level: -5))
        XCTAssertEqual(try CacheCompression(tag: "deflate-9"), .deflate(level: 9))
        XCTAssertEqual(try CacheCompression(tag: "none"), CacheCompression.none)
        XCTAssertEqual(try CacheCompression(codec: "zstd").tag, "zstd-\(CacheCompression.defaultLevel(codec: "zstd")!)")
        for bad in ["zstd-0", "deflate-0", "deflate-10", "none-1", "lz4-1", "zstd-x", "zstd-99"] {
            XCTAssertThrowsError(try CacheCompression(tag: bad), bad)
        }
        XCTAssertEqual(CacheCompression.zstd(level: -5).tag, "zstd--5")
    }

    // MARK: h5py + hdf5plugin

    private func python() throws -> String {
        guard ProcessInfo.processInfo.environment["TEMPO_PYTHON"] != nil || TestSupport.which("python3") != nil else {
            throw XCTSkip("no Python: set TEMPO_PYTHON to a python with h5py, numpy and hdf5plugin")
        }
        return try H5pyTests.python(importing: "h5py, numpy, hdf5plugin",
                                    skip: "`import hdf5plugin, h5py, numpy` failed (set TEMPO_PYTHON to a python with h5py, numpy and hdf5plugin)")
    }

    /// h5py, with hdf5plugin's zstd filter, reads a zstd cache byte for byte as our reader does.
    func testH5pyWithHdf5pluginReadsZstdCache() throws {
        let py = try python()
        let dir = try TestSupport.tempDir(self)
        let (cache, sources) = try DirectChunkTests.makeCache(dir, chunkFrames: 4, compression: .zstd(level: 1))
        // One chunk stored raw (filter skipped) too: h5py must honour the filter mask.
        let raw = (0..<(4 * frameBytes)).map { UInt8(truncatingIfNeeded: $0 &* 5) }
        try DirectChunkTests.writeRawChunk(raw, frame: 8, cache: cache, id: sources[1].id)
        let script = """
        import hdf5plugin, h5py, numpy as np, sys
        with h5py.File(sys.argv[1], "r") as f:
            assert f.attrs["compression"] == "zstd-1", f.attrs["compression"]
            for i, key in enumerate(sorted(f["videos"])):
                v = f["videos"][key]
                filt = v.id.get_create_plist().get_filter(0)
                assert filt[0] == 32015 and tuple(filt[2]) == (1,), filt
                assert v.chunks == (4, 32, 48, 3) and v.dtype == np.uint8, (v.chunks, v.dtype)
                with open(f"{sys.argv[2]}/{i}.bin", "wb") as out:
                    out.write(v[...].tobytes())
                print(v.attrs["video_id"])
        """
        let (status, stdout, stderr) = try TestSupport.run(py, ["-c", script, cache.path, dir])
        XCTAssertEqual(status, 0, stderr)
        let ids = String(decoding: stdout, as: UTF8.self).split(separator: "\n").map(String.init)
        let reader = try ClipCacheReader(cache)
        XCTAssertEqual(ids.sorted(), sources.map(\.id).sorted())
        for (i, id) in ids.enumerated() {
            let theirs = try Data(contentsOf: URL(fileURLWithPath: "\(dir)/\(i).bin"))
            let ours = try reader.readClip(videoID: id, start: 0, count: 70).pixels
            XCTAssertEqual(theirs.count, ours.count)
            XCTAssertTrue(theirs.elementsEqual(ours), "\(id): h5py's bytes differ from ours")
        }
    }

    /// The other way round: frames h5py writes with `hdf5plugin.Zstd` (plain ZSTD_compress
    /// frames, no checksum) read here through the registered filter and the direct decompressor.
    func testHdf5pluginWrittenZstdReadsHere() throws {
        let py = try python()
        let dir = try TestSupport.tempDir(self)
        let path = "\(dir)/theirs.h5"
        let script = """
        import hdf5plugin, h5py, numpy as np, sys
        frames = (np.arange(10 * 32 * 48 * 3, dtype=np.int64) * 7 % 251).astype(np.uint8).reshape(10, 32, 48, 3)
        with h5py.File(sys.argv[1], "w") as f:
            f.create_dataset("frames", data=frames, chunks=(4, 32, 48, 3), **hdf5plugin.Zstd(clevel=3))
            f["frames"].attrs["fps"] = 25.0
        """
        let (status, _, stderr) = try TestSupport.run(py, ["-c", script, path])
        XCTAssertEqual(status, 0, stderr)
        let expected = (0..<(10 * frameBytes)).map { UInt8($0 * 7 % 251) }
        XCTAssertEqual(try FramesFile.read(path).pixels, expected)

        let file = try H5Object.openFile(path)
        let d = try file.openDataset("frames")
        XCTAssertEqual(try d.storedChunkLayout(frameShape: [32, 48, 3]), .init(chunkFrames: 4, codec: .zstd))
        let size = try d.storedChunkSize(frame: 4, rank: 4)
        let stored = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 16)
        defer { stored.deallocate() }
        XCTAssertEqual(try d.readStoredChunk(frame: 4, rank: 4, into: stored.baseAddress!), 0)
        var out = [UInt8](repeating: 0, count: 4 * frameBytes)
        try out.withUnsafeMutableBytes { dst in
            try ZstdDecompressor(file: path).decompress(UnsafeRawBufferPointer(stored), into: dst, file: path, what: "chunk 1")
        }
        XCTAssertEqual(out, Array(expected[(4 * frameBytes)..<(8 * frameBytes)]))
    }
}
