import CFFmpeg

/// The swscale filter used to resize. `bilinear` is the default because it is what
/// `ffmpeg -vf scale=W:H:flags=bilinear` does, which the parity tests pin down.
public enum ScaleFilter: String, Codable, Sendable, CaseIterable {
    case bilinear, bicubic, area

    var swsFlag: Int32 {
        switch self {
        case .bilinear: return shim_SWS_BILINEAR()
        case .bicubic: return shim_SWS_BICUBIC()
        case .area: return shim_SWS_AREA()
        }
    }
}

/// How a video is turned into frames: output is always RGB24 (uint8, [T, H, W, 3]).
///
/// - `shortSide`: resize so the shorter side is this many pixels, the longer side
///   `round(long * shortSide / short)` (aspect kept, no even-size rounding); `nil` keeps
///   the stored size.
/// - `fps`: resample to this rate (each output time shows the latest source frame at or
///   before it, as a player would); `nil` keeps every source frame.
/// - `filter`: swscale's resize filter (`SWS_BILINEAR` by default).
public struct DecodeSpec: Hashable, Codable, Sendable, CustomStringConvertible {
    public var shortSide: Int?
    public var fps: Double?
    public var filter: ScaleFilter

    public init(shortSide: Int? = nil, fps: Double? = nil, filter: ScaleFilter = .bilinear) {
        self.shortSide = shortSide
        self.fps = fps
        self.filter = filter
    }

    /// Full size, native frame rate.
    public static let native = DecodeSpec()

    /// Output size for a source of `width` x `height`.
    public func outputSize(width: Int, height: Int) -> (width: Int, height: Int) {
        guard let n = shortSide, width > 0, height > 0 else { return (width, height) }
        if width <= height {
            return (n, max(1, Int((Double(height) * Double(n) / Double(width)).rounded())))
        }
        return (max(1, Int((Double(width) * Double(n) / Double(height)).rounded())), n)
    }

    /// A file-name-safe tag naming the spec, e.g. `s128-fps30-bilinear` or `full-native-bilinear`.
    public var tag: String {
        let size = shortSide.map { "s\($0)" } ?? "full"
        let rate: String
        if let fps {
            rate = fps == fps.rounded() ? "fps\(Int(fps))" : "fps\(fps)"
        } else {
            rate = "native"
        }
        return "\(size)-\(rate)-\(filter.rawValue)"
    }

    public var description: String { tag }
}

/// Where decoding starts: a source frame index, or a time in seconds from the stream start
/// (the frame displayed at that time, index `floor(t * fps)`).
public enum FramePosition: Sendable, Equatable {
    case frame(Int)
    case time(Double)
}

/// Stream metadata.
public struct VideoInfo: Codable, Sendable, Equatable {
    /// The file or folder path.
    public var path: String
    /// Demuxer name (`mov,mp4,m4a,3gp,3g2,mj2`, `avi`, `matroska,webm`), or `jpeg-folder`.
    public var container: String
    /// Codec name (`h264`, `mpeg4`, `vp9`, `mjpeg`).
    public var codec: String
    public var width: Int
    public var height: Int
    /// Frames per second (average rate; the given rate for frame folders).
    public var fps: Double
    /// Frame count: the container's count when it declares one, else `round(duration * fps)`.
    public var frames: Int
    /// Whether `frames` was declared by the container rather than estimated.
    public var framesDeclared: Bool
    /// Seconds.
    public var duration: Double
}

/// Decoded RGB frames, uint8, layout `[count, height, width, 3]` row-major, RGB interleaved.
public struct Frames: Sendable, Equatable {
    public var pixels: [UInt8]
    public var count: Int
    public var height: Int
    public var width: Int
    /// Frame rate of these frames (after any resampling).
    public var fps: Double

    public init(pixels: [UInt8], count: Int, height: Int, width: Int, fps: Double) {
        self.pixels = pixels
        self.count = count
        self.height = height
        self.width = width
        self.fps = fps
    }

    public var shape: [Int] { [count, height, width, 3] }
    public var frameBytes: Int { height * width * 3 }

    /// Frame `i` as a slice of `pixels` (`[height, width, 3]`).
    public func frame(_ i: Int) -> ArraySlice<UInt8> {
        pixels[(i * frameBytes)..<((i + 1) * frameBytes)]
    }
}
