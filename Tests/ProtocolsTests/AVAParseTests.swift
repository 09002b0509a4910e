import XCTest
@testable import Protocols

/// Readers of the AVA CSV and pbtxt files, and their line-numbered errors.
final class AVAParseTests: XCTestCase {
    func assertMalformed(file: String, line: Int, containing text: String,
                         _ body: () throws -> Void, sourceFile: StaticString = #filePath, sourceLine: UInt = #line) {
        XCTAssertThrowsError(try body(), file: sourceFile, line: sourceLine) { error in
            guard case let AVAError.malformedLine(f, l, reason) = error else {
                return XCTFail("not a malformed-line error: \(error)", file: sourceFile, line: sourceLine)
            }
            XCTAssertEqual(f, file, file: sourceFile, line: sourceLine)
            XCTAssertEqual(l, line, "\(reason)", file: sourceFile, line: sourceLine)
            XCTAssertTrue(reason.contains(text), reason, file: sourceFile, line: sourceLine)
            XCTAssertTrue("\(error)".hasPrefix("\(file):\(line): "), "\(error)", file: sourceFile, line: sourceLine)
        }
    }

    func testGroundTruthRows() throws {
        let text = "-5KQ66BBWC4,0902,0.077,0.151,0.283,0.811,80,1\r\n\n-5KQ66BBWC4,902,0.077,0.151,0.283,0.811,9,1\n vid , 1798 ,0.1,0.2,0.3,0.4,12\n"
        let rows = try AVAFiles.parseGroundTruth(text, file: "gt.csv")
        XCTAssertEqual(rows.count, 3)
        XCTAssertEqual(rows[0].keyframe, AVAKeyframe(videoID: "-5KQ66BBWC4", timestamp: 902))
        XCTAssertEqual(rows[0].keyframe, rows[1].keyframe, "0902 and 902 are one keyframe")
        XCTAssertEqual(rows[0].box, AVABox(x1: 0.077, y1: 0.151, x2: 0.283, y2: 0.811))
        XCTAssertEqual(rows[0].actionID, 80)
        XCTAssertEqual(rows[2].keyframe, AVAKeyframe(videoID: "vid", timestamp: 1798))
        XCTAssertEqual(rows[2].personID, 1, "seven columns: person id defaults to 1")
    }

    func testDetectionRows() throws {
        let rows = try AVAFiles.parseDetections("v,0905,0.1,0.2,0.3,0.4,3,0.25\n\"v\",905,0.1,0.2,0.3,0.4,4\n", file: "det.csv")
        XCTAssertEqual(rows.map(\.score), [0.25, 1])
        XCTAssertEqual(rows.map(\.actionID), [3, 4])
        XCTAssertEqual(rows[1].keyframe, AVAKeyframe(videoID: "v", timestamp: 905))
    }

    /// The evaluator applies the dataset adapter's box rule, so `bench eval ava` and
    /// `datasets check` accept the same boxes.
    func testBoxesFollowTheDatasetRule() {
        for (row, says) in [("v,902,0.5,0.2,0.3,0.4,1,0", "x1 > x2"), ("v,902,0.1,0.2,1.3,0.4,1,0", "x2 = 1.3 is outside [0, 1]")] {
            XCTAssertThrowsError(try AVAFiles.parseGroundTruth(row + "\n", file: "gt.csv")) { error in
                XCTAssertTrue("\(error)".contains("gt.csv") && "\(error)".contains(says), "\(error)")
            }
        }
        // Detections are read as the official evaluator reads them: any finite box.
        XCTAssertNoThrow(try AVAFiles.parseDetections("v,902,-0.02,0.2,0.3,0.4,1,0.5\n", file: "det.csv"), "detector boxes may overhang")
    }

    func testMalformedCSVLinesNameFileAndLine() {
        assertMalformed(file: "gt.csv", line: 2, containing: "found 6") {
            _ = try AVAFiles.parseGroundTruth("v,902,0.1,0.2,0.3,0.4,1,0\nv,902,0.1,0.2,0.3,0.4\n", file: "gt.csv")
        }
        assertMalformed(file: "det.csv", line: 3, containing: "y2 'abc'") {
            _ = try AVAFiles.parseDetections("v,902,0.1,0.2,0.3,0.4,1,0.5\n\nv,902,0.1,0.2,0.3,abc,1,0.5\n", file: "det.csv")
        }
        assertMalformed(file: "det.csv", line: 1, containing: "timestamp '902.5'") {
            _ = try AVAFiles.parseDetections("v,902.5,0.1,0.2,0.3,0.4,1,0.5\n", file: "det.csv")
        }
        assertMalformed(file: "det.csv", line: 1, containing: "action_id") {
            _ = try AVAFiles.parseDetections("v,902,0.1,0.2,0.3,0.4,walk,0.5\n", file: "det.csv")
        }
        assertMalformed(file: "det.csv", line: 1, containing: "score 'nan'") {
            _ = try AVAFiles.parseDetections("v,902,0.1,0.2,0.3,0.4,1,nan\n", file: "det.csv")
        }
        assertMalformed(file: "ex.csv", line: 2, containing: "expected 2 columns") {
            _ = try AVAFiles.parseExclusions("v,902\nv,903,1\n", file: "ex.csv")
        }
        XCTAssertThrowsError(try AVAFiles.readGroundTruth("/nonexistent/gt.csv")) {
            XCTAssertEqual($0 as? AVAError, .unreadable(file: "/nonexistent/gt.csv", reason: "no such file"))
        }
    }

    func testExclusions() throws {
        let keys = try AVAFiles.parseExclusions("a,0902\nb,1798\n", file: "ex.csv")
        XCTAssertEqual(keys, [AVAKeyframe(videoID: "a", timestamp: 902), AVAKeyframe(videoID: "b", timestamp: 1798)])
    }

    /// The ActivityNet form (`item`, `id`), the full AVA list (`label`, `label_id`,
    /// `label_type`), one-line blocks and comments.
    func testLabelMapForms() throws {
        let text = """
        # AVA actions
        item {
          name: "bend/bow (at the waist)"
          id: 1
        }
        label {
          name: "crawl"
          label_id: 2
          label_type: PERSON_MOVEMENT
        }
        item { name: "say \\"hi\\"" id: 80 }
        """
        let map = try AVAFiles.parseLabelMap(text, file: "map.pbtxt")
        XCTAssertEqual(map.classes, [AVAClass(id: 1, name: "bend/bow (at the waist)"), AVAClass(id: 2, name: "crawl"),
                                     AVAClass(id: 80, name: "say \"hi\"")])
        XCTAssertEqual(map.ids, [1, 2, 80])
        XCTAssertEqual(map.name(of: 2), "crawl")
    }

    func testMalformedLabelMaps() {
        assertMalformed(file: "m.pbtxt", line: 2, containing: "no id") {
            _ = try AVAFiles.parseLabelMap("item { name: \"a\" id: 1 }\nitem {\n  name: \"b\"\n}\n", file: "m.pbtxt")
        }
        assertMalformed(file: "m.pbtxt", line: 3, containing: "not an integer") {
            _ = try AVAFiles.parseLabelMap("item {\n  name: \"a\"\n  id: one\n}\n", file: "m.pbtxt")
        }
        assertMalformed(file: "m.pbtxt", line: 2, containing: "already defined on line 1") {
            _ = try AVAFiles.parseLabelMap("item { id: 4 }\nitem { id: 4 }\n", file: "m.pbtxt")
        }
        assertMalformed(file: "m.pbtxt", line: 1, containing: "not closed") {
            _ = try AVAFiles.parseLabelMap("item {\n  id: 4\n", file: "m.pbtxt")
        }
        assertMalformed(file: "m.pbtxt", line: 1, containing: "start at 1") {
            _ = try AVAFiles.parseLabelMap("item { id: 0 }", file: "m.pbtxt")
        }
    }

    func testSixtyEvaluatedClasses() {
        XCTAssertEqual(AVALabelMap.evaluatedClassIDs.count, 60)
        XCTAssertEqual(Set(AVALabelMap.evaluatedClassIDs).count, 60)
    }
}
