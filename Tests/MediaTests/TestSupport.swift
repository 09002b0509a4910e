import Foundation
import XCTest
@testable import Media

/// Paths and helpers shared by the media tests.
enum TestSupport {
    /// The package root, found from this file's location.
    static let packageRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// `../shared/fixtures/videos/NAME`, or a skip when the shared folder is absent.
    static func fixture(_ name: String) throws -> String {
        let url = packageRoot.deletingLastPathComponent()
            .appendingPathComponent("shared/fixtures/videos/\(name)")
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw XCTSkip("fixture \(url.path) is absent (../shared not checked out next to the package)")
        }
        return url.path
    }

    static func which(_ tool: String) -> String? {
        let dirs = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":")
        for d in dirs {
            let p = "\(d)/\(tool)"
            if FileManager.default.isExecutableFile(atPath: p) { return p }
        }
        return nil
    }

    /// The `ffmpeg` command-line tool, or a skip.
    static func ffmpegCLI() throws -> String {
        guard let p = which("ffmpeg") else { throw XCTSkip("the ffmpeg command-line tool is not installed") }
        return p
    }

    /// Runs a tool, returning (exit status, stdout, stderr).
    @discardableResult
    static func run(_ tool: String, _ args: [String], environment: [String: String]? = nil) throws -> (Int32, Data, String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: tool)
        p.arguments = args
        if let environment { p.environment = environment }
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        // Read both pipes concurrently so a chatty child never blocks on a full pipe.
        nonisolated(unsafe) var errData = Data()
        let group = DispatchGroup()
        DispatchQueue.global().async(group: group) { errData = err.fileHandleForReading.readDataToEndOfFile() }
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        p.waitUntilExit()
        return (p.terminationStatus, outData, String(decoding: errData, as: UTF8.self))
    }

    /// A fresh temporary directory, removed when the test ends.
    static func tempDir(_ test: XCTestCase) throws -> String {
        let dir = FileManager.default.temporaryDirectory
            .appendingPathComponent("tempo-media-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        test.addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
        return dir
    }

    /// Generates a short synthetic test video with the ffmpeg CLI (lavfi testsrc2).
    static func cliVideo(_ path: String, codec: [String], size: String = "96x64", rate: Int = 25,
                         seconds: Double = 1.2) throws {
        let ffmpeg = try ffmpegCLI()
        let args = ["-v", "error", "-y", "-f", "lavfi", "-i",
                    "testsrc2=size=\(size):rate=\(rate):duration=\(seconds)"] + codec + [path]
        let (status, _, err) = try run(ffmpeg, args)
        XCTAssertEqual(status, 0, "ffmpeg failed generating \(path): \(err)")
    }

    /// Frames as the ffmpeg CLI decodes them: `-vf scale=W:H:flags=bilinear -pix_fmt rgb24`.
    static func cliFrames(_ path: String, width: Int, height: Int, extraInput: [String] = []) throws -> [UInt8] {
        let ffmpeg = try ffmpegCLI()
        let args = ["-v", "error"] + extraInput + ["-i", path, "-vf", "scale=\(width):\(height):flags=bilinear",
                    "-pix_fmt", "rgb24", "-f", "rawvideo", "-"]
        let (status, out, err) = try run(ffmpeg, args)
        XCTAssertEqual(status, 0, "ffmpeg failed decoding \(path): \(err)")
        return [UInt8](out)
    }

    /// Mean absolute difference of two equal-length byte arrays.
    static func meanAbsDiff<C: Collection>(_ a: C, _ b: C) -> Double where C.Element == UInt8 {
        precondition(a.count == b.count)
        let x = Array(a), y = Array(b)
        var total = 0
        x.withUnsafeBufferPointer { px in
            y.withUnsafeBufferPointer { py in
                for i in 0..<px.count { total &+= Int(px[i] > py[i] ? px[i] - py[i] : py[i] - px[i]) }
            }
        }
        return Double(total) / Double(max(1, x.count))
    }

    /// Synthetic RGB frames: a moving gradient with a bright square, `[count, h, w, 3]`.
    static func syntheticFrames(count: Int, width: Int, height: Int) -> Frames {
        var px = [UInt8](repeating: 0, count: count * width * height * 3)
        for t in 0..<count {
            for y in 0..<height {
                for x in 0..<width {
                    let i = ((t * height + y) * width + x) * 3
                    px[i] = UInt8((x * 255) / max(1, width - 1))
                    px[i + 1] = UInt8((y * 255) / max(1, height - 1))
                    px[i + 2] = UInt8((t * 37) % 256)
                    let sx = (t * 3) % max(1, width - 16)
                    if x >= sx && x < sx + 16 && y >= 8 && y < 24 { px[i] = 250; px[i + 1] = 250; px[i + 2] = 250 }
                }
            }
        }
        return Frames(pixels: px, count: count, height: height, width: width, fps: 25)
    }
}

extension TestSupport {
    /// Runs one test of this bundle (`MediaTests.Class/testName`) in a child process as the
    /// unprivileged user `nobody` (via `setpriv`), so that permission bits apply: tests run
    /// as root, which passes them. Returns (exit status, output), or skips when the tests do
    /// not run as root or setpriv is missing; callers that are not root can run the same
    /// check in-process.
    static func runChildAsNobody(_ test: String, environment: [String: String]) throws -> (Int32, String) {
        guard getuid() == 0 else { throw XCTSkip("runs the child as nobody only when the tests run as root") }
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv") else {
            throw XCTSkip("setpriv is not installed: cannot run a child as an unprivileged user")
        }
        let bundle = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path
        var env = ProcessInfo.processInfo.environment
        for (k, v) in environment { env[k] = v }
        env["HOME"] = "/tmp"
        let (status, out, err) = try run("/usr/bin/setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", bundle, test],
                                         environment: env)
        return (status, String(decoding: out, as: UTF8.self) + err)
    }

    /// Every file and folder under `root` with its size and modification time, to show
    /// that nothing was written.
    static func snapshot(_ root: String) -> [String] {
        var rows: [String] = []
        let walker = FileManager.default.enumerator(atPath: root)
        while let rel = walker?.nextObject() as? String {
            var st = stat()
            stat("\(root)/\(rel)", &st)
            rows.append("\(rel) \(st.st_size) \(st.st_mtim.tv_sec).\(st.st_mtim.tv_nsec)")
        }
        return rows.sorted()
    }
}
