import XCTest
@testable import Media

/// JPEG frame folders: the numbering is the timeline (gaps are filled by the previous frame,
/// never closed up), and damaged JPEGs are errors naming the file.
final class FrameFolderTests: XCTestCase {
    /// Ten frames numbered 1...10, each distinct.
    private func folder(_ test: XCTestCase) throws -> (String, Frames) {
        let dir = try TestSupport.tempDir(test)
        let frames = TestSupport.syntheticFrames(count: 10, width: 48, height: 32)
        try FrameFolderWriter.write(frames, to: "\(dir)/f", pattern: "img_%05d.jpg", startNumber: 1)
        return ("\(dir)/f", frames)
    }

    func testGapRepeatsThePreviousFrameAndKeepsLaterFramesInPlace() throws {
        let (path, _) = try folder(self)
        let complete = try VideoReader(path: path).read()
        try FileManager.default.removeItem(atPath: "\(path)/img_00005.jpg")
        try FileManager.default.removeItem(atPath: "\(path)/img_00006.jpg")
        XCTAssertEqual(try VideoReader.frameNumberGaps(path), [5...6])
        let reader = try VideoReader(path: path)
        XCTAssertEqual(reader.info.frames, 10)
        XCTAssertEqual(reader.filledFrames, [4, 5])
        XCTAssertEqual(reader.frameGapRule, "repeat-previous")
        let gapped = try reader.read()
        XCTAssertEqual(gapped.count, 10)
        for i in 0..<10 {
            let expected = (i == 4 || i == 5) ? 3 : i
            XCTAssertEqual(gapped.frame(i), complete.frame(expected), "frame \(i)")
        }
        // Seeking into the gap, and resampling (which takes frames over), agree.
        XCTAssertEqual(try reader.read(start: .frame(5), count: 2).pixels, Array(complete.frame(3)) + Array(complete.frame(6)))
        let resampled = try reader.read(spec: DecodeSpec(fps: 60))
        XCTAssertEqual(resampled.count, 20)
        XCTAssertEqual(resampled.frame(10), complete.frame(3), "time 10/60 s shows frame 5, a gap filled by frame 3")
        XCTAssertEqual(resampled.frame(12), complete.frame(6))
        XCTAssertEqual(try reader.decodeAllFrames(), 10)
    }

    func testDamagedJPEGIsAnErrorNamingTheFile() throws {
        for damage in ["truncate", "scramble"] {
            let (path, _) = try folder(self)
            let victim = "\(path)/img_00007.jpg"
            var bytes = try Data(contentsOf: URL(fileURLWithPath: victim))
            if damage == "truncate" {
                bytes = bytes.prefix(bytes.count / 2)
            } else {
                for i in (bytes.count / 2)..<(bytes.count / 2 + 24) { bytes[i] = bytes[i] ^ 0x5a }
            }
            try bytes.write(to: URL(fileURLWithPath: victim))
            let reader = try VideoReader(path: path)  // the first frame is fine
            XCTAssertThrowsError(try reader.decodeAllFrames(), damage) { error in
                XCTAssertEqual((error as? MediaError)?.file, victim, "\(damage): \(error)")
                XCTAssertEqual((error as? MediaError)?.kind, "corrupt", "\(damage): \(error)")
            }
            XCTAssertThrowsError(try reader.read(), damage)
        }
    }
}
