import XCTest
@testable import Media

final class EncodeTests: XCTestCase {
    func testWriteMP4AndAVIRoundTrip() throws {
        let dir = try TestSupport.tempDir(self)
        let frames = TestSupport.syntheticFrames(count: 20, width: 64, height: 48)
        for (name, codec) in [("v.mp4", MediaLibraries.hasH264Encoder ? "h264" : "mpeg4"), ("v.avi", "mpeg4")] {
            let path = "\(dir)/\(name)"
            try VideoWriter.write(frames, to: path, options: EncodeOptions(quality: 2))
            XCTAssertFalse(FileManager.default.fileExists(atPath: path + ".partial"))
            let reader = try VideoReader(path: path)
            XCTAssertEqual(reader.info.codec, codec, name)
            XCTAssertEqual(reader.info.fps, 25, accuracy: 0.01, name)
            let back = try reader.read()
            XCTAssertEqual(back.count, 20, name)
            XCTAssertEqual([back.width, back.height], [64, 48])
            let mad = TestSupport.meanAbsDiff(back.pixels, frames.pixels)
            XCTAssertLessThan(mad, 6, "\(name) lossy round trip MAD \(mad)")
        }
    }

    func testWriterRejectsOddSizeAndWrongFrame() throws {
        let dir = try TestSupport.tempDir(self)
        XCTAssertThrowsError(try VideoWriter(path: "\(dir)/odd.mp4", width: 63, height: 48)) { error in
            XCTAssertEqual((error as? MediaError)?.file, "\(dir)/odd.mp4")
        }
        let writer = try VideoWriter(path: "\(dir)/w.avi", width: 32, height: 32)
        XCTAssertThrowsError(try [UInt8](repeating: 0, count: 10).withUnsafeBufferPointer { try writer.append($0) })
    }

    func testFrameNamePattern() {
        XCTAssertEqual(FrameFolderWriter.formatFrameName("frame_%010d.jpg", 7), "frame_0000000007.jpg")
        XCTAssertEqual(FrameFolderWriter.formatFrameName("vid_%06d.jpg", 123), "vid_000123.jpg")
    }
}
