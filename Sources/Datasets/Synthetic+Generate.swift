import Foundation
import Media
import Tensors

/// Writes the synthetic stand-ins for Kinetics-400, UCF-101, HMDB-51, AVA v2.2 and
/// Epic-Kitchens-55 in each dataset's real on-disk layout, so the format adapters read them
/// exactly as they read the real datasets. Layout under `out`:
///
/// ```
/// kinetics400/annotations/{train,val}.csv        label,youtube_id,time_start,time_end,split,is_cc
/// kinetics400/{train,val}/<label>/<id>_<start:06d>_<end:06d>.mp4      (H.264)
/// ucf101/UCF-101/<Class>/v_<Class>_gGG_cCC.avi                         (MPEG-4 part 2)
/// ucf101/ucfTrainTestlist/{classInd,trainlist0N,testlist0N}.txt        (CRLF, as shipped)
/// hmdb51/hmdb51_org/<class>/<name>.avi
/// hmdb51/testTrainMulti_7030_splits/<class>_test_splitN.txt
/// ava/frames/<video_id>/<video_id>_%06d.jpg                            (30 fps from second 900)
/// ava/annotations/ava_{train,val}_v2.2.csv, ava_action_list_v2.2*.pbtxt,
///     ava_{train,val}_excluded_timestamps_v2.2.csv, ava_{train,val}_predicted_boxes.csv
/// epic55/frames_rgb_flow/rgb/train/<P>/<P_VV>/frame_%010d.jpg
/// epic55/annotations/EPIC_{train_action_labels,verb_classes,noun_classes,video_info}.csv,
///     val_videos.txt
/// ```
///
/// Classes are motion patterns (`MotionPattern`); appearance, amplitude, direction and tempo
/// are drawn per instance. The same seed writes byte-identical annotation files.
public enum SyntheticDatasets {
    /// What one run wrote.
    public struct Summary: Sendable, Codable, Equatable {
        public var out: String
        public var videos: Int
        public var frameFolders: Int
        public var frames: Int
        public var bytes: Int64
    }

    /// `progress(done, total, item)` is called from worker threads.
    public typealias Progress = @Sendable (Int, Int, String) -> Void

    /// One video to render and write.
    /// What a job renders: uint8 frames `[count, H, W, 3]`, and the moving object's box per
    /// frame for scenes that have one.
    struct Rendered {
        var pixels: [UInt8]
        var boxes: [ObjectBox] = []
    }

    struct Job: Sendable {
        var path: String
        /// Frames the job renders.
        var count: Int
        var render: @Sendable () -> Rendered
        var fps: Double
        /// JPEG frame-name pattern when writing a frame folder.
        var framePattern: String?
        /// Where the object boxes go: a CSV file and this video's name in it.
        var boxes: (file: String, video: String)? = nil
    }

    /// Version of the rendering code; bump it whenever the same configuration would render
    /// different pixels, so stored results on older data are not reused.
    public static let generatorVersion = 3
    /// Written at the top of the output folder: generator version, seed and configuration.
    /// Suites include it in the datasets' identity.
    public static let stampFile = "synthetic.txt"

    public static func generate(_ config: SyntheticConfig, out: String, seed: UInt64 = 0,
                                progress: Progress? = nil) throws(DatasetError) -> Summary {
        var rng = RandomGenerator(seed: seed)
        var jobs: [Job] = []
        var kRNG = rng.split(), uRNG = rng.split(), hRNG = rng.split(), aRNG = rng.split(), eRNG = rng.split()
        jobs += try kinetics(config, out: Dataset.join(out, "kinetics400"), rng: &kRNG)
        jobs += try ucf(config, out: Dataset.join(out, "ucf101"), rng: &uRNG)
        jobs += try hmdb(config, out: Dataset.join(out, "hmdb51"), rng: &hRNG)
        jobs += try SyntheticAVA.write(config, out: Dataset.join(out, "ava"), rng: &aRNG)
        jobs += try SyntheticEpic.write(config, out: Dataset.join(out, "epic55"), rng: &eRNG)
        let summary = try run(jobs, width: config.width, height: config.height, progress: progress)
        // Last, so a stamp means a complete generation.
        try writeText(["tempo-bench synthetic datasets", "generator \(generatorVersion)", "seed \(seed)", "\(config)"],
                      to: Dataset.join(out, stampFile))
        return Summary(out: out, videos: summary.0, frameFolders: summary.1, frames: summary.2, bytes: diskUsage(out))
    }

    /// Renders and writes the jobs on all cores; returns (videos, folders, frames).
    static func run(_ jobs: [Job], width: Int, height: Int, progress: Progress?) throws(DatasetError) -> (Int, Int, Int) {
        final class State: @unchecked Sendable {
            let lock = NSLock()
            var done = 0
            var frames = 0
            var error: DatasetError?
            /// Object-box CSV rows per sidecar file and video.
            var boxes: [String: [String: [String]]] = [:]
        }
        let state = State()
        let workers = ProcessInfo.processInfo.environment["TEMPO_SYNTH_WORKERS"].flatMap(Int.init) ?? max(1, ProcessInfo.processInfo.activeProcessorCount)
        DispatchQueue.concurrentPerform(iterations: workers) { w in
            var i = w
            while i < jobs.count {
                state.lock.lock()
                let stop = state.error != nil
                state.lock.unlock()
                if stop { return }
                let job = jobs[i]
                let rendered = job.render()
                let count = job.count
                if let sidecar = job.boxes {
                    let rows = rendered.boxes.map {
                        "\(TextTable.quote(sidecar.video)),\($0.frame)," + [$0.x1, $0.y1, $0.x2, $0.y2].map { String(format: "%.6f", $0) }.joined(separator: ",")
                    }
                    state.lock.lock(); state.boxes[sidecar.file, default: [:]][sidecar.video] = rows; state.lock.unlock()
                }
                let frames = Frames(pixels: rendered.pixels, count: count, height: height, width: width, fps: job.fps)
                do {
                    try FileManager.default.createDirectory(atPath: (job.path as NSString).deletingLastPathComponent,
                                                            withIntermediateDirectories: true)
                    if let pattern = job.framePattern {
                        try FrameFolderWriter.write(frames, to: job.path, pattern: pattern, startNumber: 1, quality: 4)
                    } else {
                        // Lossless (quality 0): libx264's bitstream for the same frames differs between
                        // runs here, so only lossless coding makes the decoded pixels — and every
                        // number computed from them — reproducible.
                        try VideoWriter.write(frames, to: job.path, options: EncodeOptions(fps: job.fps, quality: 0, gop: 16, threads: 1))
                    }
                } catch let e as MediaError {
                    state.lock.lock(); state.error = state.error ?? .media(e); state.lock.unlock()
                } catch {
                    state.lock.lock()
                    state.error = state.error ?? .annotation(file: job.path, line: nil, detail: "cannot write: \(error)")
                    state.lock.unlock()
                }
                state.lock.lock()
                state.done += 1
                state.frames += count
                let done = state.done
                state.lock.unlock()
                progress?(done, jobs.count, job.path)
                i += workers
            }
        }
        if let e = state.error { throw e }
        for (file, videos) in state.boxes.sorted(by: { $0.key < $1.key }) {
            try writeText([ObjectBoxes.header] + videos.keys.sorted().flatMap { videos[$0]! }, to: file)
        }
        let folders = jobs.filter { $0.framePattern != nil }.count
        return (jobs.count - folders, folders, state.frames)
    }

    static func diskUsage(_ path: String) -> Int64 {
        guard let walker = FileManager.default.enumerator(atPath: path) else { return 0 }
        var total: Int64 = 0
        while let rel = walker.nextObject() as? String {
            if let size = walker.fileAttributes?[.size] as? NSNumber, walker.fileAttributes?[.type] as? FileAttributeType == .typeRegular {
                total += size.int64Value
                _ = rel
            }
        }
        return total
    }

    /// Writes a text file (creating folders), `\n` line endings unless `crlf`.
    static func writeText(_ lines: [String], to path: String, crlf: Bool = false) throws(DatasetError) {
        let text = lines.map { $0 + (crlf ? "\r\n" : "\n") }.joined()
        do {
            try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try Data(text.utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            let code = FileSystemErrors.errno(of: error)
            let reason = FileSystemErrors.reason(errno: code, path: code == ENOENT ? path : (path as NSString).deletingLastPathComponent)
            throw .annotation(file: path, line: nil, detail: "cannot write the synthetic dataset: \(reason)")
        }
    }

    static func recognitionJob(path: String, pattern: MotionPattern, config: SyntheticConfig, fps: Double,
                               seconds: ClosedRange<Double>, rng: inout RandomGenerator) -> Job {
        let duration = seconds.lowerBound + (seconds.upperBound - seconds.lowerBound) * Double(rng.nextUniform())
        let count = max(2, Int((duration * fps).rounded()))
        let seed = rng.split()
        let (w, h, diff) = (config.width, config.height, config.difficulty)
        return Job(path: path, count: count, render: {
            var local = seed
            var scene = MotionScene(pattern: pattern, width: w, height: h, difficulty: diff, rng: &local)
            let pixels = scene.render(count: count, fps: fps)
            return Rendered(pixels: pixels, boxes: scene.objectBoxes)
        }, fps: fps)
    }

    /// The patterns used by a dataset: Kinetics-like uses the library in order, the small
    /// sets a different order so their class lists differ.
    static func patterns(_ n: Int, offset: Int) -> [MotionPattern] {
        let all = MotionPattern.allCases
        return (0..<min(n, all.count)).map { all[($0 * 5 + offset) % all.count] }
    }

    static let idAlphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")

    /// An 11-character YouTube-style id.
    static func youtubeID(_ rng: inout RandomGenerator) -> String {
        String((0..<11).map { _ in idAlphabet[rng.nextInt(below: idAlphabet.count)] })
    }

    static func kinetics(_ c: SyntheticConfig, out: String, rng: inout RandomGenerator) throws(DatasetError) -> [Job] {
        let cfg = c.kinetics
        let classes = (0..<min(cfg.classes, MotionPattern.allCases.count)).map { MotionPattern.allCases[$0] }
        var jobs: [Job] = []
        var rows: [String: [String]] = ["train": [], "val": []]
        for pattern in classes {
            for (split, n) in [("train", cfg.perClass), ("val", cfg.extra)] {
                for _ in 0..<n {
                    let id = youtubeID(&rng)
                    let start = rng.nextInt(below: 300)
                    var job = recognitionJob(path: "", pattern: pattern, config: c, fps: cfg.fps, seconds: cfg.seconds, rng: &rng)
                    let seconds = Int((Double(job.count) / cfg.fps).rounded(.up))
                    let name = KineticsAdapter.fileName(youtubeID: id, start: start, end: start + max(1, seconds))
                    job.path = Dataset.join(Dataset.join(Dataset.join(out, split), pattern.label), name)
                    job.boxes = (Dataset.join(Dataset.join(out, "annotations"), ObjectBoxes.fileName), "\(split)/\(pattern.label)/\(name)")
                    jobs.append(job)
                    rows[split]!.append("\(TextTable.quote(pattern.label)),\(id),\(start),\(start + max(1, seconds)),\(split),0")
                }
            }
        }
        for split in ["train", "val"] {
            try writeText(["label,youtube_id,time_start,time_end,split,is_cc"] + rows[split]!,
                          to: Dataset.join(Dataset.join(out, "annotations"), "\(split).csv"))
        }
        return jobs
    }

    static func ucf(_ c: SyntheticConfig, out: String, rng: inout RandomGenerator) throws(DatasetError) -> [Job] {
        let cfg = c.ucf
        // The bouncing class carries UCF-101's naming quirk: folder `HandstandPushups`,
        // files `v_HandStandPushups_*`.
        let named = patterns(cfg.classes, offset: 2).map { p -> (MotionPattern, String, String) in
            p == .bounce ? (p, "HandstandPushups", "HandStandPushups") : (p, p.camelName, p.camelName)
        }.sorted { $0.1 < $1.1 }
        var jobs: [Job] = []
        var train: [[String]] = [[], [], []], test: [[String]] = [[], [], []]
        for (label, (pattern, folder, fileStem)) in named.enumerated() {
            for g in 1...(cfg.perClass + cfg.heldOut) {
                for k in 1...max(1, cfg.extra) {
                    let rel = "\(folder)/v_\(fileStem)_g\(two(g))_c\(two(k)).avi"
                    jobs.append(recognitionJob(path: Dataset.join(Dataset.join(out, "UCF-101"), rel), pattern: pattern,
                                               config: c, fps: cfg.fps, seconds: cfg.seconds, rng: &rng))
                    for s in 0..<3 {
                        // Split s holds out groups s+1, s+4, s+7, … (a third of the groups);
                        // the held-out groups after them are test groups in every split.
                        if g > cfg.perClass || (g - 1) % 3 == s { test[s].append(rel) } else { train[s].append("\(rel) \(label + 1)") }
                    }
                }
            }
        }
        let lists = Dataset.join(out, "ucfTrainTestlist")
        try writeText(named.enumerated().map { "\($0.offset + 1) \($0.element.1)" }, to: Dataset.join(lists, "classInd.txt"), crlf: true)
        for s in 0..<3 {
            try writeText(train[s], to: Dataset.join(lists, "trainlist0\(s + 1).txt"), crlf: true)
            try writeText(test[s], to: Dataset.join(lists, "testlist0\(s + 1).txt"), crlf: true)
        }
        return jobs
    }

    static func hmdb(_ c: SyntheticConfig, out: String, rng: inout RandomGenerator) throws(DatasetError) -> [Job] {
        let cfg = c.hmdb
        let classes = patterns(cfg.classes, offset: 3)
        var jobs: [Job] = []
        let splits = Dataset.join(out, "testTrainMulti_7030_splits")
        for pattern in classes {
            let cls = pattern.snakeName
            var names: [String] = []
            for i in 0..<(cfg.perClass + cfg.heldOut) {
                let name = "Synth_\(youtubeID(&rng).prefix(6))_\(cls)_u_nm_np1_fr_med_\(i).avi"
                names.append(name)
                jobs.append(recognitionJob(path: Dataset.join(Dataset.join(Dataset.join(out, "hmdb51_org"), cls), name),
                                           pattern: pattern, config: c, fps: cfg.fps, seconds: cfg.seconds, rng: &rng))
            }
            for s in 1...3 {
                // About 70 % train (1), 25 % test (2), the rest unused (0), rotated per split;
                // the held-out videos after them are test videos in every split.
                let n = cfg.perClass
                let lines = names.enumerated().map { (i, name) -> String in
                    if i >= n { return "\(name) 2 " }
                    let r = (i + (s - 1) * n / 3) % n
                    let code = r < (n * 7 + 9) / 10 ? 1 : (r < n - max(0, n / 15) ? 2 : 0)
                    return "\(name) \(code) "
                }
                try writeText(lines, to: Dataset.join(splits, "\(cls)\(HMDB51Adapter.suffix)\(s).txt"))
            }
        }
        return jobs
    }

    static func two(_ v: Int) -> String { v < 10 ? "0\(v)" : "\(v)" }
}
