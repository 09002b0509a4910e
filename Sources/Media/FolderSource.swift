import CFFmpeg
import Foundation

/// A folder of JPEG frames named `<prefix><number>.jpg`, e.g. `frame_0000000001.jpg`
/// (Epic-Kitchens) or `<video>_000001.jpg` (AVA dumps). Frames are ordered by number, and
/// frame `i` (0-based position) shows at `i / fps` seconds; the folder carries no rate, so
/// the caller gives it.
final class FolderSource: FrameSource {
    let file: String
    let files: [String]
    private(set) var info: VideoInfo
    private let codec: CodecContext
    private let packet = Packet()
    private let frame = Frame()
    private var position = 0

    /// The frame files of `folder` in order, or an error when it holds none.
    static func listFrames(_ folder: String) throws(MediaError) -> [String] {
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
        return numbered.filter { $0.1 == prefix }.sorted { $0.0 < $1.0 }
            .map { (folder as NSString).appendingPathComponent($0.2) }
    }

    init(folder: String, fps: Double) throws(MediaError) {
        file = folder
        files = try FolderSource.listFrames(folder)
        guard let decoder = avcodec_find_decoder(AV_CODEC_ID_MJPEG) else {
            throw .unsupported(file: folder, detail: "no MJPEG decoder")
        }
        codec = try CodecContext(codec: decoder, file: folder)
        try FFmpeg.check(avcodec_open2(codec.pointer, decoder, nil), "avcodec_open2", file: folder)
        info = VideoInfo(path: folder, container: "jpeg-folder", codec: "mjpeg", width: 0, height: 0,
                         fps: fps, frames: files.count, framesDeclared: true,
                         duration: Double(files.count) / fps)
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
        let path = files[position]
        let size = try Preflight.regularFile(path)
        guard let fh = fopen(path, "rb") else { throw .io(file: path, what: "fopen", errno: errno) }
        defer { fclose(fh) }
        let p = packet.pointer
        try FFmpeg.check(av_new_packet(p, Int32(size)), "av_new_packet", file: path)
        defer { av_packet_unref(p) }
        guard fread(p.pointee.data, 1, Int(size), fh) == Int(size) else {
            throw .io(file: path, what: "fread", errno: errno == 0 ? EIO : errno)
        }
        let ctx = codec.pointer
        try FFmpeg.check(avcodec_send_packet(ctx, p), "avcodec_send_packet", file: path)
        let f = frame.pointer
        let r = avcodec_receive_frame(ctx, f)
        if r < 0 {
            if r == shim_AVERROR_EAGAIN() { throw .corrupt(file: path, detail: "JPEG decoder produced no image") }
            throw FFmpeg.error(r, "avcodec_receive_frame", file: path)
        }
        if (f.pointee.flags & shim_AV_FRAME_FLAG_CORRUPT()) != 0 || f.pointee.decode_error_flags != 0 {
            throw .corrupt(file: path, detail: "decoder flagged the image as corrupt")
        }
        let index = position
        position += 1
        return DecodedFrame(frame: f, index: index, time: Double(index) / info.fps)
    }
}
