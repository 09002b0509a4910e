import Foundation
import XCTest

/// `bench` is missing next to the test bundle (`swift test` builds the whole package).
struct BenchNotBuilt: Error, CustomStringConvertible {
    let path: String
    var description: String { "bench is not built at \(path); run `swift build` first" }
}

/// `bench eval ava` end to end: the executable built next to the test bundle, run on
/// small files in a temporary folder and on the cross-check fixture.
final class EvalCLITests: XCTestCase {
    var benchURL: URL {
        #if os(macOS)
        for bundle in Bundle.allBundles where bundle.bundlePath.hasSuffix(".xctest") {
            return bundle.bundleURL.deletingLastPathComponent().appendingPathComponent("bench")
        }
        #endif
        return Bundle.main.bundleURL.appendingPathComponent("bench")
    }

    var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("eval-ava-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try FileManager.default.removeItem(at: directory)
    }

    func write(_ name: String, _ text: String) throws -> String {
        let url = directory.appendingPathComponent(name)
        try text.write(to: url, atomically: true, encoding: .utf8)
        return url.path
    }

    func run(_ arguments: [String]) throws -> (status: Int32, out: String, err: String) {
        guard FileManager.default.isExecutableFile(atPath: benchURL.path) else {
            throw BenchNotBuilt(path: benchURL.path)
        }
        let process = Process()
        process.executableURL = benchURL
        process.arguments = arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
    }

    /// Class 1: TP 0.9, FP 0.8 (box of person 2 is class 3 only), TP 0.7 of 2 → 5/6.
    /// Class 3: one instance, missed → 0. Class 5: in the label map, no ground truth →
    /// not averaged. Keyframe 903 is excluded (its perfect detection and its box drop
    /// out). Class 8 is not in the label map. mAP = (5/6 + 0) / 2 = 5/12.
    func testJSONOnSmallFiles() throws {
        let labelmap = try write("labels.pbtxt", """
            item {
              name: "bend/bow (at the waist)"
              id: 1
            }
            item {
              name: "dance"
              id: 3
            }
            item { name: "get up" id: 5 }
            """)
        let gt = try write("gt.csv", """
            vid,0902,0.1,0.1,0.3,0.3,1,1
            vid,0902,0.6,0.6,0.9,0.9,3,2
            vid,0902,0.4,0.0,0.5,0.2,1,3
            vid,0903,0.1,0.1,0.3,0.3,1,1
            vid,0902,0.1,0.1,0.3,0.3,8,1

            """)
        let detections = try write("det.csv", """
            vid,0902,0.1,0.1,0.3,0.3,1,0.9
            vid,0902,0.6,0.6,0.9,0.9,1,0.8
            vid,0902,0.4,0.0,0.5,0.2,1,0.7
            vid,0902,0.1,0.1,0.3,0.3,5,0.95
            vid,0903,0.1,0.1,0.3,0.3,1,0.99
            vid,0902,0.1,0.1,0.3,0.3,8,0.5
            """)
        let exclusions = try write("excluded.csv", "vid,0903\n")
        let r = try run(["eval", "ava", "--groundtruth", gt, "--detections", detections, "--labelmap", labelmap,
                         "--exclusions", exclusions, "--json"])
        XCTAssertEqual(r.status, 0, r.err)
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any], r.out)
        XCTAssertEqual(try XCTUnwrap(object["mAP"] as? Double), 5.0 / 12, accuracy: 1e-12)
        let perClass = try XCTUnwrap(object["per_class"] as? [String: Double])
        XCTAssertEqual(Set(perClass.keys), ["1", "3"])
        XCTAssertEqual(perClass["1"] ?? -1, 5.0 / 6, accuracy: 1e-12)
        XCTAssertEqual(perClass["3"], 0)

        // Without the exclusions, 903's detection (0.99) is a TP too: class 1 TP, TP, FP, TP of 3.
        // P = 1, 1, 2/3, 3/4 at R = 1/3, 2/3, 2/3, 1 → 1/3 + 1/3 + 1/3·3/4 = 11/12.
        // Without a label map, class 8 joins (1 TP of 1) and class 5 disappears.
        let all = try run(["eval", "ava", "--groundtruth", gt, "--detections", detections, "--json"])
        XCTAssertEqual(all.status, 0, all.err)
        let allObject = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(all.out.utf8)) as? [String: Any], all.out)
        let allPerClass = try XCTUnwrap(allObject["per_class"] as? [String: Double])
        XCTAssertEqual(Set(allPerClass.keys), ["1", "3", "8"])
        XCTAssertEqual(allPerClass["1"] ?? -1, 11.0 / 12, accuracy: 1e-12)
        XCTAssertEqual(allPerClass["8"], 1)
        XCTAssertEqual(try XCTUnwrap(allObject["mAP"] as? Double), (11.0 / 12 + 0 + 1) / 3, accuracy: 1e-12)

        // Text output: the mAP line and one line per class with its name.
        let text = try run(["eval", "ava", "--groundtruth", gt, "--detections", detections, "--labelmap", labelmap,
                            "--exclusions", exclusions])
        XCTAssertEqual(text.status, 0, text.err)
        XCTAssertTrue(text.out.contains("frame mAP@0.5IOU: 0.4167"), text.out)
        XCTAssertTrue(text.out.contains("   1  0.8333  bend/bow (at the waist)"), text.out)
        XCTAssertTrue(text.out.contains("no ground truth (not in the mean): 5"), text.out)
    }

    func testMalformedFileFailsNamingFileAndLine() throws {
        let gt = try write("gt.csv", "vid,0902,0.1,0.1,0.3,0.3,1,1\nvid,0902,0.1,0.1,0.3\n")
        let detections = try write("det.csv", "vid,0902,0.1,0.1,0.3,0.3,1,0.9\n")
        let r = try run(["eval", "ava", "--groundtruth", gt, "--detections", detections])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.err.contains("\(gt):2: expected 7 or 8 columns"), r.err)
        let missing = try run(["eval", "ava", "--groundtruth", gt + ".missing", "--detections", detections])
        XCTAssertNotEqual(missing.status, 0)
        XCTAssertTrue(missing.err.contains("\(gt).missing: cannot read: no such file"), missing.err)
    }

    /// The cross-check fixture through the executable gives the reference numbers.
    func testFixtureThroughTheExecutable() throws {
        let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")
        func path(_ name: String) -> String { fixtures.appendingPathComponent(name).path }
        let r = try run(["eval", "ava", "--groundtruth", path("ava_groundtruth.csv"), "--detections", path("ava_detections.csv"),
                         "--labelmap", path("ava_labelmap.pbtxt"), "--exclusions", path("ava_exclusions.csv"), "--json"])
        XCTAssertEqual(r.status, 0, r.err)
        let got = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any])
        let expected = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path("ava_expected.json")))) as? [String: Any])
        XCTAssertEqual(try XCTUnwrap(got["mAP"] as? Double), try XCTUnwrap(expected["mAP"] as? Double), accuracy: 1e-12)
        let gotPerClass = try XCTUnwrap(got["per_class"] as? [String: Double])
        let expectedPerClass = try XCTUnwrap(expected["per_class"] as? [String: Double])
        XCTAssertEqual(Set(gotPerClass.keys), Set(expectedPerClass.keys))
        for (id, ap) in expectedPerClass { XCTAssertEqual(gotPerClass[id] ?? -1, ap, accuracy: 1e-12, "class \(id)") }
    }
}
