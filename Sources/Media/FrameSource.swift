import CFFmpeg
import Foundation

/// A decoder positioned somewhere in a video: a file (`FileSource`) or a JPEG frame folder
/// (`FolderSource`). Frame indices derive from timestamps, so seeking and sequential
/// reading agree on which frame is which.
protocol FrameSource: AnyObject {
    var info: VideoInfo { get }
    /// Positions the source so that `next()` returns the frame with index `index` (or the
    /// first frame after it when that index has no frame) and onwards.
    func seek(toIndex index: Int) throws(MediaError)
    /// The next decoded frame, valid until the following call; nil at the end.
    func next() throws(MediaError) -> DecodedFrame?
}

/// A decoded (not yet converted) frame and its place in the stream.
struct DecodedFrame {
    var frame: UnsafeMutablePointer<AVFrame>
    var index: Int
    /// Seconds from the stream start.
    var time: Double
}

/// Checks that run before FFmpeg sees a path, so the commonest failures get precise errors.
enum Preflight {
    static func regularFile(_ path: String) throws(MediaError) -> Int64 {
        var st = stat()
        guard stat(path, &st) == 0 else {
            if errno == ENOENT || errno == ENOTDIR { throw .notFound(file: path) }
            throw .io(file: path, what: "stat", errno: errno)
        }
        if (st.st_mode & S_IFMT) == S_IFDIR {
            throw .invalidArgument(file: path, detail: "is a directory without JPEG frames")
        }
        if st.st_size == 0 { throw .emptyFile(file: path) }
        return Int64(st.st_size)
    }

    static func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }
}

/// Decodes a video file with libavformat/libavcodec (send/receive API, frame threading).
final class FileSource: FrameSource {
    let file: String
    let info: VideoInfo
    private let input: InputContext
    private let codec: CodecContext
    private let stream: UnsafeMutablePointer<AVStream>
    private let streamIndex: Int32
    private let packet = Packet()
    private let frame = Frame()
    private let timeBase: Double
    private let startPTS: Int64
    private var draining = false
    private var finished = false
    private var lastIndex = -1
    /// A frame decoded ahead during seeking, returned by the next `next()`.
    private var held: DecodedFrame?
    private var fresh = true

    init(path: String, threads: Int) throws(MediaError) {
        file = path
        _ = try Preflight.regularFile(path)
        input = try InputContext(path: path)
        let fmt = input.pointer
        let best = av_find_best_stream(fmt, AVMEDIA_TYPE_VIDEO, -1, -1, nil, 0)
        guard best >= 0, let st = fmt.pointee.streams[Int(best)],
              (st.pointee.disposition & AV_DISPOSITION_ATTACHED_PIC) == 0 else {
            throw .noVideoStream(file: path)
        }
        stream = st
        streamIndex = best
        // Other streams (audio, subtitles) are skipped by the demuxer rather than read and dropped.
        for i in 0..<Int(fmt.pointee.nb_streams) where Int32(i) != best {
            fmt.pointee.streams[i]!.pointee.discard = AVDISCARD_ALL
        }
        let par = st.pointee.codecpar!
        guard let decoder = avcodec_find_decoder(par.pointee.codec_id) else {
            throw .unsupported(file: path, detail: "no decoder for codec id \(par.pointee.codec_id.rawValue)")
        }
        codec = try CodecContext(codec: decoder, file: path)
        let ctx = codec.pointer
        try FFmpeg.check(avcodec_parameters_to_context(ctx, par), "avcodec_parameters_to_context", file: path)
        ctx.pointee.thread_count = Int32(threads)
        ctx.pointee.thread_type = shim_FF_THREAD_FRAME() | shim_FF_THREAD_SLICE()
        ctx.pointee.pkt_timebase = st.pointee.time_base
        try FFmpeg.check(avcodec_open2(ctx, decoder, nil), "avcodec_open2", file: path)

        let tb = st.pointee.time_base
        timeBase = Double(tb.num) / Double(tb.den)
        startPTS = st.pointee.start_time == shim_AV_NOPTS_VALUE() ? 0 : st.pointee.start_time
        var rate = st.pointee.avg_frame_rate
        if rate.num <= 0 || rate.den <= 0 { rate = st.pointee.r_frame_rate }
        let fps = (rate.num > 0 && rate.den > 0) ? Double(rate.num) / Double(rate.den) : 25
        var duration: Double
        if st.pointee.duration != shim_AV_NOPTS_VALUE() && st.pointee.duration > 0 {
            duration = Double(st.pointee.duration) * timeBase
        } else if fmt.pointee.duration != shim_AV_NOPTS_VALUE() && fmt.pointee.duration > 0 {
            duration = Double(fmt.pointee.duration) / Double(shim_AV_TIME_BASE())
        } else {
            duration = 0
        }
        let declared = Int(st.pointee.nb_frames)
        let frames = declared > 0 ? declared : Int((duration * fps).rounded())
        if duration == 0 && declared > 0 { duration = Double(declared) / fps }
        info = VideoInfo(
            path: path,
            container: String(cString: fmt.pointee.iformat.pointee.name),
            codec: String(cString: avcodec_get_name(par.pointee.codec_id)),
            width: Int(par.pointee.width), height: Int(par.pointee.height),
            fps: fps, frames: frames, framesDeclared: declared > 0, duration: duration)
        guard info.width > 0, info.height > 0 else {
            throw .corrupt(file: path, detail: "video stream has no frame size")
        }
    }

    func next() throws(MediaError) -> DecodedFrame? {
        if let h = held {
            held = nil
            return h
        }
        fresh = false
        let ctx = codec.pointer
        let fmt = input.pointer
        let f = frame.pointer
        while true {
            if finished { return nil }
            let r = avcodec_receive_frame(ctx, f)
            if r == 0 {
                // Strict on purpose: concealed (damaged) frames would enter the cache as if real.
                if (f.pointee.flags & shim_AV_FRAME_FLAG_CORRUPT()) != 0 || f.pointee.decode_error_flags != 0 {
                    throw damaged("decoder flagged frame \(lastIndex + 1) as damaged")
                }
                let ts = f.pointee.best_effort_timestamp
                let index: Int
                let time: Double
                if ts == shim_AV_NOPTS_VALUE() {
                    index = lastIndex + 1
                    time = Double(index) / info.fps
                } else {
                    time = Double(ts - startPTS) * timeBase
                    index = Int((time * info.fps).rounded())
                }
                lastIndex = index
                return DecodedFrame(frame: f, index: index, time: time)
            }
            if r == shim_AVERROR_EOF() {
                finished = true
                try checkComplete()
                return nil
            }
            if r != shim_AVERROR_EAGAIN() { throw decodeError(r, "avcodec_receive_frame") }
            if draining { throw .ffmpeg(file: file, what: "avcodec_receive_frame", code: r, message: "decoder stalled while draining") }

            let p = packet.pointer
            let rr = av_read_frame(fmt, p)
            if rr < 0 {
                if rr != shim_AVERROR_EOF() && !(fmt.pointee.pb != nil && avio_feof(fmt.pointee.pb) != 0) {
                    throw FFmpeg.error(rr, "av_read_frame", file: file)
                }
                // End of input: flush the decoder to get its delayed frames out.
                draining = true
                try FFmpeg.check(avcodec_send_packet(ctx, nil), "avcodec_send_packet(flush)", file: file)
                continue
            }
            defer { av_packet_unref(p) }
            guard p.pointee.stream_index == streamIndex else { continue }
            let s = avcodec_send_packet(ctx, p)
            if s < 0 && s != shim_AVERROR_EAGAIN() { throw decodeError(s, "avcodec_send_packet") }
        }
    }

    /// A decoder error; when the input already ended short of the declared frame count, the
    /// damaged data is the cut-off tail, so it reads as truncation.
    private func decodeError(_ code: Int32, _ what: String) -> MediaError {
        if endedShort {
            return .truncated(file: file, detail: "\(what) failed at frame \(lastIndex + 1) of \(info.frames) declared: \(FFmpeg.errorString(code))")
        }
        return FFmpeg.error(code, what, file: file)
    }

    private func damaged(_ detail: String) -> MediaError {
        endedShort ? .truncated(file: file, detail: "\(detail), \(info.frames) frames declared") : .corrupt(file: file, detail: detail)
    }

    /// The input is exhausted while the container promised many more frames.
    private var endedShort: Bool {
        let pb = input.pointer.pointee.pb
        let ended = draining || (pb != nil && avio_feof(pb) != 0)
        return ended && info.framesDeclared && lastIndex + 1 < info.frames * 9 / 10
    }

    /// A stream that ends far short of the frame count its container declares was cut off
    /// (a partial download, say): report it instead of silently returning fewer frames.
    private func checkComplete() throws(MediaError) {
        guard info.framesDeclared, info.frames > 8 else { return }
        let decoded = lastIndex + 1
        if decoded < info.frames * 9 / 10 {
            throw .truncated(file: file, detail: "decoding stopped at frame \(decoded) of \(info.frames) declared")
        }
    }

    func seek(toIndex index: Int) throws(MediaError) {
        held = nil
        if index <= 0 && fresh { return }
        var back = 0.0
        while true {
            let target = max(0, Double(index) / info.fps - back)
            let ts = startPTS + Int64((target / timeBase).rounded(.down))
            let r = av_seek_frame(input.pointer, streamIndex, ts, shim_AVSEEK_FLAG_BACKWARD())
            if r < 0 {
                // Some files (AVI without an index) cannot seek: decode from the start instead.
                try FFmpeg.check(avformat_seek_file(input.pointer, streamIndex, Int64.min, startPTS, startPTS, 0),
                                 "avformat_seek_file", file: file)
                back = Double.infinity
            }
            avcodec_flush_buffers(codec.pointer)
            draining = false
            finished = false
            lastIndex = -1
            fresh = false
            var first = true
            while let d = try next() {
                if first && d.index > index && target > 0 && back.isFinite {
                    // Landed after the target (open GOP, odd index): back off and retry.
                    break
                }
                first = false
                if d.index >= index {
                    held = d
                    return
                }
            }
            if !first || target == 0 || !back.isFinite {
                if finished { return }  // target beyond the last frame: next() returns nil
            }
            back = back == 0 ? 1 : back * 2
        }
    }
}
