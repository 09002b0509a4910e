import Foundation

/// A video to cache: `id` names its entry (a dataset record id, or a relative path), `path`
/// is the file or JPEG frame folder.
public struct CacheSource: Sendable, Equatable, Codable {
    public var id: String
    public var path: String

    public init(id: String, path: String) {
        self.id = id
        self.path = path
    }
}

/// A video that could not be cached, and why.
public struct BadVideo: Sendable, Equatable, Codable {
    public var id: String
    public var path: String
    /// `MediaError.kind`: `not-found`, `empty`, `not-a-video`, `no-video-stream`, `truncated`, `corrupt`, ...
    public var kind: String
    public var message: String
}

/// The HDF5 clip cache of one (cache name, decode spec): decoded uint8 frames of many videos
/// in one file, read back as random windows by samplers. Layout: `docs/cache-layout.md`.
///
/// Files under `<directory>/<name>/`:
/// - `<spec tag>.h5`: the cache. Only ever replaced whole, by `rename`, so it is always a
///   complete file (old or new) whatever happens to a writer.
/// - `<spec tag>.parts/`: entries decoded but not yet merged, one small HDF5 file each,
///   written under a `.tmp` name and renamed when complete. A killed build leaves its
///   finished parts here and the next build merges them (resume); `*.tmp` leftovers are
///   ignored and removed.
/// - `<spec tag>.lock`: `flock`ed while merging, so concurrent builders take turns;
///   per-entry `*.claim` locks in the parts folder keep two builders off the same video.
public final class ClipCache: @unchecked Sendable {
    public let directory: String
    public let name: String
    public let spec: DecodeSpec
    /// Decoder settings (threads, frame-folder rate). The folder rate is part of the key.
    public let readerOptions: ReaderOptions
    /// Frames per HDF5 chunk of new entries (chunks are `[chunkFrames, H, W, 3]`).
    public let chunkFrames: Int
    /// The filter of new entries. Like the chunking, it does not decide whether an entry is
    /// reused: entries written with another codec or level stay, and are read by their own layout.
    public let compression: CacheCompression
    /// A window of W frames decompresses about W + 3 frames with chunks of 4 (W + 15 with 16),
    /// and its 17 chunks spread more evenly over the cores: zstd-3 windows read ~218 clips/s
    /// with chunks of 4, ~198 with 8 and ~165 with 16 (deflate-1: 102, 93, 77). Uncompressed
    /// reads are faster with 16 (benchmarks/RESULTS.md, Media).
    public static let defaultChunkFrames = 4
    /// Zstandard level 3: decoded video compresses 1.43× (deflate-1: 1.45×, zstd-1: 1.28×; on
    /// bikes.mp4), and with chunks of 4 frames random 64-frame windows read about 12× faster
    /// than they decode on 2 cores, where deflate's inflate speed holds them to ~6×
    /// (benchmarks/RESULTS.md, Media). `.deflate(level: 1)` writes files that plain h5py reads
    /// without hdf5plugin.
    public static let defaultCompression = CacheCompression.zstd(level: 3)
    /// Merge pending parts once they reach max(this, size of the cache file), so the
    /// copy-on-merge costs stay linear in the cache size overall.
    public var mergeThresholdBytes: Int64 = 256 << 20

    public init(directory: String, name: String, spec: DecodeSpec, readerOptions: ReaderOptions = .init(),
                chunkFrames: Int = ClipCache.defaultChunkFrames, compression: CacheCompression = ClipCache.defaultCompression) {
        self.directory = directory
        self.name = name
        self.spec = spec
        self.readerOptions = readerOptions
        self.chunkFrames = chunkFrames
        self.compression = compression
    }

    /// A deflate cache at zlib level `deflateLevel` (0 = uncompressed).
    public convenience init(directory: String, name: String, spec: DecodeSpec, readerOptions: ReaderOptions = .init(),
                            chunkFrames: Int = ClipCache.defaultChunkFrames, deflateLevel: Int) {
        self.init(directory: directory, name: name, spec: spec, readerOptions: readerOptions, chunkFrames: chunkFrames,
                  compression: deflateLevel > 0 ? .deflate(level: deflateLevel) : .none)
    }

    /// The spec tag, plus the frame-folder rate when it differs from the default.
    public var specTag: String {
        readerOptions.folderFPS == 30 ? spec.tag : spec.tag + "-folder\(readerOptions.folderFPS)"
    }

    public var folder: String { (directory as NSString).appendingPathComponent(name) }
    /// The cache file.
    public var path: String { (folder as NSString).appendingPathComponent(specTag + ".h5") }
    var partsFolder: String { (folder as NSString).appendingPathComponent(specTag + ".parts") }
    var lockPath: String { (folder as NSString).appendingPathComponent(specTag + ".lock") }

    /// The HDF5 link name of a video id: `/` and `%` are percent-encoded so ids with folders
    /// (`train/abseiling/x.mp4`) stay one dataset; the original id is the `video_id` attribute.
    public static func key(for id: String) -> String {
        var out = ""
        for ch in id {
            switch ch {
            case "%": out += "%25"
            case "/": out += "%2F"
            default: out.append(ch)
            }
        }
        if out == "." || out == ".." || out.isEmpty { out = "%" + out.utf8.map { String(format: "%02X", $0) }.joined() }
        return out
    }

    /// Removes every file of cache `name` (all decode specs).
    public static func clear(directory: String, name: String) throws(MediaError) {
        let folder = (directory as NSString).appendingPathComponent(name)
        guard FileManager.default.fileExists(atPath: folder) else { return }
        do { try FileManager.default.removeItem(atPath: folder) } catch {
            throw .io(file: folder, what: "remove cache", errno: FileSystemErrors.errno(of: error))
        }
    }

    /// Cache files under `directory` (optionally only cache `name`).
    public static func cacheFiles(directory: String, name: String? = nil) -> [String] {
        let fm = FileManager.default
        let names = name.map { [$0] } ?? ((try? fm.contentsOfDirectory(atPath: directory)) ?? []).sorted()
        var files: [String] = []
        for n in names {
            let folder = (directory as NSString).appendingPathComponent(n)
            let entries = ((try? fm.contentsOfDirectory(atPath: folder)) ?? []).sorted()
            files += entries.filter { $0.hasSuffix(".h5") }.map { (folder as NSString).appendingPathComponent($0) }
        }
        return files
    }

    /// All videos under `folder` (by extension) and JPEG frame folders, with ids relative to
    /// it (extension removed), sorted by id.
    public static func sources(inFolder folder: String) throws(MediaError) -> [CacheSource] {
        let videoExtensions: Set<String> = ["mp4", "avi", "webm", "mkv", "mov", "m4v", "mpg", "mpeg", "flv", "ogv", "3gp"]
        guard let walker = FileManager.default.enumerator(atPath: folder) else {
            throw .notFound(file: folder)
        }
        var found: [CacheSource] = []
        var frameFolders = Set<String>()
        while let rel = walker.nextObject() as? String {
            let ext = (rel as NSString).pathExtension.lowercased()
            if videoExtensions.contains(ext) {
                found.append(CacheSource(id: (rel as NSString).deletingPathExtension,
                                         path: (folder as NSString).appendingPathComponent(rel)))
            } else if ext == "jpg" || ext == "jpeg" {
                frameFolders.insert((rel as NSString).deletingLastPathComponent)
            }
        }
        for rel in frameFolders {
            let path = rel.isEmpty ? folder : (folder as NSString).appendingPathComponent(rel)
            found.append(CacheSource(id: rel.isEmpty ? (folder as NSString).lastPathComponent : rel, path: path))
        }
        return found.sorted { $0.id < $1.id }
    }
}

/// Attribute names shared by writers and readers (documented in docs/cache-layout.md).
enum CacheAttr {
    static let format = "tempo-bench/clip-cache"
    static let layoutVersion: Int64 = 1
}
