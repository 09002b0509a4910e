import Foundation
import Tensors

/// Epic-like kitchen videos: scripted recipes of (verb, noun) actions. A verb is a motion
/// pattern, a noun an object with a fixed look; within a recipe the next action follows
/// from the current one (10 % of steps are replaced by a random action), so what happens in
/// the observation window before an action predicts it.
enum SyntheticEpic {
    static let verbs: [(String, [String], MotionPattern)] = [
        ("take", ["take", "grab", "pick-up"], .diagonal), ("put", ["put", "place", "put-down"], .bounce),
        ("open", ["open"], .squashStretch), ("close", ["close", "shut"], .pulse), ("wash", ["wash", "rinse"], .shake),
        ("cut", ["cut", "chop", "slice"], .oscillateVertically), ("mix", ["mix", "stir"], .circle), ("pour", ["pour"], .wobble)]
    static let nouns: [(String, [String])] = [
        ("pan", ["pan", "frying pan"]), ("plate", ["plate"]), ("knife", ["knife"]), ("onion", ["onion"]),
        ("cupboard", ["cupboard"]), ("bowl", ["bowl"]), ("spoon", ["spoon"]), ("tap", ["tap"])]
    /// Recipes: (verb, noun) index pairs.
    static let recipes: [[(Int, Int)]] = [
        [(2, 4), (0, 1), (3, 4), (1, 1)],
        [(0, 2), (5, 3), (1, 2)],
        [(2, 7), (4, 0), (3, 7), (1, 0)],
        [(0, 6), (6, 5), (1, 6)],
        [(0, 5), (7, 0), (1, 5)],
    ]

    struct Action { var start: Double; var stop: Double; var verb: Int; var noun: Int; var x: Double; var y: Double; var tempo: Double }

    static func write(_ c: SyntheticConfig, out: String, rng: inout RandomGenerator) throws(DatasetError) -> [SyntheticDatasets.Job] {
        let ann = Dataset.join(out, "annotations")
        let frames = Dataset.join(out, "frames_rgb_flow/rgb/train")
        var lookRNG = RandomGenerator(seed: 0xE91C)
        let looks = nouns.indices.map { _ in Palette.look(&lookRNG) }
        var rows = [EpicAdapter.header.joined(separator: ",")]
        var info = ["video,resolution,duration,fps"]
        var jobs: [SyntheticDatasets.Job] = []
        var uid = 0
        var videos: [String] = []
        for p in 1...c.epicParticipants {
            let participant = "P" + SyntheticDatasets.two(p)
            var bgSeed = rng.split()
            for v in 1...c.epicVideosPerParticipant {
                let video = participant + "_" + SyntheticDatasets.two(v)
                videos.append(video)
                let fps = (p == 1 && v == c.epicVideosPerParticipant && v > 1) ? 50 : c.epicFPS
                var actions: [Action] = []
                var t = 0.5 + Double(rng.nextUniform())
                while true {
                    let recipe = recipes[rng.nextInt(below: recipes.count)]
                    var done = false
                    for step in recipe {
                        let len = 1.5 + 1.5 * Double(rng.nextUniform())
                        if t + len > c.epicSeconds - 0.3 { done = true; break }
                        let (verb, noun) = rng.nextUniform() < 0.1
                            ? (rng.nextInt(below: verbs.count), rng.nextInt(below: nouns.count)) : step
                        actions.append(Action(start: t, stop: t + len, verb: verb, noun: noun,
                                              x: 0.3 + 0.4 * Double(rng.nextUniform()), y: 0.35 + 0.3 * Double(rng.nextUniform()),
                                              tempo: exp(log(c.difficulty.tempoRange) * Double(rng.nextUniform() * 2 - 1))))
                        t += len + 0.1 + 0.4 * Double(rng.nextUniform())
                    }
                    if done { break }
                }
                for a in actions {
                    let (verb, noun) = (verbs[a.verb].0, nouns[a.noun].0)
                    let fields = ["\(uid)", participant, video, "\(verb) \(noun)", EpicAdapter.timestamp(a.start), EpicAdapter.timestamp(a.stop),
                                  "\(Int((a.start * fps).rounded()) + 1)", "\(Int((a.stop * fps).rounded()) + 1)",
                                  verb, "\(a.verb)", noun, "\(a.noun)", "['\(noun)']", "[\(a.noun)]"]
                    rows.append(fields.map(TextTable.quote).joined(separator: ","))
                    uid += 1
                }
                let count = Int(c.epicSeconds * fps)
                info.append("\(video),\(c.width)x\(c.height),\(String(format: "%.2f", Double(count) / fps)),\(fps)")
                let seed = rng.split()
                var bgLocal = bgSeed
                let kitchen = Background(width: c.width, height: c.height, margin: 0, rng: &bgLocal)
                let (w, h, noise, acts) = (c.width, c.height, c.difficulty.noise, actions)
                jobs.append(SyntheticDatasets.Job(path: Dataset.join(Dataset.join(frames, participant), video), count: count, render: {
                    var local = seed
                    var pixels: [UInt8] = []
                    pixels.reserveCapacity(count * w * h * 3)
                    var canvas = Canvas(width: w, height: h)
                    let side = Double(min(w, h))
                    for i in 0..<count {
                        let t = Double(i) / fps
                        canvas.fill(from: kitchen, dx: 0, dy: 0)
                        if let a = acts.first(where: { t >= $0.start && t < $0.stop }) {
                            let pose = verbs[a.verb].2.pose((t - a.start) * 0.9 * a.tempo)
                            let cx = a.x * Double(w) + pose.dx * side * 0.2, cy = a.y * Double(h) + pose.dy * side * 0.2
                            let r = side * 0.14
                            canvas.draw(looks[a.noun], cx: cx, cy: cy, rx: r * pose.sx, ry: r * pose.sy, angle: pose.angle)
                            canvas.draw(Look(shape: .disc, texture: .split, primary: (230, 180, 150), secondary: (230, 180, 150)),
                                        cx: cx + r * 0.9, cy: cy + r * 0.9, rx: r * 0.45, ry: r * 0.45, angle: 0)
                        }
                        canvas.addNoise(sigma: noise, rng: &local)
                        pixels.append(contentsOf: canvas.pixels)
                    }
                    return SyntheticDatasets.Rendered(pixels: pixels)
                }, fps: fps, framePattern: EpicAdapter.framePattern))
            }
            _ = bgSeed.next()
        }
        try SyntheticDatasets.writeText(rows, to: Dataset.join(ann, "EPIC_train_action_labels.csv"))
        try SyntheticDatasets.writeText(["verb_id,class_key,verbs"] + verbs.enumerated().map {
            "\($0.offset),\($0.element.0),\(TextTable.quote("[" + $0.element.1.map { "'\($0)'" }.joined(separator: ", ") + "]"))"
        }, to: Dataset.join(ann, "EPIC_verb_classes.csv"))
        try SyntheticDatasets.writeText(["noun_id,class_key,nouns"] + nouns.enumerated().map {
            "\($0.offset),\($0.element.0),\(TextTable.quote("[" + $0.element.1.map { "'\($0)'" }.joined(separator: ", ") + "]"))"
        }, to: Dataset.join(ann, "EPIC_noun_classes.csv"))
        try SyntheticDatasets.writeText(info, to: Dataset.join(ann, "EPIC_video_info.csv"))
        // The held-out videos: the last `epicTestVideos` (at least one, never all).
        let held = max(1, min(c.epicTestVideos, videos.count - 1))
        try SyntheticDatasets.writeText(Array(videos.suffix(held)), to: Dataset.join(ann, "val_videos.txt"))
        return jobs
    }
}
