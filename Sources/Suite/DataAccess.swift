import Datasets
import Foundation
import Media

/// Datasets as the stages see them: manifest entries, splits, and frame providers backed by
/// the HDF5 clip cache (filled on first use; decoded once per decode spec and FFmpeg version).
public struct DataAccess: Sendable {
    public var manifest: URL
    public var scale: Scale
    /// Root of the clip caches (one folder per dataset).
    public var cacheDirectory: URL

    public init(manifest: URL, scale: Scale, cacheDirectory: URL) {
        self.manifest = manifest; self.scale = scale; self.cacheDirectory = cacheDirectory
    }

    public func entry(_ name: String) throws -> DatasetEntry {
        try DatasetManifest.load(manifest.path, scale: scale.rawValue).entry(name)
    }

    public func split(_ name: String, _ split: SplitName) throws -> DatasetSplit {
        try Dataset.load(entry(name), split: split)
    }

    /// A frame provider for `records`, reading from the clip cache after decoding whatever is
    /// missing. Videos that fail to decode are left out; they are returned.
    public func provider(for entry: DatasetEntry, records: [VideoRecord], progress: ProgressSink)
        throws -> (FrameProvider, bad: [BadVideo]) {
        let spec = (entry.decode ?? DecodeOptions()).spec
        // Uncompressed, in 16-frame chunks (uncompressed reads are fastest with those): windows
        // read 146-177× faster than they decode, against ~12× with the default zstd-3 cache on
        // 2 cores; the suites' caches are small, so they trade disk for read speed
        // (benchmarks/RESULTS.md, Media).
        let cache = ClipCache(directory: cacheDirectory.path, name: entry.name, spec: spec,
                              readerOptions: ReaderOptions(threads: 0, folderFPS: records.first?.fps ?? 30),
                              chunkFrames: 16, deflateLevel: 0)
        let sources = records.map { CacheSource(id: $0.id, path: $0.source) }
        var last = Date.distantPast
        let report = try cache.build(sources) { done, total, _ in
            if Date().timeIntervalSince(last) > 5 || done == total {
                last = Date()
                progress.log("cache   \(entry.name) \(spec.tag): \(done)/\(total) videos")
            }
        }
        for b in report.bad { progress.log("skipped \(entry.name): \(b.path): \(b.kind): \(b.message)") }
        return (FrameProvider(spec: spec, cache: try ClipCacheReader(cache)), report.bad)
    }

    /// Skipped videos as a stage result records them: reason (`undecodable: <kind>`) → their
    /// paths relative to the dataset root (absolute when outside it), sorted, each once.
    public static func skipped(_ bad: [BadVideo], root: String) -> [String: [String]] {
        let prefix = URL(fileURLWithPath: root).standardizedFileURL.path + "/"
        var out: [String: Set<String>] = [:]
        for b in bad {
            let path = URL(fileURLWithPath: b.path).standardizedFileURL.path
            let name = path.hasPrefix(prefix) ? String(path.dropFirst(prefix.count)) : path
            out["undecodable: " + (b.kind.isEmpty ? "unknown" : b.kind), default: []].insert(name)
        }
        return out.mapValues { $0.sorted() }
    }
}
