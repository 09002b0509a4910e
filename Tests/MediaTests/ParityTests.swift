import XCTest
@testable import Media

/// Frames must match the ffmpeg CLI (`-vf scale=W:H:flags=bilinear -pix_fmt rgb24`) to within
/// a mean absolute difference of 1 level, on the real fixtures and on each container.
final class ParityTests: XCTestCase {
    private func assertParity(_ path: String, spec: DecodeSpec, maxFrames: Int? = nil,
                              file: StaticString = #filePath, line: UInt = #line) throws {
        let reader = try VideoReader(path: path)
        let ours = try reader.read(spec: spec, count: maxFrames)
        var cliArgs: [String] = []
        if reader.info.container == "jpeg-folder" { cliArgs = ["-framerate", "30"] }
        var reference = try TestSupport.cliFrames(
            Preflight.isDirectory(path) ? try folderPattern(path) : path,
            width: ours.width, height: ours.height, extraInput: cliArgs)
        let frameBytes = ours.frameBytes
        if maxFrames == nil {
            XCTAssertEqual(reference.count / frameBytes, ours.count, "frame count differs from ffmpeg for \(path)", file: file, line: line)
        }
        let n = min(ours.count, reference.count / frameBytes)
        XCTAssertGreaterThan(n, 0, file: file, line: line)
        reference = Array(reference.prefix(n * frameBytes))
        var worst = 0.0
        for i in 0..<n {
            let mad = TestSupport.meanAbsDiff(ours.frame(i), reference[(i * frameBytes)..<((i + 1) * frameBytes)])
            worst = max(worst, mad)
        }
        print("parity \(URL(fileURLWithPath: path).lastPathComponent) \(spec.tag): \(n) frames, worst per-frame MAD \(worst)")
        XCTAssertLessThanOrEqual(worst, 1.0, "\(path): MAD vs ffmpeg CLI", file: file, line: line)
    }

    private func folderPattern(_ folder: String) throws -> String {
        let first = try FolderSource.listFrames(folder)[0]
        let name = URL(fileURLWithPath: first).lastPathComponent
        let stem = name.dropLast(4)
        let digits = stem.reversed().prefix { $0.isNumber }.count
        return folder + "/" + stem.dropLast(digits) + "%0\(digits)d.jpg"
    }

    func testBigBuckBunnyResized() throws {
        try assertParity(try TestSupport.fixture("bigbuckbunny.mp4"), spec: DecodeSpec(shortSide: 128))
    }

    func testBikesFullSizeAndResized() throws {
        let bikes = try TestSupport.fixture("bikes.mp4")
        try assertParity(bikes, spec: DecodeSpec(shortSide: 112))
        try assertParity(bikes, spec: .native, maxFrames: 40)
    }

    func testEachContainer() throws {
        let dir = try TestSupport.tempDir(self)
        let cases: [(String, [String])] = [
            ("h264.mp4", ["-c:v", "libx264", "-pix_fmt", "yuv420p"]),
            ("mpeg4.avi", ["-c:v", "mpeg4", "-q:v", "3"]),
            ("vp9.webm", ["-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "400k"]),
            ("h264.mkv", ["-c:v", "libx264", "-pix_fmt", "yuv420p"]),
        ]
        for (name, codec) in cases {
            let path = "\(dir)/\(name)"
            try TestSupport.cliVideo(path, codec: codec)
            try assertParity(path, spec: .native)
            try assertParity(path, spec: DecodeSpec(shortSide: 40))
        }
        let frames = "\(dir)/frames"
        try FileManager.default.createDirectory(atPath: frames, withIntermediateDirectories: true)
        try TestSupport.cliVideo("\(frames)/frame_%010d.jpg", codec: ["-q:v", "2", "-start_number", "1"])
        try assertParity(frames, spec: DecodeSpec(shortSide: 48))
    }
}
