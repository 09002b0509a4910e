import XCTest
@testable import Datasets

/// Inputs the fuzz targets (Fuzz/, docs/fuzzing.md) found to trap, minimised: each must now
/// be an error naming the file and line.
final class FuzzRegressionTests: XCTestCase {
    /// Kinetics: a clip time too large for an integer trapped converting it to the file name.
    func testKineticsHugeClipTimeIsAnError() throws {
        let d = try TestSupport.tempDir(self)
        let csv = try TestSupport.write("label,youtube_id,time_start,time_end,split\nabseiling,abc,10,\(String(repeating: "7", count: 40))20.5,train\n",
                                        d, "train.csv")
        var e = DatasetEntry(name: "k", format: .kinetics400, root: d)
        e.train = csv; e.test = csv
        let text = TestSupport.errorText { _ = try Dataset.load(e, split: .train) }
        XCTAssertTrue(text.hasPrefix(csv + ":2: time_start 10 / time_end 7777"), text)
        try TestSupport.write("label,youtube_id,time_start,time_end,split\nabseiling,abc,-5,3,train\n", d, "train.csv")
        XCTAssertTrue(TestSupport.errorText { _ = try Dataset.load(e, split: .train) }.hasPrefix(csv + ":2: time_start -5"))
    }

    /// UCF-101: a class listed under two ids trapped building the class index.
    func testUCF101ClassListedTwiceIsAnError() throws {
        let d = try TestSupport.tempDir(self)
        let classes = try TestSupport.write("1 ApplyEyeMakeup\n2 ApplyEyeMakeup\n", d, "lists/classInd.txt")
        try TestSupport.write("ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1\n", d, "lists/trainlist01.txt")
        var e = DatasetEntry(name: "u", format: .ucf101, root: d)
        e.annotations = d + "/lists"
        let text = TestSupport.errorText { _ = try Dataset.load(e, split: .train) }
        XCTAssertEqual(text, classes + ":2: class 'ApplyEyeMakeup' listed twice (ids 1 and 2)")
    }

    /// Epic: a huge minutes field trapped converting it to an integer before the < 60 check;
    /// a huge hours field gave an infinite (or absurd) time.
    func testEpicHugeTimestampFieldsAreErrors() throws {
        let big = String(repeating: "9", count: 30)
        XCTAssertTrue(TestSupport.errorText { _ = try EpicAdapter.seconds("00:\(big):01.5", file: "f.csv", line: 3) }
            .hasPrefix("f.csv:3: timestamp '00:\(big):01.5' is not HH:MM:SS.ss"))
        XCTAssertTrue(TestSupport.errorText { _ = try EpicAdapter.seconds("1e308:00:00", file: "f.csv", line: 4) }
            .hasPrefix("f.csv:4: timestamp '1e308:00:00' is out of range"))
        XCTAssertEqual(try EpicAdapter.seconds("12:00:00", file: "f.csv", line: 1), 43_200)
    }
}
