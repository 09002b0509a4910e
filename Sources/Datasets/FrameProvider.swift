import Foundation
import Media

/// Where samplers get frames: the HDF5 clip cache when the video is in it, else a direct
/// decode (nothing is cached). Frames are uint8 `[T, H, W, 3]` at the decode spec's size and
/// rate. Safe to share between threads (each decode opens its own reader).
public final class FrameProvider: @unchecked Sendable {
    public let spec: DecodeSpec
    public let cache: ClipCacheReader?
    /// Frames held in memory by video id (served as they are, before cache and decoding).
    let memory: [String: Frames]
    private let lock = NSLock()
    private var lengths: [String: Int] = [:]

    public init(spec: DecodeSpec, cache: ClipCacheReader? = nil) {
        self.spec = spec
        self.cache = cache
        self.memory = [:]
    }

    /// A provider of frames already in memory, by video id (small sources and tests).
    public init(spec: DecodeSpec, frames: [String: Frames]) {
        self.spec = spec
        self.cache = nil
        self.memory = frames
    }

    func options(_ record: VideoRecord) -> ReaderOptions {
        ReaderOptions(threads: 1, folderFPS: record.fps ?? 30)
    }

    func cached(_ record: VideoRecord) -> Bool { cache?.videoIDs.contains(record.id) ?? false }

    /// Frames in the video under the decode spec.
    public func length(of record: VideoRecord) throws(DatasetError) -> Int {
        lock.lock()
        if let n = lengths[record.id] { lock.unlock(); return n }
        lock.unlock()
        let n: Int
        if let f = memory[record.id] {
            n = f.count
        } else if cached(record), let cache {
            n = try DatasetError.media { () throws(MediaError) in try cache.entry(record.id).frames }
        } else {
            let info = try DatasetError.media { () throws(MediaError) in try VideoReader.probe(record.source, options: options(record)) }
            n = spec.fps.map { max(1, Int((info.duration * $0).rounded(.down))) } ?? info.frames
        }
        lock.lock(); lengths[record.id] = n; lock.unlock()
        return n
    }

    /// `count` consecutive frames from `start` (clamped into the video; a short video repeats
    /// its last frame).
    public func frames(of record: VideoRecord, start: Int, count: Int) throws(DatasetError) -> Frames {
        let total = try length(of: record)
        let s = max(0, min(start, total - 1))
        let n = max(1, min(count, total - s))
        var frames: Frames
        if let f = memory[record.id] {
            frames = Frames(pixels: Array(f.pixels[(s * f.frameBytes)..<((s + n) * f.frameBytes)]), count: n,
                            height: f.height, width: f.width, fps: f.fps)
        } else if cached(record), let cache {
            let (pixels, shape) = try DatasetError.media { () throws(MediaError) in try cache.readClip(videoID: record.id, start: s, count: n) }
            frames = Frames(pixels: pixels, count: shape[0], height: shape[1], width: shape[2],
                            fps: try DatasetError.media { () throws(MediaError) in try cache.entry(record.id).fps })
        } else {
            let reader = try DatasetError.media { () throws(MediaError) in try VideoReader(path: record.source, options: options(record)) }
            let position: FramePosition = spec.fps.map { .time(Double(s) / $0) } ?? .frame(s)
            frames = try DatasetError.media { () throws(MediaError) in try reader.read(spec: spec, start: position, count: n) }
        }
        // Pad by repeating the last frame so callers always get `count` frames.
        while frames.count < count {
            frames.pixels.append(contentsOf: frames.frame(frames.count - 1))
            frames.count += 1
        }
        return frames
    }
}
