import CFFmpeg
import Foundation

/// Settings for writing videos and frame folders.
public struct EncodeOptions: Sendable {
    /// Frames per second of the written video.
    public var fps: Double
    /// Quality: CRF for H.264/VP9 (lower is better, default 20/32), qscale for MPEG-4 part 2
    /// and JPEG (1 best .. 31, default 3). nil picks the default.
    public var quality: Int?
    /// Keyframe interval in frames.
    public var gop: Int
    /// Encoder threads; 0 lets FFmpeg pick.
    public var threads: Int

    public init(fps: Double = 25, quality: Int? = nil, gop: Int = 32, threads: Int = 0) {
        self.fps = fps
        self.quality = quality
        self.gop = gop
        self.threads = threads
    }
}

/// Writes RGB frames (`[H, W, 3]` uint8 each) as a video file. The codec follows the file
/// name: `.mp4`/`.mkv`/`.mov` get H.264 (libx264) when the installed libavcodec has it,
/// MPEG-4 part 2 otherwise; `.avi` gets MPEG-4 part 2 (as UCF-101/HMDB-51 ship); `.webm`
/// gets VP9. The file is written under a temporary name and renamed on `finish()`, so a
/// crash never leaves a half-written video under the final name.
public final class VideoWriter {
    public let path: String
    public let width: Int
    public let height: Int
    /// The encoder in use (`libx264`, `mpeg4`, `libvpx-vp9`).
    public let encoderName: String
    private let partialPath: String
    private let output: OutputContext
    private let codec: CodecContext
    private let stream: UnsafeMutablePointer<AVStream>
    private let frame = Frame()
    /// The RGB input, copied into FFmpeg's padded rows for swscale.
    private let rgbFrame: Frame
    private let packet = Packet()
    private let scale = ScaleContext()
    private var nextPTS: Int64 = 0
    private var finished = false

    /// Encoder names to try for a file name, best first.
    static func encoders(for path: String) -> [String] {
        switch (path as NSString).pathExtension.lowercased() {
        case "avi": return ["mpeg4"]
        case "webm": return ["libvpx-vp9"]
        default: return ["libx264", "mpeg4"]
        }
    }

    public init(path: String, width: Int, height: Int, options: EncodeOptions = .init()) throws(MediaError) {
        self.path = path
        self.width = width
        self.height = height
        guard width > 0, height > 0, width % 2 == 0, height % 2 == 0 else {
            throw .invalidArgument(file: path, detail: "frame size \(width)x\(height) must be positive and even (4:2:0 chroma)")
        }
        guard let found = VideoWriter.encoders(for: path).lazy
            .compactMap({ name in avcodec_find_encoder_by_name(name).map { (name, $0) } }).first else {
            throw .unsupported(file: path, detail: "no encoder among \(VideoWriter.encoders(for: path))")
        }
        let (name, encoder) = found
        encoderName = name
        guard let format = av_guess_format(nil, path, nil) else {
            throw .unsupported(file: path, detail: "no muxer for this file extension")
        }
        partialPath = path + ".partial"
        output = try OutputContext(path: partialPath, format: String(cString: format.pointee.name))
        codec = try CodecContext(codec: encoder, file: path)
        guard let st = avformat_new_stream(output.pointer, nil) else {
            throw .ffmpeg(file: path, what: "avformat_new_stream", code: shim_AVERROR(ENOMEM), message: "out of memory")
        }
        stream = st
        let ctx = codec.pointer
        let rate = av_d2q(options.fps, 1_001_000)
        ctx.pointee.width = Int32(width)
        ctx.pointee.height = Int32(height)
        ctx.pointee.pix_fmt = AV_PIX_FMT_YUV420P
        ctx.pointee.framerate = rate
        ctx.pointee.time_base = AVRational(num: rate.den, den: rate.num)
        ctx.pointee.gop_size = Int32(options.gop)
        ctx.pointee.thread_count = Int32(options.threads)
        switch name {
        case "libx264":
            av_opt_set(ctx.pointee.priv_data, "preset", "veryfast", 0)
            av_opt_set(ctx.pointee.priv_data, "crf", "\(options.quality ?? 20)", 0)
        case "libvpx-vp9":
            av_opt_set(ctx.pointee.priv_data, "deadline", "realtime", 0)
            av_opt_set(ctx.pointee.priv_data, "cpu-used", "8", 0)
            av_opt_set(ctx.pointee.priv_data, "crf", "\(options.quality ?? 32)", 0)
            ctx.pointee.bit_rate = 0
        default:
            ctx.pointee.flags |= shim_AV_CODEC_FLAG_QSCALE()
            ctx.pointee.global_quality = shim_FF_QP2LAMBDA() * Int32(options.quality ?? 3)
        }
        if (output.pointer.pointee.oformat.pointee.flags & shim_AVFMT_GLOBALHEADER()) != 0 {
            ctx.pointee.flags |= shim_AV_CODEC_FLAG_GLOBAL_HEADER()
        }
        // Encoders opened concurrently on several threads produced different bitstreams for
        // the same frames (measured: synthetic datasets differed between two generations),
        // so opening is serialised.
        FFmpeg.encoderOpenLock.lock()
        let opened = avcodec_open2(ctx, encoder, nil)
        FFmpeg.encoderOpenLock.unlock()
        try FFmpeg.check(opened, "avcodec_open2(\(name))", file: path)
        try FFmpeg.check(avcodec_parameters_from_context(st.pointee.codecpar, ctx), "avcodec_parameters_from_context", file: path)
        st.pointee.time_base = ctx.pointee.time_base
        st.pointee.avg_frame_rate = rate
        if (output.pointer.pointee.oformat.pointee.flags & shim_AVFMT_NOFILE()) == 0 {
            try FFmpeg.check(avio_open(&output.pointer.pointee.pb, partialPath, shim_AVIO_FLAG_WRITE()), "avio_open", file: partialPath)
            output.ioOpen = true
        }
        try FFmpeg.check(avformat_write_header(output.pointer, nil), "avformat_write_header", file: path)

        let f = frame.pointer
        f.pointee.format = AV_PIX_FMT_YUV420P.rawValue
        f.pointee.width = Int32(width)
        f.pointee.height = Int32(height)
        try FFmpeg.check(av_frame_get_buffer(f, 0), "av_frame_get_buffer", file: path)
        rgbFrame = try Frame.allocated(format: AV_PIX_FMT_RGB24, width: width, height: height, file: path)
    }

    /// Appends one frame, `[height, width, 3]` RGB.
    public func append(_ rgb: UnsafeBufferPointer<UInt8>) throws(MediaError) {
        guard rgb.count == width * height * 3 else {
            throw .invalidArgument(file: path, detail: "frame has \(rgb.count) bytes, expected \(width * height * 3)")
        }
        let f = frame.pointer
        try FFmpeg.check(av_frame_make_writable(f), "av_frame_make_writable", file: path)
        let ctx = try scale.context(srcW: Int32(width), srcH: Int32(height), srcFormat: AV_PIX_FMT_RGB24,
                                    dstW: Int32(width), dstH: Int32(height), dstFormat: AV_PIX_FMT_YUV420P,
                                    flags: shim_SWS_BICUBIC(), file: path)
        // swscale reads its input through padded rows too (see shim_sws_scale_frames).
        shim_copy_packed_into_frame(rgbFrame.pointer, rgb.baseAddress, Int32(width * 3), Int32(height))
        _ = shim_sws_scale_frames(ctx, rgbFrame.pointer, f)
        f.pointee.pts = nextPTS
        nextPTS += 1
        try FFmpeg.check(avcodec_send_frame(codec.pointer, f), "avcodec_send_frame", file: path)
        try drain()
    }

    /// Appends every frame of `frames` (which must match the writer's size).
    public func append(_ frames: Frames) throws(MediaError) {
        guard frames.width == width, frames.height == height else {
            throw .invalidArgument(file: path, detail: "frames are \(frames.width)x\(frames.height), writer is \(width)x\(height)")
        }
        try frames.pixels.withUnsafeBufferPointer { (all) throws(MediaError) in
            for i in 0..<frames.count {
                try append(UnsafeBufferPointer(rebasing: all[(i * frames.frameBytes)..<((i + 1) * frames.frameBytes)]))
            }
        }
    }

    private func drain() throws(MediaError) {
        let p = packet.pointer
        while true {
            let r = avcodec_receive_packet(codec.pointer, p)
            if r == shim_AVERROR_EAGAIN() || r == shim_AVERROR_EOF() { return }
            try FFmpeg.check(r, "avcodec_receive_packet", file: path)
            av_packet_rescale_ts(p, codec.pointer.pointee.time_base, stream.pointee.time_base)
            p.pointee.stream_index = stream.pointee.index
            // av_interleaved_write_frame takes ownership of the packet's data.
            try FFmpeg.check(av_interleaved_write_frame(output.pointer, p), "av_interleaved_write_frame", file: path)
        }
    }

    /// Flushes the encoder, writes the trailer and moves the file to its final name.
    public func finish() throws(MediaError) {
        guard !finished else { return }
        finished = true
        try FFmpeg.check(avcodec_send_frame(codec.pointer, nil), "avcodec_send_frame(flush)", file: path)
        try drain()
        try FFmpeg.check(av_write_trailer(output.pointer), "av_write_trailer", file: path)
        if output.ioOpen {
            avio_closep(&output.pointer.pointee.pb)
            output.ioOpen = false
        }
        guard rename(partialPath, path) == 0 else { throw .io(file: path, what: "rename", errno: errno) }
    }

    deinit {
        if !finished { unlink(partialPath) }
    }

    /// Writes `frames` to `path` in one call.
    public static func write(_ frames: Frames, to path: String, options: EncodeOptions = .init()) throws(MediaError) {
        var opts = options
        opts.fps = frames.fps
        let writer = try VideoWriter(path: path, width: frames.width, height: frames.height, options: opts)
        try writer.append(frames)
        try writer.finish()
    }
}

/// Writes RGB frames as a folder of JPEG files, named by a printf-style pattern with one
/// `%0Nd` (e.g. `frame_%010d.jpg`, `myvideo_%06d.jpg`), numbered from `startNumber`.
public enum FrameFolderWriter {
    /// `quality` is the JPEG qscale (2 best .. 31).
    public static func write(_ frames: Frames, to folder: String, pattern: String = "frame_%010d.jpg",
                             startNumber: Int = 1, quality: Int = 2) throws(MediaError) {
        guard let encoder = avcodec_find_encoder(AV_CODEC_ID_MJPEG) else {
            throw .unsupported(file: folder, detail: "no MJPEG encoder")
        }
        do {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        } catch {
            throw .io(file: folder, what: "create folder", errno: FileSystemErrors.errno(of: error))
        }
        let codec = try CodecContext(codec: encoder, file: folder)
        let ctx = codec.pointer
        ctx.pointee.width = Int32(frames.width)
        ctx.pointee.height = Int32(frames.height)
        // Full-range 4:2:0, as JPEG frame dumps are.
        ctx.pointee.pix_fmt = AV_PIX_FMT_YUVJ420P
        ctx.pointee.time_base = AVRational(num: 1, den: 25)
        ctx.pointee.flags |= shim_AV_CODEC_FLAG_QSCALE()
        ctx.pointee.global_quality = shim_FF_QP2LAMBDA() * Int32(quality)
        FFmpeg.encoderOpenLock.lock()
        let opened = avcodec_open2(ctx, encoder, nil)
        FFmpeg.encoderOpenLock.unlock()
        try FFmpeg.check(opened, "avcodec_open2(mjpeg)", file: folder)
        let frame = Frame(), packet = Packet(), scale = ScaleContext()
        let f = frame.pointer
        f.pointee.format = AV_PIX_FMT_YUVJ420P.rawValue
        f.pointee.width = Int32(frames.width)
        f.pointee.height = Int32(frames.height)
        try FFmpeg.check(av_frame_get_buffer(f, 0), "av_frame_get_buffer", file: folder)
        let rgb = try Frame.allocated(format: AV_PIX_FMT_RGB24, width: frames.width, height: frames.height, file: folder)
        let sws = try scale.context(srcW: Int32(frames.width), srcH: Int32(frames.height), srcFormat: AV_PIX_FMT_RGB24,
                                    dstW: Int32(frames.width), dstH: Int32(frames.height), dstFormat: AV_PIX_FMT_YUVJ420P,
                                    flags: shim_SWS_BICUBIC(), file: folder)
        for i in 0..<frames.count {
            let path = (folder as NSString).appendingPathComponent(formatFrameName(pattern, startNumber + i))
            try FFmpeg.check(av_frame_make_writable(f), "av_frame_make_writable", file: path)
            frames.pixels.withUnsafeBufferPointer { all in
                shim_copy_packed_into_frame(rgb.pointer, all.baseAddress! + i * frames.frameBytes,
                                            Int32(frames.width * 3), Int32(frames.height))
            }
            _ = shim_sws_scale_frames(sws, rgb.pointer, f)
            f.pointee.pts = Int64(i)
            f.pointee.quality = ctx.pointee.global_quality
            try FFmpeg.check(avcodec_send_frame(ctx, f), "avcodec_send_frame", file: path)
            let p = packet.pointer
            try FFmpeg.check(avcodec_receive_packet(ctx, p), "avcodec_receive_packet", file: path)
            defer { av_packet_unref(p) }
            let data = Data(bytes: p.pointee.data, count: Int(p.pointee.size))
            try AtomicFile.write(data, to: path)
        }
    }

    /// `pattern` with its `%0Nd` (or `%d`) replaced by `number`.
    public static func formatFrameName(_ pattern: String, _ number: Int) -> String {
        guard let percent = pattern.firstIndex(of: "%") else { return pattern + "\(number)" }
        var i = pattern.index(after: percent)
        var widthText = ""
        while i < pattern.endIndex, pattern[i].isNumber { widthText.append(pattern[i]); i = pattern.index(after: i) }
        guard i < pattern.endIndex, pattern[i] == "d" else { return pattern }
        let digits = String(number)
        let width = Int(widthText) ?? 0
        let padded = String(repeating: "0", count: max(0, width - digits.count)) + digits
        return String(pattern[..<percent]) + padded + String(pattern[pattern.index(after: i)...])
    }
}

/// Writes a file under a temporary name, then renames it, so readers see all or nothing.
enum AtomicFile {
    static func write(_ data: Data, to path: String) throws(MediaError) {
        let tmp = path + ".tmp.\(getpid())"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw .io(file: path, what: "open", errno: errno) }
        let ok = data.withUnsafeBytes { raw -> Bool in
            var off = 0
            while off < raw.count {
                let n = Glibc.write(fd, raw.baseAddress! + off, raw.count - off)
                if n <= 0 { return false }
                off += n
            }
            return true
        }
        let saved = errno
        close(fd)
        guard ok else { unlink(tmp); throw .io(file: path, what: "write", errno: saved) }
        guard rename(tmp, path) == 0 else { let e = errno; unlink(tmp); throw .io(file: path, what: "rename", errno: e) }
    }
}
