/// How the frames of new clip cache entries and `bench video extract` files are compressed:
/// the HDF5 filter of their datasets (docs/cache-layout.md).
public enum CacheCompression: Sendable, Hashable, CustomStringConvertible {
    /// No filter.
    case none
    /// HDF5's built-in deflate filter (zlib streams) at zlib level 1...9: read by any HDF5
    /// library, h5py included, with nothing else installed.
    case deflate(level: Int)
    /// The registered Zstandard filter (id 32015) at a zstd level (negative levels are zstd's
    /// "fast" ones; 0 is not used). h5py reads it after `import hdf5plugin`.
    case zstd(level: Int)

    /// zstd's levels (0, zstd's alias of its default level, is not accepted).
    public static var zstdLevels: ClosedRange<Int> { Zstd.levels }

    /// Codec names accepted by `init(codec:level:)`.
    public static let codecs = ["zstd", "deflate", "none"]

    /// The level a codec gets when none is given: the cache default's for its codec, else 1.
    public static func defaultLevel(codec: String) -> Int? {
        switch (codec, ClipCache.defaultCompression) {
        case ("deflate", .deflate(let level)), ("zstd", .zstd(let level)): return level
        case ("deflate", _), ("zstd", _): return 1
        default: return nil
        }
    }

    /// A codec by name (`zstd`, `deflate`, `none`) at `level` (its default level when nil).
    public init(codec: String, level: Int? = nil) throws(InvalidCompression) {
        switch codec {
        case "none":
            guard level == nil else { throw InvalidCompression("codec none takes no level, got \(level!)") }
            self = .none
        case "deflate":
            let l = level ?? CacheCompression.defaultLevel(codec: codec)!
            guard (1...9).contains(l) else { throw InvalidCompression("deflate levels are 1...9, got \(l)") }
            self = .deflate(level: l)
        case "zstd":
            let l = level ?? CacheCompression.defaultLevel(codec: codec)!
            guard Zstd.levels.contains(l), l != 0 else {
                throw InvalidCompression("zstd levels are \(Zstd.levels.lowerBound)...-1 and 1...\(Zstd.levels.upperBound), got \(l)")
            }
            self = .zstd(level: l)
        default:
            throw InvalidCompression("unknown codec '\(codec)' (one of \(CacheCompression.codecs.joined(separator: ", ")))")
        }
    }

    /// Parses a `tag` (`none`, `deflate-1`, `zstd-3`, `zstd--5`; a bare codec name takes its
    /// default level).
    public init(tag: String) throws(InvalidCompression) {
        guard let dash = tag.firstIndex(of: "-") else {
            try self.init(codec: tag)
            return
        }
        guard let level = Int(tag[tag.index(after: dash)...]) else {
            throw InvalidCompression("'\(tag)' is not CODEC-LEVEL (zstd-1, deflate-1, none)")
        }
        try self.init(codec: String(tag[..<dash]), level: level)
    }

    /// The codec's name: `none`, `deflate` or `zstd`.
    public var codec: String {
        switch self {
        case .none: return "none"
        case .deflate: return "deflate"
        case .zstd: return "zstd"
        }
    }

    /// What the cache's `compression` attribute records: `none`, `deflate-1`, `zstd-1`, ...
    public var tag: String {
        switch self {
        case .none: return "none"
        case .deflate(let level): return "deflate-\(level)"
        case .zstd(let level): return "zstd-\(level)"
        }
    }

    public var description: String { tag }
}

/// A codec or level that `CacheCompression` does not accept; the message says why.
public struct InvalidCompression: Error, CustomStringConvertible, Sendable {
    public let description: String
    init(_ description: String) { self.description = description }
}
