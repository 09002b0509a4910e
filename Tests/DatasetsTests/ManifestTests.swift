import XCTest
@testable import Datasets

final class ManifestTests: XCTestCase {
    func ucfFolder() throws -> String {
        let dir = try TestSupport.tempDir(self)
        try TestSupport.write("1 A\r\n", dir, "lists/classInd.txt")
        try FileManager.default.createDirectory(atPath: dir + "/videos", withIntermediateDirectories: true)
        return dir
    }

    func testValidManifestResolvesPathsAndScale() throws {
        let dir = try ucfFolder()
        try FileManager.default.createDirectory(atPath: dir + "/ci", withIntermediateDirectories: true)
        let path = try TestSupport.write("""
        datasets:
          - name: u
            format: ucf101
            root: videos
            annotations: lists
            split: 2
            decode: {short_side: 64, fps: 25}
          - name: k
            format: kinetics400
            root: "{scale}"
            train: lists/classInd.txt
            test: lists/classInd.txt
        """, dir, "m.yaml")
        let m = try DatasetManifest.load(path, scale: "ci")
        XCTAssertEqual(m.datasets.count, 2)
        let u = try m.entry("u")
        XCTAssertEqual(u.root, dir + "/videos")
        XCTAssertEqual(u.splitNumber, 2)
        XCTAssertEqual(u.decode, DecodeOptions(shortSide: 64, fps: 25))
        XCTAssertEqual(u.decode?.spec.tag, "s64-fps25-bilinear")
        XCTAssertEqual(try m.entry("k").root, dir + "/ci")
    }

    func testUnknownKeyNamesFileLineAndKey() throws {
        let dir = try ucfFolder()
        let path = try TestSupport.write("datasets:\n  - name: u\n    format: ucf101\n    root: videos\n    annotations: lists\n    spilt: 1\n", dir, "m.yaml")
        let text = TestSupport.errorText { _ = try DatasetManifest.load(path) }
        XCTAssertTrue(text.hasPrefix("\(path):6: key 'spilt': unknown key"), text)
    }

    func testKeyOfAnotherFormatIsRejected() throws {
        let dir = try ucfFolder()
        let path = try TestSupport.write("datasets:\n  - name: u\n    format: ucf101\n    root: videos\n    annotations: lists\n    label_map: x\n", dir, "m.yaml")
        let text = TestSupport.errorText { _ = try DatasetManifest.load(path) }
        XCTAssertTrue(text.contains(":6: key 'label_map': not used by format ucf101"), text)
    }

    func testWrongTypesNameTheKey() throws {
        let dir = try ucfFolder()
        for (yaml, line, key) in [
            ("    split: seven\n", 6, "split"),
            ("    decode: {short_side: -3}\n", 6, "decode.short_side"),
            ("    decode: 12\n", 6, "decode"),
            ("    annotations: [a, b]\n", 5, "annotations"),
        ] {
            var base = "datasets:\n  - name: u\n    format: ucf101\n    root: videos\n"
            if key != "annotations" { base += "    annotations: lists\n" }
            let path = try TestSupport.write(base + yaml, dir, "m.yaml")
            let text = TestSupport.errorText { _ = try DatasetManifest.load(path) }
            XCTAssertTrue(text.hasPrefix("\(path):\(line): key '\(key)':"), text)
        }
    }

    func testMissingFileAndMissingKeyAndBadFormat() throws {
        let dir = try ucfFolder()
        var path = try TestSupport.write("datasets:\n  - name: u\n    format: ucf101\n    root: videos\n    annotations: nowhere\n", dir, "m.yaml")
        var text = TestSupport.errorText { _ = try DatasetManifest.load(path) }
        XCTAssertTrue(text.hasPrefix("\(path):5: key 'annotations':"), text)
        XCTAssertTrue(text.contains("does not exist"), text)

        path = try TestSupport.write("datasets:\n  - name: u\n    format: ucf101\n    root: videos\n", dir, "m.yaml")
        text = TestSupport.errorText { _ = try DatasetManifest.load(path) }
        XCTAssertTrue(text.contains("missing required key 'annotations'"), text)
        XCTAssertTrue(text.hasPrefix("\(path):2:"), text)

        path = try TestSupport.write("datasets:\n  - name: u\n    format: ucf102\n    root: videos\n", dir, "m.yaml")
        text = TestSupport.errorText { _ = try DatasetManifest.load(path) }
        XCTAssertTrue(text.hasPrefix("\(path):3: key 'format': unknown format 'ucf102'"), text)

        path = try TestSupport.write("datasets:\n  - name: u\n    format: [ucf101\n", dir, "m.yaml")
        text = TestSupport.errorText { _ = try DatasetManifest.load(path) }
        XCTAssertTrue(text.hasPrefix("\(path):"), text)
        XCTAssertTrue(text.contains("YAML syntax"), text)

        text = TestSupport.errorText { _ = try DatasetManifest.load(dir + "/absent.yaml") }
        XCTAssertTrue(text.contains("absent.yaml: no such manifest file"), text)
    }

    func testShippedManifestParses() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let m = try DatasetManifest.load(root.appendingPathComponent("datasets.yaml").path, checkPaths: false)
        XCTAssertEqual(Set(m.datasets.map(\.format)), Set(DatasetFormat.allCases))
        XCTAssertTrue(m.datasets.allSatisfy { $0.root.contains("data/synthetic/ci/") })
    }
}
