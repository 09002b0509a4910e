import XCTest
@testable import Media

final class DecodeTests: XCTestCase {
    func testFixtureMetadata() throws {
        let info = try VideoReader.probe(try TestSupport.fixture("bikes.mp4"))
        XCTAssertEqual(info.codec, "h264")
        XCTAssertEqual(info.width, 640)
        XCTAssertEqual(info.height, 272)
        XCTAssertEqual(info.fps, 25, accuracy: 1e-9)
        XCTAssertEqual(info.frames, 250)
        XCTAssertEqual(info.duration, 10, accuracy: 0.05)
        let bunny = try VideoReader.probe(try TestSupport.fixture("bigbuckbunny.mp4"))
        XCTAssertEqual([bunny.width, bunny.height], [1280, 720])
        XCTAssertEqual(bunny.frames, 132)
    }

    func testShortSideRule() {
        let s = DecodeSpec(shortSide: 128)
        XCTAssertTrue(s.outputSize(width: 1280, height: 720) == (228, 128))
        XCTAssertTrue(s.outputSize(width: 640, height: 272) == (301, 128))
        XCTAssertTrue(s.outputSize(width: 240, height: 320) == (128, 171))
        XCTAssertTrue(DecodeSpec.native.outputSize(width: 7, height: 5) == (7, 5))
    }

    /// Seeking by frame index and by time returns exactly the frames a sequential decode does.
    func testSeekIsFrameAccurate() throws {
        let bikes = try TestSupport.fixture("bikes.mp4")
        let spec = DecodeSpec(shortSide: 32)
        let all = try VideoReader(path: bikes).read(spec: spec)
        XCTAssertEqual(all.count, 250)
        let reader = try VideoReader(path: bikes)
        for start in [0, 1, 37, 124, 200, 249] {
            let clip = try reader.read(spec: spec, start: .frame(start), count: 3)
            XCTAssertEqual(clip.count, min(3, 250 - start))
            XCTAssertEqual(clip.frame(0), all.frame(start), "frame \(start) after seek")
        }
        let byTime = try reader.read(spec: spec, start: .time(4.0), count: 2)
        XCTAssertEqual(byTime.frame(0), all.frame(100))
        let between = try reader.read(spec: spec, start: .time(4.039), count: 1)
        XCTAssertEqual(between.frame(0), all.frame(100), "time inside frame 100's interval")
        XCTAssertThrowsError(try reader.read(spec: spec, start: .frame(250), count: 1)) { error in
            XCTAssertEqual((error as? MediaError)?.file, bikes)
        }
    }

    func testSeekInGeneratedAVIAndWebM() throws {
        let dir = try TestSupport.tempDir(self)
        for (name, codec) in [("a.avi", ["-c:v", "mpeg4", "-g", "12"]),
                              ("a.webm", ["-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-g", "12"])] {
            let path = "\(dir)/\(name)"
            try TestSupport.cliVideo(path, codec: codec, seconds: 2)
            let all = try VideoReader(path: path).read()
            XCTAssertEqual(all.count, 50, name)
            let reader = try VideoReader(path: path)
            for start in [5, 13, 30, 49] {
                XCTAssertEqual(try reader.read(start: .frame(start), count: 1).frame(0), all.frame(start), "\(name) frame \(start)")
            }
        }
    }

    /// Resampling shows, at each output time n/fps, the latest source frame at or before it.
    func testFPSResampling() throws {
        let bikes = try TestSupport.fixture("bikes.mp4")
        let spec = DecodeSpec(shortSide: 24)
        let all = try VideoReader(path: bikes).read(spec: spec)
        let ten = try VideoReader(path: bikes).read(spec: DecodeSpec(shortSide: 24, fps: 10))
        XCTAssertEqual(ten.count, 100)
        XCTAssertEqual(ten.fps, 10)
        for n in [0, 1, 2, 3, 57, 99] {
            XCTAssertEqual(ten.frame(n), all.frame(Int((Double(n) * 2.5).rounded(.down))), "output frame \(n)")
        }
        let fifty = try VideoReader(path: bikes).read(spec: DecodeSpec(shortSide: 24, fps: 50), start: .time(2), count: 6)
        XCTAssertEqual(fifty.frame(0), all.frame(50))
        XCTAssertEqual(fifty.frame(1), all.frame(50))
        XCTAssertEqual(fifty.frame(2), all.frame(51))
    }

    func testFrameThreadingGivesSameFrames() throws {
        let bikes = try TestSupport.fixture("bikes.mp4")
        let one = try VideoReader(path: bikes, options: ReaderOptions(threads: 1)).read(spec: DecodeSpec(shortSide: 32), count: 60)
        let two = try VideoReader(path: bikes, options: ReaderOptions(threads: 2)).read(spec: DecodeSpec(shortSide: 32), count: 60)
        XCTAssertEqual(one, two)
    }

    /// Both folder naming schemes, ordered by number, at the caller's frame rate.
    func testFrameFolders() throws {
        let dir = try TestSupport.tempDir(self)
        let frames = TestSupport.syntheticFrames(count: 12, width: 48, height: 32)
        try FrameFolderWriter.write(frames, to: "\(dir)/epic", pattern: "frame_%010d.jpg")
        try FrameFolderWriter.write(frames, to: "\(dir)/ava", pattern: "clipA_%06d.jpg")
        XCTAssertTrue(FileManager.default.fileExists(atPath: "\(dir)/epic/frame_0000000001.jpg"))
        XCTAssertTrue(FileManager.default.fileExists(atPath: "\(dir)/ava/clipA_000012.jpg"))
        for folder in ["epic", "ava"] {
            let reader = try VideoReader(path: "\(dir)/\(folder)", options: ReaderOptions(folderFPS: 60))
            XCTAssertEqual(reader.info.frames, 12)
            XCTAssertEqual(reader.info.fps, 60)
            XCTAssertEqual(reader.info.codec, "mjpeg")
            XCTAssertEqual([reader.info.width, reader.info.height], [48, 32])
            let back = try reader.read()
            XCTAssertEqual(back.count, 12)
            XCTAssertLessThan(TestSupport.meanAbsDiff(back.pixels, frames.pixels), 4, "JPEG round trip")
            XCTAssertEqual(try reader.read(start: .frame(7), count: 1).frame(0), back.frame(7))
        }
    }
}
