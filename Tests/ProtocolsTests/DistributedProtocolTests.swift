import Datasets
import Distributed
import Foundation
import Media
import Networks
@testable import Protocols
import Tensors
import XCTest

/// Tiny AVA detection and Epic anticipation runs (dropout on): once in one process with
/// the batch in 2 shards (per-rank batch norm emulated), once under `mpirun -np 2`.
enum TinyDownstream {
    static func ava(shards: Int?, directory: URL) throws {
        let (train, a) = avaRecords(prefix: "tr", count: 4), (test, b) = avaRecords(prefix: "te", count: 1)
        let provider = FrameProvider(spec: DecodeSpec(shortSide: nil), frames: a.merging(b) { $1 })
        var schedule = ClassifierSchedule(epochs: 2, batchSize: 2, learningRate: 0.1, milestones: [1])
        schedule.shards = shards
        var settings = AVADetection.Settings(schedule: schedule, crop: 32)
        settings.frames = 4; settings.stride = 2; settings.dropout = 0.5
        let r = try AVADetection.run(encoder: tinyEncoder(seed: 4, dilation: 2), train: train, test: test, classIDs: [1, 2],
                                     provider: provider, settings: settings, seed: 4,
                                     checkpointURL: directory.appendingPathComponent("checkpoint.safetensors"))
        // What this rank scored (test keyframes are split over the ranks and gathered).
        let ap = r.frameMAP.perClassAP.keys.sorted().map { "\($0):\(r.frameMAP.perClassAP[$0]!)" }.joined(separator: " ")
        let scores = "\(r.testKeyframes) \(r.detections) \(r.frameMAP.detectionsEvaluated) \(r.frameMAP.meanAP) \(ap)"
        try Data(scores.utf8).write(to: directory.appendingPathComponent("scores.\(DataParallel.group.rank).txt"))
    }

    static func epic(shards: Int?, directory: URL) throws {
        let (train, a) = epicRecords(prefix: "tr", count: 4), (test, b) = epicRecords(prefix: "te", count: 1)
        let provider = FrameProvider(spec: DecodeSpec(shortSide: nil), frames: a.merging(b) { $1 })
        var schedule = ClassifierSchedule(epochs: 2, batchSize: 2, learningRate: 0.1, milestones: [1])
        schedule.shards = shards
        var settings = Anticipation.Settings(schedule: schedule, crop: 32)
        settings.frames = 4; settings.dropout = 0.5
        let r = try Anticipation.run(encoder: tinyEncoder(seed: 6), train: train, test: test, verbs: 2, nouns: 3,
                                     provider: provider, settings: settings, seed: 6,
                                     checkpointURL: directory.appendingPathComponent("checkpoint.safetensors"))
        // What this rank scored (test-only files: every rank writes its own).
        let scores = "\(r.testSegments) \(r.accuracy)"
        try Data(scores.utf8).write(to: directory.appendingPathComponent("scores.\(DataParallel.group.rank).txt"))
    }
}

final class DistributedProtocolTests: XCTestCase {
    func tempDir() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("distributed-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        return dir
    }

    func mpirun() throws -> String {
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":") {
            let path = "\(dir)/mpirun"
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        print("DistributedProtocolTests: skipped, mpirun is not on PATH (install openmpi-bin: scripts/setup)")
        throw XCTSkip("mpirun is not on PATH")
    }

    /// As `DistributedTests.launch` (VTHCLTests): 2 ranks under mpirun, or one plain child
    /// process; one compute and one OpenBLAS thread each.
    func launch(_ mode: String, directory: URL, ranks: Int, timeout: TimeInterval = 300) throws -> (Int32, String) {
        let test = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path
        let child = "ProtocolsTests.DistributedProtocolChild/testChild"
        let run = Process()
        if ranks == 1 {
            run.executableURL = URL(fileURLWithPath: test); run.arguments = [child]
        } else {
            run.executableURL = URL(fileURLWithPath: try mpirun())
            run.arguments = ["-np", "\(ranks)", "--oversubscribe", "--mca", "btl", "self,tcp", "--mca", "btl_tcp_if_include", "lo",
                             "-x", "TEMPO_MPI_CHILD", "-x", "TEMPO_MPI_CHILD_DIR", "-x", "TEMPO_THREADS", "-x", "OPENBLAS_NUM_THREADS",
                             test, child]
        }
        var env = ProcessInfo.processInfo.environment
        env["OMPI_ALLOW_RUN_AS_ROOT"] = "1"; env["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
        env["TEMPO_MPI_CHILD"] = mode; env["TEMPO_MPI_CHILD_DIR"] = directory.path
        env["TEMPO_THREADS"] = "1"; env["OPENBLAS_NUM_THREADS"] = "1"
        run.environment = env
        let log = directory.appendingPathComponent("run.log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let handle = try FileHandle(forWritingTo: log)
        run.standardOutput = handle; run.standardError = handle
        try run.run()
        let deadline = Date().addingTimeInterval(timeout)
        while run.isRunning && Date() < deadline { usleep(20_000) }
        if run.isRunning {
            run.terminate(); run.waitUntilExit()
            XCTFail("\(mode) did not end within \(Int(timeout)) s (a hang)")
        }
        run.waitUntilExit()
        try handle.close()
        return (run.terminationStatus, (try? String(contentsOf: log, encoding: .utf8)) ?? "")
    }

    func assertEquivalent(_ mode: String, file: StaticString = #filePath, line: UInt = #line) throws {
        _ = try mpirun()
        let reference = try tempDir(), parallel = try tempDir()
        let (rs, ro) = try launch("\(mode)-reference", directory: reference, ranks: 1)
        XCTAssertEqual(rs, 0, ro, file: file, line: line)
        let (ps, po) = try launch(mode, directory: parallel, ranks: 2)
        XCTAssertEqual(ps, 0, po, file: file, line: line)
        let (ta, ma) = try Safetensors.read(parallel.appendingPathComponent("checkpoint.safetensors"))
        let (tb, mb) = try Safetensors.read(reference.appendingPathComponent("checkpoint.safetensors"))
        XCTAssertEqual(Set(ta.keys), Set(tb.keys), file: file, line: line)
        XCTAssertEqual(ma["epoch"], mb["epoch"], file: file, line: line); XCTAssertEqual(ma["step"], mb["step"], file: file, line: line)
        XCTAssertEqual(ma["ranks"], "2", file: file, line: line)
        var worst: (String, Float) = ("", 0)
        for (name, x) in ta {
            guard let y = tb[name], x.shape == y.shape else { XCTFail("\(name) missing or reshaped", file: file, line: line); continue }
            let scale = max(y.scalars.map(abs).max() ?? 0, 1e-12)
            let diff = zip(x.scalars, y.scalars).map { abs($0 - $1) }.max() ?? 0
            if diff / scale > worst.1 { worst = (name, diff / scale) }
        }
        XCTAssertLessThanOrEqual(worst.1, 1e-4, "largest relative difference at \(worst.0)", file: file, line: line)
        // Where the test is split over the ranks, both score everything as one process does.
        let scores = reference.appendingPathComponent("scores.0.txt")
        if FileManager.default.fileExists(atPath: scores.path) {
            let expected = try String(contentsOf: scores, encoding: .utf8)
            for rank in 0..<2 {
                XCTAssertEqual(try String(contentsOf: parallel.appendingPathComponent("scores.\(rank).txt"), encoding: .utf8), expected,
                               file: file, line: line)
            }
        }
    }

    func testAVADetectionOnTwoRanksMatchesOneProcess() throws { try assertEquivalent("ava") }
    func testAnticipationOnTwoRanksMatchesOneProcess() throws { try assertEquivalent("epic") }
}

/// Runs only as a child of `DistributedProtocolTests`.
final class DistributedProtocolChild: XCTestCase {
    func testChild() throws {
        let env = ProcessInfo.processInfo.environment
        guard let mode = env["TEMPO_MPI_CHILD"], let path = env["TEMPO_MPI_CHILD_DIR"] else {
            throw XCTSkip("runs only as a child of DistributedProtocolTests")
        }
        let world = try Communicator.installWorld()
        let dir = URL(fileURLWithPath: path)
        try world.runOrAbort {
            switch mode {
            case "ava": try TinyDownstream.ava(shards: nil, directory: dir)
            case "ava-reference": try TinyDownstream.ava(shards: 2, directory: dir)
            case "epic": try TinyDownstream.epic(shards: nil, directory: dir)
            case "epic-reference": try TinyDownstream.epic(shards: 2, directory: dir)
            default: XCTFail("unknown child mode \(mode)")
            }
        }
    }
}
