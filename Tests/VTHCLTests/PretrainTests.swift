import Foundation
@testable import Networks
import Tensors
@testable import VTHCL
import XCTest

/// A deterministic stand-in for the dataset: each instance's clips are a fixed random
/// pattern; the order is a per-epoch permutation of (seed, epoch).
struct SyntheticPairs: PretrainBatchSource {
    var instanceCount = 12
    var batchSize = 4
    var config: VTHCLConfig
    var size = 32
    var stepsPerEpoch: Int { instanceCount / batchSize }

    func batch(seed: UInt64, epoch: Int, step: Int) throws -> PretrainBatch {
        var rng = RandomGenerator(seed: seed &+ UInt64(epoch) &* 7919)
        let order = rng.permutation(instanceCount)
        let ids = Array(order[(step * batchSize)..<((step + 1) * batchSize)])
        var slow: [Float] = [], fast: [Float] = []
        for id in ids {
            var g = RandomGenerator(seed: UInt64(id) &* 104_729 &+ UInt64(epoch))
            let base = Tensor.randomNormal([3, config.fastFrames, size, size], using: &g)
            fast += base.scalars
            // The slow clip is every α-th frame of the fast one: same content, other tempo.
            let plane = size * size
            for c in 0..<3 {
                for t in stride(from: 0, to: config.fastFrames, by: config.alpha) {
                    let start = (c * config.fastFrames + t) * plane
                    slow += base.scalars[start..<(start + plane)]
                }
            }
        }
        return PretrainBatch(instances: ids,
                             slow: Tensor(shape: [ids.count, 3, config.slowFrames, size, size], scalars: slow),
                             fast: Tensor(shape: [ids.count, 3, config.fastFrames, size, size], scalars: fast))
    }
}

func tinyPretrainConfig() -> VTHCLConfig {
    var c = VTHCLConfig()
    c.widthMultiplier = 0.125; c.slowFrames = 2; c.alpha = 2; c.negatives = 8; c.embeddingDimension = 16
    return c
}

func tinySchedule() -> PretrainSchedule {
    var s = PretrainSchedule(epochs: 3, batchSize: 4)
    s.baseLearningRate = 0.5
    s.checkpointEverySteps = 1
    return s
}

final class PretrainTests: XCTestCase {
    func tempDir() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("pretrain-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        return dir
    }

    func testLossFallsOnRepeatedInstances() throws {
        let config = tinyPretrainConfig()
        var schedule = tinySchedule(); schedule.epochs = 6; schedule.checkpointEverySteps = 0
        let dir = try tempDir()
        let trainer = try Pretrainer(config: config, schedule: schedule, instances: 12, seed: 3,
                                 checkpointURL: dir.appendingPathComponent("ckpt.safetensors"))
        var epochLoss: [Float] = []
        var current: [Float] = []
        try trainer.run(source: SyntheticPairs(config: config), progress: { current.append($0.total) },
                        epochEnd: { _, _ in epochLoss.append(current.reduce(0, +) / Float(current.count)); current = [] })
        XCTAssertEqual(epochLoss.count, 6)
        XCTAssertLessThan(epochLoss.last!, epochLoss.first!, "\(epochLoss)")
    }

    /// Killing the run (SIGKILL, in a child process) and starting it again reaches a final
    /// checkpoint byte-identical to an uninterrupted run's.
    func testResumeAfterKillIsBitIdentical() throws {
        let config = tinyPretrainConfig()
        let reference = try tempDir().appendingPathComponent("ckpt.safetensors")
        try Pretrainer(config: config, schedule: tinySchedule(), instances: 12, seed: 11, checkpointURL: reference)
            .run(source: SyntheticPairs(config: config))

        let dir = try tempDir()
        let resumed = dir.appendingPathComponent("ckpt.safetensors")
        let child = Process()
        child.executableURL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        child.arguments = ["VTHCLTests.PretrainChildProcess/testChildRun"]
        var env = ProcessInfo.processInfo.environment
        env["TEMPO_PRETRAIN_CHILD_CKPT"] = resumed.path
        child.environment = env
        child.standardOutput = FileHandle.nullDevice
        child.standardError = FileHandle.nullDevice
        try child.run()
        // Kill as soon as the first mid-epoch checkpoint exists.
        let deadline = Date().addingTimeInterval(120)
        while !FileManager.default.fileExists(atPath: resumed.path) && child.isRunning && Date() < deadline {
            usleep(2_000)
        }
        kill(child.processIdentifier, SIGKILL)
        child.waitUntilExit()
        XCTAssertEqual(child.terminationReason, .uncaughtSignal, "the child must have been killed mid-run")
        let (_, meta) = try Safetensors.read(resumed)
        XCTAssertLessThan(Int(meta["epoch"]!)!, 3, "killed before the end")

        let trainer = try Pretrainer(config: config, schedule: tinySchedule(), instances: 12, seed: 11, checkpointURL: resumed)
        try trainer.run(source: SyntheticPairs(config: config))
        XCTAssertEqual(try Data(contentsOf: resumed), try Data(contentsOf: reference))
    }

    /// A stop request (what a Slurm job's signal handler sends ahead of the time limit)
    /// writes a checkpoint after the step in progress and stops; the rerun resumes there and
    /// ends byte-identical to an uninterrupted run.
    func testStopOnRequestCheckpointsMidEpochAndResumesExactly() throws {
        let config = tinyPretrainConfig()
        var schedule = tinySchedule(); schedule.checkpointEverySteps = 0
        let reference = try tempDir().appendingPathComponent("ckpt.safetensors")
        try Pretrainer(config: config, schedule: schedule, instances: 12, seed: 5, checkpointURL: reference)
            .run(source: SyntheticPairs(config: config))

        let stopped = try tempDir().appendingPathComponent("ckpt.safetensors")
        var steps = 0
        defer { TrainingLoop.stopFlag = 0 }
        XCTAssertThrowsError(try Pretrainer(config: config, schedule: schedule, instances: 12, seed: 5, checkpointURL: stopped)
            .run(source: SyntheticPairs(config: config), progress: { _ in
                steps += 1
                if steps == 5 { TrainingLoop.requestStop() }  // during epoch 1, step 1 of 3
            })) { error in
            let stop = error as? StoppedOnRequest
            XCTAssertEqual(stop?.epoch, 1, "\(error)")
            XCTAssertEqual(stop?.step, 2, "\(error)")
        }
        XCTAssertEqual(steps, 5, "no step after the request")
        let (_, meta) = try Safetensors.read(stopped)
        XCTAssertEqual(meta["epoch"], "1")
        XCTAssertEqual(meta["step"], "2", "the checkpoint is written mid-epoch, where it stopped")
        TrainingLoop.stopFlag = 0
        try Pretrainer(config: config, schedule: schedule, instances: 12, seed: 5, checkpointURL: stopped)
            .run(source: SyntheticPairs(config: config))
        XCTAssertEqual(try Data(contentsOf: stopped), try Data(contentsOf: reference))
    }

    func testResumeRefusesAnotherConfig() throws {
        let config = tinyPretrainConfig()
        let url = try tempDir().appendingPathComponent("ckpt.safetensors")
        var schedule = tinySchedule(); schedule.epochs = 1
        try Pretrainer(config: config, schedule: schedule, instances: 12, seed: 1, checkpointURL: url)
            .run(source: SyntheticPairs(config: config))
        var other = config; other.temperature = 0.2
        let trainer = try Pretrainer(config: other, schedule: schedule, instances: 12, seed: 1, checkpointURL: url)
        XCTAssertThrowsError(try trainer.resume()) { XCTAssertTrue("\($0)".contains("ckpt.safetensors"), "\($0)") }
    }
}

/// Runs only as the child process of `testResumeAfterKillIsBitIdentical`.
final class PretrainChildProcess: XCTestCase {
    func testChildRun() throws {
        guard let path = ProcessInfo.processInfo.environment["TEMPO_PRETRAIN_CHILD_CKPT"] else {
            throw XCTSkip("runs only as the child process of PretrainTests")
        }
        let config = tinyPretrainConfig()
        try Pretrainer(config: config, schedule: tinySchedule(), instances: 12, seed: 11,
                       checkpointURL: URL(fileURLWithPath: path)).run(source: SyntheticPairs(config: config))
    }
}

/// A pretraining checkpoint's slow encoder loads into a plain PyTorch module with strict
/// name and shape checks (`scripts/load_slow_encoder.py`), when PyTorch is installed.
final class PyTorchInteropTests: XCTestCase {
    func testSlowEncoderLoadsInPyTorch() throws {
        let python = ProcessInfo.processInfo.environment["TEMPO_PYTHON"] ?? "python3"
        let probe = Process()
        probe.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        probe.arguments = [python, "-c", "import torch, safetensors"]
        probe.standardError = FileHandle.nullDevice
        probe.standardOutput = FileHandle.nullDevice
        try probe.run(); probe.waitUntilExit()
        guard probe.terminationStatus == 0 else {
            print("skipped: PyTorch and safetensors are not importable by \(python); set TEMPO_PYTHON to a Python that has them")
            throw XCTSkip("PyTorch not installed")
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("interop-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("ckpt.safetensors")
        let config = tinyPretrainConfig()
        var schedule = tinySchedule(); schedule.epochs = 1; schedule.checkpointEverySteps = 0
        try Pretrainer(config: config, schedule: schedule, instances: 12, seed: 2, checkpointURL: url).run(source: SyntheticPairs(config: config))
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../scripts/load_slow_encoder.py").standardizedFileURL
        let run = Process()
        run.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        run.arguments = [python, script.path, url.path, "--depth", "18", "--width", "\(config.widthMultiplier)", "--check"]
        let out = Pipe()
        run.standardOutput = out
        try run.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        run.waitUntilExit()
        XCTAssertEqual(run.terminationStatus, 0, text)
        XCTAssertTrue(text.contains("res5") || text.contains("layer4"), text)
    }
}

final class InitialModelTests: XCTestCase {
    /// `initialModel` is exactly the model a fresh run starts from.
    func testInitialModelMatchesAFreshRun() throws {
        var config = VTHCLConfig()
        config.widthMultiplier = 0.125; config.slowFrames = 2; config.embeddingDimension = 8; config.projection = .mlpBN
        let run = try Pretrainer(config: config, schedule: PretrainSchedule(epochs: 1, batchSize: 2), instances: 4, seed: 11,
                             checkpointURL: FileManager.default.temporaryDirectory.appendingPathComponent("unused.safetensors"))
        let initial = Pretrainer.initialModel(config, seed: 11)
        XCTAssertEqual(initial.namedState.map(\.0), run.model.namedState.map(\.0))
        for ((name, a), (_, b)) in zip(initial.namedState, run.model.namedState) { XCTAssertEqual(a.value, b.value, name) }
    }
}

/// The gradient values a data-parallel pretraining step allreduces, as the cost model counts
/// them, equal the built model's parameters (both encoders and every head).
final class PretrainParameterCountTests: XCTestCase {
    func testCountMatchesTheBuiltModel() {
        for depth in [18, 50] {
            for projection in [ProjectionKind.mlp, .mlpBN, .conv, .convBN] {
                var config = PretrainPreset.named("ci", depth: depth).config(depth: depth)
                config.projection = projection
                var rng = RandomGenerator(seed: 2)
                let built = VTHCLModel(config, rng: &rng).parameters.reduce(0) { $0 + $1.value.count }
                XCTAssertEqual(VTHCLModel.parameterCount(config: config), built, "R\(depth) \(projection)")
            }
        }
    }
}
