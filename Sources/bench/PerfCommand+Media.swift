import ArgumentParser
import Foundation
import Media

/// `bench perf decode FILE`: decode + RGB + resize throughput against the ffmpeg CLI.
struct PerfDecode: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "decode",
        abstract: "Frames/s decoding FILE to RGB at short side 128, vs the ffmpeg CLI with the same threads.",
        discussion: """
        Both sides decode the whole file, convert to rgb24 and resize with swscale bilinear; the CLI \
        runs `ffmpeg -threads T -filter_threads T -stream_loop L-1 -i FILE -an -sn -vf scale=W:H:flags=bilinear \
        -pix_fmt rgb24 -f rawvideo -y /dev/null` (process start included, as our open is).
        """)

    @Argument(help: "Video file to decode.")
    var file: String

    @Option(help: "Short side of the output frames.")
    var shortSide = 128

    @Option(help: "Decoder threads for both sides (default: the core count).")
    var threads: Int?

    @Option(help: "Decode the file this many times per measurement (the CLI gets -stream_loop), so process start-up weighs little.")
    var loops = 4

    @OptionGroup var options: PerfOptions

    func validate() throws {
        guard loops >= 1 else { throw ValidationError("--loops must be at least 1, got \(loops)") }
    }

    func run() throws {
        let threads = self.threads ?? ProcessInfo.processInfo.activeProcessorCount
        let spec = DecodeSpec(shortSide: shortSide)
        let probe = try VideoReader(path: file, options: ReaderOptions(threads: threads))
        let size = probe.outputSize(spec)
        var frames = 0
        var failure: Error?
        let ours = medianSeconds(repeats: options.repeats) {
            do {
                frames = 0
                for _ in 0..<loops {
                    let reader = try VideoReader(path: file, options: ReaderOptions(threads: threads))
                    frames += try reader.decode(spec: spec) { (_: UnsafeBufferPointer<UInt8>) throws(MediaError) in }
                }
            } catch { failure = error }
        }
        if let failure { throw failure }
        let config: [String: Any] = ["file": (file as NSString).lastPathComponent, "frames": frames,
                                     "size": "\(size.width)x\(size.height)", "threads": threads, "loops": loops,
                                     "source": "\(probe.info.codec) \(probe.info.width)x\(probe.info.height)"]
        let oursFPS = Double(frames) / ours
        Figure(name: "decode.fps", value: oursFPS, unit: "frames/s", config: config).print(json: options.json)

        guard let ffmpeg = which("ffmpeg") else {
            Figure(name: "decode.ffmpeg_cli.fps", value: "unavailable", unit: nil,
                   config: ["reason": "ffmpeg CLI not on PATH"]).print(json: options.json)
            return
        }
        let args = ["-v", "error", "-nostdin", "-threads", "\(threads)", "-filter_threads", "\(threads)",
                    "-stream_loop", "\(loops - 1)", "-i", file,
                    "-an", "-sn", "-vf", "scale=\(size.width):\(size.height):flags=bilinear",
                    "-pix_fmt", "rgb24", "-f", "rawvideo", "-y", "/dev/null"]
        let cli = medianSeconds(repeats: options.repeats) {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: ffmpeg)
            p.arguments = args
            do { try p.run() } catch { failure = error; return }
            p.waitUntilExit()
        }
        if let failure { throw failure }
        let cliFPS = Double(frames) / cli
        var cliConfig = config
        cliConfig["command"] = "ffmpeg " + args.joined(separator: " ")
        Figure(name: "decode.ffmpeg_cli.fps", value: cliFPS, unit: "frames/s", config: cliConfig).print(json: options.json)
        Figure(name: "decode.vs_ffmpeg_cli", value: oursFPS / cliFPS, unit: "x", config: config).print(json: options.json)
    }
}

func which(_ tool: String) -> String? {
    for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
        let p = "\(dir)/\(tool)"
        if FileManager.default.isExecutableFile(atPath: p) { return p }
    }
    return nil
}

/// `bench perf cache`: random 64-frame window reads from the clip cache vs decoding them.
struct PerfCache: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cache",
        abstract: "Clips/s reading random 64-frame windows from the HDF5 cache vs decoding the same windows.",
        discussion: """
        Builds a throw-away cache of VIDEO (short side 128) in a temporary folder with deflate \
        (the cache's default level, or --deflate) and without compression, then times random \
        windows read from each (the compressed one also through HDF5's own filter, `.h5dread`), \
        and the same windows decoded from the video (seek + decode + resize).
        """)

    @Option(help: "Video to cache.")
    var video = "../shared/fixtures/videos/bikes.mp4"

    @Option(help: "Frames per window.")
    var window = 64

    @Option(help: "Random windows read from the cache per repetition.")
    var clips = 200

    @Option(help: "Random windows decoded from the video per repetition.")
    var decodedClips = 10

    @Option(help: "Short side of the cached frames.")
    var shortSide = 128

    @Option(help: "zlib level of the compressed cache (1...9).")
    var deflate = ClipCache.defaultDeflateLevel

    @Option(help: "Frames per HDF5 chunk in both caches.")
    var chunkFrames = ClipCache.defaultChunkFrames

    @OptionGroup var options: PerfOptions

    func validate() throws {
        guard (1...9).contains(deflate) else { throw ValidationError("--deflate must be 1...9, got \(deflate)") }
        guard chunkFrames >= 1 else { throw ValidationError("--chunk-frames must be at least 1, got \(chunkFrames)") }
    }

    func run() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tempo-perf-cache-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let spec = DecodeSpec(shortSide: shortSide)
        let threads = ProcessInfo.processInfo.activeProcessorCount
        let source = CacheSource(id: (video as NSString).lastPathComponent, path: video)
        var failure: Error?
        var readers: [Int: ClipCacheReader] = [:]
        let levels = [deflate, 0]
        for level in levels {
            let cache = ClipCache(directory: dir, name: "perf-deflate\(level)", spec: spec,
                                  readerOptions: ReaderOptions(threads: threads), chunkFrames: chunkFrames, deflateLevel: level)
            let start = DispatchTime.now().uptimeNanoseconds
            let report = try cache.build([source])
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            guard report.bad.isEmpty else { throw ValidationError(report.bad[0].message) }
            let reader = try ClipCacheReader(cache)
            readers[level] = reader
            let stats = try reader.stats()
            Figure(name: "cache.build.deflate\(level)", value: seconds, unit: "s",
                   config: ["bytes": stats.bytes, "raw_bytes": stats.rawBytes, "frames": stats.frames,
                            "ratio": Double(stats.rawBytes) / Double(stats.bytes),
                            "chunk_frames": chunkFrames]).print(json: options.json)
        }
        let entry = try readers[deflate]!.entry(source.id)
        guard entry.frames >= window else { throw ValidationError("\(video) has \(entry.frames) frames, fewer than --window \(window)") }
        var rng = SystemRandomNumberGenerator()
        let starts = (0..<max(clips, decodedClips)).map { _ in Int.random(in: 0...(entry.frames - window), using: &rng) }
        let config: [String: Any] = ["video": source.id, "window": window, "size": "\(entry.width)x\(entry.height)",
                                     "frames": entry.frames, "chunk_frames": chunkFrames]
        var readRates: [Int: Double] = [:]
        for level in levels {
            let reader = readers[level]!
            let t = medianSeconds(repeats: options.repeats) {
                do {
                    for s in starts.prefix(clips) { _ = try reader.readClip(videoID: source.id, start: s, count: window) }
                } catch { failure = error }
            }
            if let failure { throw failure }
            readRates[level] = Double(clips) / t
            var c = config
            c["clips"] = clips
            Figure(name: "cache.read.deflate\(level)", value: Double(clips) / t, unit: "clips/s", config: c).print(json: options.json)
        }
        // The compressed cache read through HDF5's own deflate filter (H5Dread, zlib on one
        // thread), as before the direct chunk path; fewer windows, it is slow.
        let filterClips = max(1, clips / 4)
        let filtered = medianSeconds(repeats: options.repeats) {
            do {
                for s in starts.prefix(filterClips) {
                    _ = try readers[deflate]!.readClip(videoID: source.id, start: s, count: window, direct: false)
                }
            } catch { failure = error }
        }
        if let failure { throw failure }
        var filterConfig = config
        filterConfig["clips"] = filterClips
        Figure(name: "cache.read.deflate\(deflate).h5dread", value: Double(filterClips) / filtered, unit: "clips/s",
               config: filterConfig).print(json: options.json)
        let decodeTime = medianSeconds(repeats: options.repeats) {
            do {
                let reader = try VideoReader(path: video, options: ReaderOptions(threads: threads))
                for s in starts.prefix(decodedClips) {
                    try reader.decode(spec: spec, start: .frame(s), count: window) { (_: UnsafeBufferPointer<UInt8>) throws(MediaError) in }
                }
            } catch { failure = error }
        }
        if let failure { throw failure }
        let decodeRate = Double(decodedClips) / decodeTime
        var c = config
        c["clips"] = decodedClips
        c["threads"] = threads
        Figure(name: "cache.decode_windows", value: decodeRate, unit: "clips/s", config: c).print(json: options.json)
        var compressed = config
        compressed["deflate"] = deflate
        Figure(name: "cache.vs_decode", value: readRates[deflate]! / decodeRate, unit: "x", config: compressed).print(json: options.json)
        Figure(name: "cache.vs_decode.deflate0", value: readRates[0]! / decodeRate, unit: "x", config: config).print(json: options.json)
    }
}
