import ArgumentParser
import Datasets
import Foundation

/// `bench datasets synth|check`: the synthetic stand-in datasets and manifest validation.
struct DatasetsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "datasets",
        abstract: "Generate the synthetic datasets; validate dataset manifests.",
        discussion: """
        Datasets are declared in datasets.yaml (name, format, root, annotation files, split, decode \
        options). The shipped manifest points at the synthetic datasets under data/synthetic/<scale>/, \
        which `bench datasets synth` writes in the real datasets' on-disk formats.
        """,
        subcommands: [DatasetsSynth.self, DatasetsCheck.self])
}

struct DatasetsSynth: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "synth",
        abstract: "Write Kinetics-, UCF-101-, HMDB-51-, AVA- and Epic-Kitchens-format synthetic datasets.",
        discussion: """
        Classes are motion patterns; appearance and tempo vary per video; distractors, noise and camera \
        jitter make them harder. The same seed writes byte-identical annotation files. Existing files \
        under the output folder are replaced.
        """)

    @Option(help: "Size: ci (seconds), small (ci training sets, large test splits) or mini (minutes).")
    var scale: String = "ci"

    @Option(help: ArgumentHelp("Kinetics-format training videos per class, instead of the scale's.",
                               discussion: "For pretraining-data experiments (docs/finetune-diagnosis.md); the run store tells the data apart by its content."))
    var kineticsPerClass: Int?

    @Option(help: ArgumentHelp("Shared object looks of every recognition set, instead of the scale's (0: every video its own).",
                               discussion: "For pretraining-data experiments (docs/finetune-diagnosis.md)."))
    var appearancePool: Int?

    @Option(help: "Output folder (default: data/synthetic/<scale>).")
    var out: String?

    @Option(help: "Random seed.")
    var seed: UInt64 = 0

    @Flag(help: "Print the summary as JSON.")
    var json = false

    func validate() throws {
        guard SyntheticScale(rawValue: scale) != nil else {
            throw ValidationError("--scale must be one of \(SyntheticScale.allCases.map(\.rawValue).joined(separator: ", ")), got '\(scale)'")
        }
        if let n = kineticsPerClass, n < 1 { throw ValidationError("--kinetics-per-class must be at least 1, got \(n)") }
        if let n = appearancePool, n < 0 { throw ValidationError("--appearance-pool must be 0 or more, got \(n)") }
    }

    func run() throws {
        let scale = SyntheticScale(rawValue: self.scale)!
        let folder = out ?? "data/synthetic/\(scale.rawValue)"
        let tty = isatty(2) != 0
        let began = Date()
        var config = SyntheticConfig.preset(scale)
        if let n = kineticsPerClass { config.kinetics.perClass = n }
        if let n = appearancePool { config.difficulty.appearancePool = n }
        let summary = try SyntheticDatasets.generate(config, out: folder, seed: seed) { done, total, item in
            if tty { FileHandle.standardError.write(Data("\r\u{1B}[K[\(done)/\(total)] \((item as NSString).lastPathComponent)".utf8)) }
        }
        if tty { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
        let seconds = Date().timeIntervalSince(began)
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            print(String(decoding: try encoder.encode(summary), as: UTF8.self))
        } else {
            print("\(folder): \(summary.videos) videos, \(summary.frameFolders) frame folders, \(summary.frames) frames, "
                  + String(format: "%.1f MB in %.1f s", Double(summary.bytes) / 1e6, seconds))
        }
    }
}

struct DatasetsCheck: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Validate datasets.yaml; find every missing or damaged video and frame folder, and numbering gaps.",
        discussion: """
        Reads ./datasets.yaml unless --manifest is given. Every video and JPEG frame folder is \
        decoded in full, with the clip cache build's checks, so whatever the build would reject \
        (a truncated video, a damaged JPEG) is listed with its reason; --quick reads only headers \
        and first frames. Gaps in a frame folder's numbering are listed too: the cache fills them \
        by repeating the previous frame (docs/cache-layout.md), so they do not fail the check. \
        Exits non-zero on any manifest or annotation error, missing file or damaged video. With \
        --json: one object per dataset, {"name", "format", "depth", "splits": {"train": {"videos", \
        "classes", "missing", "undecodable", "problems": [{"path", "kind", "reason"}], "gaps": \
        [{"path", "missing", "frames"}]}, "test": {...}}} plus "boxes"/"keyframes" (AVA) and \
        "segments" (Epic).
        """)

    @Argument(help: "Only this dataset.")
    var name: String?

    @Option(help: "Manifest file.")
    var manifest = "datasets.yaml"

    @Option(help: "Value of {scale} in manifest paths.")
    var scale = "ci"

    @Flag(help: "Headers and first frames only: fast, but misses damage past the first frame.")
    var quick = false

    @Option(help: "Videos decoded at once (default: the number of cores).")
    var jobs = ProcessInfo.processInfo.activeProcessorCount

    @Flag(help: "One JSON object per dataset.")
    var json = false

    func validate() throws {
        guard jobs >= 1 else { throw ValidationError("--jobs must be at least 1, got \(jobs)") }
    }

    func run() throws {
        let m = try DatasetManifest.load(manifest, scale: scale)
        let entries = try name.map { [try m.entry($0)] } ?? m.datasets
        var failed = 0
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let options = DatasetCheck.Options(quick: quick, jobs: jobs)
        for entry in entries {
            let report = DatasetCheck.check(entry, options: options, progress: CheckProgress(dataset: entry.name).callback)
            if !report.ok { failed += 1 }
            if json {
                print(String(decoding: try encoder.encode(report), as: UTF8.self))
                continue
            }
            print("\(report.name) (\(report.format), \(report.depth) check)\(report.ok ? "" : "  FAILED")")
            for split in SplitName.allCases {
                guard let s = report.splits[split.rawValue] else { continue }
                if let e = s.error { print("  \(split.rawValue): error: \(e)"); continue }
                var line = "  \(split.rawValue): \(s.videos) videos, \(s.classes) classes"
                if let b = s.boxes { line += ", \(b) boxes" }
                if let k = s.keyframes { line += ", \(k) keyframes" }
                if let g = s.segments { line += ", \(g) segments" }
                line += ", \(s.missing.count) missing, \(s.undecodable.count) undecodable"
                if !s.gaps.isEmpty { line += ", \(s.gaps.count) with numbering gaps" }
                print(line)
                for p in s.missing { print("    missing: \(p)") }
                for p in s.problems { print("    undecodable (\(p.kind)): \(p.reason)") }
                for g in s.gaps {
                    print("    gap: \(g.path): frame number(s) \(g.missing.joined(separator: ", ")) missing (\(g.frames) frame(s), "
                          + "filled by repeating the previous frame in the cache)")
                }
            }
        }
        if failed > 0 { throw ExitCode(1) }
    }
}

/// The progress line of `datasets check` on stderr: rewritten in place on a terminal, a line
/// every 5 seconds (and at the end) otherwise.
final class CheckProgress: @unchecked Sendable {
    let dataset: String
    let tty = isatty(2) != 0
    let start = Date()
    var last = Date.distantPast

    init(dataset: String) { self.dataset = dataset }

    var callback: @Sendable (Int, Int, String) -> Void {
        { [self] done, total, path in self.report(done, total, path) }
    }

    /// Called one at a time (DatasetCheck serialises the calls).
    func report(_ done: Int, _ total: Int, _ path: String) {
        let now = Date()
        let elapsed = now.timeIntervalSince(start)
        let eta = done > 0 ? elapsed / Double(done) * Double(total - done) : 0
        let text = "check \(dataset): \(done)/\(total) videos (\(Int(elapsed)) s, ~\(Int(eta.rounded())) s left) \((path as NSString).lastPathComponent)"
        if tty {
            FileHandle.standardError.write(Data("\r\u{1B}[K\(text)\(done == total ? "\n" : "")".utf8))
        } else if now.timeIntervalSince(last) >= 5 || done == total {
            last = now
            FileHandle.standardError.write(Data("\(text)\n".utf8))
        }
    }
}
