import XCTest
@testable import Media

/// Frames must match the ffmpeg CLI (`-vf scale=W:H:flags=bilinear -pix_fmt rgb24`) to within
/// a mean absolute difference of 1 level, on the real fixtures and on each container; over
/// every frame-size residue modulo 16 they must match exactly.
final class ParityTests: XCTestCase {
    @discardableResult
    private func assertParity(_ path: String, spec: DecodeSpec, maxFrames: Int? = nil, tolerance: Double = 1.0,
                              quiet: Bool = false,
                              file: StaticString = #filePath, line: UInt = #line) throws -> Double {
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
        if !quiet {
            print("parity \(URL(fileURLWithPath: path).lastPathComponent) \(spec.tag): \(n) frames, worst per-frame MAD \(worst)")
        }
        XCTAssertLessThanOrEqual(worst, tolerance, "\(path) \(ours.width)x\(ours.height) \(spec.tag): MAD vs ffmpeg CLI",
                                 file: file, line: line)
        return worst
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

    /// Frame sizes whose widths and heights run through every residue modulo 16, each width
    /// residue paired once with a height of the same parity (residues 0-7) and once with one
    /// of the other parity (8-15), so odd and even widths meet odd and even heights.
    /// SIMD converters work in blocks of 8 or 16 pixels; the edge columns and rows past the
    /// last full block are where they go wrong.
    static let residueSizes: [(width: Int, height: Int)] = (0..<16).map { r in
        (32 + r, 32 + (r < 8 ? r : r ^ 1))
    }

    /// Every width and height residue modulo 16, at the native size and resized (down to a
    /// short side of 21, and up to one of 53), for each container and codec the fixtures and
    /// the suites use: H.264 in MP4 and Matroska (4:2:0 where the size allows it, 4:4:4 for
    /// odd sizes, which 4:2:0 H.264 cannot code), MPEG-4 Part 2 in AVI, VP9 in WebM, and
    /// JPEG frame folders. Exact match (MAD 0) with the CLI; at the native size also with
    /// plain `ffmpeg -i FILE -pix_fmt rgb24`, no scale filter named.
    func testEveryResidueModulo16() throws {
        let ffmpeg = try TestSupport.ffmpegCLI()
        let dir = try TestSupport.tempDir(self)
        let sizes = Self.residueSizes
        XCTAssertEqual(Set(sizes.map { $0.width % 16 }).count, 16)
        XCTAssertEqual(Set(sizes.map { $0.height % 16 }).count, 16)
        XCTAssertEqual(Set(sizes.map { [$0.width % 2, $0.height % 2] }).count, 4)
        let h264: (Int, Int) -> [String] = { w, h in
            ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", (w % 2 == 0 && h % 2 == 0) ? "yuv420p" : "yuv444p"]
        }
        let cases: [(name: String, codec: (Int, Int) -> [String])] = [
            ("h264.mp4", h264),
            ("h264.mkv", h264),
            ("mpeg4.avi", { _, _ in ["-c:v", "mpeg4", "-q:v", "3", "-pix_fmt", "yuv420p"] }),
            ("vp9.webm", { _, _ in ["-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-pix_fmt", "yuv420p"] }),
            ("frames", { _, _ in ["-c:v", "mjpeg", "-q:v", "2", "-pix_fmt", "yuvj420p", "-start_number", "1"] }),
        ]
        let specs = [DecodeSpec.native, DecodeSpec(shortSide: 21), DecodeSpec(shortSide: 53)]
        let frameCount = 3
        var checked = 0
        for c in cases {
            // One ffmpeg run writes this container's video at every size (testsrc2 at a larger
            // size, cropped in RGB so the encoder sees exactly w x h); one more decodes them all
            // for every spec, plus -sws_flags bilinear -pix_fmt rgb24 (no scale filter) at the
            // native size. Few processes keep the test fast.
            let isFolder = c.name == "frames"
            var generate = ["-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=64x64:rate=25"]
            var decode = ["-v", "error", "-y"]
            var videos: [(path: String, checks: [(spec: DecodeSpec, label: String, file: String)])] = []
            for (i, (w, h)) in sizes.enumerated() {
                let name = "\(w)x\(h)-\(c.name)"
                let path = "\(dir)/\(name)"
                if isFolder { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) }
                let output = isFolder ? "\(path)/frame_%05d.jpg" : path
                generate += ["-map", "0:v", "-frames:v", "\(frameCount)", "-vf", "format=rgb24,crop=\(w):\(h):3:5"]
                    + c.codec(w, h) + [output]
                decode += (isFolder ? ["-framerate", "30"] : []) + ["-i", output]
                var checks: [(spec: DecodeSpec, label: String, file: String)] = []
                for (j, spec) in specs.enumerated() {
                    let size = spec.outputSize(width: w, height: h)
                    let file = "\(dir)/\(name).\(j).rgb"
                    decode += ["-map", "\(i):v", "-vf", "scale=\(size.width):\(size.height):flags=bilinear",
                               "-pix_fmt", "rgb24", "-f", "rawvideo", file]
                    checks.append((spec, spec.tag, file))
                }
                let plain = "\(dir)/\(name).plain.rgb"
                decode += ["-map", "\(i):v", "-sws_flags", "bilinear", "-pix_fmt", "rgb24", "-f", "rawvideo", plain]
                checks.append((.native, "-sws_flags bilinear -pix_fmt rgb24", plain))
                videos.append((path, checks))
            }
            var (status, _, err) = try TestSupport.run(ffmpeg, generate)
            XCTAssertEqual(status, 0, "ffmpeg failed generating the \(c.name) videos: \(err)")
            (status, _, err) = try TestSupport.run(ffmpeg, decode)
            XCTAssertEqual(status, 0, "ffmpeg failed decoding the \(c.name) videos: \(err)")

            for ((w, h), video) in zip(sizes, videos) {
                let reader = try VideoReader(path: video.path)
                XCTAssertEqual([reader.info.width, reader.info.height], [w, h], "\(video.path) was not coded at \(w)x\(h)")
                for check in video.checks {
                    let ours = try reader.read(spec: check.spec)
                    let reference = [UInt8](try Data(contentsOf: URL(fileURLWithPath: check.file)))
                    let what = "\(video.path) \(check.label) at \(ours.width)x\(ours.height)"
                    XCTAssertEqual(ours.count, frameCount, "\(what): frame count")
                    XCTAssertEqual(reference.count, frameCount * ours.frameBytes, "\(what): CLI output size")
                    checked += 1
                    guard reference.count == ours.pixels.count else { continue }
                    for t in 0..<ours.count {
                        let mad = TestSupport.meanAbsDiff(ours.frame(t), reference[(t * ours.frameBytes)..<((t + 1) * ours.frameBytes)])
                        XCTAssertEqual(mad, 0, "\(what), frame \(t): MAD vs ffmpeg CLI")
                    }
                }
            }
        }
        print("parity: \(checked) size/container/spec combinations, all MAD 0")
    }
}
