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
