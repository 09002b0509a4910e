import Foundation
import CFFmpeg

/// The one place where FFmpeg return codes become `MediaError`s.
enum FFmpeg {
    /// Throws when `code` is negative; returns it otherwise (some calls return counts).
    @discardableResult
    static func check(_ code: Int32, _ what: String, file: String) throws(MediaError) -> Int32 {
        guard code < 0 else { return code }
        throw error(code, what, file: file)
    }

    /// Maps an AVERROR to the most specific case: container-level garbage reads as
    /// "not a video", decoder complaints as "corrupt".
    static func error(_ code: Int32, _ what: String, file: String) -> MediaError {
        let message = errorString(code)
        if code == shim_AVERROR_INVALIDDATA() {
            if what.hasPrefix("avformat") { return .notAVideo(file: file, detail: "\(what): \(message)") }
            return .corrupt(file: file, detail: "\(what): \(message)")
        }
        return .ffmpeg(file: file, what: what, code: code, message: message)
    }

    static func errorString(_ code: Int32) -> String {
        var buffer = [CChar](repeating: 0, count: Int(shim_AV_ERROR_MAX_STRING_SIZE()) + 1)
        if av_strerror(code, &buffer, buffer.count) < 0 { return "unknown error" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// FFmpeg's own log lines duplicate the typed errors and would swamp a cache build over
    /// thousands of files; `TEMPO_FFMPEG_LOG=1` brings them back for debugging.
    static let configureLogging: Void = {
        if let v = getenv("TEMPO_FFMPEG_LOG"), String(cString: v) == "1" {
            av_log_set_level(shim_AV_LOG_ERROR())
        } else {
            av_log_set_level(shim_AV_LOG_QUIET())
        }
    }()

    /// Serialises encoder opening (see `VideoWriter`).
    static let encoderOpenLock = NSLock()

    /// Revision of our decoding on top of FFmpeg; entries decoded by an older one must not
    /// be reused. 1: the RGB conversion lost the last width % 8 columns of 4:2:0/4:2:2
    /// frames at the stored size (black), and a gap in a JPEG folder's numbering moved every
    /// later frame one frame earlier. 2: conversion through padded rows (`FrameConverter`).
    /// 3: gaps are filled by repeating the previous frame, damaged JPEGs are errors.
    static let decodeRevision = 3

    /// Runtime library versions and the decode revision; decoded pixels may change with
    /// any of them, so the clip cache keys entries on this string.
    public static var versionString: String {
        func v(_ x: UInt32) -> String { "\(x >> 16).\((x >> 8) & 0xff).\(x & 0xff)" }
        return "libavformat \(v(avformat_version())), libavcodec \(v(avcodec_version())), "
            + "libswscale \(v(swscale_version())), libavutil \(v(avutil_version())), tempo decode \(decodeRevision)"
    }
}

/// Library versions the decoded pixels depend on.
public enum MediaLibraries {
    /// e.g. `libavformat 59.27.100, libavcodec 59.37.100, libswscale 6.7.100, libavutil 57.28.100, tempo decode 3`.
    public static var ffmpegVersion: String { FFmpeg.versionString }
    /// The linked HDF5 library version, e.g. `1.10.8`.
    public static var hdf5Version: String { HDF5.version }
    /// Whether the installed libavcodec can encode H.264 (libx264).
    public static var hasH264Encoder: Bool { avcodec_find_encoder_by_name("libx264") != nil }
}

#if canImport(Glibc)
import Glibc
#endif
