import CFFmpeg
import Foundation

/// A folder of JPEG frames named `<prefix><number>.jpg`, e.g. `frame_0000000001.jpg`
/// (Epic-Kitchens) or `<video>_000001.jpg` (AVA dumps). The file numbers are the timeline:
/// the file numbered `first + i` is frame `i` and shows at `i / fps` seconds (the folder
/// carries no rate, so the caller gives it).
///
/// A number missing between the first and the last file (a gap) is filled by repeating the
/// previous frame (`FolderSource.gapRule`), so no later frame moves in time; `filledFrames`
/// lists those frame indices. Before the first file nothing can be known to be missing.
/// JPEG damage is an error (the decoder's `AV_EF_EXPLODE`): a truncated or corrupted image
/// is not concealed into the frames.
final class FolderSource: FrameSource {
    let file: String
    /// The frame files by frame index; nil where the numbering has a gap.
    let files: [String?]
    /// Frame indices filled by repeating the previous frame.
    let filledFrames: [Int]
    private(set) var info: VideoInfo
    private let codec: CodecContext
    private let packet = Packet()
    private let frame = Frame()
    private var position = 0
    /// The frame index whose image `frame` holds, if any.
    private var decodedIndex: Int?

    /// The rule for gaps, recorded in the clip cache (`frame_gap_rule`).
    static let gapRule = "repeat-previous"

    /// The frame files of `folder` in order, or an error when it holds none.
    static func listFrames(_ folder: String) throws(MediaError) -> [String] {
        try listNumberedFrames(folder).map(\.path)
    }

    /// The frame files of `folder` with their numbers, in order.
    static func listNumberedFrames(_ folder: String) throws(MediaError) -> [(number: Int, path: String)] {
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: folder)
        } catch {
            throw .io(file: folder, what: "list directory", errno: FileSystemErrors.errno(of: error))
        }
        var numbered: [(Int, String, String)] = []
        for name in names {
            let lower = name.lowercased()
            guard lower.hasSuffix(".jpg") || lower.hasSuffix(".jpeg") else { continue }
            let stem = name[..<name.lastIndex(of: ".")!]
            let digits = stem.reversed().prefix { $0.isASCII && $0.isNumber }
            guard !digits.isEmpty, let n = Int(String(digits.reversed())) else { continue }
            let prefix = String(stem.dropLast(digits.count))
            numbered.append((n, prefix, name))
        }
        guard !numbered.isEmpty else {
            throw .notAVideo(file: folder, detail: "folder holds no numbered .jpg frames")
        }
        // One naming scheme per folder; a stray file with another prefix is ignored.
        let counts = Dictionary(grouping: numbered, by: { $0.1 }).mapValues(\.count)
        let prefix = counts.max { $0.value < $1.value || ($0.value == $1.value && $0.key > $1.key) }!.key
        let frames = numbered.filter { $0.1 == prefix }.sorted { $0.0 < $1.0 }
        for (a, b) in zip(frames, frames.dropFirst()) where a.0 == b.0 {
            throw .invalidArgument(file: folder, detail: "frames \(a.2) and \(b.2) have the same number \(a.0)")
        }
        return frames.map { ($0.0, (folder as NSString).appendingPathComponent($0.2)) }
    }

    /// Frame numbers missing between the first and last file of `folder`, as ranges.
    public static func gaps(_ folder: String) throws(MediaError) -> [ClosedRange<Int>] {
        let frames = try listNumberedFrames(folder)
        var gaps: [ClosedRange<Int>] = []
        for (a, b) in zip(frames, frames.dropFirst()) where b.number > a.number + 1 {
            gaps.append((a.number + 1)...(b.number - 1))
        }
        return gaps
    }

    init(folder: String, fps: Double) throws(MediaError) {
        _ = FFmpeg.configureLogging
        file = folder
        let numbered = try FolderSource.listNumberedFrames(folder)
        let first = numbered.first!.number
        var slots = [String?](repeating: nil, count: numbered.last!.number - first + 1)
        for f in numbered { slots[f.number - first] = f.path }
        files = slots
        filledFrames = slots.indices.filter { slots[$0] == nil }
        guard let decoder = avcodec_find_decoder(AV_CODEC_ID_MJPEG) else {
            throw .unsupported(file: folder, detail: "no MJPEG decoder")
        }
        codec = try CodecContext(codec: decoder, file: folder)
        // Damaged JPEGs (a truncated file, bad entropy-coded data) fail instead of being
        // concealed, as the strict checks on video files do.
        codec.pointer.pointee.err_recognition |= shim_AV_EF_EXPLODE()
        try FFmpeg.check(avcodec_open2(codec.pointer, decoder, nil), "avcodec_open2", file: folder)
        info = VideoInfo(path: folder, container: "jpeg-folder", codec: "mjpeg", width: 0, height: 0,
                         fps: fps, frames: slots.count, framesDeclared: true,
                         duration: Double(slots.count) / fps)
        // The size comes from the first frame.
        guard let first = try next() else { throw .notAVideo(file: folder, detail: "no frames") }
        info.width = Int(first.frame.pointee.width)
        info.height = Int(first.frame.pointee.height)
        position = 0
    }

    func seek(toIndex index: Int) throws(MediaError) {
        position = max(0, index)
    }

    func next() throws(MediaError) -> DecodedFrame? {
        guard position < files.count else { return nil }
        let index = position
        // A gap shows the latest frame before it (the first slot always has a file).
        var source = index
        while files[source] == nil { source -= 1 }
        // The frame may have been handed on (av_frame_move_ref leaves it empty): decode again then.
        if decodedIndex != source || frame.pointer.pointee.buf.0 == nil {
            try decode(files[source]!)
            decodedIndex = source
        }
        position += 1
        return DecodedFrame(frame: frame.pointer, index: index, time: Double(index) / info.fps)
    }

    private func decode(_ path: String) throws(MediaError) {
        decodedIndex = nil
        let size = try Preflight.regularFile(path)
        guard let fh = fopen(path, "rb") else { throw .io(file: path, what: "fopen", errno: errno) }
        defer { fclose(fh) }
        let p = packet.pointer
        try FFmpeg.check(av_new_packet(p, Int32(size)), "av_new_packet", file: path)
        defer { av_packet_unref(p) }
        guard fread(p.pointee.data, 1, Int(size), fh) == Int(size) else {
            throw .io(file: path, what: "read", errno: errno == 0 ? EIO : errno)
        }
        let ctx = codec.pointer
        let sent = avcodec_send_packet(ctx, p)
        if sent < 0 {
            throw .corrupt(file: path, detail: "damaged JPEG: \(FFmpeg.errorString(sent))")
        }
        let f = frame.pointer
        let r = avcodec_receive_frame(ctx, f)
        if r < 0 {
            if r == shim_AVERROR_EAGAIN() { throw .corrupt(file: path, detail: "JPEG decoder produced no image") }
            throw .corrupt(file: path, detail: "damaged JPEG: \(FFmpeg.errorString(r))")
        }
        if (f.pointee.flags & shim_AV_FRAME_FLAG_CORRUPT()) != 0 || f.pointee.decode_error_flags != 0 {
            throw .corrupt(file: path, detail: "decoder flagged the image as corrupt")
        }
    }
}
