import CFFmpeg

/// Options for opening a video.
public struct ReaderOptions: Sendable {
    /// Decoder threads (frame + slice threading); 0 lets FFmpeg pick from the core count.
    public var threads: Int
    /// Frame rate assumed for JPEG frame folders, which carry none.
    public var folderFPS: Double

    public init(threads: Int = 0, folderFPS: Double = 30) {
        self.threads = threads
        self.folderFPS = folderFPS
    }
}

/// Reads RGB frames from a video file (any container/codec the installed FFmpeg reads) or
/// from a folder of numbered JPEG frames.
///
/// Frames come out as uint8 `[T, H, W, 3]`, RGB, resized and resampled per `DecodeSpec`.
/// Not thread-safe: use one reader per thread.
public final class VideoReader {
    public let path: String
    private let source: FrameSource
    private var lastFPS: Double

    public init(path: String, options: ReaderOptions = .init()) throws(MediaError) {
        self.path = path
        if Preflight.isDirectory(path) {
            source = try FolderSource(folder: path, fps: options.folderFPS)
        } else {
            source = try FileSource(path: path, threads: options.threads)
        }
        lastFPS = source.info.fps
    }

    /// Stream metadata.
    public var info: VideoInfo { source.info }

    /// Frame indices that repeat the previous frame because the JPEG folder's numbering has
    /// a gap there (`FolderSource`); empty for video files.
    public var filledFrames: [Int] { (source as? FolderSource)?.filledFrames ?? [] }

    /// The rule gaps are filled by, for frame folders (`repeat-previous`); nil for video files.
    public var frameGapRule: String? { source is FolderSource ? FolderSource.gapRule : nil }

    /// Frame numbers missing between the first and last JPEG of a frame folder.
    public static func frameNumberGaps(_ folder: String) throws(MediaError) -> [ClosedRange<Int>] {
        try FolderSource.gaps(folder)
    }

    /// Decodes every frame without converting it, with the same checks as `decode` (damaged
    /// or concealed frames, truncation): what a cache build would reject, found at decoding
    /// cost only. Returns the number of frames.
    @discardableResult
    public func decodeAllFrames() throws(MediaError) -> Int {
        try source.seek(toIndex: 0)
        var n = 0
        while try source.next() != nil { n += 1 }
        if n == 0 { throw .corrupt(file: path, detail: "no frame could be decoded") }
        return n
    }

    /// Metadata without keeping the file open.
    public static func probe(_ path: String, options: ReaderOptions = .init()) throws(MediaError) -> VideoInfo {
        try VideoReader(path: path, options: options).info
    }

    /// Output frame size under `spec`.
    public func outputSize(_ spec: DecodeSpec) -> (width: Int, height: Int) {
        spec.outputSize(width: info.width, height: info.height)
    }

    /// Decodes up to `count` frames (all remaining when nil) from `start`, handing each to
    /// `body` as a `[H, W, 3]` RGB buffer valid only during the call. Returns the number of
    /// frames delivered. A start beyond the last frame is an error.
    @discardableResult
    public func decode(spec: DecodeSpec = .native, start: FramePosition = .frame(0), count: Int? = nil,
                       body: (UnsafeBufferPointer<UInt8>) throws(MediaError) -> Void) throws(MediaError) -> Int {
        let size = outputSize(spec)
        let converter = FrameConverter(width: size.width, height: size.height, filter: spec.filter)
        let limit = count ?? Int.max
        guard limit > 0 else { return 0 }
        let startIndex: Int
        let startTime: Double
        switch start {
        case .frame(let i):
            startIndex = max(0, i)
            startTime = Double(startIndex) / info.fps
        case .time(let t):
            startIndex = max(0, Int((t * info.fps + 1e-6).rounded(.down)))
            startTime = max(0, t)
        }
        try source.seek(toIndex: startIndex)
        let buffer = UnsafeMutablePointer<UInt8>.allocate(capacity: converter.frameBytes)
        defer { buffer.deallocate() }
        let view = UnsafeBufferPointer(start: buffer, count: converter.frameBytes)
        var emitted = 0

        if spec.fps == nil {
            while emitted < limit, let d = try source.next() {
                if d.index < startIndex { continue }
                try converter.convert(d.frame, into: buffer, file: path)
                try body(view)
                emitted += 1
            }
        } else {
            // Resampling: output time τ_n = start + n/fps shows the latest source frame whose
            // time is ≤ τ_n. The previous frame is held until the next one's time is known.
            let outFPS = spec.fps!
            let held = Frame()
            var heldTime: Double? = nil
            var heldConverted = false
            let eps = 1e-6
            func emit(until t: Double) throws(MediaError) {
                while emitted < limit, startTime + Double(emitted) / outFPS < t - eps {
                    if !heldConverted {
                        try converter.convert(held.pointer, into: buffer, file: path)
                        heldConverted = true
                    }
                    try body(view)
                    emitted += 1
                }
            }
            while emitted < limit, let d = try source.next() {
                if heldTime != nil { try emit(until: d.time) }
                av_frame_unref(held.pointer)
                av_frame_move_ref(held.pointer, d.frame)
                heldTime = d.time
                heldConverted = false
            }
            if let t = heldTime, emitted < limit { try emit(until: t + 1 / info.fps) }
        }
        if emitted == 0 {
            throw .invalidArgument(file: path, detail: "start \(start) is beyond the last frame (\(info.frames) frames)")
        }
        return emitted
    }

    /// Decodes frames into memory: uint8 `[T, H, W, 3]`, RGB.
    public func read(spec: DecodeSpec = .native, start: FramePosition = .frame(0), count: Int? = nil) throws(MediaError) -> Frames {
        let size = outputSize(spec)
        var pixels: [UInt8] = []
        if let count { pixels.reserveCapacity(count * size.width * size.height * 3) }
        let n = try decode(spec: spec, start: start, count: count) { (frame: UnsafeBufferPointer<UInt8>) throws(MediaError) in
            pixels.append(contentsOf: frame)
        }
        return Frames(pixels: pixels, count: n, height: size.height, width: size.width, fps: spec.fps ?? info.fps)
    }
}
