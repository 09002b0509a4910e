import XCTest
@testable import Media

/// Missing, empty, truncated, corrupt and non-video inputs: typed errors naming the file.
final class BadInputTests: XCTestCase {
    /// Writes one bad file of each kind into `dir`; returns (path, accepted error kinds).
    static func makeBadFiles(_ dir: String) throws -> [(String, Set<String>)] {
        let frames = TestSupport.syntheticFrames(count: 50, width: 160, height: 120)
        try VideoWriter.write(frames, to: "\(dir)/good.avi")
        let good = try Data(contentsOf: URL(fileURLWithPath: "\(dir)/good.avi"))
        try good.prefix(good.count / 3).write(to: URL(fileURLWithPath: "\(dir)/truncated.avi"))
        var corrupt = good
        for i in 0..<min(4096, corrupt.count) { corrupt[i] = UInt8((i * 73 + 11) & 0xff) }
        try corrupt.write(to: URL(fileURLWithPath: "\(dir)/corrupt.avi"))
        FileManager.default.createFile(atPath: "\(dir)/empty.mp4", contents: Data())
        try Data("this is not a video\n".utf8).write(to: URL(fileURLWithPath: "\(dir)/notes.mkv"))
        try? FileManager.default.removeItem(atPath: "\(dir)/good.avi")
        return [
            ("\(dir)/missing.mp4", ["not-found"]),
            ("\(dir)/empty.mp4", ["empty"]),
            ("\(dir)/truncated.avi", ["truncated"]),
            ("\(dir)/corrupt.avi", ["not-a-video", "corrupt"]),
            ("\(dir)/notes.mkv", ["not-a-video"]),
        ]
    }

    func testEachBadFileGivesTypedErrorNamingIt() throws {
        let dir = try TestSupport.tempDir(self)
        for (path, kinds) in try BadInputTests.makeBadFiles(dir) {
            do {
                _ = try VideoReader(path: path).read()
                XCTFail("\(path) decoded without error")
            } catch {
                XCTAssertEqual(error.file, path)
                XCTAssertTrue(kinds.contains(error.kind), "\(path): got \(error.kind): \(error)")
                XCTAssertTrue(error.description.contains(path))
            }
        }
    }

    func testAudioOnlyFileHasNoVideoStream() throws {
        let dir = try TestSupport.tempDir(self)
        let ffmpeg = try TestSupport.ffmpegCLI()
        let path = "\(dir)/tone.m4a"
        try TestSupport.run(ffmpeg, ["-v", "error", "-f", "lavfi", "-i", "sine=duration=0.5", path])
        XCTAssertThrowsError(try VideoReader(path: path)) { error in
            XCTAssertEqual(error as? MediaError, .noVideoStream(file: path))
        }
    }

    func testTruncatedFastStartMP4() throws {
        let dir = try TestSupport.tempDir(self)
        let full = "\(dir)/full.mp4"
        try TestSupport.cliVideo(full, codec: ["-c:v", "libx264", "-movflags", "+faststart"], size: "320x240", seconds: 2)
        let data = try Data(contentsOf: URL(fileURLWithPath: full))
        let cut = "\(dir)/cut.mp4"
        try data.prefix(data.count * 2 / 3).write(to: URL(fileURLWithPath: cut))
        XCTAssertThrowsError(try VideoReader(path: cut).read()) { error in
            XCTAssertEqual((error as? MediaError)?.kind, "truncated", "\(error)")
            XCTAssertEqual((error as? MediaError)?.file, cut)
        }
    }
}
