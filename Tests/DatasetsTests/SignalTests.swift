import Tensors
import XCTest
@testable import Datasets

/// The synthetic content carries the signal the benchmark needs: the class is in the
/// motion, not in the appearance.
final class SignalTests: XCTestCase {
    /// Motion features from frame differences (grey levels): where the motion energy sits
    /// (4×4 grid, normalised), how its centroid moves, and how its energy varies over time.
    static func motionFeatures(_ px: [UInt8], count: Int, width: Int, height: Int) -> [Double] {
        var grid = [Double](repeating: 0, count: 16)
        var cx: [Double] = [], cy: [Double] = [], energy: [Double] = [], sx: [Double] = [], sy: [Double] = []
        let fb = width * height * 3
        for t in 1..<count {
            var e = 0.0, mx = 0.0, my = 0.0, mxx = 0.0, myy = 0.0
            for y in 0..<height {
                for x in 0..<width {
                    var d = 0.0
                    for ch in 0..<3 { d += abs(Double(px[t * fb + (y * width + x) * 3 + ch]) - Double(px[(t - 1) * fb + (y * width + x) * 3 + ch])) }
                    d = max(0, d - 90)  // ignore sensor noise
                    e += d; mx += d * Double(x); my += d * Double(y); mxx += d * Double(x * x); myy += d * Double(y * y)
                    grid[(y * 4 / height) * 4 + x * 4 / width] += d
                }
            }
            guard e > 0 else { continue }
            cx.append(mx / e / Double(width)); cy.append(my / e / Double(height)); energy.append(e)
            sx.append(((mxx / e) - (mx / e) * (mx / e)).squareRoot() / Double(width))
            sy.append(((myy / e) - (my / e) * (my / e)).squareRoot() / Double(height))
        }
        func mean(_ v: [Double]) -> Double { v.isEmpty ? 0 : v.reduce(0, +) / Double(v.count) }
        func std(_ v: [Double]) -> Double { let m = mean(v); return mean(v.map { ($0 - m) * ($0 - m) }).squareRoot() }
        func step(_ v: [Double]) -> Double { v.count < 2 ? 0 : mean(zip(v.dropFirst(), v).map { abs($0 - $1) }) }
        let total = max(1e-9, grid.reduce(0, +))
        let m = mean(energy)
        return grid.map { $0 / total } + [std(cx), std(cy), step(cx), step(cy), mean(sx), mean(sy),
                                          std(energy) / max(1e-9, m), std(cx) / max(1e-3, std(cy))]
    }

    /// Appearance only: mean colour and a coarse colour layout of one frame.
    static func frameFeatures(_ px: [UInt8], width: Int, height: Int) -> [Double] {
        var f = [Double](repeating: 0, count: 4 * 3)
        for y in 0..<height { for x in 0..<width { for ch in 0..<3 {
            f[((y * 2 / height) * 2 + x * 2 / width) * 3 + ch] += Double(px[(y * width + x) * 3 + ch]) / 255
        } } }
        return f.map { $0 / Double(width * height / 4) }
    }

    /// Multinomial logistic regression on z-scored features; returns test accuracy.
    static func logistic(train: [([Double], Int)], test: [([Double], Int)], classes: Int) -> Double {
        let d = train[0].0.count
        var mu = [Double](repeating: 0, count: d), sd = [Double](repeating: 0, count: d)
        for (x, _) in train { for j in 0..<d { mu[j] += x[j] / Double(train.count) } }
        for (x, _) in train { for j in 0..<d { sd[j] += (x[j] - mu[j]) * (x[j] - mu[j]) / Double(train.count) } }
        sd = sd.map { max(1e-9, $0.squareRoot()) }
        func z(_ x: [Double]) -> [Double] { (0..<d).map { (x[$0] - mu[$0]) / sd[$0] } + [1] }
        var w = [[Double]](repeating: [Double](repeating: 0, count: d + 1), count: classes)
        let tr = train.map { (z($0.0), $0.1) }
        for _ in 0..<400 {
            var g = [[Double]](repeating: [Double](repeating: 0, count: d + 1), count: classes)
            for (x, y) in tr {
                let logits = w.map { zip($0, x).reduce(0) { $0 + $1.0 * $1.1 } }
                let mx = logits.max()!
                let e = logits.map { exp($0 - mx) }
                let s = e.reduce(0, +)
                for k in 0..<classes { let p = e[k] / s - (k == y ? 1 : 0); for j in 0...d { g[k][j] += p * x[j] } }
            }
            for k in 0..<classes { for j in 0...d { w[k][j] -= 0.5 * (g[k][j] / Double(tr.count) + 1e-3 * w[k][j]) } }
        }
        let correct = test.filter { (x, y) in
            let zx = z(x)
            let logits = w.map { zip($0, zx).reduce(0) { $0 + $1.0 * $1.1 } }
            return logits.firstIndex(of: logits.max()!)! == y
        }.count
        return Double(correct) / Double(test.count)
    }

    func testMotionFeaturesBeatChanceWhileSingleFramesDoNot() {
        // The UCF-like classes, rendered as `bench datasets synth` renders them (default
        // difficulty: distractors, noise, camera jitter, random tempo and appearance).
        let classes = SyntheticDatasets.patterns(6, offset: 2)
        let (w, h, frames, perClass) = (32, 24, 64, 30)
        var rng = RandomGenerator(seed: 11)
        var motion: [([Double], Int)] = [], still: [([Double], Int)] = []
        for (label, pattern) in classes.enumerated() {
            for _ in 0..<perClass {
                var scene = MotionScene(pattern: pattern, width: w, height: h, difficulty: Difficulty(), rng: &rng)
                let px = scene.render(count: frames, fps: 25)
                motion.append((Self.motionFeatures(px, count: frames, width: w, height: h), label))
                still.append((Self.frameFeatures(Array(px.prefix(w * h * 3)), width: w, height: h), label))
            }
        }
        // Two thirds train, one third test, interleaved per class.
        func split<T>(_ all: [T]) -> ([T], [T]) {
            (all.enumerated().filter { $0.offset % 3 != 0 }.map(\.element), all.enumerated().filter { $0.offset % 3 == 0 }.map(\.element))
        }
        let (mTrain, mTest) = split(motion), (sTrain, sTest) = split(still)
        let motionAcc = Self.logistic(train: mTrain, test: mTest, classes: classes.count)
        let stillAcc = Self.logistic(train: sTrain, test: sTest, classes: classes.count)
        print("signal: motion-feature accuracy \(motionAcc), single-frame accuracy \(stillAcc), chance \(1.0 / Double(classes.count))")
        XCTAssertGreaterThan(motionAcc, 0.4)  // chance: 0.17
        XCTAssertLessThan(stillAcc, 0.3)
    }
}
