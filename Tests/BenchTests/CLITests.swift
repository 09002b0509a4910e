import Foundation
import XCTest

/// End-to-end checks of the `bench` executable built alongside the tests.
final class CLITests: XCTestCase {
    var benchURL: URL {
        // Tests run from the build products folder, where `bench` also lives.
        #if os(macOS)
        for bundle in Bundle.allBundles where bundle.bundlePath.hasSuffix(".xctest") {
            return bundle.bundleURL.deletingLastPathComponent().appendingPathComponent("bench")
        }
        #endif
        return Bundle.main.bundleURL.appendingPathComponent("bench")
    }

    func run(_ arguments: [String], environment: [String: String]? = nil) throws -> (status: Int32, out: String, err: String) {
        try runBench(benchURL, arguments, environment: environment)
    }

    func testHelpListsSubcommands() throws {
        let r = try run(["--help"])
        XCTAssertEqual(r.status, 0, r.err)
        for word in ["perf", "video", "cache", "USAGE: bench"] { XCTAssertTrue(r.out.contains(word), "missing \(word) in\n\(r.out)") }
        let perf = try run(["perf", "--help"])
        XCTAssertEqual(perf.status, 0)
        for word in ["gemm", "conv", "step", "decode"] { XCTAssertTrue(perf.out.contains(word), "missing \(word) in\n\(perf.out)") }
    }

    /// `bench video extract` writes deflate by default (plain h5py reads it), zstd on request.
    func testVideoExtractCompressionDefault() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let video = root.deletingLastPathComponent().appendingPathComponent("shared/fixtures/videos/bikes.mp4").path
        guard FileManager.default.fileExists(atPath: video) else {
            print("skip: \(video) is missing (../shared is absent)")
            throw XCTSkip("fixture video missing: \(video)")
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("extract-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let plain = try run(["video", "extract", video, "--out", dir.appendingPathComponent("a.h5").path,
                             "--short-side", "32", "--frames", "4"])
        XCTAssertEqual(plain.status, 0, plain.err)
        XCTAssertTrue(plain.out.contains("wrote 4 frames") && plain.out.contains("deflate-1"), plain.out)
        let zstd = try run(["video", "extract", video, "--out", dir.appendingPathComponent("b.h5").path,
                            "--short-side", "32", "--frames", "4", "--codec", "zstd"])
        XCTAssertEqual(zstd.status, 0, zstd.err)
        XCTAssertTrue(zstd.out.contains("zstd-3"), zstd.out)
    }

    func testInvalidOptionIsAValidationError() throws {
        let r = try run(["perf", "gemm", "--repeats", "0"])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.err.contains("--repeats must be at least 1"), r.err)
    }

    /// `bench perf gemm --json` prints the kernel line first and well-formed figure lines.
    func testPerfGEMMJSONLines() throws {
        let r = try run(["perf", "gemm", "--json", "--repeats", "1"])
        XCTAssertEqual(r.status, 0, r.err)
        let lines = r.out.split(separator: "\n").map { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        XCTAssertEqual(lines.count, 2, r.out)
        XCTAssertEqual(lines[0]?["figure"] as? String, "openblas.core")
        XCTAssertFalse((lines[0]?["value"] as? String ?? "").isEmpty)
        XCTAssertEqual(lines[1]?["figure"] as? String, "gemm.1024")
        XCTAssertEqual(lines[1]?["unit"] as? String, "GFLOPS")
        XCTAssertGreaterThan(lines[1]?["value"] as? Double ?? 0, 1)
    }

    /// OpenBLAS runs on the kernels' thread count (`TEMPO_THREADS`), not on as many threads
    /// as the CPU affinity allows: otherwise one thread count would give other last bits
    /// under mpirun (which binds each rank to a core) than under srun (which does not).
    func testOpenBLASFollowsTheThreadCount() throws {
        var env = ProcessInfo.processInfo.environment
        for threads in [1, 2] {
            env["TEMPO_THREADS"] = "\(threads)"
            let r = try run(["perf", "gemm", "--json", "--repeats", "1"], environment: env)
            XCTAssertEqual(r.status, 0, r.err)
            let lines = r.out.split(separator: "\n").map { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            XCTAssertEqual(lines.count, 2, r.out)
            for line in lines {
                let config = line?["config"] as? [String: Any]
                XCTAssertEqual(config?["threads"] as? Int, threads, r.out)
                XCTAssertEqual(config?["openblas_threads"] as? Int, threads, r.out)
            }
        }
    }

    /// With no OPENBLAS_CORETYPE set, bench picks the best kernel the CPU supports by
    /// re-executing itself; a user's choice is kept.
    func testKernelSelection() throws {
        var env = ProcessInfo.processInfo.environment
        env["OPENBLAS_CORETYPE"] = nil
        let info = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        let avx2 = ["avx2", "fma"].allSatisfy { info.contains(" \($0)") }
        let auto = try run(["perf", "gemm", "--json", "--repeats", "1"], environment: env)
        let core = auto.out.split(separator: "\n").first.map(String.init) ?? ""
        if avx2 {
            // Never the generic fallback kernels on a CPU with AVX2.
            XCTAssertTrue(core.contains("\"Haswell\"") || core.contains("\"SkylakeX\""), core)
        }
        env["OPENBLAS_CORETYPE"] = "Haswell"
        let chosen = try run(["perf", "gemm", "--json", "--repeats", "1"], environment: env)
        XCTAssertTrue(chosen.out.contains("\"Haswell\""), chosen.out)
    }

    var repo: URL { URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent() }

    /// Bad suite edits end `bench plan` with exit status 1 and one error line naming file,
    /// line and key: never a trap (a signal), never a stack dump.
    func testBadSuiteEditsExitWithOneError() throws {
        let original = try String(contentsOf: repo.appendingPathComponent("Suites/ci.yaml"), encoding: .utf8)
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("cli-suites-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let edits = [("D: 3", "D: 4"), ("D: 3", "D: 3, depth: 34"), ("epochs: 20, batch: 16", "epochs: 20, batch: 0"),
                     ("epochs: 20, batch: 16", "epochs: -1, batch: 16"), ("projection: mlp-bn", "projection: foo"),
                     ("epochs: 20, batch: 16", "epoch: 20, batch: 16"), ("lr: 0.48", "lr: fast"), ("alpha: 2", "alpha: 3")]
        for (find, replace) in edits {
            // An edit that no longer applies would leave a valid suite and start a real run.
            guard original.contains(find) else { XCTFail("Suites/ci.yaml no longer contains \(find)"); continue }
            try original.replacingOccurrences(of: find, with: replace).write(to: folder.appendingPathComponent("ci.yaml"), atomically: true, encoding: .utf8)
            for command in [["plan", "ci"], ["run", "ci"]] {
                let r = try run(command + ["--suites", folder.path, "--manifest", repo.appendingPathComponent("datasets.yaml").path,
                                           "--store", folder.appendingPathComponent("runs").path, "--quiet"])
                XCTAssertEqual(r.status, 1, "\(command) with \(replace): \(r.err)")
                let errors = r.err.split(separator: "\n").filter { $0.hasPrefix("Error:") }
                XCTAssertEqual(errors.count, 1, r.err)
                XCTAssertTrue(r.err.contains("ci.yaml:"), r.err)
                XCTAssertFalse(FileManager.default.fileExists(atPath: folder.appendingPathComponent("runs").path), "\(replace): a stage started")
            }
        }
    }

    func testPlanExplainShowsOrigins() throws {
        let r = try run(["plan", "ci", "--suites", repo.appendingPathComponent("Suites").path,
                         "--manifest", repo.appendingPathComponent("datasets.yaml").path, "--explain", "pretrain"])
        XCTAssertEqual(r.status, 0, r.err)
        for text in ["epochs       20", "← scale ci (ci.yaml:", "← default", "← axis backbone", "← suite template (ci.yaml:"] {
            XCTAssertTrue(r.out.contains(text), "missing \(text) in\n\(r.out)")
        }
        let bad = try run(["plan", "ci", "--suites", repo.appendingPathComponent("Suites").path, "--explain", "pretrian"])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.err.contains("pretrain[backbone=r18,seed=0]"), bad.err)
    }

    func testSeedsFlag() throws {
        let args = ["plan", "ci", "--suites", repo.appendingPathComponent("Suites").path,
                    "--manifest", repo.appendingPathComponent("datasets.yaml").path]
        let three = try run(args + ["--seeds", "3"])
        XCTAssertEqual(three.status, 0, three.err)
        XCTAssertTrue(three.out.contains("pretrain[backbone=r18,seed=2]") && three.out.contains("48 stages"), three.out)
        let list = try run(args + ["--seeds", "4,7"])
        XCTAssertTrue(list.out.contains("seed=7]") && !list.out.contains("seed=0]"), list.out)
        for bad in ["0", "1,x", "2,2", "-1"] {
            let r = try run(args + ["--seeds", bad])
            XCTAssertNotEqual(r.status, 0, bad)
            XCTAssertTrue(r.err.contains("--seeds"), r.err)
        }
    }

    func testSettingsListsEveryKind() throws {
        let all = try run(["settings"])
        XCTAssertEqual(all.status, 0, all.err)
        for kind in ["pretrain:", "finetune:", "supervised:", "detect:", "anticipate:", "icm:", "probe:"] {
            XCTAssertTrue(all.out.contains(kind), "missing \(kind)")
        }
        XCTAssertTrue(all.out.contains("one of: standard, light, none"), all.out)
        let bad = try run(["settings", "pretrian"])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.err.contains("unknown stage kind 'pretrian'"), bad.err)
    }

    /// `bench datasets synth`'s data-variant options: documented, validated, and written
    /// into the data (the stamp the run store keys on records them).
    func testDatasetsSynthVariantOptions() throws {
        let help = try run(["datasets", "synth", "--help"])
        XCTAssertEqual(help.status, 0, help.err)
        for word in ["--kinetics-per-class", "--appearance-pool", "docs/finetune-diagnosis.md"] {
            XCTAssertTrue(help.out.contains(word), "missing \(word) in\n\(help.out)")
        }
        for (args, message) in [(["--kinetics-per-class", "0"], "--kinetics-per-class must be at least 1, got 0"),
                                (["--appearance-pool=-1"], "--appearance-pool must be 0 or more, got -1")] {
            let r = try run(["datasets", "synth"] + args)
            XCTAssertNotEqual(r.status, 0, args.joined(separator: " "))
            XCTAssertTrue(r.err.contains(message), r.err)
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("synth-\(UUID().uuidString)").path
        addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
        let r = try run(["datasets", "synth", "--scale", "ci", "--kinetics-per-class", "1", "--appearance-pool", "1", "--out", dir])
        XCTAssertEqual(r.status, 0, r.err)
        let stamp = try String(contentsOfFile: "\(dir)/synthetic.txt", encoding: .utf8)
        XCTAssertTrue(stamp.contains("Recognition(classes: 10, perClass: 1,"), stamp)  // the Kinetics-format set
        XCTAssertTrue(stamp.contains("appearancePool: 1,"), stamp)
    }
}
