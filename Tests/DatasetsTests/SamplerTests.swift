import Media
import Tensors
import XCTest
@testable import Datasets

final class SamplerTests: XCTestCase {
    /// Frames whose pixel value encodes the frame index (so clips reveal which frames they hold).
    func rampFrames(count: Int, width: Int = 16, height: Int = 12) -> Frames {
        var px: [UInt8] = []
        for t in 0..<count { for y in 0..<height { for x in 0..<width { px += [UInt8(t * 3 % 256), UInt8(x * 10), UInt8(y * 10)] } } }
        return Frames(pixels: px, count: count, height: height, width: width, fps: 30)
    }

    func testPretrainPairIndices() {
        let rng = RandomGeneratorBox(seed: 1)
        let p1 = ClipSampler.pretrainPair(length: 100, alpha: 1, rng: rng)
        XCTAssertEqual(p1.slow, p1.fast)
        XCTAssertEqual(p1.slow, (0..<8).map { p1.start + 8 * $0 })
        XCTAssertLessThanOrEqual(p1.start, 36)
        let p2 = ClipSampler.pretrainPair(length: 100, alpha: 2, rng: rng)
        XCTAssertEqual(p2.fast.count, 16)
        XCTAssertEqual(p2.fast, (0..<16).map { p2.start + 4 * $0 })
        let p4 = ClipSampler.pretrainPair(length: 40, alpha: 4, rng: rng)
        XCTAssertEqual(p4.start, 0)
        XCTAssertEqual(p4.fast.count, 32)
        XCTAssertEqual(p4.fast.last, 39)  // clamped
    }

    func testAlphaTwoGivesDifferentSlowAndFastInputs() {
        let frames = rampFrames(count: 64)
        let aug = ClipAugmenter(AugmentConfig(size: 8))
        let rng = RandomGeneratorBox(seed: 5)
        let params = aug.draw(width: 16, height: 12, rng: rng)
        for alpha in [1, 2] {
            let p = ClipSampler.pretrainPair(length: 64, alpha: alpha, rng: rng)
            let slow = aug.apply(frames, indices: p.slow, params: params)
            let fast = aug.apply(frames, indices: p.fast, params: params)
            XCTAssertEqual(slow.shape, [3, 8, 8, 8])
            XCTAssertEqual(fast.shape, [3, 8 * alpha, 8, 8])
            if alpha == 1 {
                XCTAssertEqual(slow, fast)
            } else {
                XCTAssertNotEqual(slow.scalars, Array(fast.scalars.prefix(slow.count)))
            }
        }
    }

    func testTestClipStartsAndCrops() {
        XCTAssertEqual(ClipSampler.testStarts(length: 154, span: 64), (0..<10).map { $0 * 90 / 9 })
        XCTAssertEqual(ClipSampler.testStarts(length: 30, span: 64), Array(repeating: 0, count: 10))
        XCTAssertEqual(ClipAugmenter.squareCrop(width: 160, height: 120, position: 0), CropRect(x: 0, y: 0, width: 120, height: 120))
        XCTAssertEqual(ClipAugmenter.squareCrop(width: 160, height: 120, position: 1), CropRect(x: 20, y: 0, width: 120, height: 120))
        XCTAssertEqual(ClipAugmenter.squareCrop(width: 160, height: 120, position: 2), CropRect(x: 40, y: 0, width: 120, height: 120))
        XCTAssertEqual(ClipSampler.centred(on: 60, length: 300), (0..<8).map { 28 + 8 * $0 })
    }

    func testEpicObservationWindow() {
        let (a, b) = ClipSampler.epicWindowBounds(actionStart: 10)
        XCTAssertEqual([a, b], [8, 9])
        let w = ClipSampler.epicWindow(actionStart: 10, frames: 8, fps: 60, length: 10_000)
        XCTAssertTrue(w.observable)
        XCTAssertTrue(w.indices.allSatisfy { (480..<540).contains($0) }, "\(w.indices)")
        XCTAssertFalse(ClipSampler.epicWindow(actionStart: 1.5, fps: 60, length: 1000).observable)
    }

    func testRandomResizedCropStaysInRangeAndIsDeterministic() {
        let a = RandomGeneratorBox(seed: 9), b = RandomGeneratorBox(seed: 9)
        for _ in 0..<200 {
            let c = ClipAugmenter.randomResizedCrop(width: 64, height: 48, area: 0.2...1, aspect: 0.75...(4.0 / 3), rng: a)
            XCTAssertEqual(c, ClipAugmenter.randomResizedCrop(width: 64, height: 48, area: 0.2...1, aspect: 0.75...(4.0 / 3), rng: b))
            XCTAssertTrue(c.x >= 0 && c.y >= 0 && c.x + c.width <= 64 && c.y + c.height <= 48, "\(c)")
            XCTAssertGreaterThanOrEqual(c.width * c.height, 0.15 * 64 * 48)
        }
        let aug = ClipAugmenter(AugmentConfig(size: 8))
        let f = rampFrames(count: 4)
        let x = aug.apply(f, indices: [0, 1], params: aug.draw(width: 16, height: 12, rng: RandomGeneratorBox(seed: 2)))
        let y = aug.apply(f, indices: [0, 1], params: aug.draw(width: 16, height: 12, rng: RandomGeneratorBox(seed: 2)))
        XCTAssertEqual(x, y)
    }

    func testCentreCropNormalisesAndFlipMirrors() {
        let f = rampFrames(count: 2, width: 8, height: 8)
        var cfg = AugmentConfig.test(size: 8)
        cfg.mean = [0, 0, 0]; cfg.std = [1, 1, 1]
        let aug = ClipAugmenter(cfg)
        var p = aug.testParams(width: 8, height: 8)
        let plain = aug.apply(f, indices: [1], params: p)
        XCTAssertEqual(plain.shape, [3, 1, 8, 8])
        XCTAssertEqual(plain.scalars[0], 3.0 / 255, accuracy: 1e-6)       // R = frame index · 3
        XCTAssertEqual(plain.scalars[64 + 7], 70.0 / 255, accuracy: 1e-6)   // G = x · 10 at x = 7
        p.flip = true
        let flipped = aug.apply(f, indices: [1], params: p)
        XCTAssertEqual(flipped.scalars[64], 70.0 / 255, accuracy: 1e-6)
    }

    func testBoxesFollowCropAndFlip() {
        let box = AVABox(x1: 0.25, y1: 0.5, x2: 0.5, y2: 1.0, actions: [12])
        let crop = CropRect(x: 10, y: 0, width: 50, height: 50)
        var p = AugmentParams(crop: crop, flip: false, jitter: nil, grayscale: false, order: [0, 1, 2, 3])
        // Source 100×50: box is x 25…50, y 25…50 → crop origin 10 → 15…40; scale 2 to 100 px.
        XCTAssertEqual(ClipAugmenter.transform(box: box, sourceWidth: 100, sourceHeight: 50, params: p, outWidth: 100, outHeight: 100),
                       [30, 50, 80, 100])
        p.flip = true
        XCTAssertEqual(ClipAugmenter.transform(box: box, sourceWidth: 100, sourceHeight: 50, params: p, outWidth: 100, outHeight: 100),
                       [20, 50, 70, 100])
        p.crop = CropRect(x: 60, y: 0, width: 40, height: 50)
        XCTAssertNil(ClipAugmenter.transform(box: box, sourceWidth: 100, sourceHeight: 50, params: p, outWidth: 40, outHeight: 50))
    }

    func testBatchLoaderKeepsOrderBoundsQueueAndRethrows() throws {
        struct Boom: Error {}
        let loader = BatchLoader<Int>(count: 20, workers: 3, prefetch: 4) { i in
            if i == 15 { throw Boom() }
            usleep(UInt32((i * 7919) % 5) * 300)
            return i * i
        }
        usleep(50_000)
        XCTAssertLessThanOrEqual(loader.buffered, 4)
        for i in 0..<15 { XCTAssertEqual(try loader.next(), i * i) }
        XCTAssertThrowsError(try loader.next())
        for i in 16..<20 { XCTAssertEqual(try loader.next(), i * i) }
        XCTAssertNil(try loader.next())
    }

    func testSampleBuilderOnSyntheticVideosWithDirectDecodeAndCache() throws {
        let dir = try TestSupport.tempDir(self)
        let m = try SyntheticTests.generate(dir)
        let ucf = try Dataset.load(try m.entry("ucf101"), split: .train)
        let spec = DecodeSpec(shortSide: 24)
        let direct = SampleBuilder(provider: FrameProvider(spec: spec), augment: AugmentConfig(size: 16))
        let pair = try direct.pretrainPair(ucf.records[0], index: 0, window: 16, tau: 8, alpha: 2, rng: .forItem(SeedStream(1, "test.item"), epoch: 0, index: 0))
        XCTAssertEqual(pair.slow.shape, [3, 2, 16, 16])
        XCTAssertEqual(pair.fast.shape, [3, 4, 16, 16])
        let test = try direct.testClips(ucf.records[0], index: 0, clips: 10, crops: 3, frames: 4, stride: 2)
        XCTAssertEqual(test.clip.shape, [30, 3, 4, 16, 16])

        // The same clip from the HDF5 clip cache.
        let cache = ClipCache(directory: dir + "/cache", name: "ucf", spec: spec)
        _ = try cache.build(ucf.records.prefix(2).map { CacheSource(id: $0.id, path: $0.source) })
        let cached = SampleBuilder(provider: FrameProvider(spec: spec, cache: try ClipCacheReader(cache)), augment: AugmentConfig(size: 16))
        let again = try cached.pretrainPair(ucf.records[0], index: 0, window: 16, tau: 8, alpha: 2, rng: .forItem(SeedStream(1, "test.item"), epoch: 0, index: 0))
        XCTAssertEqual(again.slow, pair.slow)

        let loader = BatchLoader<Tensor>(count: 2, workers: 2, prefetch: 2) { i in
            let s = try cached.pretrainPair(ucf.records[i], index: i, window: 16, tau: 8, alpha: 2, rng: .forItem(SeedStream(1, "test.item"), epoch: 0, index: i))
            return Tensor.stack([s.slow, s.slow])
        }
        XCTAssertEqual(try loader.next()?.shape, [2, 3, 2, 16, 16])

        let ava = try Dataset.load(try m.entry("ava"), split: .train)
        let kf = ava.records[0].keyframes[0]
        let avaBuilder = SampleBuilder(provider: FrameProvider(spec: DecodeSpec()), augment: AugmentConfig(size: 16))
        let sample = try avaBuilder.avaClip(ava.records[0], keyframe: kf, rng: nil)
        XCTAssertEqual(sample.clip.shape, [3, 8, 16, 21])
        XCTAssertEqual(sample.boxes.count, kf.boxes.count)
        let epic = try Dataset.load(try m.entry("epic55"), split: .train)
        let seg = epic.records[0].segments.last!
        let e = try avaBuilder.epicClip(epic.records[0], segment: seg, rng: nil)
        XCTAssertEqual(e.clip.shape, [3, 8, 16, 16])
    }
}
