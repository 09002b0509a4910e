import ArgumentParser
import Foundation
import Media

/// `bench cache build|stats|verify|clear`: the HDF5 clip cache.
struct CacheCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cache",
        abstract: "Fill, describe and check the HDF5 clip cache.",
        discussion: """
        One cache file per (cache name, decode spec): <cache-dir>/<NAME>/<spec>.h5, for example \
        cache/ucf101/s128-native-bilinear.h5. Layout and attributes: docs/cache-layout.md.
        """,
        subcommands: [CacheBuild.self, CacheStatsCommand.self, CacheVerify.self, CacheClear.self])
}

struct CacheLocation: ParsableArguments {
    @Option(help: "Folder holding the caches.")
    var cacheDir = "cache"
}

/// `--codec`, `--level` and the older `--deflate`: the HDF5 filter of the frames written.
struct CompressionOptions: ParsableArguments {
    @Option(help: """
        Compression of the frames: zstd (h5py reads it after `import hdf5plugin`), deflate (read \
        by any HDF5 library, h5py alone included; slower to read) or none. Default: zstd for the \
        clip cache, deflate for `video extract`.
        """)
    var codec: String?

    @Option(help: """
        Codec level: zstd 1...\(CacheCompression.zstdLevels.upperBound) or its fast levels -1, -2, ... (faster, larger; \
        default \(CacheCompression.defaultLevel(codec: "zstd")!)), deflate 1...9 (default \(CacheCompression.defaultLevel(codec: "deflate")!)).
        """)
    var level: Int?

    @Option(help: "zlib level of the deflate filter: the same as --codec deflate --level N (0 = --codec none).")
    var deflate: Int?

    func validate() throws { _ = try compression() }

    /// The compression these options choose (`defaultCodec` at its default level when no codec is given).
    func compression(defaultCodec: String = ClipCache.defaultCompression.codec) throws -> CacheCompression {
        do {
            if let deflate {
                guard codec == nil, level == nil else {
                    throw ValidationError("--deflate N is --codec deflate --level N: give one or the other")
                }
                return deflate == 0 ? .none : try CacheCompression(codec: "deflate", level: deflate)
            }
            return try CacheCompression(codec: codec ?? defaultCodec, level: level)
        } catch let error as InvalidCompression {
            throw ValidationError(error.description)
        }
    }
}

struct CacheBuild: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "build",
        abstract: "Decode every video of a set into the cache (resumable, safe to run concurrently).",
        discussion: """
        Videos already cached from the same source file (size, mtime, SHA-256 of first and last \
        MiB), decode spec and FFmpeg version are skipped. Bad videos (missing, empty, truncated, \
        corrupt, not a video) are recorded and skipped; the command exits non-zero at the end with \
        their count. Until dataset manifests (datasets.yaml) are in place, the videos come from \
        --videos DIR: every video file and JPEG frame folder under it, ids relative to DIR.
        """)

    @Argument(help: "Cache name.")
    var name: String

    @Option(help: "Folder of videos to cache (searched recursively).")
    var videos: String

    @OptionGroup var location: CacheLocation

    @Option(help: "Resize so the shorter side is N pixels (0 = keep the stored size).")
    var shortSide = 128

    @Option(help: "Resample to F frames per second (default: native rate).")
    var fps: Double?

    @Option(help: "Decoder threads (0 = automatic).")
    var threads = 0

    @Option(help: "Frame rate assumed for JPEG frame folders.")
    var folderFps: Double = 30

    @OptionGroup var compression: CompressionOptions

    @Option(help: "Frames per HDF5 chunk of new entries (uncompressed caches read fastest with 16).")
    var chunkFrames = ClipCache.defaultChunkFrames

    @Flag(help: "Print the report as JSON.")
    var json = false

    func validate() throws {
        guard chunkFrames >= 1 else { throw ValidationError("--chunk-frames must be at least 1, got \(chunkFrames)") }
    }

    func run() throws {
        let spec = DecodeSpec(shortSide: shortSide > 0 ? shortSide : nil, fps: fps)
        let cache = ClipCache(directory: location.cacheDir, name: name, spec: spec,
                              readerOptions: ReaderOptions(threads: threads, folderFPS: folderFps),
                              chunkFrames: chunkFrames, compression: try compression.compression())
        let sources = try ClipCache.sources(inFolder: videos)
        let tty = isatty(2) != 0
        let report = try cache.build(sources) { done, total, id in
            if tty { FileHandle.standardError.write(Data("\r\u{1B}[K[\(done)/\(total)] \(id)".utf8)) }
        }
        if tty { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
        } else {
            print("\(cache.path): \(report.entries) entries; this run: \(report.hits) cached, \(report.decoded) decoded, \(report.bad.count) bad")
            for bad in report.bad { print("  bad: \(bad.message)") }
        }
        if !report.bad.isEmpty {
            FileHandle.standardError.write(Data("error: \(report.bad.count) bad video(s) not cached (listed in `bench cache stats`)\n".utf8))
            throw ExitCode(1)
        }
    }
}

struct CacheStatsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stats",
        abstract: "Entries, frames, bytes, compression, hit rate and bad videos of each cache file.")

    @Argument(help: "Cache name (default: every cache under --cache-dir).")
    var name: String?

    @OptionGroup var location: CacheLocation

    @Flag(help: "Print one JSON object per cache file.")
    var json = false

    func run() throws {
        let files = ClipCache.cacheFiles(directory: location.cacheDir, name: name)
        if files.isEmpty { print("no caches under \(location.cacheDir)\(name.map { "/\($0)" } ?? "")") }
        for file in files {
            let stats = try ClipCacheReader(path: file).stats()
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys]
                print(String(decoding: try encoder.encode(stats), as: UTF8.self))
                continue
            }
            let ratio = stats.bytes > 0 ? Double(stats.rawBytes) / Double(stats.bytes) : 0
            print("""
            \(stats.path)
              entries \(stats.entries), frames \(stats.frames), \(stats.bytes) bytes on disk \
            (\(String(format: "%.2f", ratio))x smaller than raw, \(stats.compression))
              hit rate \(stats.hitRate.map { String(format: "%.1f%%", $0 * 100) } ?? "n/a") \
            (\(stats.lookupsHit) hits, \(stats.lookupsMiss) misses), pending parts \(stats.pendingParts)
              \(stats.ffmpegVersion)
              bad videos: \(stats.bad.count)
            """)
            for bad in stats.bad { print("    \(bad.id): \(bad.message)") }
        }
    }
}

struct CacheVerify: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Re-read every entry in full and re-check its source; non-zero exit if any entry is corrupt.")

    @Argument(help: "Cache name (default: every cache under --cache-dir).")
    var name: String?

    @OptionGroup var location: CacheLocation

    @Flag(help: "Skip re-identifying the source files (for a cache copied without its videos).")
    var skipSources = false

    func run() throws {
        var corrupt = 0
        for file in ClipCache.cacheFiles(directory: location.cacheDir, name: name) {
            let report = try ClipCacheReader(path: file).verify(checkSources: !skipSources)
            print("\(file): \(report.checked) checked, \(report.corrupt.count) corrupt, \(report.stale.count) stale")
            for c in report.corrupt { print("  corrupt \(c[0]): \(c[1])") }
            for s in report.stale { print("  stale \(s[0]): \(s[1])") }
            corrupt += report.corrupt.count
        }
        if corrupt > 0 { throw ExitCode(1) }
    }
}

struct CacheClear: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "clear",
        abstract: "Delete a cache (every decode spec of it).")

    @Argument(help: "Cache name.")
    var name: String

    @OptionGroup var location: CacheLocation

    func run() throws {
        try ClipCache.clear(directory: location.cacheDir, name: name)
        print("cleared \(location.cacheDir)/\(name)")
    }
}
