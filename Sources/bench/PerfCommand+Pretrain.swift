import ArgumentParser
import Foundation
import Networks
import Tensors
import VTHCL

struct PerfPretrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pretrain",
        abstract: "Clips per second of one VTHCL pretraining step (slow + fast encoders, heads, banks).",
        discussion: """
        Figures pretrain.r18.ci, pretrain.r50.ci, pretrain.r18.mini, pretrain.r50.mini: one SGD step \
        (forward, backward, update, bank update) on random clips at the scale's crop, width and batch, \
        α = 2, D = 3, 8 slow frames.
        """)
    @OptionGroup var options: PerfOptions
    @Option(help: "Scales to measure.") var scale: [String] = ["ci", "mini"]
    @Option(help: "Depths to measure.") var depth: [Int] = [18, 50]

    func validate() throws {
        for s in scale where !["ci", "mini", "paper"].contains(s) { throw ValidationError("unknown scale '\(s)'") }
        for d in depth where d != 18 && d != 50 { throw ValidationError("depth must be 18 or 50, got \(d)") }
    }

    func run() throws {
        printEngineFigures(json: options.json)
        for s in scale {
            for d in depth {
                let preset = PretrainPreset.named(s, depth: d)
                let config = preset.config(depth: d)
                var rng = RandomGenerator(seed: 5)
                let model = VTHCLModel(config, rng: &rng)
                var objective = VTHCLObjective(config: config, instances: 4096, rng: &rng)
                let sgd = Networks.SGD(parameters: model.namedParameters, learningRate: 0.01, momentum: 0.9, weightDecay: 1e-4)
                let b = preset.batch
                let slow = Variable(Tensor.randomNormal([b, 3, config.slowFrames, preset.crop, preset.crop], using: &rng))
                let fast = Variable(Tensor.randomNormal([b, 3, config.fastFrames, preset.crop, preset.crop], using: &rng))
                let ids = (0..<b).map { $0 * 7 % 4096 }
                let repeats = s == "ci" ? options.repeats : max(1, options.repeats / 3)
                let seconds = medianSeconds(repeats: repeats) {
                    sgd.zeroGrad()
                    let (es, ef) = model.embed(slowClips: slow, fastClips: fast, training: true)
                    let negatives = objective.sampleNegatives(for: Array(0..<b), rng: &rng)
                    let loss = objective.loss(slow: es, fast: ef, instances: ids, negatives: negatives).total
                    loss.backward()
                    sgd.step()
                    objective.updateBanks(slow: es.map(\.value), fast: ef.map(\.value), instances: ids)
                }
                let macs = VTHCLModel.forwardMACs(config: config, crop: preset.crop)
                Figure(name: "pretrain.r\(d).\(s)", value: Double(b) / seconds, unit: "clips/s",
                       config: ["batch": b, "crop": preset.crop, "width": preset.widthMultiplier, "alpha": config.alpha,
                                "levels": config.levels, "negatives": objective.negativesPerQuery, "step_ms": seconds * 1e3,
                                "forward_gmac_per_clip": macs / 1e9, "threads": Parallel.threadCount]).print(json: options.json)
            }
        }
    }
}

/// The trainer's whole pretraining step, data-parallel when launched by mpirun.
struct PerfPretrainStep: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pretrain-step",
        abstract: "Clips per second of the trainer's pretraining step, on every rank of an MPI job.",
        discussion: """
        Figure pretrain-step.rDEPTH.SCALE: `Pretrainer.trainStep` on random clips of the scale's \
        global batch: each rank's forward and backward on its slice, the bucketed gradient \
        allreduce, the update and the banks' all-gather. Started plainly it is one process; \
        under `mpirun -np N` the global batch is split over N ranks (each with cores ÷ ranks \
        threads unless TEMPO_THREADS is set) and rank 0 prints the figure. Compare \
        `mpirun -np 2 bench perf pretrain-step` with `bench perf pretrain-step` back to back. \
        On several ranks the figure also gives the median milliseconds a step spent in the \
        gradient allreduce (grad_allreduce_ms, waiting for the slower rank included) and in \
        synchronised batch norm's allreduces (bn_allreduce_ms), their share of the step, and \
        the gradient allreduce alone after a barrier (allreduce_alone_ms: the transfer that \
        overlapping it with the backward pass could hide at most).
        """)
    @OptionGroup var options: PerfOptions
    @Option(help: "Scale whose preset (crop, width, batch) is measured: ci or mini.") var scale = "ci"
    @Option(help: "Depth: 18 or 50.") var depth = 18
    @Flag(help: "Synchronised batch norm across the ranks (as suite stages on several ranks use).") var syncBatchNorm = false

    func validate() throws {
        guard ["ci", "mini"].contains(scale) else { throw ValidationError("--scale must be ci or mini, got '\(scale)'") }
        guard depth == 18 || depth == 50 else { throw ValidationError("--depth must be 18 or 50, got \(depth)") }
    }

    func run() throws {
        let group = DataParallel.group
        let preset = PretrainPreset.named(scale, depth: depth)
        let config = preset.config(depth: depth)
        let b = preset.batch
        var schedule = PretrainSchedule(epochs: 1, batchSize: b)
        if syncBatchNorm { schedule.syncBatchNorm = true }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tempo-perf-\(getpid())")
        let trainer = try Pretrainer(config: config, schedule: schedule, instances: 4096, seed: 5,
                                 checkpointURL: directory.appendingPathComponent("unused.safetensors"))
        // Every rank draws the same global batch and keeps its slice, as the batch source does.
        var rng = RandomGenerator(seed: 5)
        let slow = Tensor.randomNormal([b, 3, config.slowFrames, preset.crop, preset.crop], using: &rng)
        let fast = Tensor.randomNormal([b, 3, config.fastFrames, preset.crop, preset.crop], using: &rng)
        let mine = DataParallel.localItems(b, shards: try DataParallel.shards(nil, in: group), in: group)
        let batch = PretrainBatch(instances: (0..<b).map { $0 * 7 % 4096 }, slow: DataParallel.rows(slow, mine),
                                  fast: DataParallel.rows(fast, mine), loaded: group.size == 1 ? nil : mine)
        var times: [Double] = [], gradients: [Double] = [], batchNorm: [Double] = []
        for i in 0..<(options.repeats + 1) {
            try group.barrier()
            let before = DataParallel.communication
            let start = DispatchTime.now().uptimeNanoseconds
            _ = try trainer.trainStep(batch, stepsPerEpoch: 1000)
            guard i > 0 else { continue }  // the first warms up
            times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
            gradients.append(DataParallel.communication.gradientSeconds - before.gradientSeconds)
            batchNorm.append(DataParallel.communication.batchNormSeconds - before.batchNormSeconds)
        }
        // The same allreduce with both ranks ready: its transfer, without the wait for a slower rank.
        var alone: [Double] = []
        if group.size > 1 {
            for _ in 0..<options.repeats {
                try group.barrier()
                let start = DispatchTime.now().uptimeNanoseconds
                try DataParallel.reduceGradients(trainer.optimizer.parameters, in: group)
                alone.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
            }
        }
        guard group.rank == 0 else { return }
        let median = { (x: [Double]) in x.sorted()[x.count / 2] }
        let seconds = median(times)
        var figure: [String: Any] = [
            "batch": b, "crop": preset.crop, "width": preset.widthMultiplier, "ranks": group.size,
            "threads_per_rank": Parallel.threadCount, "sync_batch_norm": syncBatchNorm, "step_ms": seconds * 1e3,
            "parameters": trainer.optimizer.parameters.reduce(0) { $0 + $1.1.value.count }]
        if group.size > 1 {
            figure["grad_allreduce_ms"] = median(gradients) * 1e3
            figure["grad_allreduce_share"] = median(zip(gradients, times).map { $0 / $1 })
            figure["bn_allreduce_ms"] = median(batchNorm) * 1e3
            figure["allreduce_alone_ms"] = median(alone) * 1e3
        }
        Figure(name: "pretrain-step.r\(depth).\(scale)", value: Double(b) / seconds, unit: "clips/s", config: figure).print(json: options.json)
    }
}
