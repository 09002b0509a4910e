import Foundation
import Tensors

/// Progress of a training procedure after one step (or an evaluation): position and values
/// such as the loss and the learning rate.
public struct TrainingProgress: Sendable {
    public var epoch: Int, epochs: Int
    public var step: Int, steps: Int
    public var values: [(String, Double)]
    public init(epoch: Int, epochs: Int, step: Int, steps: Int, values: [(String, Double)]) {
        self.epoch = epoch; self.epochs = epochs; self.step = step; self.steps = steps; self.values = values
    }
}

/// What procedures call after every step. Throwing from it stops the procedure where it is,
/// as a kill would (its checkpoints stay; a rerun resumes).
public typealias ProgressHandler = (TrainingProgress) throws -> Void

/// A checkpoint written by another run: another format, configuration or seed.
public struct IncompatibleCheckpoint: Error, CustomStringConvertible {
    public var path: String
    public var reason: String
    public init(path: String, reason: String) { self.path = path; self.reason = reason }
    public var description: String {
        "\(path): cannot resume from this checkpoint: \(reason) (delete it, or the stage's run-store folder, to start over)"
    }
}

/// A training loop stopped by `TrainingLoop.requestStop` after writing its checkpoint.
public struct StoppedOnRequest: Error, CustomStringConvertible {
    public var path: String
    public var epoch: Int, step: Int
    public var description: String {
        "stopped on request at epoch \(epoch), step \(step), after writing the checkpoint \(path) (a rerun resumes there)"
    }
}

/// The one checkpointed epoch loop of every trainer (pretraining, fine-tuning, detection,
/// anticipation).
///
/// The loop owns the position (epoch, step), resumption and the checkpoint: the model's
/// state, the optimiser's momentum, the trainer's extra tensors (e.g. memory banks) and
/// metadata `{format, fingerprint, seed, epoch, step}`. A checkpoint is refused unless its
/// format, fingerprint (a hash of everything that defines the run) and seed match. The loop
/// checkpoints after every epoch and, with `checkpointEverySteps`, within epochs. Trainers
/// must derive every random choice of a step from (seed, epoch, step) through `SeedStream`s:
/// then a run killed at any moment and rerun ends bit-identical to an uninterrupted one.
///
/// Data-parallel (`group` of more than one rank): every rank runs the loop and resumes from
/// the same checkpoint; rank 0 alone writes it, and the others wait for it at a barrier.
public final class TrainingLoop {
    public let model: Layer
    public let optimizer: SGD
    public let seed: UInt64
    public let checkpointURL: URL
    public let format: String
    public let fingerprint: String
    public var checkpointEverySteps = 0
    /// Tensors beyond the model and optimiser that a resume needs.
    public var extraTensors: () -> [String: Tensor] = { [:] }
    /// Restores what `extraTensors` saved.
    public var restoreExtra: ([String: Tensor]) throws -> Void = { _ in }
    /// Metadata written into every checkpoint besides the loop's own.
    public var extraMetadata: [String: String] = [:]
    /// The ranks this run is spread over (`DataParallel.group` unless set).
    public var group: ProcessGroup = DataParallel.group
    /// Next position to run.
    public private(set) var epoch = 0, step = 0
    /// Sums a trainer keeps over the current epoch (for its mean loss, say), saved in every
    /// checkpoint taken within an epoch and restored on resume, so an epoch resumed part-way
    /// reports what an uninterrupted one does. The trainer resets them in `endEpoch`.
    public var epochSums: [String: Double] = [:]
    /// Where `report` keeps a per-epoch log of the progress values (mean loss, last learning
    /// rate), written at each epoch's end before its checkpoint; nil: none.
    public var epochLog: URL? = nil

    public init(model: Layer, optimizer: SGD, seed: UInt64, checkpointURL: URL, format: String, fingerprint: String) {
        self.model = model; self.optimizer = optimizer; self.seed = seed
        self.checkpointURL = checkpointURL; self.format = format; self.fingerprint = fingerprint
    }

    /// Resumes from the checkpoint when there is one, then runs the remaining steps.
    ///
    /// - `beginEpoch(epoch, firstStep)` runs before the first step of an epoch (or of its
    ///   resumed part): where a trainer prepares that epoch's data.
    /// - `step(epoch, step)` runs one optimisation step.
    /// - `endEpoch(epoch)` runs after the epoch's last step and before its checkpoint is
    ///   written, so what it records (an epoch log) is never behind the checkpoint: a kill
    ///   between the two redoes the epoch, which records the same again.
    public func run(epochs: Int, stepsPerEpoch: Int,
                    beginEpoch: (_ epoch: Int, _ firstStep: Int) throws -> Void = { _, _ in },
                    step body: (_ epoch: Int, _ step: Int) throws -> Void,
                    endEpoch: (_ epoch: Int) throws -> Void = { _ in }) throws {
        if FileManager.default.fileExists(atPath: checkpointURL.path) { try resume() }
        while epoch < epochs {
            try beginEpoch(epoch, step)
            while step < stepsPerEpoch {
                try body(epoch, step)
                step += 1
                let stop = step < stepsPerEpoch && stopRequested
                if step < stepsPerEpoch, stop || (checkpointEverySteps > 0 && step % checkpointEverySteps == 0) { try save() }
                if stop { throw StoppedOnRequest(path: checkpointURL.path, epoch: epoch, step: step) }
            }
            epoch += 1; step = 0
            try endEpoch(epoch - 1)
            try logEpoch(epoch - 1)
            try save()
            if epoch < epochs, stopRequested { throw StoppedOnRequest(path: checkpointURL.path, epoch: epoch, step: 0) }
        }
    }

    /// Whether a stop was requested (`TrainingLoop.requestStop`) and this run can honour it:
    /// in one process only, since ranks would see the request at different steps.
    var stopRequested: Bool { group.size == 1 && TrainingLoop.stopFlag != 0 }

    nonisolated(unsafe) static var stopFlag: sig_atomic_t = 0

    /// Asks every running loop to write its checkpoint after the step in progress and stop
    /// with `StoppedOnRequest` (a rerun resumes there). Async-signal-safe: a Slurm job's
    /// signal handler calls it ahead of the time limit.
    public static func requestStop() { stopFlag = 1 }

    /// Writes the checkpoint atomically (rank 0; every rank returns once it is written).
    public func save() throws {
        if group.rank == 0 { try write() }
        try group.barrier()
    }

    func write() throws {
        var extra = optimizer.checkpointTensors
        for (k, v) in extraTensors() { extra[k] = v }
        var meta = extraMetadata.merging(["format": format, "fingerprint": fingerprint, "seed": "\(seed)",
                                          "epoch": "\(epoch)", "step": "\(step)"]) { $1 }
        if group.size > 1 { meta["ranks"] = "\(group.size)" }
        if !epochSums.isEmpty {
            // Swift's JSON writes the shortest text that reads back as the same Double.
            let encoder = JSONEncoder()
            encoder.outputFormatting = .sortedKeys
            meta["epoch_sums"] = String(decoding: try encoder.encode(epochSums), as: UTF8.self)
        }
        try Checkpoint.save(model, extra: extra, metadata: meta, to: checkpointURL)
    }

    /// Restores model, optimiser, extras and position, refusing another run's checkpoint.
    public func resume() throws {
        let path = checkpointURL.path
        let (_, meta) = try Safetensors.read(checkpointURL)
        guard meta["format"] == format else {
            throw IncompatibleCheckpoint(path: path, reason: "it is a \(meta["format"] ?? "unknown") checkpoint, not \(format)")
        }
        guard meta["fingerprint"] == fingerprint else {
            throw IncompatibleCheckpoint(path: path, reason: "it was written under another configuration (fingerprint \(meta["fingerprint"]?.prefix(12) ?? "none"), this run \(fingerprint.prefix(12)))")
        }
        guard meta["seed"] == "\(seed)" else {
            throw IncompatibleCheckpoint(path: path, reason: "it was written with seed \(meta["seed"] ?? "none"), this run uses \(seed)")
        }
        guard let e = meta["epoch"].flatMap(Int.init), let s = meta["step"].flatMap(Int.init) else {
            throw IncompatibleCheckpoint(path: path, reason: "its metadata lacks the epoch and step")
        }
        var sums: [String: Double] = [:]
        if let text = meta["epoch_sums"] {
            do { sums = try JSONDecoder().decode([String: Double].self, from: Data(text.utf8)) } catch {
                throw IncompatibleCheckpoint(path: path, reason: "its epoch_sums metadata is not a JSON object of numbers: \(error)")
            }
        }
        let (extra, _) = try Checkpoint.load(into: model, from: checkpointURL)
        optimizer.restore(from: extra)
        try restoreExtra(extra)
        epoch = e; step = s; epochSums = sums
    }

    /// A fingerprint of values that define a run (configuration, schedule, data size).
    public static func fingerprint<T: Encodable>(_ values: T) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return Self.hash(String(decoding: try encoder.encode(values), as: UTF8.self))
    }

    /// FNV-1a 64-bit of a text, as 16 hex digits (a fingerprint, not a security hash).
    public static func hash(_ text: String) -> String {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for b in text.utf8 { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01B3 }
        return String(h, radix: 16).leftPadded(to: 16)
    }
}

extension String {
    func leftPadded(to n: Int) -> String { count >= n ? self : String(repeating: "0", count: n - count) + self }
}
