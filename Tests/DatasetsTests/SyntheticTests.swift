import Media
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
