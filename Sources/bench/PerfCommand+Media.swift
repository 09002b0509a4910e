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
        Builds throw-away caches of VIDEO (short side 128) in a temporary folder, one per \
        --compression (default: the cache's default, then deflate-1) plus one uncompressed, then \
        times the same random windows read from each (the compressed ones also through HDF5's own \
        filter, `.h5dread`), and decoded from the video (seek + decode + resize). The last figure, \
        cache.load, is the CPU other processes used meanwhile (from /proc/stat).
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

    @Option(help: "A compressed cache to measure, as CODEC-LEVEL (zstd-1, zstd--3, deflate-1); repeatable. The first one gives cache.vs_decode.")
    var compression: [String] = [ClipCache.defaultCompression.tag, "deflate-1"]

    @Option(help: "Frames per HDF5 chunk in every cache.")
    var chunkFrames = ClipCache.defaultChunkFrames

    @OptionGroup var options: PerfOptions

    func validate() throws {
        guard chunkFrames >= 1 else { throw ValidationError("--chunk-frames must be at least 1, got \(chunkFrames)") }
        _ = try settings()
    }

    /// The compressed settings asked for (deduplicated, in order), then `none`.
    private func settings() throws -> [CacheCompression] {
        var out: [CacheCompression] = []
        for tag in compression {
            let c: CacheCompression
            do { c = try CacheCompression(tag: tag) } catch { throw ValidationError("--compression: \(error)") }
            guard c != .none else { throw ValidationError("--compression: the uncompressed cache is always measured") }
            if !out.contains(c) { out.append(c) }
        }
        guard !out.isEmpty else { throw ValidationError("--compression: give at least one") }
        return out + [.none]
    }

    func run() throws {
        let load = CPULoad()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tempo-perf-cache-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let spec = DecodeSpec(shortSide: shortSide)
        let threads = ProcessInfo.processInfo.activeProcessorCount
        let source = CacheSource(id: (video as NSString).lastPathComponent, path: video)
        let settings = try self.settings()
        var failure: Error?
        var readers: [CacheCompression: ClipCacheReader] = [:]
        for setting in settings {
            let cache = ClipCache(directory: dir, name: "perf-\(setting.tag)", spec: spec,
                                  readerOptions: ReaderOptions(threads: threads), chunkFrames: chunkFrames, compression: setting)
            let start = DispatchTime.now().uptimeNanoseconds
            let report = try cache.build([source])
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            guard report.bad.isEmpty else { throw ValidationError(report.bad[0].message) }
            let reader = try ClipCacheReader(cache)
            readers[setting] = reader
            let stats = try reader.stats()
            Figure(name: "cache.build.\(setting.tag)", value: seconds, unit: "s",
                   config: ["bytes": stats.bytes, "raw_bytes": stats.rawBytes, "frames": stats.frames,
                            "ratio": Double(stats.rawBytes) / Double(stats.bytes), "compression": stats.compression,
                            "chunk_frames": chunkFrames]).print(json: options.json)
        }
        let entry = try readers[settings[0]]!.entry(source.id)
        guard entry.frames >= window else { throw ValidationError("\(video) has \(entry.frames) frames, fewer than --window \(window)") }
        var rng = SystemRandomNumberGenerator()
        let starts = (0..<max(clips, decodedClips)).map { _ in Int.random(in: 0...(entry.frames - window), using: &rng) }
        let config: [String: Any] = ["video": source.id, "window": window, "size": "\(entry.width)x\(entry.height)",
                                     "frames": entry.frames, "chunk_frames": chunkFrames]
        var readRates: [CacheCompression: Double] = [:]
        for setting in settings {
            let reader = readers[setting]!
            let t = medianSeconds(repeats: options.repeats) {
                do {
                    for s in starts.prefix(clips) { _ = try reader.readClip(videoID: source.id, start: s, count: window) }
                } catch { failure = error }
            }
            if let failure { throw failure }
            readRates[setting] = Double(clips) / t
            var c = config
            c["clips"] = clips
            Figure(name: "cache.read.\(setting.tag)", value: Double(clips) / t, unit: "clips/s", config: c).print(json: options.json)
        }
        // The compressed caches read through HDF5's own filter (H5Dread: zlib, or the zstd
        // filter registered in-process, on one thread); fewer windows, it is slower.
        let filterClips = max(1, clips / 4)
        for setting in settings where setting != .none {
            let filtered = medianSeconds(repeats: options.repeats) {
                do {
                    for s in starts.prefix(filterClips) {
                        _ = try readers[setting]!.readClip(videoID: source.id, start: s, count: window, direct: false)
                    }
                } catch { failure = error }
            }
            if let failure { throw failure }
            var filterConfig = config
            filterConfig["clips"] = filterClips
            Figure(name: "cache.read.\(setting.tag).h5dread", value: Double(filterClips) / filtered, unit: "clips/s",
                   config: filterConfig).print(json: options.json)
        }
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
        var first = config
        first["compression"] = settings[0].tag
        Figure(name: "cache.vs_decode", value: readRates[settings[0]]! / decodeRate, unit: "x", config: first).print(json: options.json)
        for setting in settings {
            Figure(name: "cache.vs_decode.\(setting.tag)", value: readRates[setting]! / decodeRate, unit: "x", config: config)
                .print(json: options.json)
        }
        load.figure(prefix: "cache").print(json: options.json)
    }
}

/// CPU that other processes use while a measurement runs: busy time of the whole machine
/// (/proc/stat) minus this process's own user + system time, over the wall time. A figure
/// taken while this is well above 0 was measured on a shared machine.
struct CPULoad {
    private let wallStart = DispatchTime.now().uptimeNanoseconds
    private let busyStart = CPULoad.machineBusySeconds()
    private let ownStart = CPULoad.ownSeconds()
    private let loadAverage = (try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8))
        .map { $0.split(separator: " ").prefix(3).joined(separator: " ") }

    /// Busy seconds of all CPUs since boot (user, nice, system, irq, softirq, steal), or nil.
    static func machineBusySeconds() -> Double? {
        guard let stat = try? String(contentsOfFile: "/proc/stat", encoding: .utf8),
              let line = stat.split(separator: "\n").first, line.hasPrefix("cpu ") else { return nil }
        let ticks = line.split(separator: " ").dropFirst().compactMap { Double($0) }
        guard ticks.count >= 8 else { return nil }
        let busy = ticks[0] + ticks[1] + ticks[2] + ticks[5] + ticks[6] + ticks[7]
        return busy / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// User + system seconds of this process (all threads).
    static func ownSeconds() -> Double {
        var usage = rusage()
        getrusage(0, &usage)  // RUSAGE_SELF (an enum on Glibc, an Int32 on Darwin)
        func s(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) / 1e6 }
        return s(usage.ru_utime) + s(usage.ru_stime)
    }

    /// `<prefix>.load`: other processes' CPU use in cores, averaged over the run so far.
    func figure(prefix: String) -> Figure {
        let wall = Double(DispatchTime.now().uptimeNanoseconds - wallStart) / 1e9
        let own = CPULoad.ownSeconds() - ownStart
        var config: [String: Any] = ["wall_s": wall, "own_cpu_s": own, "cores": ProcessInfo.processInfo.activeProcessorCount]
        if let loadAverage { config["loadavg_at_start"] = loadAverage }
        guard let busyStart, let busyEnd = CPULoad.machineBusySeconds(), wall > 0 else {
            return Figure(name: "\(prefix).load", value: "unavailable", unit: nil, config: ["reason": "no /proc/stat"])
        }
        let other = max(0, (busyEnd - busyStart - own) / wall)
        return Figure(name: "\(prefix).load", value: (other * 100).rounded() / 100, unit: "other_cpu_cores", config: config)
    }
}
