import ArgumentParser
import Foundation
import Media

/// `bench video info|extract`: probe a video, decode frames into HDF5.
struct VideoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "video",
        abstract: "Probe videos and decode frames into HDF5.",
        discussion: """
        Reads any container/codec the installed FFmpeg reads (MP4/H.264, AVI/MPEG-4, WebM/VP9, \
        MKV, ...) and folders of numbered JPEG frames (frame_%010d.jpg, <video>_%06d.jpg).
        """,
        subcommands: [VideoInfoCommand.self, VideoExtractCommand.self])
}

struct VideoInfoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "info",
        abstract: "Print stream metadata: codec, width, height, fps, frames, duration.",
        discussion: "frames is the container's count when it declares one, else round(duration * fps).")

    @Argument(help: "A video file or a folder of JPEG frames.")
    var file: String

    @Flag(help: "Print one JSON object (keys: path, container, codec, width, height, fps, frames, framesDeclared, duration).")
    var json = false

    @Option(help: "Frame rate assumed for a JPEG frame folder.")
    var folderFps: Double = 30

    func run() throws {
        let info = try VideoReader.probe(file, options: ReaderOptions(folderFPS: folderFps))
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            print(String(decoding: try encoder.encode(info), as: UTF8.self))
        } else {
            print("""
            path       \(info.path)
            container  \(info.container)
            codec      \(info.codec)
            size       \(info.width)x\(info.height)
            fps        \(String(format: "%.3f", info.fps))
            frames     \(info.frames)\(info.framesDeclared ? "" : " (estimated)")
            duration   \(String(format: "%.3f", info.duration)) s
            """)
        }
    }
}

struct VideoExtractCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "extract",
        abstract: "Decode frames into an HDF5 file: /frames, uint8 [T, H, W, 3] RGB.",
        discussion: """
        Attributes of /frames: fps (rate of the stored frames), source (input path), start (s), \
        spec, ffmpeg_version, compression. Resizing uses swscale's bilinear filter, matching \
        `ffmpeg -vf scale=W:H:flags=bilinear -pix_fmt rgb24`. Deflate level 1 by default, which \
        h5py reads with no plugin (--codec zstd: smaller and faster to read, h5py needs \
        `import hdf5plugin`). Layout: docs/cache-layout.md.
        """)

    @Argument(help: "A video file or a folder of JPEG frames.")
    var file: String

    @Option(help: "Output HDF5 file.")
    var out: String

    @Option(help: "Resize so the shorter side is N pixels (aspect kept).")
    var shortSide: Int?

    @Option(help: "Resample to F frames per second (default: every source frame).")
    var fps: Double?

    @Option(help: "Start time in seconds.")
    var start: Double = 0

    @Option(help: "Number of frames to write (default: to the end).")
    var frames: Int?

    @Option(help: "Decoder threads (0 = automatic).")
    var threads = 0

    @Option(help: "Frame rate assumed for a JPEG frame folder.")
    var folderFps: Double = 30

    @Option(help: "Frames per HDF5 chunk.")
    var chunkFrames = ClipCache.defaultChunkFrames

    @OptionGroup var compression: CompressionOptions

    func validate() throws {
        guard chunkFrames >= 1 else { throw ValidationError("--chunk-frames must be at least 1, got \(chunkFrames)") }
        if let shortSide, shortSide < 1 { throw ValidationError("--short-side must be positive, got \(shortSide)") }
        if let fps, fps <= 0 { throw ValidationError("--fps must be positive, got \(fps)") }
        if let frames, frames < 1 { throw ValidationError("--frames must be at least 1, got \(frames)") }
        if start < 0 { throw ValidationError("--start must not be negative, got \(start)") }
    }

    func run() throws {
        let spec = DecodeSpec(shortSide: shortSide, fps: fps)
        let compression = try self.compression.compression(defaultCodec: FramesFile.defaultCompression.codec)
        let n = try FramesFile.extract(source: file, to: out, spec: spec, start: .time(start), count: frames,
                                       options: ReaderOptions(threads: threads, folderFPS: folderFps),
                                       chunkFrames: chunkFrames, compression: compression)
        print("wrote \(n) frames to \(out) (/frames, \(spec.tag), \(compression.tag))")
    }
}
