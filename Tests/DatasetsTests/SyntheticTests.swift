import Media
import Tensors
import XCTest
@testable import Datasets

final class SyntheticTests: XCTestCase {
    /// Writes the tiny datasets plus a manifest pointing at them.
    static func generate(_ dir: String, seed: UInt64 = 7) throws -> DatasetManifest {
        _ = try SyntheticDatasets.generate(.tiny, out: dir + "/synth", seed: seed)
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let text = try String(contentsOf: root.appendingPathComponent("datasets.yaml"), encoding: .utf8)
            .replacingOccurrences(of: "data/synthetic/{scale}", with: "synth")
        let path = dir + "/datasets.yaml"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return try DatasetManifest.load(path)
    }

    func testTinySyntheticDatasetsReadAndCheckClean() throws {
        let dir = try TestSupport.tempDir(self)
        let m = try Self.generate(dir)
        for entry in m.datasets {
            let report = DatasetCheck.check(entry)
            XCTAssertTrue(report.ok, "\(report)")
            XCTAssertGreaterThan(report.splits["train"]!.videos, 0, entry.name)
            XCTAssertGreaterThan(report.splits["test"]!.videos, 0, entry.name)
        }
        let ucf = try Dataset.load(try m.entry("ucf101"), split: .train)
        XCTAssertTrue(ucf.classes.contains("HandstandPushups"))
        XCTAssertTrue(ucf.records.contains { $0.source.contains("HandstandPushups/v_HandStandPushups_g") })
        let kin = try Dataset.load(try m.entry("kinetics400"), split: .train)
        XCTAssertTrue(kin.classes.allSatisfy { $0.contains(" ") })
        let info = try VideoReader.probe(kin.records[0].source)
        XCTAssertEqual([info.width, info.height], [32, 24])
        let ava = try Dataset.load(try m.entry("ava"), split: .test)
        XCTAssertEqual(ava.records[0].excludedSeconds.count, 1)
        XCTAssertFalse(ava.records[0].keyframes[0].proposals.isEmpty)
        XCTAssertTrue(ava.records[0].keyframes.allSatisfy { !$0.boxes.isEmpty && $0.boxes.allSatisfy { !$0.actions.isEmpty } })
        let epic = try Dataset.load(try m.entry("epic55"), split: .train)
        XCTAssertEqual(epic.records.count, 1)
        XCTAssertEqual(epic.records[0].fps, 30)
        let folder = try VideoReader.probe(epic.records[0].source, options: ReaderOptions(folderFPS: 30))
        XCTAssertEqual(folder.frames, 240)
    }

    /// `SyntheticConfig.items` (what `bench plan` counts) against the splits the generator
    /// writes, with held-out UCF groups, HMDB videos and Epic videos; the Epic segment count
    /// is drawn at random, so only its held-out videos are checked.
    func testPlannedItemsMatchTheGeneratedSplits() throws {
        let dir = try TestSupport.tempDir(self)
        var c = SyntheticConfig.tiny
        c.ucf.heldOut = 2
        c.hmdb.heldOut = 3
        c.epicParticipants = 2
        c.epicTestVideos = 2
        _ = try SyntheticDatasets.generate(c, out: dir + "/synth", seed: 5)
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let text = try String(contentsOf: root.appendingPathComponent("datasets.yaml"), encoding: .utf8)
            .replacingOccurrences(of: "data/synthetic/{scale}", with: "synth")
        try text.write(toFile: dir + "/datasets.yaml", atomically: true, encoding: .utf8)
        let m = try DatasetManifest.load(dir + "/datasets.yaml")
        for name in ["kinetics400", "ucf101", "hmdb51"] {
            let entry = try m.entry(name)
            let items = c.items(entry.format)
            XCTAssertEqual(Double(try Dataset.load(entry, split: .train).records.count), items.train, name)
            XCTAssertEqual(Double(try Dataset.load(entry, split: .test).records.count), items.test, name)
        }
        // UCF: 3 classes × (1 test group of 3 + 2 held-out groups) × 1 clip; HMDB: 3 × (1 + 3).
        XCTAssertEqual(c.items(.ucf101).test, 9)
        XCTAssertEqual(c.items(.hmdb51).test, 12)
        let ava = try m.entry("ava")
        let keyframes = try Dataset.load(ava, split: .test).records.reduce(0) { $0 + $1.keyframes.count }
        XCTAssertEqual(Double(keyframes), c.items(.ava).test)
        let held = try String(contentsOfFile: dir + "/synth/epic55/annotations/val_videos.txt", encoding: .utf8)
            .split(whereSeparator: \.isNewline)
        XCTAssertEqual(held, ["P02_01", "P02_02"])
        let small = SyntheticConfig.preset(.small)
        for format in [DatasetFormat.kinetics400, .ucf101, .hmdb51] {
            XCTAssertGreaterThanOrEqual(small.items(format).test, 1_100, "\(format): too few test videos for ±3-point intervals")
        }
        XCTAssertGreaterThanOrEqual(small.items(.epic55).test, 1_000)
    }

    func testSameSeedGivesByteIdenticalAnnotations() throws {
        let a = try TestSupport.tempDir(self), b = try TestSupport.tempDir(self), c = try TestSupport.tempDir(self)
        var small = SyntheticConfig.tiny
        small.epicSeconds = 6
        for (dir, seed) in [(a, UInt64(3)), (b, 3), (c, 4)] { _ = try SyntheticDatasets.generate(small, out: dir, seed: seed) }
        let files = try FileManager.default.subpathsOfDirectory(atPath: a).filter { path in
            [".csv", ".txt", ".pbtxt"].contains { path.hasSuffix($0) }
        }.sorted()
        XCTAssertGreaterThanOrEqual(files.count, 20)
        var differs = 0
        for f in files {
            let x = FileManager.default.contents(atPath: a + "/" + f)
            XCTAssertEqual(x, FileManager.default.contents(atPath: b + "/" + f), f)
            if x != FileManager.default.contents(atPath: c + "/" + f) { differs += 1 }
        }
        XCTAssertGreaterThan(differs, files.count / 2, "another seed should change most annotation files")
    }
}

final class ObjectBoxTests: XCTestCase {
    /// The box `draw` reports is exactly the bounds of the pixels it painted.
    func testDrawReportsThePaintedBounds() {
        var rng = RandomGenerator(seed: 5)
        for _ in 0..<20 {
            var canvas = Canvas(width: 40, height: 30)
            var look = Palette.look(&rng)
            look.primary = (255, 1, 1); look.secondary = (1, 255, 1)
            let cx = Double(rng.nextUniform()) * 50 - 5, cy = Double(rng.nextUniform()) * 40 - 5
            let box = canvas.draw(look, cx: cx, cy: cy, rx: 3 + Double(rng.nextUniform()) * 5, ry: 3 + Double(rng.nextUniform()) * 5,
                                  angle: Double(rng.nextUniform()) * 3)
            var painted: PixelBox?
            for y in 0..<30 {
                for x in 0..<40 where canvas.pixels[(y * 40 + x) * 3] != 0 || canvas.pixels[(y * 40 + x) * 3 + 1] != 0 {
                    painted = PixelBox(x0: min(painted?.x0 ?? x, x), y0: min(painted?.y0 ?? y, y),
                                       x1: max(painted?.x1 ?? x, x), y1: max(painted?.y1 ?? y, y))
                }
            }
            XCTAssertEqual(box, painted)
        }
    }

    /// With a background pool of one, every clip shows the same scene wherever the object is
    /// not, while object looks still differ across the appearance pool.
    func testBackgroundPoolSharesTheScene() {
        let difficulty = Difficulty(maxDistractors: 0, noise: 0, cameraJitter: 0, appearancePool: 4, layoutVariation: 0,
                                    backgroundPool: 1)
        var rng = RandomGenerator(seed: 3)
        var corners = Set<[UInt8]>(), looks = Set<String>()
        for pattern in MotionPattern.allCases.prefix(8) {
            var scene = MotionScene(pattern: pattern, width: 48, height: 36, difficulty: difficulty, rng: &rng)
            let px = scene.render(count: 1, fps: 25)
            corners.insert(Array(px[0..<(4 * 3)]))  // the first pixels of the top row: background
            looks.insert("\(scene.look.primary)")
        }
        XCTAssertEqual(corners.count, 1, "one shared background")
        XCTAssertGreaterThan(looks.count, 1, "object looks still vary")
    }

    /// The Kinetics-format set gets one box per decoded frame of every video, inside the frame.
    func testGeneratorWritesObjectBoxesThatCoverTheObject() throws {
        let dir = try TestSupport.tempDir(self)
        var config = SyntheticConfig.tiny
        config.difficulty = Difficulty(maxDistractors: 0, noise: 0, cameraJitter: 0)
        _ = try SyntheticDatasets.generate(config, out: dir, seed: 9)
        let boxes = try ObjectBoxes.load(dir + "/kinetics400/annotations/" + ObjectBoxes.fileName)
        var entry = DatasetEntry(name: "k", format: .kinetics400, root: dir + "/kinetics400")
        entry.train = dir + "/kinetics400/annotations/train.csv"; entry.test = dir + "/kinetics400/annotations/val.csv"
        let train = try Dataset.load(entry, split: .train)
        XCTAssertEqual(boxes.count, 9)  // 3 classes × (2 train + 1 val)
        for record in train.records {
            let key = String(record.source.dropFirst(dir.count + "/kinetics400/".count))
            let own = try XCTUnwrap(boxes[key], key)
            let frames = try VideoReader(path: record.source).read()
            XCTAssertEqual(own.map(\.frame), Array(0..<frames.count), key)
            for b in own { XCTAssert(0 <= b.x1 && b.x1 < b.x2 && b.x2 <= 1 && 0 <= b.y1 && b.y1 < b.y2 && b.y2 <= 1) }
        }
        // Malformed rows name the file and line.
        let bad = dir + "/bad.csv"
        try (ObjectBoxes.header + "\nv.mp4,0,0.1,0.2,0.05,0.3\n").write(toFile: bad, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try ObjectBoxes.load(bad)) { error in
            XCTAssertTrue("\(error)".contains("bad.csv") && "\(error)".contains("2"), "\(error)")
        }
    }
}
