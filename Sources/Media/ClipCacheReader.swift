import Foundation

/// Shape and rate of one cached video.
public struct CacheEntry: Sendable, Equatable, Codable {
    public var videoID: String
    public var frames: Int
    public var height: Int
    public var width: Int
    /// Frame rate of the stored frames.
    public var fps: Double
}

/// Random access to a cache file's frames, for samplers. Holds the file open read-only; a
/// concurrent merge replaces the file by rename, so an open reader keeps a consistent view.
/// HDF5 here is built thread-safe, and the dataset table is locked, so readers may be shared.
public final class ClipCacheReader: @unchecked Sendable {
    public let path: String
    private let file: H5Object
    private let videos: H5Object?
    /// The HDF5 library here is built without thread safety, so every call through any
    /// reader is serialised on one process-wide lock (samplers read from worker threads).
    static let hdf5Lock = NSRecursiveLock()
    private var lock: NSRecursiveLock { Self.hdf5Lock }
    private var open: [String: OpenVideo] = [:]
    /// Video ids in the cache, sorted by their HDF5 key.
    public let videoIDs: [String]
    private let keys: [String: String]

    public init(path: String) throws(MediaError) {
        self.path = path
        guard FileManager.default.fileExists(atPath: path) else { throw .notFound(file: path) }
        file = try H5Object.openFile(path)
        guard try file.stringAttribute("format") == CacheAttr.format else {
            throw .invalidArgument(file: path, detail: "not a tempo-bench clip cache (no format attribute)")
        }
        videos = file.exists("videos") ? try file.openGroup("videos") : nil
        var ids: [String] = []
        var keys: [String: String] = [:]
        for key in try videos?.memberNames() ?? [] {
            let id = try videos!.openDataset(key).stringAttribute("video_id") ?? key
            ids.append(id)
            keys[id] = key
        }
        videoIDs = ids
        self.keys = keys
    }

    /// Opens a cache built by `cache` (`ClipCache.path`).
    public convenience init(_ cache: ClipCache) throws(MediaError) {
        try self.init(path: cache.path)
    }

    /// An open entry: its dataset, shape, and chunk layout when its chunks can be
    /// decompressed here (nil: read through HDF5's pipeline).
    private struct OpenVideo {
        var dataset: H5Object
        var shape: [Int]
        var storedChunks: StoredChunks.Layout?
    }

    private func dataset(_ videoID: String) throws(MediaError) -> OpenVideo {
        lock.lock()
        defer { lock.unlock() }
        if let d = open[videoID] { return d }
        guard let videos, let key = keys[videoID] else {
            throw .invalidArgument(file: path, detail: "video '\(videoID)' is not in the cache")
        }
        let d = try videos.openDataset(key)
        let shape = try d.shape()
        // Every use below indexes [T, H, W, 3]; a dataset of another shape (a damaged or foreign
        // file) is an error naming it, not an index out of range.
        guard shape.count == 4, shape[3] == 3 else {
            throw .invalidArgument(file: path, detail: "video '\(videoID)': shape \(shape) is not [T, H, W, 3]")
        }
        let entry = OpenVideo(dataset: d, shape: shape,
                              storedChunks: try d.storedChunkLayout(frameShape: Array(shape.dropFirst())))
        open[videoID] = entry
        return entry
    }

    public func entry(_ videoID: String) throws(MediaError) -> CacheEntry {
        lock.lock(); defer { lock.unlock() }
        let d = try dataset(videoID)
        return CacheEntry(videoID: videoID, frames: d.shape[0], height: d.shape[1], width: d.shape[2],
                          fps: try d.dataset.doubleAttribute("fps") ?? 0)
    }

    /// Frames `[start, start + count)` of a video: uint8, `shape == [count, H, W, 3]`, RGB.
    /// Reads only the chunks the window touches. Deflate and zstd chunks are copied as stored
    /// under the HDF5 lock and decompressed outside it (libdeflate or zstd), one chunk per core
    /// (`StoredChunks`); any other layout goes through `H5Dread`. Both give the same bytes.
    public func readClip(videoID: String, start: Int, count: Int) throws(MediaError) -> (pixels: [UInt8], shape: [Int]) {
        try readClip(videoID: videoID, start: start, count: count, direct: true)
    }

    /// `readClip`; `direct: false` reads through `H5Dread` and HDF5's own filter whatever the
    /// layout (tests and `bench perf cache` compare the two paths).
    public func readClip(videoID: String, start: Int, count: Int, direct: Bool) throws(MediaError) -> (pixels: [UInt8], shape: [Int]) {
        let d = try dataset(videoID)
        guard start >= 0, count > 0, start + count <= d.shape[0] else {
            throw .invalidArgument(file: path, detail: "video '\(videoID)': frames \(start)..<\(start + count) outside 0..<\(d.shape[0])")
        }
        let frameShape = Array(d.shape.dropFirst())
        let total = count * frameShape.reduce(1, *)
        var failure: MediaError?
        // Every byte is written below (each frame lies in exactly one chunk), so skip zeroing.
        let pixels = [UInt8](unsafeUninitializedCapacity: total) { buffer, initialized in
            do throws(MediaError) {
                let out = UnsafeMutableRawPointer(buffer.baseAddress!)
                lock.lock()
                var chunks: StoredChunks?
                do {
                    defer { lock.unlock() }
                    if direct, let layout = d.storedChunks {
                        chunks = try StoredChunks.locate(d.dataset, start: start, count: count,
                                                         layout: layout, frameShape: frameShape)
                    }
                    if chunks == nil {
                        try d.dataset.readFrames(into: out, start: start, count: count, frameShape: frameShape)
                    }
                }
                try chunks?.read(start: start, count: count, into: out, lock: lock, file: path, videoID: videoID)
                initialized = total
            } catch {
                failure = error
                initialized = 0
            }
        }
        if let failure { throw failure }
        return (pixels, [count] + frameShape)
    }
}

/// Summary of a cache file (`bench cache stats`).
public struct CacheStats: Sendable, Codable {
    public var path: String
    public var name: String
    public var spec: String
    public var entries: Int
    public var frames: Int
    /// Size of the cache file on disk.
    public var bytes: Int64
    /// Size of the frames uncompressed.
    public var rawBytes: Int64
    public var compression: String
    /// Finished entries not yet merged into the file.
    public var pendingParts: Int
    public var lookupsHit: Int64
    public var lookupsMiss: Int64
    /// Hits / (hits + misses) over every build so far; nil before any lookup.
    public var hitRate: Double?
    public var ffmpegVersion: String
    public var bad: [BadVideo]
}

/// Result of re-checking every entry (`bench cache verify`).
public struct VerifyReport: Sendable, Codable {
    public var path: String
    public var checked = 0
    /// Entries whose frames could not be read back in full (id, reason).
    public var corrupt: [[String]] = []
    /// Entries whose source changed or vanished, or written by another FFmpeg (id, reason):
    /// a build would decode them again.
    public var stale: [[String]] = []
    public var ok: Bool { corrupt.isEmpty }
}

extension ClipCacheReader {
    public func stats() throws(MediaError) -> CacheStats {
        var frames = 0
        var raw: Int64 = 0
        for id in videoIDs {
            let shape = try dataset(id).shape
            frames += shape[0]
            raw += Int64(shape.reduce(1, *))
        }
        var bad: [BadVideo] = []
        if file.exists("bad") {
            let group = try file.openGroup("bad")
            for key in try group.memberNames() {
                if let b = try ClipCache.record(of: try group.openGroup(key), isBad: true).bad { bad.append(b) }
            }
        }
        let hits = try file.intAttribute("lookups_hit") ?? 0
        let misses = try file.intAttribute("lookups_miss") ?? 0
        var st = stat()
        let size: Int64 = stat(path, &st) == 0 ? Int64(st.st_size) : 0
        let partsFolder = String(path.dropLast(3)) + ".parts"
        let pending = ((try? FileManager.default.contentsOfDirectory(atPath: partsFolder)) ?? []).filter { $0.hasSuffix(".h5") }.count
        return CacheStats(path: path, name: try file.stringAttribute("cache_name") ?? "",
                          spec: try file.stringAttribute("spec") ?? "", entries: videoIDs.count, frames: frames,
                          bytes: size, rawBytes: raw, compression: try file.stringAttribute("compression") ?? "",
                          pendingParts: pending, lookupsHit: hits, lookupsMiss: misses,
                          hitRate: hits + misses > 0 ? Double(hits) / Double(hits + misses) : nil,
                          ffmpegVersion: try file.stringAttribute("ffmpeg_version") ?? "", bad: bad)
    }

    /// Reads every frame of every entry back (which checks the deflate streams' adler32 and the
    /// zstd frames' checksums), checks the shapes against the attributes, and re-identifies
    /// each source file.
    public func verify(checkSources: Bool = true) throws(MediaError) -> VerifyReport {
        var report = VerifyReport(path: path)
        let current = FFmpeg.versionString
        for id in videoIDs {
            report.checked += 1
            do {
                let open = try dataset(id)
                let (d, shape) = (open.dataset, open.shape)
                guard shape.count == 4, shape[3] == 3 else {
                    report.corrupt.append([id, "shape \(shape) is not [T, H, W, 3]"])
                    continue
                }
                if let declared = try d.intAttribute("frames"), declared != Int64(shape[0]) {
                    report.corrupt.append([id, "frames attribute \(declared) != stored \(shape[0])"])
                    continue
                }
                var start = 0
                while start < shape[0] {
                    let n = min(64, shape[0] - start)
                    _ = try readClip(videoID: id, start: start, count: n)
                    start += n
                }
                let record = try ClipCache.record(of: d, isBad: false)
                if record.ffmpegVersion != current {
                    report.stale.append([id, "decoded by \(record.ffmpegVersion), now \(current)"])
                } else if checkSources {
                    let source = try d.stringAttribute("source_path") ?? ""
                    do {
                        if try SourceIdentity.of(source) != record.identity {
                            report.stale.append([id, "source \(source) changed"])
                        }
                    } catch {
                        report.stale.append([id, error.description])
                    }
                }
            } catch {
                report.corrupt.append([id, error.description])
            }
        }
        return report
    }
}
