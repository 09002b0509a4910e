import Foundation

/// `bench video extract`: one video's frames in a standalone HDF5 file.
///
/// Layout: dataset `/frames`, uint8 `[T, H, W, 3]` RGB, chunked `[N, H, W, 3]`
/// (`ClipCache.defaultChunkFrames`) and compressed with HDF5's built-in deflate by default
/// (`defaultCompression`), so that h5py reads it with no filter plugin;
/// attributes `fps` (float64, rate of the stored frames), `source` (string, the input path),
/// `start` (float64 seconds), `spec` (string), `ffmpeg_version` (string), `compression`
/// (string, e.g. `deflate-1`). Written to a temporary name and renamed when complete.
public enum FramesFile {
    /// deflate level 1: a standalone file is for other tools, and any HDF5 library reads
    /// deflate (the clip cache defaults to the faster zstd instead).
    public static let defaultCompression = CacheCompression.deflate(level: 1)

    /// Decodes `source` per `spec` from `start` (`count` frames, or to the end) into `output`.
    /// Returns the number of frames written.
    @discardableResult
    public static func extract(source: String, to output: String, spec: DecodeSpec = .native,
                               start: FramePosition = .frame(0), count: Int? = nil,
                               options: ReaderOptions = .init(), chunkFrames: Int = ClipCache.defaultChunkFrames,
                               compression: CacheCompression = FramesFile.defaultCompression) throws(MediaError) -> Int {
        let reader = try VideoReader(path: source, options: options)
        let size = reader.outputSize(spec)
        let frameShape = [size.height, size.width, 3]
        let frameBytes = size.height * size.width * 3
        let chunk = chunkFrames
        let tmp = output + ".tmp.\(getpid())"
        var written = 0
        do {
            let file = try H5Object.createFile(tmp)
            let dataset = try file.createFrameDataset("frames", frameShape: frameShape, chunkFrames: chunk, compression: compression)
            var batch = [UInt8](repeating: 0, count: chunk * frameBytes)
            var inBatch = 0
            func flush() throws(MediaError) {
                guard inBatch > 0 else { return }
                try batch.withUnsafeBufferPointer { (raw) throws(MediaError) in
                    try dataset.writeFrames(raw.baseAddress!, at: written, count: inBatch, frameShape: frameShape)
                }
                written += inBatch
                inBatch = 0
            }
            try reader.decode(spec: spec, start: start, count: count) { (frame: UnsafeBufferPointer<UInt8>) throws(MediaError) in
                batch.withUnsafeMutableBufferPointer { dst in
                    _ = UnsafeMutableBufferPointer(rebasing: dst[(inBatch * frameBytes)...]).initialize(from: frame)
                }
                inBatch += 1
                if inBatch == chunk { try flush() }
            }
            try flush()
            try dataset.setAttribute("fps", spec.fps ?? reader.info.fps)
            try dataset.setAttribute("source", source)
            switch start {
            case .frame(let i): try dataset.setAttribute("start", Double(i) / reader.info.fps)
            case .time(let t): try dataset.setAttribute("start", t)
            }
            try dataset.setAttribute("spec", spec.tag)
            try dataset.setAttribute("ffmpeg_version", FFmpeg.versionString)
            try dataset.setAttribute("compression", compression.tag)
        } catch {
            unlink(tmp)
            throw error
        }
        guard rename(tmp, output) == 0 else {
            let e = errno
            unlink(tmp)
            throw .io(file: output, what: "rename", errno: e)
        }
        return written
    }

    /// Reads `/frames` back (for tests and tools).
    public static func read(_ path: String) throws(MediaError) -> Frames {
        let file = try H5Object.openFile(path)
        let d = try file.openDataset("frames")
        let shape = try d.shape()
        guard shape.count == 4 else { throw .invalidArgument(file: path, detail: "/frames has shape \(shape)") }
        var pixels = [UInt8](repeating: 0, count: shape.reduce(1, *))
        if shape[0] > 0 {
            try pixels.withUnsafeMutableBufferPointer { (buf) throws(MediaError) in
                try d.readFrames(into: buf.baseAddress!, start: 0, count: shape[0], frameShape: Array(shape.dropFirst()))
            }
        }
        return Frames(pixels: pixels, count: shape[0], height: shape[1], width: shape[2], fps: try d.doubleAttribute("fps") ?? 0)
    }
}
