import Datasets
import Foundation
import Media
import Networks
import Tensors
@testable import VTHCL
import XCTest

final class PretrainingProcedureTests: XCTestCase {
    func tempDir() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("pretraining-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        return dir
    }

    func settings() -> Pretraining.Settings {
        var c = VTHCLConfig()
        c.widthMultiplier = 0.125; c.slowFrames = 2; c.tau = 4; c.alpha = 2; c.negatives = 8; c.embeddingDimension = 16
        var s = PretrainSchedule(epochs: 3, batchSize: 4)
        s.baseLearningRate = 0.5
        var p = Pretraining.Settings(config: c, schedule: s, crop: 32)
        p.knnEvery = 1
        return p
    }

    struct Interrupt: Error {}

    /// The procedure on in-memory videos: monitors and the epoch log come out, and a run
    /// interrupted mid-epoch and rerun ends with the uninterrupted run's checkpoint, byte for byte.
    func testPretrainingMonitorsAndResumesBitIdentically() throws {
        let (train, a) = InMemoryVideos.labelled(classes: 2, perClass: 4, prefix: "train")
        let (test, b) = InMemoryVideos.labelled(classes: 2, perClass: 2, prefix: "test")
        let provider = FrameProvider(spec: DecodeSpec(shortSide: nil), frames: a.merging(b) { $1 })
        let reference = try tempDir(), resumed = try tempDir()
        var lines: [String] = []
        let r = try Pretraining.run(train: train, test: test, classes: 2, provider: provider, settings: settings(), seed: 9,
                                    directory: reference, monitor: { lines.append($0) })
        XCTAssertEqual(r.log.values.count, 3)
        XCTAssertEqual(lines.count, 3, "a kNN monitor line every epoch")
        XCTAssertEqual(r.bankKNN?.total, 4)
        XCTAssertEqual(r.frozen?.head.hits.count, 4)
        XCTAssertNotNil(r.untrained)
        XCTAssertThrowsError(try Pretraining.run(train: train, test: test, classes: 2, provider: provider, settings: settings(), seed: 9,
                                                 directory: resumed, progress: { p in if p.epoch == 1 && p.step == 1 { throw Interrupt() } }))
        let again = try Pretraining.run(train: train, test: test, classes: 2, provider: provider, settings: settings(), seed: 9, directory: resumed)
        XCTAssertEqual(try Data(contentsOf: resumed.appendingPathComponent("checkpoint.safetensors")),
                       try Data(contentsOf: reference.appendingPathComponent("checkpoint.safetensors")))
        XCTAssertEqual(again.bankKNN?.hits, r.bankKNN?.hits)
        XCTAssertEqual(again.log.values.count, 3, "the epochs before the interruption stay in the log")
    }
}
