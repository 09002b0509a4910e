import Datasets
import Foundation
import Media
import Tensors
@testable import VTHCL
import XCTest

final class ICMTests: XCTestCase {
    func model(_ projection: ProjectionKind = .conv) -> VTHCLModel {
        var c = VTHCLConfig()
        c.widthMultiplier = 0.125; c.slowFrames = 2; c.alpha = 2; c.projection = projection; c.embeddingDimension = 8
        var rng = RandomGenerator(seed: 4)
        return VTHCLModel(c, rng: &rng)
    }

    /// The map holds cosines (in [−1, 1]) at every slow position of res5, and equals the
    /// cosine computed directly at a sampled position.
    func testMapShapeAndValues() {
        checkMap(model(.conv))
    }

    /// With batch-normalised 1×1×1 heads (after a training step has moved their running
    /// statistics) the map is still the per-position cosine, and pooling the map's φ gives
    /// the head's own embedding: evaluation-mode BN is affine per channel, so it commutes
    /// with the average pool.
    func testBatchNormalisedConvHeadStaysPerPosition() {
        let m = model(.convBN)
        var rng = RandomGenerator(seed: 2)
        let batch = Variable(Tensor.randomNormal([3, 3, 2, 64, 64], using: &rng))
        _ = m.slowHeads.last!(m.slow.features(batch, training: true)[3], training: true)
        XCTAssertNotEqual(m.slowHeads.last!.namedBuffers.first { $0.0 == "bn2.running_mean" }!.1.value.scalars.map(abs).max()!, 0)
        checkMap(m)
        let clip = Tensor.randomNormal([1, 3, 2, 64, 64], using: &rng)
        let feats = withoutGradient { m.slow.features(Variable(clip), training: false)[3] }
        let pooled = withoutGradient { l2Normalize(globalAvgPool(m.slowHeads.last!.map(feats)), axis: 1) }.value
        let direct = withoutGradient { m.slowHeads.last!(feats) }.value
        for (a, b) in zip(pooled.scalars, direct.scalars) { XCTAssertEqual(a, b, accuracy: 1e-5) }
    }

    func checkMap(_ m: VTHCLModel, file: StaticString = #filePath, line: UInt = #line) {
        var rng = RandomGenerator(seed: 9)
        let slow = Tensor.randomNormal([1, 3, 2, 64, 64], using: &rng)
        let fast = Tensor.randomNormal([1, 3, 4, 64, 64], using: &rng)
        let map = InstanceCorrespondenceMap.compute(model: m, slowClip: slow, fastClip: fast)
        XCTAssertEqual(map.shape, [2, 2, 2], file: file, line: line)
        XCTAssertTrue(map.scalars.allSatisfy { abs($0) <= 1.0001 }, file: file, line: line)
        // Direct computation at position (t=1, h=0, w=1).
        let feats = withoutGradient { m.slow.features(Variable(slow), training: false)[3] }
        let phi = withoutGradient { m.slowHeads.last!.map(feats) }.value
        let e = withoutGradient { m.fastHeads.last!(m.fast.features(Variable(fast), training: false)[3]) }.value
        let positions = 2 * 2 * 2, p = (1 * 2 + 0) * 2 + 1
        let v = (0..<8).map { phi.scalars[$0 * positions + p] }
        let norm = v.map { $0 * $0 }.reduce(0, +).squareRoot()
        let cosine = zip(v, e.scalars).map { $0 * $1 }.reduce(0, +) / norm
        XCTAssertEqual(map.scalars[p], cosine, accuracy: 1e-5, file: file, line: line)
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

final class ICMObjectMassTests: XCTestCase {
    /// A map that peaks where the object is puts more mass on it; the same map with the box
    /// elsewhere does not; densities follow the definition on a hand-computed case.
    func testObjectMassFollowsThePeak() throws {
        // 2 frames of a 4×4 map; frame t peaks at column 2t.
        var scalars = [Float](repeating: 0, count: 32)
        scalars[0 * 16 + 1 * 4 + 0] = 1
        scalars[1 * 16 + 1 * 4 + 2] = 1
        let map = Tensor(shape: [2, 4, 4], scalars: scalars)
        // At 4×4 the upsampling is the identity: boxes of one map cell each.
        let on = try XCTUnwrap(InstanceCorrespondenceMap.objectMass(map: map, width: 4, height: 4,
                                                                    boxes: [(0, 1, 1, 2), (2, 1, 3, 2)]))
        XCTAssertEqual(on.objectDensity, 1, accuracy: 1e-9)
        XCTAssertEqual(on.backgroundDensity, 0, accuracy: 1e-9)
        let off = try XCTUnwrap(InstanceCorrespondenceMap.objectMass(map: map, width: 4, height: 4,
                                                                     boxes: [(3, 3, 4, 4), nil]))
        XCTAssertEqual(off.objectDensity, 0, accuracy: 1e-9)
        XCTAssertEqual(off.backgroundDensity, 1.0 / 15, accuracy: 1e-9)
        XCTAssertLessThan(off.ratio, 1)
        // Upsampled to 32×32, a box around the peak still concentrates mass.
        let up = try XCTUnwrap(InstanceCorrespondenceMap.objectMass(map: map, width: 32, height: 32,
                                                                    boxes: [(0, 8, 8, 16), (16, 8, 24, 16)]))
        XCTAssertGreaterThan(up.ratio, 3)
        XCTAssertNil(InstanceCorrespondenceMap.objectMass(map: map, width: 4, height: 4, boxes: [nil, nil]))
    }

    /// The crop geometry maps a box in video fractions onto the centre crop.
    func testCropBoxFollowsTheCentreCrop() {
        let r = InstanceCorrespondenceMap.Rendering(image: RGBImage(width: 1, height: 1), map: Tensor(shape: [1, 1, 1], scalars: [0]),
                                                    frameWidth: 43, frameHeight: 32,
                                                    cropRect: CropRect(x: 5.5, y: 0, width: 32, height: 32), slowFrames: [0])
        let b = r.cropBox(ObjectBox(frame: 0, x1: 0.5, y1: 0.25, x2: 0.75, y2: 0.5), crop: 32)
        XCTAssertEqual(b.x1, 21.5 - 5.5, accuracy: 1e-9)
        XCTAssertEqual(b.x2, 32.25 - 5.5, accuracy: 1e-9)
        XCTAssertEqual(b.y1, 8, accuracy: 1e-9)
        XCTAssertEqual(b.y2, 16, accuracy: 1e-9)
    }
}
