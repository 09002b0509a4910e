import Foundation
import Networks
import Tensors
import XCTest

/// What an epoch's end records must survive a kill at any point (found by scripts/soak:
/// pretraining epoch logs, and `loss_last_epoch` with them, lost the epochs whose kNN
/// monitor was running when the process was killed).
final class TrainingLoopResumeTests: XCTestCase {
    struct Killed: Error {}

    func testAKillDuringAnEpochsEndReRunsThatEpoch() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("loop-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        let checkpoint = dir.appendingPathComponent("checkpoint.safetensors")
        var logged: [Int] = []  // the epoch log, as a trainer keeps it on disk: one row per epoch
        var steps: [String] = []
        func run(killAtEndOf killed: Int?) throws {
            var rng = RandomGenerator(seed: 1)
            let model = Linear(2, 1, rng: &rng)
            let loop = TrainingLoop(model: model, optimizer: SGD(parameters: model.namedParameters, learningRate: 0.1),
                                    seed: 7, checkpointURL: checkpoint, format: "test", fingerprint: "f")
            try loop.run(epochs: 4, stepsPerEpoch: 3, step: { epoch, step in steps.append("\(epoch).\(step)") },
                         endEpoch: { epoch in
                             if epoch == killed { throw Killed() }  // the process dies before the row is written
                             logged = logged.filter { $0 != epoch } + [epoch]
                         })
        }
        XCTAssertThrowsError(try run(killAtEndOf: 1)) { XCTAssertTrue($0 is Killed) }
        XCTAssertEqual(logged, [0])
        try run(killAtEndOf: nil)
        XCTAssertEqual(logged, [0, 1, 2, 3], "every epoch's end ran once it finished")
        XCTAssertEqual(steps, ["0.0", "0.1", "0.2", "1.0", "1.1", "1.2", "1.0", "1.1", "1.2", "2.0", "2.1", "2.2", "3.0", "3.1", "3.2"],
                       "the killed epoch ran again from its start")
    }
}
