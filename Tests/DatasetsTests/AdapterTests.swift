import XCTest
@testable import Datasets

final class AdapterTests: XCTestCase {
    func testUCF101HandstandQuirkCRLFAndLabels() throws {
        let d = try TestSupport.tempDir(self)
        try TestSupport.write("1 ApplyEyeMakeup\r\n2 HandstandPushups\r\n", d, "lists/classInd.txt")
        try TestSupport.write("ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1\r\nHandstandPushups/v_HandStandPushups_g08_c01.avi 2\r\n", d, "lists/trainlist01.txt")
        try TestSupport.write("HandstandPushups/v_HandStandPushups_g01_c01.avi\r\n", d, "lists/testlist01.txt")
        var e = DatasetEntry(name: "u", format: .ucf101, root: d + "/UCF-101")
        e.annotations = d + "/lists"
        let train = try Dataset.load(e, split: .train)
        XCTAssertEqual(train.classes, ["ApplyEyeMakeup", "HandstandPushups"])
        XCTAssertEqual(train.records.map(\.label), [0, 1])
        let test = try Dataset.load(e, split: .test)
        XCTAssertEqual(test.records[0].label, 1)
        XCTAssertEqual(test.records[0].id, "HandstandPushups/v_HandStandPushups_g01_c01")
        XCTAssertEqual(test.records[0].source, d + "/UCF-101/HandstandPushups/v_HandStandPushups_g01_c01.avi")

        try TestSupport.write("ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 2\r\n", d, "lists/trainlist01.txt")
        let text = TestSupport.errorText { _ = try Dataset.load(e, split: .train) }
        XCTAssertTrue(text.hasPrefix(d + "/lists/trainlist01.txt:1: label 2 disagrees"), text)
    }

    func testHMDB51SplitCodesAndSortedClasses() throws {
        let d = try TestSupport.tempDir(self)
        try TestSupport.write("b_vid1.avi 1 \nb_vid2.avi 2 \nb_vid3.avi 0 \n", d, "splits/shoot_ball_test_split1.txt")
        try TestSupport.write("a_vid1.avi 2 \na_vid2.avi 1 \n", d, "splits/brush_hair_test_split1.txt")
        try TestSupport.write("a_vid1.avi 1 \n", d, "splits/brush_hair_test_split2.txt")
        var e = DatasetEntry(name: "h", format: .hmdb51, root: d + "/videos")
        e.annotations = d + "/splits"
        let train = try Dataset.load(e, split: .train)
        XCTAssertEqual(train.classes, ["brush_hair", "shoot_ball"])
        XCTAssertEqual(train.records.map(\.id), ["brush_hair/a_vid2", "shoot_ball/b_vid1"])
        XCTAssertEqual(train.records.map(\.label), [0, 1])
        XCTAssertEqual(train.records[1].source, d + "/videos/shoot_ball/b_vid1.avi")
        let test = try Dataset.load(e, split: .test)
        XCTAssertEqual(test.records.map(\.id), ["brush_hair/a_vid1", "shoot_ball/b_vid2"])
        e.split = 2
        XCTAssertEqual(try Dataset.load(e, split: .train).classes, ["brush_hair"])

        e.split = 1
        try TestSupport.write("b_vid1.avi 3\n", d, "splits/shoot_ball_test_split1.txt")
        let text = TestSupport.errorText { _ = try Dataset.load(e, split: .train) }
        XCTAssertTrue(text.hasPrefix(d + "/splits/shoot_ball_test_split1.txt:1: split code 3"), text)
    }

    func testKineticsLabelsWithSpacesAndNaming() throws {
        let d = try TestSupport.tempDir(self)
        try TestSupport.write("""
        label,youtube_id,time_start,time_end,split,is_cc
        playing guitar,abc-_DEF123,5,15,train,0
        "passing American football (in game)",zzz,100,110,train,0
        """, d, "ann/train.csv")
        try TestSupport.write("label,youtube_id,time_start,time_end,split\nplaying guitar,q1,0,10,val\n", d, "ann/val.csv")
        try FileManager.default.createDirectory(atPath: d + "/val/playing_guitar", withIntermediateDirectories: true)
        var e = DatasetEntry(name: "k", format: .kinetics400, root: d)
        e.train = d + "/ann/train.csv"
        e.test = d + "/ann/val.csv"
        let train = try Dataset.load(e, split: .train)
        XCTAssertEqual(train.classes, ["passing American football (in game)", "playing guitar"])
        XCTAssertEqual(train.records[0].source, d + "/train/playing guitar/abc-_DEF123_000005_000015.mp4")
        XCTAssertEqual(train.records[0].label, 1)
        let test = try Dataset.load(e, split: .test)
        // The underscore folder exists on disk, so it is used.
        XCTAssertEqual(test.records[0].source, d + "/val/playing_guitar/q1_000000_000010.mp4")

        try TestSupport.write("label,youtube_id,time_start,time_end,split\nplaying guitar,q1,zero,10,val\n", d, "ann/val.csv")
        var text = TestSupport.errorText { _ = try Dataset.load(e, split: .test) }
        XCTAssertTrue(text.hasPrefix(d + "/ann/val.csv:2: time_start 'zero'"), text)
        try TestSupport.write("label,youtube_id,time_start,time_end,split\nplaying guitar,q1\n", d, "ann/val.csv")
        text = TestSupport.errorText { _ = try Dataset.load(e, split: .test) }
        XCTAssertTrue(text.hasPrefix(d + "/ann/val.csv:2: expected at least 5"), text)
        try TestSupport.write("label,youtube_id,time_start,time_end,split\ndancing,q1,0,10,val\n", d, "ann/val.csv")
        text = TestSupport.errorText { _ = try Dataset.load(e, split: .test) }
        XCTAssertTrue(text.contains("val.csv:2: label 'dancing' does not occur"), text)
        try TestSupport.write("label,youtube_id,time_start,time_end,split\n\"dancing,q1,0,10,val\n", d, "ann/val.csv")
        text = TestSupport.errorText { _ = try Dataset.load(e, split: .test) }
        XCTAssertTrue(text.contains("val.csv:2: unterminated quoted field"), text)
    }

    func testAVAKeyframesExclusionsProposalsAndLabelMaps() throws {
        let d = try TestSupport.tempDir(self)
        try TestSupport.write("""
        item {
          name: "bend/bow (at the waist)"
          id: 1
          label_type: PERSON_MOVEMENT
        }
        item { name: "stand" id: 12 }
        """, d, "a/list.pbtxt")
        try TestSupport.write("item {\n  name: \"stand\"\n  label_id: 12\n}\n", d, "a/list2019.pbtxt")
        XCTAssertEqual(try LabelMap.read(d + "/a/list2019.pbtxt"), [12: "stand"])
        try TestSupport.write("""
        vid1,0902,0.1,0.2,0.5,0.9,12,0
        vid1,0902,0.1,0.2,0.5,0.9,1,0
        vid1,0902,0.6,0.2,0.9,0.9,80,1
        vid1,0903,0.1,0.2,0.5,0.9,12,0
        vid2,1798,0.0,0.0,1.0,1.0,12,3
        """, d, "a/train.csv")
        try TestSupport.write("vid1,0903\n", d, "a/excl.csv")
        try TestSupport.write("vid1,0902,0.1,0.2,0.5,0.9,,0.95\nvid1,0902,0.2,0.2,0.3,0.4,0.5\n", d, "a/props.csv")
        try FileManager.default.createDirectory(atPath: d + "/frames/vid1", withIntermediateDirectories: true)
        try TestSupport.touch(d, "frames/vid2.mkv")
        var e = DatasetEntry(name: "a", format: .ava, root: d + "/frames")
        e.train = d + "/a/train.csv"; e.test = d + "/a/train.csv"
        e.labelMap = d + "/a/list.pbtxt"
        e.trainExclusions = d + "/a/excl.csv"
        e.trainProposals = d + "/a/props.csv"
        let s = try Dataset.load(e, split: .train)
        XCTAssertEqual(s.actionNames, [1: "bend/bow (at the waist)", 12: "stand"])
        XCTAssertEqual(s.records.map(\.id), ["vid1", "vid2"])
        let v1 = s.records[0]
        XCTAssertTrue(v1.isFrameFolder)
        XCTAssertEqual(v1.fps, 30)
        XCTAssertEqual(v1.excludedSeconds, [903])
        XCTAssertEqual(v1.keyframes.map(\.second), [902])
        XCTAssertEqual(v1.keyframes[0].frameIndex, 60)
        // Action 80 is not in the label map: its box is dropped; the two rows of person 0 merge.
        XCTAssertEqual(v1.keyframes[0].boxes, [AVABox(x1: 0.1, y1: 0.2, x2: 0.5, y2: 0.9, actions: [12, 1], personID: 0)])
        XCTAssertEqual(v1.keyframes[0].proposals.map(\.score), [0.95, 0.5])
        XCTAssertEqual(s.records[1].source, d + "/frames/vid2.mkv")
        XCTAssertFalse(s.records[1].isFrameFolder)
        XCTAssertEqual(s.records[1].keyframes[0].frameIndex, (1798 - 900) * 30)
        XCTAssertEqual(s.boxCount, 2)

        try TestSupport.write("vid1,0901,0.1,0.2,0.5,0.9,12,0\n", d, "a/train.csv")
        var text = TestSupport.errorText { _ = try Dataset.load(e, split: .train) }
        XCTAssertTrue(text.hasPrefix(d + "/a/train.csv:1: timestamp 901 is outside"), text)
        try TestSupport.write("vid1,0902,0.1,0.2,1.5,0.9,12,0\n", d, "a/train.csv")
        text = TestSupport.errorText { _ = try Dataset.load(e, split: .train) }
        XCTAssertTrue(text.hasPrefix(d + "/a/train.csv:1: x2 = 1.5"), text)
        try TestSupport.write("item {\n  name: \"stand\"\n}\n", d, "a/list.pbtxt")
        text = TestSupport.errorText { _ = try Dataset.load(e, split: .train) }
        XCTAssertTrue(text.hasPrefix(d + "/a/list.pbtxt:1: item without"), text)
    }

    func testEpicTimestampsFPSAndHeldOutVideos() throws {
        let d = try TestSupport.tempDir(self)
        let header = EpicAdapter.header.joined(separator: ",")
        try TestSupport.write("""
        \(header)
        0,P01,P01_01,open door,00:00:01.50,00:00:03.37,91,203,open,2,door,1,['door'],[1]
        1,P01,P01_01,take plate,00:01:02.25,00:01:04.00,3736,3841,take,0,plate,0,"['plate', 'cup']","[0, 2]"
        2,P02,P02_03,take door,00:00:05.00,00:00:06.00,251,301,take,0,door,1,['door'],[1]
        """, d, "e/labels.csv")
        try TestSupport.write("verb_id,class_key,verbs\n0,take,\"['take', 'grab']\"\n1,put,['put']\n2,open,['open']\n", d, "e/verbs.csv")
        try TestSupport.write("noun_id,class_key,nouns\n0,plate,['plate']\n1,door,['door']\n2,cup,['cup']\n", d, "e/nouns.csv")
        try TestSupport.write("video,resolution,duration,fps\nP02_03,1920x1080,100.0,50.0\n", d, "e/info.csv")
        try TestSupport.write("P02_03\n", d, "e/val.txt")
        var e = DatasetEntry(name: "e", format: .epic55, root: d + "/rgb")
        e.train = d + "/e/labels.csv"; e.verbClasses = d + "/e/verbs.csv"; e.nounClasses = d + "/e/nouns.csv"
        e.videoInfo = d + "/e/info.csv"; e.test = d + "/e/val.txt"
        let train = try Dataset.load(e, split: .train)
        XCTAssertEqual(train.records.map(\.id), ["P01_01"])
        XCTAssertEqual(train.records[0].source, d + "/rgb/P01/P01_01")
        XCTAssertEqual(train.records[0].fps, 60)
        XCTAssertEqual(train.records[0].segments.map(\.start), [1.5, 62.25])
        XCTAssertEqual(train.records[0].segments[1].noun, 0)
        XCTAssertEqual(train.classes, ["take", "put", "open"])
        XCTAssertEqual(train.nouns, ["plate", "door", "cup"])
        let test = try Dataset.load(e, split: .test)
        XCTAssertEqual(test.records.map(\.id), ["P02_03"])
        XCTAssertEqual(test.records[0].fps, 50)
        XCTAssertEqual(EpicAdapter.timestamp(3723.5), "01:02:03.50")
        XCTAssertEqual(try EpicAdapter.seconds("01:02:03.50", file: "", line: 0), 3723.5, accuracy: 1e-9)

        try TestSupport.write("\(header)\n0,P01,P01_01,open door,00:61:01.50,00:00:03.37,91,203,open,2,door,1,['door'],[1]\n", d, "e/labels.csv")
        var text = TestSupport.errorText { _ = try Dataset.load(e, split: .train) }
        XCTAssertTrue(text.hasPrefix(d + "/e/labels.csv:2: timestamp '00:61:01.50'"), text)
        try TestSupport.write("\(header)\n0,P01,P01_01,open door,00:00:01.50,00:00:03.37,91,203,open,9,door,1,['door'],[1]\n", d, "e/labels.csv")
        text = TestSupport.errorText { _ = try Dataset.load(e, split: .train) }
        XCTAssertTrue(text.hasPrefix(d + "/e/labels.csv:2: verb_class 9"), text)
        // A segment ending past its video's end (100 s in the video info) cannot be observed.
        try TestSupport.write("\(header)\n2,P02,P02_03,take door,00:01:38.00,00:01:45.00,4900,5250,take,0,door,1,['door'],[1]\n", d, "e/labels.csv")
        text = TestSupport.errorText { _ = try Dataset.load(e, split: .train) }
        XCTAssertTrue(text.hasPrefix(d + "/e/labels.csv:2: stop_timestamp 00:01:45.00 is past the end of P02_03"), text)
    }

    func testCSVQuotingRoundTrip() throws {
        let fields = try TextTable.splitCSV("a,\"b, c\",\"say \"\"hi\"\"\",,", file: "f", line: 1)
        XCTAssertEqual(fields, ["a", "b, c", "say \"hi\"", "", ""])
        XCTAssertEqual(TextTable.quote("b, c"), "\"b, c\"")
    }
}
