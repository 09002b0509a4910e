import Datasets
import Distributed
import Foundation
import Media
import Networks
import Protocols
import Tensors
@testable import VTHCL
import XCTest

/// The tiny runs the equivalence tests compare, on in-memory videos: each is run once in
/// this process with `shards: 2` (per-rank batch norm emulated) and once under
/// `mpirun -np 2` with one shard per rank.
enum TinyRuns {
    static func pretrainSettings(shards: Int?) -> Pretraining.Settings {
        var c = VTHCLConfig()
        c.widthMultiplier = 0.125; c.slowFrames = 2; c.tau = 4; c.alpha = 2; c.negatives = 8; c.embeddingDimension = 16
        var s = PretrainSchedule(epochs: Int(ProcessInfo.processInfo.environment["TEMPO_MPI_EPOCHS"] ?? "2")!, batchSize: Int(ProcessInfo.processInfo.environment["TEMPO_MPI_BATCH"] ?? "4")!)
        s.baseLearningRate = 0.5
        s.shards = shards
        var p = Pretraining.Settings(config: c, schedule: s, crop: 32)
        p.knnEvery = 0
        return p
    }

    static func pretrain(shards: Int?, directory: URL, progress: ProgressHandler = { _ in }) throws {
        let (train, a) = InMemoryVideos.labelled(classes: 2, perClass: 4, prefix: "train")
        let (test, b) = InMemoryVideos.labelled(classes: 2, perClass: 1, prefix: "test")
        let provider = FrameProvider(spec: DecodeSpec(shortSide: nil), frames: a.merging(b) { $1 })
        let r = try Pretraining.run(train: train, test: test, classes: 2, provider: provider, settings: pretrainSettings(shards: shards),
                                    seed: 5, directory: directory, progress: progress)
        // What this rank's kNN monitors scored (their videos are split over the ranks and the
        // features gathered).
        let scores = [r.bankKNN, r.frozen?.head, r.frozen?.backbone, r.untrained?.head].map { "\($0?.perItem ?? [])" }.joined(separator: " ")
        try Data(scores.utf8).write(to: directory.appendingPathComponent("scores.\(DataParallel.group.rank).txt"))
    }

    static func finetune(shards: Int?, directory: URL, syncBatchNorm: Bool = false) throws {
        let (train, a) = InMemoryVideos.labelled(classes: 2, perClass: 4, prefix: "train")
        let (test, b) = InMemoryVideos.labelled(classes: 2, perClass: 1, prefix: "test")
        let provider = FrameProvider(spec: DecodeSpec(shortSide: nil), frames: a.merging(b) { $1 })
        var schedule = ClassifierSchedule(epochs: 2, batchSize: 4, learningRate: 0.05, milestones: [1])
        schedule.shards = shards
        if syncBatchNorm { schedule.syncBatchNorm = true }
        var settings = FineTuning.Settings(schedule: schedule, crop: 32)
        // Dropout masks are drawn per shard, so a comparison with one shard needs it off.
        settings.frames = 4; settings.stride = 2; settings.clips = 1; settings.dropout = syncBatchNorm ? 0 : 0.5
        var rng = SeedStream(3, "encoder.init").generator()
        let encoder = ResNet3D(.slowFast(depth: 18, pathway: .slow, widthMultiplier: 0.125), rng: &rng)
        let r = try FineTuning.run(encoder: encoder, train: train, test: test, classes: 2, provider: provider, settings: settings,
                                   seed: 3, checkpointURL: directory.appendingPathComponent("checkpoint.safetensors"))
        // What this rank scored (test-only files: every rank writes its own).
        let scores = "\(r.accuracy.video.top1.perItem) \(r.accuracy.clip.top1.perItem)"
        try Data(scores.utf8).write(to: directory.appendingPathComponent("scores.\(DataParallel.group.rank).txt"))
    }
}

final class DistributedTests: XCTestCase {
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
        print("DistributedTests: skipped, mpirun is not on PATH (install openmpi-bin: scripts/setup)")
        throw XCTSkip("mpirun is not on PATH")
    }

    /// Runs `DistributedChild` with `mode`: on 2 ranks under mpirun (root and loopback
    /// flags), or with `ranks: 1` as a plain child process (a world of one, no MPI). Both get
    /// one compute thread and one OpenBLAS thread: BLAS results depend on its thread
    /// partitioning, and these tiny runs amplify such differences. Returns the exit status and
    /// the combined output; fails the test past `timeout` seconds.
    func launch(_ mode: String, directory: URL, ranks: Int = 2, timeout: TimeInterval = 300) throws -> (Int32, String) {
        let test = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path
        let run = Process()
        if ranks == 1 {
            run.executableURL = URL(fileURLWithPath: test)
            run.arguments = ["VTHCLTests.DistributedChild/testChild"]
        } else {
            run.executableURL = URL(fileURLWithPath: try mpirun())
            run.arguments = ["-np", "\(ranks)", "--oversubscribe", "--mca", "btl", "self,tcp", "--mca", "btl_tcp_if_include", "lo",
                             "-x", "TEMPO_MPI_CHILD", "-x", "TEMPO_MPI_CHILD_DIR", "-x", "TEMPO_THREADS", "-x", "OPENBLAS_NUM_THREADS",
                             "-x", "TEMPO_MPI_EPOCHS", "-x", "TEMPO_MPI_BATCH", test, "VTHCLTests.DistributedChild/testChild"]
        }
        var env = ProcessInfo.processInfo.environment
        env["OMPI_ALLOW_RUN_AS_ROOT"] = "1"; env["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
        env["TEMPO_MPI_CHILD"] = mode; env["TEMPO_MPI_CHILD_DIR"] = directory.path
        env["TEMPO_THREADS"] = "1"; env["OPENBLAS_NUM_THREADS"] = "1"
        run.environment = env
        let log = directory.appendingPathComponent("mpirun.log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let handle = try FileHandle(forWritingTo: log)
        run.standardOutput = handle; run.standardError = handle
        try run.run()
        let deadline = Date().addingTimeInterval(timeout)
        while run.isRunning && Date() < deadline { usleep(20_000) }
        if run.isRunning {
            kill(-run.processIdentifier, SIGKILL); run.terminate(); run.waitUntilExit()
            XCTFail("mpirun did not end within \(Int(timeout)) s (a hang)")
        }
        run.waitUntilExit()
        try handle.close()
        return (run.terminationStatus, (try? String(contentsOf: log, encoding: .utf8)) ?? "")
    }

    /// Every tensor of `a` equals `b`'s within `tolerance` relative to the tensor's largest
    /// magnitude; the same names in both.
    func assertClose(_ a: URL, _ b: URL, tolerance: Float = 1e-4, file: StaticString = #filePath, line: UInt = #line) throws {
        let (ta, ma) = try Safetensors.read(a), (tb, mb) = try Safetensors.read(b)
        XCTAssertEqual(Set(ta.keys), Set(tb.keys), file: file, line: line)
        XCTAssertEqual(ma["epoch"], mb["epoch"], file: file, line: line)
        XCTAssertEqual(ma["step"], mb["step"], file: file, line: line)
        var worst: (String, Float) = ("", 0)
        var all: [(String, Float)] = []
        for (name, x) in ta {
            guard let y = tb[name] else { continue }
            XCTAssertEqual(x.shape, y.shape, name, file: file, line: line)
            let scale = max(y.scalars.map(abs).max() ?? 0, 1e-12)
            let diff = zip(x.scalars, y.scalars).map { abs($0 - $1) }.max() ?? 0
            if diff / scale > worst.1 { worst = (name, diff / scale) }
            all.append((name + " max \(scale)", diff / scale))
        }
        if ProcessInfo.processInfo.environment["TEMPO_MPI_DEBUG"] != nil {
            for (n, d) in all.sorted(by: { $0.1 > $1.1 }).prefix(15) { print("  \(d) \(n)") }
        }
        XCTAssertLessThanOrEqual(worst.1, tolerance, "largest relative difference at \(worst.0)", file: file, line: line)
        print("DistributedTests: largest relative difference \(worst.1) (\(worst.0)) over \(ta.count) tensors")
    }

    /// A tiny pretraining on 2 ranks ends with the checkpoint of the same run in one process
    /// with per-rank batch norm emulated (model, momentum, memory banks, position).
    func testPretrainingOnTwoRanksMatchesOneProcess() throws {
        _ = try mpirun()
        let reference = try tempDir(), parallel = try tempDir()
        let (refStatus, refOutput) = try launch("pretrain-reference", directory: reference, ranks: 1)
        XCTAssertEqual(refStatus, 0, refOutput)
        let (status, output) = try launch("pretrain", directory: parallel)
        XCTAssertEqual(status, 0, output)
        try assertClose(parallel.appendingPathComponent("checkpoint.safetensors"), reference.appendingPathComponent("checkpoint.safetensors"))
        let (_, meta) = try Safetensors.read(parallel.appendingPathComponent("checkpoint.safetensors"))
        XCTAssertEqual(meta["ranks"], "2", "the checkpoint records the rank count")
        XCTAssertEqual(try EpochLog.load(parallel.appendingPathComponent("epochs.json")).values.count, 2)
        let expected = try String(contentsOf: reference.appendingPathComponent("scores.0.txt"), encoding: .utf8)
        for rank in 0..<2 {
            XCTAssertEqual(try String(contentsOf: parallel.appendingPathComponent("scores.\(rank).txt"), encoding: .utf8), expected,
                           "rank \(rank)'s kNN monitors")
        }
        // They compute the same run, so 2 ranks accept the one-process checkpoint (finished:
        // nothing left to train) and a one-process run without shards refuses it.
        let copy = try tempDir()
        try FileManager.default.copyItem(at: reference.appendingPathComponent("checkpoint.safetensors"),
                                         to: copy.appendingPathComponent("checkpoint.safetensors"))
        let (resumed, resumedOutput) = try launch("pretrain", directory: copy)
        XCTAssertEqual(resumed, 0, resumedOutput)
        XCTAssertThrowsError(try TinyRuns.pretrain(shards: 1, directory: copy)) { XCTAssertTrue("\($0)".contains("another configuration"), "\($0)") }
    }

    /// The same for a tiny fine-tuning (dropout on, per shard).
    func testFineTuningOnTwoRanksMatchesOneProcess() throws {
        _ = try mpirun()
        let reference = try tempDir(), parallel = try tempDir()
        let (refStatus, refOutput) = try launch("finetune-reference", directory: reference, ranks: 1)
        XCTAssertEqual(refStatus, 0, refOutput)
        let (status, output) = try launch("finetune", directory: parallel)
        XCTAssertEqual(status, 0, output)
        try assertClose(parallel.appendingPathComponent("checkpoint.safetensors"), reference.appendingPathComponent("checkpoint.safetensors"))
        // The test videos are split over the ranks and gathered: both score all of them.
        let expected = try String(contentsOf: reference.appendingPathComponent("scores.0.txt"), encoding: .utf8)
        for rank in 0..<2 {
            XCTAssertEqual(try String(contentsOf: parallel.appendingPathComponent("scores.\(rank).txt"), encoding: .utf8), expected)
        }
    }

    /// With synchronised batch norm, 2 ranks match one process running the whole batch as one
    /// shard (dropout off: its masks are drawn per shard). Not bit-identical (sums split
    /// over the ranks), within 1e-4.
    func testFineTuningWithSynchronisedBatchNormMatchesOneShard() throws {
        _ = try mpirun()
        let reference = try tempDir(), parallel = try tempDir()
        let (refStatus, refOutput) = try launch("finetune-sync-reference", directory: reference, ranks: 1)
        XCTAssertEqual(refStatus, 0, refOutput)
        let (status, output) = try launch("finetune-sync", directory: parallel)
        XCTAssertEqual(status, 0, output)
        try assertClose(parallel.appendingPathComponent("checkpoint.safetensors"), reference.appendingPathComponent("checkpoint.safetensors"))
    }

    /// One rank failing mid-run ends both (no hang) with that rank's error.
    func testOneRankFailingEndsAllWithItsError() throws {
        _ = try mpirun()
        let dir = try tempDir()
        let started = Date()
        let (status, output) = try launch("fail", directory: dir, timeout: 120)
        XCTAssertNotEqual(status, 0, output)
        XCTAssertTrue(output.contains("rank 1 of 2") && output.contains("injected failure"), output)
        XCTAssertLessThan(Date().timeIntervalSince(started), 120)
    }

    /// A rank killed outright (SIGKILL, no chance to abort) in the second epoch ends the job,
    /// mpirun names the rank, and a rerun on 2 ranks resumes from the first epoch's checkpoint
    /// to the uninterrupted run's final checkpoint, byte for byte.
    func testOneRankKilledEndsAllAndARerunResumes() throws {
        _ = try mpirun()
        let dir = try tempDir(), reference = try tempDir()
        let (status, output) = try launch("kill", directory: dir, timeout: 120)
        XCTAssertNotEqual(status, 0, output)
        XCTAssertTrue(output.contains("rank 1"), output)
        let checkpoint = dir.appendingPathComponent("checkpoint.safetensors")
        XCTAssertEqual(try Safetensors.read(checkpoint).metadata["epoch"], "1", "the first epoch's checkpoint stays")
        let (again, againOutput) = try launch("pretrain", directory: dir)
        XCTAssertEqual(again, 0, againOutput)
        let (whole, wholeOutput) = try launch("pretrain", directory: reference)
        XCTAssertEqual(whole, 0, wholeOutput)
        XCTAssertEqual(try Data(contentsOf: checkpoint), try Data(contentsOf: reference.appendingPathComponent("checkpoint.safetensors")))
    }

    /// The communicator's collectives on 2 real ranks (each rank checks what it receives), and
    /// a failing MPI call as an `MPIError`.
    func testCollectivesOnTwoRanks() throws {
        _ = try mpirun()
        let (status, output) = try launch("collectives", directory: try tempDir(), timeout: 120)
        XCTAssertEqual(status, 0, output)
    }

    /// Without mpirun's environment the world is one process and MPI is never initialised.
    func testWithoutMPIRunTheWorldIsOneProcess() throws {
        guard !Communicator.isLaunchedByMPI else { throw XCTSkip("running under mpirun") }
        let world = try Communicator.world()
        XCTAssertEqual(world.size, 1); XCTAssertEqual(world.rank, 0); XCTAssertFalse(world.usesMPI)
        var x: [Float] = [1, 2]
        try world.allreduceSum(&x)
        XCTAssertEqual(x, [1, 2])
        XCTAssertEqual(try world.allgather(x), [1, 2])
    }

    /// A rank's default thread count comes from its launcher: mpirun's local rank count, or
    /// under srun the CPUs Slurm gave the task, else the step's tasks on this node.
    func testDefaultThreadsFollowTheLauncher() {
        XCTAssertEqual(Communicator.defaultThreads(["OMPI_COMM_WORLD_LOCAL_SIZE": "2"], cores: 16), 8)
        XCTAssertEqual(Communicator.defaultThreads(["OMPI_COMM_WORLD_LOCAL_SIZE": "3"], cores: 2), 1)
        XCTAssertNil(Communicator.defaultThreads(["OMPI_COMM_WORLD_LOCAL_SIZE": "1"], cores: 16))
        // mpirun inside a Slurm allocation: Open MPI's count wins.
        XCTAssertEqual(Communicator.defaultThreads(["OMPI_COMM_WORLD_LOCAL_SIZE": "4", "SLURM_STEP_TASKS_PER_NODE": "1",
                                                    "SLURM_CPUS_PER_TASK": "16"], cores: 16), 4)
        let srun = ["PMIX_RANK": "1", "SLURM_STEP_TASKS_PER_NODE": "2", "SLURM_NODEID": "0"]
        XCTAssertEqual(Communicator.defaultThreads(srun, cores: 2), 1)
        XCTAssertEqual(Communicator.defaultThreads(srun.merging(["SLURM_CPUS_PER_TASK": "3"]) { $1 }, cores: 16), 3)
        XCTAssertEqual(Communicator.defaultThreads(["SLURM_STEP_TASKS_PER_NODE": "4(x2),2", "SLURM_NODEID": "2"], cores: 16), 8)
        XCTAssertEqual(Communicator.defaultThreads(["SLURM_STEP_TASKS_PER_NODE": "4(x2),2", "SLURM_NODEID": "1"], cores: 16), 4)
        XCTAssertNil(Communicator.defaultThreads(["SLURM_STEP_TASKS_PER_NODE": "1"], cores: 16))
        XCTAssertNil(Communicator.defaultThreads(["PMIX_RANK": "0"], cores: 16))
    }

    func testSlurmPerNodeTaskLists() {
        XCTAssertEqual(Communicator.tasksOnNode("2", node: 0), 2)
        XCTAssertNil(Communicator.tasksOnNode("2", node: 1))
        XCTAssertEqual(Communicator.tasksOnNode("4(x3)", node: 2), 4)
        XCTAssertNil(Communicator.tasksOnNode("4(x3)", node: 3))
        XCTAssertEqual(Communicator.tasksOnNode("2(x2),1,3", node: 2), 1)
        XCTAssertEqual(Communicator.tasksOnNode("2(x2),1,3", node: 3), 3)
        for bad in ["", "x", "2(3)", "2(x)", "2(x0)", "(x2)", "2(x2"] { XCTAssertNil(Communicator.tasksOnNode(bad, node: 0), bad) }
    }
}

struct InjectedFailure: Error, CustomStringConvertible {
    var description: String { "injected failure (on purpose, by the test)" }
}

/// Runs only under `mpirun`, launched by `DistributedTests`.
final class DistributedChild: XCTestCase {
    func testChild() throws {
        let env = ProcessInfo.processInfo.environment
        guard let mode = env["TEMPO_MPI_CHILD"], let path = env["TEMPO_MPI_CHILD_DIR"] else {
            throw XCTSkip("runs only under mpirun, launched by DistributedTests")
        }
        let world = try Communicator.installWorld()
        let dir = URL(fileURLWithPath: path)
        try world.runOrAbort {
            switch mode {
            case "pretrain": try TinyRuns.pretrain(shards: nil, directory: dir)
            case "finetune": try TinyRuns.finetune(shards: nil, directory: dir)
            // One process with the batch in 2 shards: per-rank batch norm emulated.
            case "finetune-sync": try TinyRuns.finetune(shards: nil, directory: dir, syncBatchNorm: true)
            case "finetune-sync-reference": try TinyRuns.finetune(shards: 1, directory: dir, syncBatchNorm: true)
            case "pretrain-reference": try TinyRuns.pretrain(shards: 2, directory: dir)
            case "finetune-reference": try TinyRuns.finetune(shards: 2, directory: dir)
            case "fail":
                try TinyRuns.pretrain(shards: nil, directory: dir, progress: { p in
                    if world.rank == 1 && p.step == 0 && p.epoch == 0 { throw InjectedFailure() }
                })
            case "collectives":
                struct Mismatch: Error, CustomStringConvertible { var description: String }
                func expect(_ ok: Bool, _ what: String) throws { if !ok { throw Mismatch(description: "unexpected \(what)") } }
                let r = Float(world.rank)
                try expect(world.size == 2, "size \(world.size)")
                var f: [Float] = [1 + r, 10 * r]
                try world.allreduceSum(&f); try expect(f == [3, 10], "float sum \(f)")
                var d: [Double] = [0.5 + Double(r)]
                try world.allreduceSum(&d); try expect(d == [2], "double sum \(d)")
                var m: [Double] = [Double(r) * 7]
                try world.allreduceMax(&m); try expect(m == [7], "max \(m)")
                try expect(try world.allgather([r, r]) == [0, 0, 1, 1], "allgather")
                try expect(try DataParallel.gather(world.rank == 0 ? [5] : [6, 7], in: world) == [5, 6, 7], "gather of unequal parts")
                var bytes: [UInt8] = world.rank == 0 ? Array("tempo".utf8) : []
                try world.broadcast(&bytes); try expect(bytes == Array("tempo".utf8), "broadcast \(bytes)")
                var fb: [Float] = world.rank == 0 ? [4, 2] : [0, 0]
                try world.broadcast(&fb); try expect(fb == [4, 2], "float broadcast \(fb)")
                // A failing call comes back as a typed error (MPI_ERRORS_RETURN), not an abort.
                do {
                    try world.broadcast(&fb, root: 5)
                    throw Mismatch(description: "a broadcast from rank 5 of 2 succeeded")
                } catch let error as MPIError {
                    try expect(error.call == "MPI_Bcast" && !error.message.isEmpty, "error \(error)")
                }
                try world.barrier()
            case "kill":
                try TinyRuns.pretrain(shards: nil, directory: dir, progress: { p in
                    if world.rank == 1 && p.step == 0 && p.epoch == 1 { kill(getpid(), SIGKILL) }
                })
            default: XCTFail("unknown child mode \(mode)")
            }
        }
    }
}
