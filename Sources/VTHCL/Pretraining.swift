import Datasets
import Foundation
import Networks
import Protocols
import Tensors

/// VTHCL pretraining (paper §3, SPEC §1) as a procedure: the training split's videos as
/// instances, slow/fast pairs from `DatasetPairs`, the `Pretrainer` loop, then the kNN
/// monitors on the test split — the bank monitor (every `knnEvery` epochs and at the end),
/// frozen-feature kNN of the trained network and of the same network untrained.
public enum Pretraining {
    public struct Settings: Sendable {
        public var config: VTHCLConfig
        public var schedule: PretrainSchedule
        public var crop: Int
        public var augment: AugmentConfig
        public var knnEvery = 1
        public var workers = 1
        public var pairing = ClipPairing.instance
        public init(config: VTHCLConfig, schedule: PretrainSchedule, crop: Int, augment: AugmentConfig? = nil) {
            self.config = config; self.schedule = schedule; self.crop = crop; self.augment = augment ?? AugmentConfig(size: crop)
        }
    }

    public struct Result {
        public var bankKNN: TopKAccuracy?
        public var frozen: (head: TopKAccuracy, backbone: TopKAccuracy)?
        public var untrained: (head: TopKAccuracy, backbone: TopKAccuracy)?
        public var classes: Int
        public var log: EpochLog
        public var checkpointURL: URL
    }

    /// Trains in `directory` (`checkpoint.safetensors`, `epochs.json`), resuming when they
    /// exist. `monitor` receives the kNN monitor lines.
    public static func run(train: [VideoRecord], test: [VideoRecord], classes: Int, provider: FrameProvider,
                           settings: Settings, seed: UInt64, directory: URL, metadata: [String: String] = [:],
                           progress: ProgressHandler = { _ in }, monitor: (String) throws -> Void = { _ in }) throws -> Result {
        let config = settings.config, schedule = settings.schedule, crop = settings.crop
        let testRecords = test.filter { $0.label != nil }
        guard train.count >= schedule.batchSize else {
            throw ProcedureError("\(train.count) training videos cannot fill a batch of \(schedule.batchSize)")
        }
        var augment = settings.augment
        augment.size = crop
        let source = DatasetPairs(records: train, builder: SampleBuilder(provider: provider, augment: augment),
                                  batchSize: schedule.batchSize, window: config.slowFrames * config.tau, tau: config.tau,
                                  alpha: config.alpha, workers: settings.workers, pairing: settings.pairing)
        let checkpoint = directory.appendingPathComponent("checkpoint.safetensors")
        let logURL = directory.appendingPathComponent("epochs.json")
        let trainer = try Pretrainer(config: config, schedule: schedule, instances: train.count, seed: seed, checkpointURL: checkpoint)
        trainer.extraMetadata = metadata.merging(["crop": "\(crop)"]) { $1 }
        var log = try EpochLog.load(logURL)
        // The epoch's loss sums live in the trainer's checkpoints: an epoch resumed part-way
        // reports the mean over all its steps.
        try trainer.run(source: source, progress: { p in
            trainer.epochSums["loss", default: 0] += Double(p.total)
            trainer.epochSums["steps", default: 0] += 1
            for (i, l) in p.perLevel.enumerated() { trainer.epochSums["level.\(i)", default: 0] += Double(l) }
            trainer.epochSums["lr"] = Double(p.learningRate)
            try progress(TrainingProgress(epoch: p.epoch, epochs: schedule.epochs, step: p.step, steps: p.stepsPerEpoch,
                                          values: [("loss", Double(p.total)), ("lr", Double(p.learningRate))]))
        }, epochEnd: { epoch, trainer in
            let sums = trainer.epochSums, count = max(1, sums["steps"] ?? 0)
            var row: [String: Double] = ["epoch": Double(epoch), "loss": (sums["loss"] ?? 0) / count]
            if let lr = sums["lr"] { row["lr"] = lr }  // the epoch's last step's
            let every = settings.knnEvery
            if every > 0 && ((epoch + 1) % every == 0 || epoch + 1 == schedule.epochs),
               let knn = try KNNMonitor.bank(trainer, train: train, test: testRecords, provider: provider, crop: crop, classes: classes) {
                row["knn_top1"] = knn.fraction
                try monitor("epoch \(epoch + 1): loss \(String(format: "%.3f", row["loss"]!)), kNN top-1 \(String(format: "%.3f", knn.fraction))")
            }
            for (i, level) in config.levels.enumerated() { row["loss.res\(level + 1)"] = (sums["level.\(i)"] ?? 0) / count }
            log.values = log.values.filter { Int($0["epoch"] ?? -1) != epoch } + [row]
            if DataParallel.isWriter { try log.save(logURL) }
            trainer.epochSums = [:]
        })
        let bank = try KNNMonitor.bank(trainer, train: train, test: testRecords, provider: provider, crop: crop, classes: classes)
        let frozen = try KNNMonitor.frozen(model: trainer.model, train: train, test: testRecords, provider: provider, crop: crop, classes: classes)
        // The same probe on the network as initialised (same seed, no training): the level
        // that training has to beat.
        let untrained = try KNNMonitor.frozen(model: Pretrainer.initialModel(config, seed: seed), train: train, test: testRecords,
                                              provider: provider, crop: crop, classes: classes)
        return Result(bankKNN: bank, frozen: frozen, untrained: untrained, classes: classes, log: log, checkpointURL: checkpoint)
    }
}
