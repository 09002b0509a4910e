import CFFmpeg

// Owners of FFmpeg's C handles: each frees its handle in `deinit`, so no early return or
// thrown error can leak one.

/// Owns an `AVFormatContext` opened for reading.
final class InputContext {
    var raw: UnsafeMutablePointer<AVFormatContext>?
    let file: String

    init(path: String) throws(MediaError) {
        _ = FFmpeg.configureLogging
        file = path
        try FFmpeg.check(avformat_open_input(&raw, path, nil, nil), "avformat_open_input", file: path)
        try FFmpeg.check(avformat_find_stream_info(raw, nil), "avformat_find_stream_info", file: path)
    }

    var pointer: UnsafeMutablePointer<AVFormatContext> { raw! }

    deinit { avformat_close_input(&raw) }
}

/// Owns an `AVFormatContext` opened for writing, including its AVIO handle.
final class OutputContext {
    var raw: UnsafeMutablePointer<AVFormatContext>?
    let file: String
    var ioOpen = false

    init(path: String, format: String?) throws(MediaError) {
        _ = FFmpeg.configureLogging
        file = path
        try FFmpeg.check(avformat_alloc_output_context2(&raw, nil, format, path),
                         "avformat_alloc_output_context2", file: path)
        guard raw != nil else { throw .unsupported(file: path, detail: "no muxer for this file name") }
    }

    var pointer: UnsafeMutablePointer<AVFormatContext> { raw! }

    deinit {
        if ioOpen { avio_closep(&raw!.pointee.pb) }
        avformat_free_context(raw)
    }
}

/// Owns an `AVCodecContext`.
final class CodecContext {
    var raw: UnsafeMutablePointer<AVCodecContext>?

    init(codec: UnsafePointer<AVCodec>, file: String) throws(MediaError) {
        raw = avcodec_alloc_context3(codec)
        guard raw != nil else { throw .ffmpeg(file: file, what: "avcodec_alloc_context3", code: shim_AVERROR(ENOMEM), message: "out of memory") }
    }

    var pointer: UnsafeMutablePointer<AVCodecContext> { raw! }

    deinit { avcodec_free_context(&raw) }
}

/// Owns an `AVFrame`.
final class Frame {
    var raw: UnsafeMutablePointer<AVFrame>?

    init() {
        raw = av_frame_alloc()
        precondition(raw != nil, "av_frame_alloc: out of memory")
    }

    var pointer: UnsafeMutablePointer<AVFrame> { raw! }

    /// A frame owning a buffer for `format` at `width` x `height`, with FFmpeg's row
    /// alignment and padding (what swscale's SIMD paths need; see shim_sws_scale_frames).
    static func allocated(format: AVPixelFormat, width: Int, height: Int, file: String) throws(MediaError) -> Frame {
        let frame = Frame()
        let f = frame.pointer
        f.pointee.format = format.rawValue
        f.pointee.width = Int32(width)
        f.pointee.height = Int32(height)
        try FFmpeg.check(av_frame_get_buffer(f, 0), "av_frame_get_buffer", file: file)
        return frame
    }

    deinit { av_frame_free(&raw) }
}

/// Owns an `AVPacket`.
final class Packet {
    var raw: UnsafeMutablePointer<AVPacket>?

    init() {
        raw = av_packet_alloc()
        precondition(raw != nil, "av_packet_alloc: out of memory")
    }

    var pointer: UnsafeMutablePointer<AVPacket> { raw! }

    deinit { av_packet_free(&raw) }
}

/// Owns a `SwsContext`, rebuilt only when the source geometry or format changes.
final class ScaleContext {
    var raw: OpaquePointer?
    private(set) var key: [Int32] = []

    init() {}

    /// Returns a context for the given conversion, reusing the previous one when possible.
    func context(srcW: Int32, srcH: Int32, srcFormat: AVPixelFormat,
                 dstW: Int32, dstH: Int32, dstFormat: AVPixelFormat,
                 flags: Int32, file: String) throws(MediaError) -> OpaquePointer {
        let newKey = [srcW, srcH, srcFormat.rawValue, dstW, dstH, dstFormat.rawValue, flags]
        if let raw, newKey == key { return raw }
        sws_freeContext(raw)
        raw = sws_getContext(srcW, srcH, srcFormat, dstW, dstH, dstFormat, flags, nil, nil, nil)
        key = newKey
        guard let raw else {
            throw .unsupported(file: file, detail: "swscale cannot convert \(srcW)x\(srcH) format \(srcFormat.rawValue) to \(dstW)x\(dstH)")
        }
        return raw
    }

    deinit { sws_freeContext(raw) }
}

#if canImport(Glibc)
import Glibc
#endif
