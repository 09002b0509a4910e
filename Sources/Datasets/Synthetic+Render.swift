import Foundation
import Tensors

/// An RGB frame being drawn: uint8 `[H, W, 3]`.
struct Canvas {
    let width: Int
    let height: Int
    var pixels: [UInt8]

    init(width: Int, height: Int) {
        self.width = width
        self.height = height
        pixels = [UInt8](repeating: 0, count: width * height * 3)
    }

    /// Copies `background` (`[H + 2m, W + 2m, 3]`, margin m) shifted by (dx, dy) in [−m, m].
    mutating func fill(from background: Background, dx: Int, dy: Int) {
        let m = background.margin
        let bw = width + 2 * m
        let ox = min(2 * m, max(0, m + dx)), oy = min(2 * m, max(0, m + dy))
        pixels.withUnsafeMutableBufferPointer { dst in
            background.pixels.withUnsafeBufferPointer { src in
                for y in 0..<height {
                    let s = ((y + oy) * bw + ox) * 3
                    let d = y * width * 3
                    for i in 0..<(width * 3) { dst[d + i] = src[s + i] }
                }
            }
        }
    }

    /// Draws `shape` centred at (cx, cy) with radii (rx, ry) pixels, rotated by `angle`.
    /// Returns the painted pixels' bounding box (inclusive pixel indices), nil when nothing
    /// was painted.
    @discardableResult
    mutating func draw(_ look: Look, cx: Double, cy: Double, rx: Double, ry: Double, angle: Double) -> PixelBox? {
        let reach = max(rx, ry) * 1.45 + 1
        let x0 = max(0, Int(cx - reach)), x1 = min(width - 1, Int(cx + reach))
        let y0 = max(0, Int(cy - reach)), y1 = min(height - 1, Int(cy + reach))
        guard x0 <= x1, y0 <= y1, rx > 0.3, ry > 0.3 else { return nil }
        let c = cos(angle), s = sin(angle)
        let w = width
        var box = PixelBox(x0: Int.max, y0: Int.max, x1: Int.min, y1: Int.min)
        pixels.withUnsafeMutableBufferPointer { p in
            for y in y0...y1 {
                let fy = Double(y) + 0.5 - cy
                for x in x0...x1 {
                    let fx = Double(x) + 0.5 - cx
                    let u = (fx * c + fy * s) / rx
                    let v = (-fx * s + fy * c) / ry
                    guard look.shape.contains(u, v) else { continue }
                    let col = look.texture.second(u, v) ? look.secondary : look.primary
                    let i = (y * w + x) * 3
                    p[i] = col.0; p[i + 1] = col.1; p[i + 2] = col.2
                    box.x0 = min(box.x0, x); box.x1 = max(box.x1, x); box.y0 = min(box.y0, y); box.y1 = max(box.y1, y)
                }
            }
        }
        return box.x0 <= box.x1 ? box : nil
    }

    /// Adds uniform noise of standard deviation `sigma` (grey levels) to every channel.
    mutating func addNoise(sigma: Double, rng: inout RandomGenerator) {
        guard sigma > 0 else { return }
        let a = Float(sigma * 3.4641)  // uniform of width a has std a/√12
        for i in pixels.indices {
            let v = Float(pixels[i]) + (rng.nextUniform() - 0.5) * a
            pixels[i] = UInt8(max(0, min(255, v.rounded())))
        }
    }
}

typealias RGB = (UInt8, UInt8, UInt8)

/// Inclusive pixel bounds of what was painted.
struct PixelBox: Equatable {
    var x0: Int, y0: Int, x1: Int, y1: Int
}

/// Where a synthetic clip's moving object is in one frame, as fractions of the frame:
/// `[x1, x2) × [y1, y2)` covers exactly the pixels the object painted (before distractors in
/// front of it and noise). Written to `annotations/object_boxes.csv` for the ICM check.
public struct ObjectBox: Sendable, Equatable {
    public var frame: Int
    public var x1: Double, y1: Double, x2: Double, y2: Double
    public init(frame: Int, x1: Double, y1: Double, x2: Double, y2: Double) {
        self.frame = frame; self.x1 = x1; self.y1 = y1; self.x2 = x2; self.y2 = y2
    }
}

enum Shape: CaseIterable {
    case disc, square, triangle, ring, cross, diamond

    func contains(_ u: Double, _ v: Double) -> Bool {
        switch self {
        case .disc: return u * u + v * v <= 1
        case .square: return abs(u) <= 0.85 && abs(v) <= 0.85
        case .triangle: return v <= 0.8 && v >= -1 + 0.0 && abs(u) <= (v + 1) * 0.55
        case .ring: let r = u * u + v * v; return r <= 1 && r >= 0.3
        case .cross: return (abs(u) <= 0.35 && abs(v) <= 1) || (abs(v) <= 0.35 && abs(u) <= 1)
        case .diamond: return abs(u) + abs(v) <= 1.1
        }
    }
}

/// Every texture marks the object's orientation, so a rotation is always visible.
enum Texture: CaseIterable {
    case stripes, split, checker, dot

    func second(_ u: Double, _ v: Double) -> Bool {
        switch self {
        case .stripes: return Int(((u + 2) * 2.5).rounded(.down)) % 2 == 0
        case .split: return u > 0.1
        case .checker: return (Int(((u + 2) * 2).rounded(.down)) + Int(((v + 2) * 2).rounded(.down))) % 2 == 0
        case .dot: let du = u - 0.45, dv = v + 0.3; return du * du + dv * dv < 0.12
        }
    }
}

struct Look {
    var shape: Shape
    var texture: Texture
    var primary: RGB
    var secondary: RGB
}

/// A background larger than the frame by `margin` on each side (room for camera jitter).
struct Background {
    let margin: Int
    var pixels: [UInt8]

    init(width: Int, height: Int, margin: Int, rng: inout RandomGenerator, base: RGB? = nil) {
        self.margin = margin
        let bw = width + 2 * margin, bh = height + 2 * margin
        pixels = [UInt8](repeating: 0, count: bw * bh * 3)
        let a = base ?? Palette.muted(&rng), b = Palette.muted(&rng)
        let kind = rng.nextInt(below: 4)
        let period = 4 + rng.nextUniform() * 10
        let theta = Double(rng.nextUniform()) * .pi
        let (ct, st) = (cos(theta), sin(theta))
        for y in 0..<bh {
            for x in 0..<bw {
                let t: Double
                switch kind {
                case 0: t = 0
                case 1: t = Double(y) / Double(bh)
                case 2: t = (Double(x) * ct + Double(y) * st).truncatingRemainder(dividingBy: Double(period) * 2) < Double(period) ? 0.35 : 0
                default: t = ((x / Int(period)) + (y / Int(period))) % 2 == 0 ? 0.3 : 0
                }
                let i = (y * bw + x) * 3
                pixels[i] = Palette.mix(a.0, b.0, t); pixels[i + 1] = Palette.mix(a.1, b.1, t); pixels[i + 2] = Palette.mix(a.2, b.2, t)
            }
        }
    }
}

enum Palette {
    static func mix(_ a: UInt8, _ b: UInt8, _ t: Double) -> UInt8 {
        UInt8(max(0, min(255, (Double(a) * (1 - t) + Double(b) * t).rounded())))
    }

    /// A saturated colour (random hue).
    static func vivid(_ rng: inout RandomGenerator) -> RGB {
        hsv(Double(rng.nextUniform()), 0.55 + 0.45 * Double(rng.nextUniform()), 0.6 + 0.4 * Double(rng.nextUniform()))
    }

    /// A dull colour for backgrounds.
    static func muted(_ rng: inout RandomGenerator) -> RGB {
        hsv(Double(rng.nextUniform()), 0.1 + 0.3 * Double(rng.nextUniform()), 0.2 + 0.6 * Double(rng.nextUniform()))
    }

    static func hsv(_ h: Double, _ s: Double, _ v: Double) -> RGB {
        let i = Int(h * 6) % 6, f = h * 6 - Double(Int(h * 6))
        let p = v * (1 - s), q = v * (1 - f * s), t = v * (1 - (1 - f) * s)
        let (r, g, b): (Double, Double, Double)
        switch i {
        case 0: (r, g, b) = (v, t, p)
        case 1: (r, g, b) = (q, v, p)
        case 2: (r, g, b) = (p, v, t)
        case 3: (r, g, b) = (p, q, v)
        case 4: (r, g, b) = (t, p, v)
        default: (r, g, b) = (v, p, q)
        }
        return (UInt8(r * 255), UInt8(g * 255), UInt8(b * 255))
    }

    static func look(_ rng: inout RandomGenerator) -> Look {
        let p = vivid(&rng)
        var q = vivid(&rng)
        if abs(Int(p.0) - Int(q.0)) + abs(Int(p.1) - Int(q.1)) + abs(Int(p.2) - Int(q.2)) < 120 {
            q = (255 - p.0, 255 - p.1, 255 - p.2)
        }
        return Look(shape: Shape.allCases[rng.nextInt(below: Shape.allCases.count)],
                    texture: Texture.allCases[rng.nextInt(below: Texture.allCases.count)], primary: p, secondary: q)
    }
}

/// A class of the synthetic recognition datasets: a motion pattern, whatever the object
/// looks like. `pose(φ)` gives the displacement (in units of the instance's amplitude),
/// the rotation and the scale at phase φ (in cycles).
public enum MotionPattern: Int, CaseIterable, Sendable {
    case oscillateHorizontally, oscillateVertically, circle, figureEight, spin, pulse, squashStretch, bounce,
         diagonal, zigzag, pendulum, wobble, squarePath, spiral, shake, jumpSpin

    /// Kinetics-style label (lower case, spaces).
    public var label: String {
        switch self {
        case .oscillateHorizontally: return "oscillating sideways"
        case .oscillateVertically: return "oscillating up and down"
        case .circle: return "moving in circles"
        case .figureEight: return "drawing figure eight"
        case .spin: return "spinning in place"
        case .pulse: return "pulsing"
        case .squashStretch: return "squashing and stretching"
        case .bounce: return "bouncing"
        case .diagonal: return "sliding diagonally"
        case .zigzag: return "zigzagging"
        case .pendulum: return "swinging like a pendulum"
        case .wobble: return "wobbling"
        case .squarePath: return "tracing a square"
        case .spiral: return "spiralling"
        case .shake: return "shaking"
        case .jumpSpin: return "jumping and spinning"
        }
    }

    /// UCF-style name (CamelCase).
    public var camelName: String {
        label.split(separator: " ").map { $0.prefix(1).uppercased() + $0.dropFirst() }.joined()
    }

    /// HMDB-style name (lower case, underscores).
    public var snakeName: String { label.replacingOccurrences(of: " ", with: "_") }

    /// Cycles per second at tempo 1.
    var baseRate: Double {
        switch self {
        case .shake: return 2.4
        case .zigzag, .squarePath, .spiral: return 0.5
        default: return 0.8
        }
    }

    struct Pose { var dx: Double; var dy: Double; var angle: Double; var sx: Double; var sy: Double }

    func pose(_ phase: Double) -> Pose {
        let w = 2 * Double.pi * phase
        func tri(_ x: Double) -> Double { let f = x - (x).rounded(.down); return f < 0.5 ? 4 * f - 1 : 3 - 4 * f }
        switch self {
        case .oscillateHorizontally: return Pose(dx: sin(w), dy: 0, angle: 0, sx: 1, sy: 1)
        case .oscillateVertically: return Pose(dx: 0, dy: sin(w), angle: 0, sx: 1, sy: 1)
        case .circle: return Pose(dx: cos(w), dy: sin(w), angle: 0, sx: 1, sy: 1)
        case .figureEight: return Pose(dx: sin(w), dy: 0.6 * sin(2 * w), angle: 0, sx: 1, sy: 1)
        case .spin: return Pose(dx: 0, dy: 0, angle: w, sx: 1.2, sy: 1.2)
        case .pulse: let k = 1 + 0.45 * sin(w); return Pose(dx: 0, dy: 0, angle: 0, sx: k, sy: k)
        case .squashStretch: return Pose(dx: 0, dy: 0, angle: 0, sx: 1 + 0.4 * sin(w), sy: 1 - 0.4 * sin(w))
        case .bounce: return Pose(dx: 0, dy: 0.9 - 1.8 * abs(sin(w / 2)), angle: 0, sx: 1, sy: 1)
        case .diagonal: return Pose(dx: 0.8 * sin(w), dy: 0.8 * sin(w), angle: 0, sx: 1, sy: 1)
        case .zigzag: return Pose(dx: tri(phase), dy: 0.5 * tri(phase * 4), angle: 0, sx: 1, sy: 1)
        case .pendulum:
            let a = 0.9 * sin(w)
            return Pose(dx: 1.1 * sin(a), dy: 1.1 * cos(a) - 0.6, angle: a, sx: 1, sy: 1)
        case .wobble: return Pose(dx: 0, dy: 0, angle: 0.9 * sin(w), sx: 1.2, sy: 1.2)
        case .squarePath:
            let f = phase - phase.rounded(.down), side = Int(f * 4), g = f * 4 - Double(side)
            let pts: [(Double, Double)] = [(-1, -1), (1, -1), (1, 1), (-1, 1), (-1, -1)]
            let a = pts[side], b = pts[side + 1]
            return Pose(dx: 0.8 * (a.0 + (b.0 - a.0) * g), dy: 0.8 * (a.1 + (b.1 - a.1) * g), angle: 0, sx: 1, sy: 1)
        case .spiral:
            let r = 0.25 + 0.75 * abs(sin(w / 4))
            return Pose(dx: r * cos(2 * w), dy: r * sin(2 * w), angle: 0, sx: 1, sy: 1)
        case .shake: return Pose(dx: 0.3 * sin(w), dy: 0.15 * sin(2 * w + 1), angle: 0.2 * sin(w), sx: 1, sy: 1)
        case .jumpSpin: return Pose(dx: 0, dy: 0.9 - 1.8 * abs(sin(w / 2)), angle: w / 2, sx: 1, sy: 1)
        }
    }
}

/// Difficulty knobs of the synthetic content.
public struct Difficulty: Sendable, Equatable {
    /// Up to this many distractor objects (uniformly 0...max per video) moving in straight lines.
    public var maxDistractors: Int
    /// Standard deviation of per-pixel noise, in grey levels.
    public var noise: Double
    /// Camera jitter: standard deviation of the per-frame step of a random-walk frame offset, pixels.
    public var cameraJitter: Double
    /// Tempo range: each instance plays at a log-uniform speed factor in [1/r, r].
    public var tempoRange: Double
    /// 0: every instance draws its own object look, background and distractor looks. N > 0:
    /// all three come from N shared appearances each (independent of the class), so
    /// appearance cannot tell instances apart and an instance-discrimination task has to
    /// use the motion — as in real video, where many clips share a scene.
    public var appearancePool: Int
    /// Spread of the per-instance layout — object size, motion amplitude and centre — as a
    /// fraction of the full range (1). Small values leave the motion, its tempo and phase
    /// as what tells two instances of a class apart.
    public var layoutVariation: Double
    /// N > 0: backgrounds come from their own pool of N scenes, drawn independently of the
    /// object's look (nil: the background goes with the look). With one shared scene, what
    /// tells instances apart is on the object — its look, its motion — as with a fixed
    /// camera, so a map of where an instance is recognised can point at the object.
    public var backgroundPool: Int?

    public init(maxDistractors: Int = 2, noise: Double = 6, cameraJitter: Double = 0.6, tempoRange: Double = 2,
                appearancePool: Int = 0, layoutVariation: Double = 1, backgroundPool: Int? = nil) {
        self.maxDistractors = maxDistractors
        self.noise = noise
        self.cameraJitter = cameraJitter
        self.tempoRange = tempoRange
        self.appearancePool = appearancePool
        self.layoutVariation = layoutVariation
        self.backgroundPool = backgroundPool
    }
}

/// One rendered recognition clip: a textured object moving with its class's pattern on a
/// random background, at its own tempo, with distractors, noise and camera jitter.
struct MotionScene {
    var pattern: MotionPattern
    var look: Look
    var background: Background
    var width: Int, height: Int
    var radius: Double
    var amplitude: Double
    var centre: (Double, Double)
    var mirror: Double
    var rate: Double
    var phase0: Double
    var baseAngle: Double
    var distractors: [(Look, Double, Double, Double, Double, Double)]  // look, x, y, vx, vy, radius
    var difficulty: Difficulty
    var rng: RandomGenerator

    init(pattern: MotionPattern, width: Int, height: Int, difficulty: Difficulty, rng r: inout RandomGenerator) {
        self.pattern = pattern
        self.width = width
        self.height = height
        self.difficulty = difficulty
        let side = Double(min(width, height))
        if difficulty.appearancePool > 0 {
            var shared = RandomGenerator(seed: 0xA11CE &+ UInt64(r.nextInt(below: difficulty.appearancePool)))
            look = Palette.look(&shared)
            if let scenes = difficulty.backgroundPool, scenes > 0 {
                var scene = RandomGenerator(seed: 0xBAC6 &+ UInt64(r.nextInt(below: scenes)))
                background = Background(width: width, height: height, margin: 4, rng: &scene)
            } else {
                background = Background(width: width, height: height, margin: 4, rng: &shared)
            }
        } else {
            look = Palette.look(&r)
            background = Background(width: width, height: height, margin: 4, rng: &r)
        }
        let v = difficulty.layoutVariation
        radius = side * (0.14 + 0.06 * v * Double(r.nextUniform() - 0.5))
        amplitude = side * (0.26 + 0.08 * v * Double(r.nextUniform() - 0.5))
        centre = (Double(width) / 2 + side * 0.08 * v * Double(r.nextUniform() * 2 - 1),
                  Double(height) / 2 + side * 0.08 * v * Double(r.nextUniform() * 2 - 1))
        mirror = r.nextInt(below: 2) == 0 ? 1 : -1
        let tempo = exp(log(difficulty.tempoRange) * Double(r.nextUniform() * 2 - 1))
        rate = pattern.baseRate * tempo
        phase0 = Double(r.nextUniform())
        baseAngle = Double(r.nextUniform() - 0.5) * 0.6
        let n = difficulty.maxDistractors > 0 ? r.nextInt(below: difficulty.maxDistractors + 1) : 0
        let pool = difficulty.appearancePool
        distractors = (0..<n).map { _ in
            let speed = side * (0.1 + 0.3 * Double(r.nextUniform()))
            let dir = Double(r.nextUniform()) * 2 * .pi
            // A distractor of its own colours would identify the instance as surely as the
            // object's own look, so with a pool its look is shared too.
            var shared = RandomGenerator(seed: 0xD157 &+ UInt64(pool > 0 ? r.nextInt(below: pool) : 0))
            let look = pool > 0 ? Palette.look(&shared) : Palette.look(&r)
            return (look, Double(r.nextUniform()) * Double(width), Double(r.nextUniform()) * Double(height),
                    speed * cos(dir), speed * sin(dir), side * (0.05 + 0.04 * Double(r.nextUniform())))
        }
        rng = r.split()
    }

    /// The object's box in each frame of the last `render` (fractions of the frame).
    private(set) var objectBoxes: [ObjectBox] = []

    /// Renders `count` frames at `fps` (and records `objectBoxes`).
    mutating func render(count: Int, fps: Double) -> [UInt8] {
        objectBoxes = []
        var out: [UInt8] = []
        out.reserveCapacity(count * width * height * 3)
        var canvas = Canvas(width: width, height: height)
        var jx = 0.0, jy = 0.0
        for i in 0..<count {
            let t = Double(i) / fps
            if difficulty.cameraJitter > 0 {
                jx = max(-4, min(4, jx * 0.9 + Double(rng.nextNormal()) * difficulty.cameraJitter))
                jy = max(-4, min(4, jy * 0.9 + Double(rng.nextNormal()) * difficulty.cameraJitter))
            }
            canvas.fill(from: background, dx: Int(jx.rounded()), dy: Int(jy.rounded()))
            let p = pattern.pose(phase0 + rate * t)
            let cx = centre.0 + mirror * p.dx * amplitude - jx
            let cy = centre.1 + p.dy * amplitude - jy
            // Half the distractors pass behind the object, half in front.
            for (k, d) in distractors.enumerated() where k % 2 == 0 {
                let (x, y) = Self.bounced(d.1 + d.3 * t, d.2 + d.4 * t, width, height)
                canvas.draw(d.0, cx: x - jx, cy: y - jy, rx: d.5, ry: d.5, angle: 0)
            }
            if let b = canvas.draw(look, cx: cx, cy: cy, rx: radius * p.sx, ry: radius * p.sy, angle: baseAngle + mirror * p.angle) {
                objectBoxes.append(ObjectBox(frame: i, x1: Double(b.x0) / Double(width), y1: Double(b.y0) / Double(height),
                                             x2: Double(b.x1 + 1) / Double(width), y2: Double(b.y1 + 1) / Double(height)))
            }
            for (k, d) in distractors.enumerated() where k % 2 == 1 {
                let (x, y) = Self.bounced(d.1 + d.3 * t, d.2 + d.4 * t, width, height)
                canvas.draw(d.0, cx: x - jx, cy: y - jy, rx: d.5, ry: d.5, angle: 0)
            }
            canvas.addNoise(sigma: difficulty.noise, rng: &rng)
            out.append(contentsOf: canvas.pixels)
        }
        return out
    }

    /// Straight-line motion reflected at the frame edges.
    static func bounced(_ x: Double, _ y: Double, _ w: Int, _ h: Int) -> (Double, Double) {
        func fold(_ v: Double, _ n: Double) -> Double {
            let m = v.truncatingRemainder(dividingBy: 2 * n)
            let p = m < 0 ? m + 2 * n : m
            return p <= n ? p : 2 * n - p
        }
        return (fold(x, Double(w)), fold(y, Double(h)))
    }
}
