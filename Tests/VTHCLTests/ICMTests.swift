import Foundation
import Media
import Tensors
@testable import VTHCL
import XCTest

final class ICMTests: XCTestCase {
    func model() -> VTHCLModel {
        var c = VTHCLConfig()
        c.widthMultiplier = 0.125; c.slowFrames = 2; c.alpha = 2; c.projection = .conv; c.embeddingDimension = 8
        var rng = RandomGenerator(seed: 4)
        return VTHCLModel(c, rng: &rng)
    }

    /// The map holds cosines (in [−1, 1]) at every slow position of res5, and equals the
    /// cosine computed directly at a sampled position.
    func testMapShapeAndValues() {
        let m = model()
        var rng = RandomGenerator(seed: 9)
        let slow = Tensor.randomNormal([1, 3, 2, 64, 64], using: &rng)
        let fast = Tensor.randomNormal([1, 3, 4, 64, 64], using: &rng)
        let map = InstanceCorrespondenceMap.compute(model: m, slowClip: slow, fastClip: fast)
        XCTAssertEqual(map.shape, [2, 2, 2])
        XCTAssertTrue(map.scalars.allSatisfy { abs($0) <= 1.0001 })
        // Direct computation at position (t=1, h=0, w=1).
        let feats = withoutGradient { m.slow.features(Variable(slow), training: false)[3] }
        let phi = withoutGradient { m.slowHeads.last!.map(feats) }.value
        let e = withoutGradient { m.fastHeads.last!(m.fast.features(Variable(fast), training: false)[3]) }.value
        let positions = 2 * 2 * 2, p = (1 * 2 + 0) * 2 + 1
        let v = (0..<8).map { phi.scalars[$0 * positions + p] }
        let norm = v.map { $0 * $0 }.reduce(0, +).squareRoot()
        let cosine = zip(v, e.scalars).map { $0 * $1 }.reduce(0, +) / norm
        XCTAssertEqual(map.scalars[p], cosine, accuracy: 1e-5)
    }

    /// Rendering: the top row is the frames untouched, the bottom row is hottest (red)
    /// where the map is highest; the PNG round-trips.
    func testRenderAndPNGRoundTrip() throws {
        let frames = (0..<2).map { _ in RGBImage(width: 8, height: 8, fill: 128) }
        let map = Tensor(shape: [2, 2, 2], scalars: [0, 0, 0, 1, 1, 0, 0, 0])
        let strip = InstanceCorrespondenceMap.render(frames: frames, map: map, opacity: 1, gap: 2)
        XCTAssertEqual(strip.width, 18); XCTAssertEqual(strip.height, 18)
        XCTAssertEqual(Array(strip.pixels[0..<3]), [128, 128, 128])
        func pixel(_ x: Int, _ y: Int) -> [UInt8] { Array(strip.pixels[((y * 18) + x) * 3..<((y * 18) + x) * 3 + 3]) }
        let hot = pixel(7, 10 + 7), cold = pixel(0, 10)      // frame 0: map peaks bottom-right
        XCTAssertGreaterThan(hot[0], 100); XCTAssertLessThan(hot[2], 50)
        XCTAssertGreaterThan(cold[2], 100); XCTAssertLessThan(cold[0], 50)
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("icm-\(UUID().uuidString).png")
        defer { try? FileManager.default.removeItem(at: url) }
        try PNG.write(strip, to: url)
        XCTAssertEqual(try PNG.read(url), strip)
        XCTAssertThrowsError(try PNG.read(URL(fileURLWithPath: "/nonexistent/x.png"))) {
            XCTAssertTrue("\($0)".contains("/nonexistent/x.png"))
        }
    }
}
