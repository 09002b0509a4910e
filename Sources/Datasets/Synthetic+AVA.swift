import Foundation
import Tensors

/// AVA-like movies: several actors (a body and a head) walking, running, jumping, bending,
/// sitting or standing, each with optional extra actions (waving, carrying, clapping), at
/// their own tempo. Actions hold for 2–4 s; labels are read at 1 Hz keyframes from second
/// 902, frames are JPEG folders at 30 fps from second 900. A noisy proposals CSV (jittered
/// boxes, misses, false positives with lower scores) stands in for a person detector.
enum SyntheticAVA {
    /// Pose actions (exactly one at a time) with their AVA ids and names.
    static let poses: [(Int, String)] = [(12, "stand"), (14, "walk"), (10, "run/jog"), (7, "jump/leap"),
                                          (1, "bend/bow (at the waist)"), (11, "sit")]
    /// Extra actions (any subset).
    static let extras: [(Int, String)] = [(67, "hand wave"), (17, "carry/hold (an object)"), (65, "hand clap")]

    struct Segment { var start: Double; var end: Double; var pose: Int; var extras: [Int] }

    struct Actor {
        var body: RGB, head: RGB, item: RGB
        var height: Double, x: Double, ground: Double, dir: Double, tempo: Double
        var segments: [Segment]

        func segment(at t: Double) -> Segment { segments.first { t < $0.end } ?? segments.last! }
    }

    /// Box and drawing state of an actor at time t, after moving it by dt.
    struct Figure { var x1: Double, y1: Double, x2: Double, y2: Double }

    static func write(_ c: SyntheticConfig, out: String, rng: inout RandomGenerator) throws(DatasetError) -> [SyntheticDatasets.Job] {
        let ann = Dataset.join(out, "annotations")
        var jobs: [SyntheticDatasets.Job] = []
        let seconds = c.avaKeyframes + 3
        let count = seconds * 30
        for (split, n) in [("train", c.avaTrainVideos), ("val", c.avaTestVideos)] {
            var gt: [String] = [], props: [String] = [], excluded: [String] = []
            for _ in 0..<n {
                let vid = SyntheticDatasets.youtubeID(&rng)
                var actors: [Actor] = []
                for _ in 0..<c.avaActors {
                    var segs: [Segment] = []
                    var t = 0.0
                    while t < Double(seconds) {
                        let len = 2 + 2 * Double(rng.nextUniform())
                        segs.append(Segment(start: t, end: t + len, pose: rng.nextInt(below: poses.count),
                                            extras: (0..<extras.count).filter { _ in rng.nextUniform() < 0.3 }))
                        t += len
                    }
                    let h = Double(c.height) * (0.45 + 0.2 * Double(rng.nextUniform()))
                    actors.append(Actor(body: Palette.vivid(&rng), head: Palette.hsv(0.07, 0.5, 0.8 + 0.2 * Double(rng.nextUniform())),
                                        item: Palette.vivid(&rng), height: h,
                                        x: Double(c.width) * (0.15 + 0.7 * Double(rng.nextUniform())),
                                        ground: Double(c.height) * (0.85 + 0.12 * Double(rng.nextUniform())),
                                        dir: rng.nextInt(below: 2) == 0 ? 1 : -1,
                                        tempo: exp(log(c.difficulty.tempoRange) * Double(rng.nextUniform() * 2 - 1)), segments: segs))
                }
                // Positions are simulated once here (for the annotations) and again by the renderer.
                let boxes = simulate(actors, width: c.width, height: c.height, count: count, render: nil)
                let skip = 902 + 1 + rng.nextInt(below: max(1, c.avaKeyframes - 1))
                excluded.append("\(vid),\(String(format: "%04d", skip))")
                for k in 0..<c.avaKeyframes {
                    let sec = 902 + k
                    let frame = AVAAdapter.frameIndex(second: sec)
                    for (p, a) in actors.enumerated() {
                        let b = boxes[frame][p]
                        let s = a.segment(at: Double(sec - 900))
                        let coords = [b.x1 / Double(c.width), b.y1 / Double(c.height), b.x2 / Double(c.width), b.y2 / Double(c.height)]
                            .map { String(format: "%.3f", min(1, max(0, $0))) }.joined(separator: ",")
                        if sec != skip {
                            for action in [poses[s.pose].0] + s.extras.map({ extras[$0].0 }).sorted() {
                                gt.append("\(vid),\(String(format: "%04d", sec)),\(coords),\(action),\(p)")
                            }
                        }
                        if rng.nextUniform() < 0.9 {
                            let j = (0..<4).map { i in min(1, max(0, [b.x1 / Double(c.width), b.y1 / Double(c.height), b.x2 / Double(c.width), b.y2 / Double(c.height)][i] + 0.03 * Double(rng.nextNormal()))) }
                            let box = [min(j[0], j[2]), min(j[1], j[3]), max(j[0], j[2]), max(j[1], j[3])]
                            props.append("\(vid),\(String(format: "%04d", sec)),\(box.map { String(format: "%.3f", $0) }.joined(separator: ",")),,\(String(format: "%.6f", 0.8 + 0.2 * Double(rng.nextUniform())))")
                        }
                    }
                    if rng.nextUniform() < 0.5 {
                        let x = 0.7 * Double(rng.nextUniform()), y = 0.6 * Double(rng.nextUniform())
                        let box = [x, y, x + 0.1 + 0.2 * Double(rng.nextUniform()), y + 0.2 + 0.2 * Double(rng.nextUniform())]
                        props.append("\(vid),\(String(format: "%04d", sec)),\(box.map { String(format: "%.3f", $0) }.joined(separator: ",")),,\(String(format: "%.6f", 0.3 + 0.6 * Double(rng.nextUniform())))")
                    }
                }
                let seed = rng.split()
                let (w, h, diff, acts) = (c.width, c.height, c.difficulty, actors)
                jobs.append(SyntheticDatasets.Job(path: Dataset.join(Dataset.join(out, "frames"), vid), count: count, render: {
                    var local = seed
                    var bgRNG = local.split()
                    let bg = Background(width: w, height: h, margin: 0, rng: &bgRNG)
                    var pixels: [UInt8] = []
                    pixels.reserveCapacity(count * w * h * 3)
                    _ = simulate(acts, width: w, height: h, count: count) { frame, figures, t in
                        var canvas = Canvas(width: w, height: h)
                        canvas.fill(from: bg, dx: 0, dy: 0)
                        for (a, f) in zip(acts, figures) { draw(a, f, t: t, on: &canvas) }
                        canvas.addNoise(sigma: diff.noise, rng: &local)
                        pixels.append(contentsOf: canvas.pixels)
                    }
                    return SyntheticDatasets.Rendered(pixels: pixels)
                }, fps: 30, framePattern: AVAAdapter.framePattern(videoID: vid)))
            }
            try SyntheticDatasets.writeText(gt, to: Dataset.join(ann, "ava_\(split)_v2.2.csv"))
            try SyntheticDatasets.writeText(props, to: Dataset.join(ann, "ava_\(split)_predicted_boxes.csv"))
            try SyntheticDatasets.writeText(excluded, to: Dataset.join(ann, "ava_\(split)_excluded_timestamps_v2.2.csv"))
        }
        let all = (poses + extras).sorted { $0.0 < $1.0 }
        try SyntheticDatasets.writeText(all.flatMap { ["item {", "  name: \"\($0.1)\"", "  label_id: \($0.0)", "}"] },
                                        to: Dataset.join(ann, "ava_action_list_v2.2_for_activitynet_2019.pbtxt"))
        try SyntheticDatasets.writeText(all.flatMap { ["item {", "  name: \"\($0.1)\"", "  id: \($0.0)", "  label_type: \(Set(poses.map(\.0)).contains($0.0) ? "PERSON_MOVEMENT" : "OBJECT_MANIPULATION")", "}"] },
                                        to: Dataset.join(ann, "ava_action_list_v2.2.pbtxt"))
        return jobs
    }

    /// Moves the actors frame by frame; returns each frame's figures and hands them to `render`.
    @discardableResult
    static func simulate(_ actors: [Actor], width: Int, height: Int, count: Int,
                         render: ((Int, [Figure], Double) -> Void)?) -> [[Figure]] {
        var xs = actors.map(\.x), dirs = actors.map(\.dir)
        var out: [[Figure]] = []
        let W = Double(width), H = Double(height)
        for i in 0..<count {
            let t = Double(i) / 30
            var figures: [Figure] = []
            for (k, a) in actors.enumerated() {
                let s = a.segment(at: t)
                let phase = t * a.tempo
                var h = a.height, lift = 0.0
                switch s.pose {
                case 1: xs[k] += dirs[k] * 0.12 * W / 30 * a.tempo; lift = 0.03 * H * abs(sin(2 * .pi * 1.6 * phase))
                case 2: xs[k] += dirs[k] * 0.35 * W / 30 * a.tempo; lift = 0.07 * H * abs(sin(2 * .pi * 2.6 * phase))
                case 3: lift = 0.22 * H * abs(sin(.pi * 1.4 * phase))
                case 4: h *= 0.72 + 0.18 * cos(2 * .pi * 0.8 * phase)
                case 5: h *= 0.62
                default: break
                }
                let bw = a.height * 0.34
                if xs[k] < bw { xs[k] = bw; dirs[k] = 1 }
                if xs[k] > W - bw { xs[k] = W - bw; dirs[k] = -1 }
                let bottom = a.ground - lift
                figures.append(Figure(x1: xs[k] - bw / 2 - 1, y1: bottom - h, x2: xs[k] + bw / 2 + 1, y2: bottom))
            }
            render?(i, figures, t)
            out.append(figures)
        }
        return out
    }

    static func solid(_ c: RGB) -> Look { Look(shape: .square, texture: .split, primary: c, secondary: c) }

    static func draw(_ a: Actor, _ f: Figure, t: Double, on canvas: inout Canvas) {
        let s = a.segment(at: t)
        let h = f.y2 - f.y1, w = f.x2 - f.x1
        let head = h * 0.17
        let cx = (f.x1 + f.x2) / 2
        // Body (a square shape stretched to the box below the head), then the head.
        canvas.draw(solid(a.body), cx: cx, cy: f.y1 + head * 2 + (h - head * 2) / 2, rx: w / 2 / 0.85, ry: (h - head * 2) / 2 / 0.85, angle: 0)
        canvas.draw(Look(shape: .disc, texture: .split, primary: a.head, secondary: a.head), cx: cx, cy: f.y1 + head, rx: head, ry: head, angle: 0)
        let phase = t * a.tempo
        for e in s.extras {
            switch e {
            case 0:  // wave: a hand swinging beside the head
                let sw = sin(2 * .pi * 2 * phase)
                canvas.draw(Look(shape: .disc, texture: .split, primary: a.head, secondary: a.head),
                            cx: f.x2 + w * 0.3 + w * 0.3 * sw, cy: f.y1 + head * 0.6, rx: head * 0.5, ry: head * 0.5, angle: 0)
            case 1:  // carry: an object held at the side
                canvas.draw(solid(a.item), cx: f.x1 - head * 0.5, cy: f.y1 + h * 0.5, rx: head * 0.7, ry: head * 0.7, angle: 0)
            default:  // clap: two hands meeting in front of the chest
                let gap = w * 0.35 * (1 + sin(2 * .pi * 2.5 * phase))
                for side in [-1.0, 1.0] {
                    canvas.draw(Look(shape: .disc, texture: .split, primary: a.head, secondary: a.head),
                                cx: cx + side * gap, cy: f.y1 + h * 0.35, rx: head * 0.45, ry: head * 0.45, angle: 0)
                }
            }
        }
    }
}
