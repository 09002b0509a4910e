import ArgumentParser
import Foundation
import Media
import VTHCL

struct ICMCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "icm",
        abstract: "Render an Instance Correspondence Map (paper Fig. 3–4) as a PNG strip.",
        discussion: """
        The checkpoint must come from VTHCL pretraining with 1×1×1-conv projection heads \
        (projection: conv or conv-bn). The slow clip's frames form the top row; the bottom row overlays the \
        cosine between the fast clip's embedding and φ of every slow position (res5 by default).
        """)

    @Option(help: "A VTHCL pretraining checkpoint (safetensors).") var checkpoint: String
    @Option(help: "A video file or JPEG frame folder.") var video: String
    @Option(help: "Output PNG.") var out: String
    @Option(help: "Start of the 64-frame window, in seconds.") var start = 0.0
    @Option(help: "Crop size (default: the pretraining crop stored in the checkpoint).") var size: Int?

    func validate() throws {
        guard FileManager.default.fileExists(atPath: checkpoint) else { throw ValidationError("\(checkpoint): no such checkpoint") }
        guard FileManager.default.fileExists(atPath: video) else { throw ValidationError("\(video): no such video") }
        guard start >= 0 else { throw ValidationError("--start must not be negative") }
    }

    func run() throws {
        let (model, meta) = try Pretrainer.loadModel(URL(fileURLWithPath: checkpoint))
        guard model.config.projection.isPerPosition else {
            throw ValidationError("\(checkpoint): trained with \(model.config.projection.rawValue) projection heads; the map needs 1×1×1-conv heads (projection: conv or conv-bn)")
        }
        let crop = size ?? meta["crop"].flatMap(Int.init) ?? 112
        let (image, map) = try InstanceCorrespondenceMap.render(model: model, video: video, start: start, crop: crop)
        try PNG.write(image, to: URL(fileURLWithPath: out))
        print("wrote \(out): \(image.width)×\(image.height), map \(map.shape.map(String.init).joined(separator: "×"))")
    }
}
