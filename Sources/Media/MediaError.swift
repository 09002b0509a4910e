/// Every failure of the media module. Each case names the file at fault, so a cache
/// build over thousands of videos can say exactly which one was bad.
public enum MediaError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The path does not exist.
    case notFound(file: String)
    /// The file exists but holds zero bytes.
    case emptyFile(file: String)
    /// FFmpeg could not recognise a container (text, random bytes, a damaged header).
    case notAVideo(file: String, detail: String)
    /// A container without any video stream (an audio file, say).
    case noVideoStream(file: String)
    /// The stream ended well before its declared length.
    case truncated(file: String, detail: String)
    /// The decoder rejected the data.
    case corrupt(file: String, detail: String)
    /// Any other FFmpeg call failed: `what` is the call, `code` its AVERROR value.
    case ffmpeg(file: String, what: String, code: Int32, message: String)
    /// An HDF5 call failed.
    case hdf5(file: String, what: String, message: String)
    /// A POSIX call failed: `what` says what was being done; the description adds the
    /// system's reason and the likely fix.
    case io(file: String, what: String, errno: Int32)
    /// A POSIX call failed where the context knows more than the errno does: `advice` is
    /// added after the likely fix.
    case ioAdvice(file: String, what: String, errno: Int32, advice: String)
    /// The caller asked for something the file cannot give (a frame past the end, say).
    case invalidArgument(file: String, detail: String)
    /// Not supported by the installed libraries (a missing encoder, say).
    case unsupported(file: String, detail: String)

    /// The file the error is about.
    public var file: String {
        switch self {
        case .notFound(let f), .emptyFile(let f), .noVideoStream(let f):
            return f
        case .notAVideo(let f, _), .truncated(let f, _), .corrupt(let f, _),
             .invalidArgument(let f, _), .unsupported(let f, _):
            return f
        case .ffmpeg(let f, _, _, _), .hdf5(let f, _, _), .io(let f, _, _), .ioAdvice(let f, _, _, _):
            return f
        }
    }

    /// A short machine-friendly kind, used in cache records of bad videos.
    public var kind: String {
        switch self {
        case .notFound: return "not-found"
        case .emptyFile: return "empty"
        case .notAVideo: return "not-a-video"
        case .noVideoStream: return "no-video-stream"
        case .truncated: return "truncated"
        case .corrupt: return "corrupt"
        case .ffmpeg: return "ffmpeg"
        case .hdf5: return "hdf5"
        case .io, .ioAdvice: return "io"
        case .invalidArgument: return "invalid-argument"
        case .unsupported: return "unsupported"
        }
    }

    public var description: String {
        switch self {
        case .notFound(let f): return "\(f): no such file"
        case .emptyFile(let f): return "\(f): file is empty (0 bytes)"
        case .notAVideo(let f, let d): return "\(f): not a readable video (\(d))"
        case .noVideoStream(let f): return "\(f): no video stream"
        case .truncated(let f, let d): return "\(f): truncated (\(d))"
        case .corrupt(let f, let d): return "\(f): corrupt video data (\(d))"
        case .ffmpeg(let f, let w, let c, let m): return "\(f): \(w) failed: \(m) (AVERROR \(c))"
        case .hdf5(let f, let w, let m): return "\(f): HDF5 \(w) failed: \(m)"
        case .io(let f, let w, let e): return "\(f): \(w) failed: \(FileSystemErrors.reason(errno: e, path: f))"
        case .ioAdvice(let f, let w, let e, let a): return "\(f): \(w) failed: \(FileSystemErrors.reason(errno: e, path: f)). \(a)"
        case .invalidArgument(let f, let d): return "\(f): \(d)"
        case .unsupported(let f, let d): return "\(f): unsupported: \(d)"
        }
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
