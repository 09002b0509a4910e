import Foundation
import XCTest

/// File-system failures reach the user as path, action, reason and likely fix, and a
/// complete read-only cache serves `bench cache build`. Run as `nobody` (via setpriv) when
/// the tests run as root, since root passes permission bits.
final class FileErrorCLITests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    var bench: String { Bundle.main.bundleURL.appendingPathComponent("bench").path }

    func runBench(_ arguments: [String], unprivileged: Bool) throws -> (status: Int32, output: String) {
        let p = Process()
        if unprivileged {
            p.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
            p.arguments = ["--reuid=65534", "--regid=65534", "--clear-groups", bench] + arguments
        } else {
            p.executableURL = URL(fileURLWithPath: bench)
            p.arguments = arguments
        }
        p.currentDirectoryURL = Self.root
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = pipe
        try p.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    /// Whether permission bits stop this user, and how to run as one they stop.
    func unprivileged() throws -> Bool {
        if getuid() != 0 { return false }
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv") else {
            throw XCTSkip("tests run as root and setpriv is missing: permission bits cannot be exercised")
        }
        return true
    }

    func tempDir() throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fserr-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        addTeardownBlock {
            chmod(dir, 0o755)
            try? FileManager.default.removeItem(atPath: dir)
        }
        return dir
    }

    func testUnwritableReportsFolderIsExplained() throws {
        let asNobody = try unprivileged()
        let dir = try tempDir()
        chmod(dir, 0o555)
        let r = try runBench(["report", "ci", "--scale", "ci", "--store", "\(dir)/runs", "--reports", "\(dir)/reports",
                              "--cache", "\(dir)/cache"], unprivileged: asNobody)
        XCTAssertNotEqual(r.status, 0, r.output)
        XCTAssertFalse(r.output.contains("NSCocoaErrorDomain"), r.output)
        XCTAssertTrue(r.output.contains("Error: \(dir)/reports: writing failed: Permission denied (errno 13); likely fix: \(dir) is owned by uid"),
                      r.output)
    }

    func testReadOnlyCompleteCacheBuildsWithoutWriting() throws {
        let asNobody = try unprivileged()
        guard let ffmpeg = ["/usr/bin/ffmpeg", "/usr/local/bin/ffmpeg"].first(where: FileManager.default.isExecutableFile) else {
            throw XCTSkip("the ffmpeg command-line tool is not installed")
        }
        let dir = try tempDir()
        try FileManager.default.createDirectory(atPath: "\(dir)/videos", withIntermediateDirectories: true)
        let gen = Process()
        gen.executableURL = URL(fileURLWithPath: ffmpeg)
        gen.arguments = ["-v", "error", "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=25", "-frames:v", "8",
                         "-c:v", "mpeg4", "\(dir)/videos/a.avi"]
        try gen.run()
        gen.waitUntilExit()
        XCTAssertEqual(gen.terminationStatus, 0)
        let args = ["cache", "build", "t", "--videos", "\(dir)/videos", "--cache-dir", "\(dir)/cache", "--short-side", "16"]
        XCTAssertEqual(try runBench(args, unprivileged: false).status, 0)
        let chmod = Process()
        chmod.executableURL = URL(fileURLWithPath: "/bin/chmod")
        chmod.arguments = ["-R", "a-w", "\(dir)/cache"]
        try chmod.run()
        chmod.waitUntilExit()
        addTeardownBlock {
            let undo = Process()
            undo.executableURL = URL(fileURLWithPath: "/bin/chmod")
            undo.arguments = ["-R", "u+w", "\(dir)/cache"]
            try? undo.run()
            undo.waitUntilExit()
        }
        let r = try runBench(args, unprivileged: asNobody)
        XCTAssertEqual(r.status, 0, r.output)
        XCTAssertTrue(r.output.contains("1 entries; this run: 1 cached, 0 decoded, 0 bad"), r.output)
        // Another spec is not cached: it must be written, and the error says so.
        let other = try runBench(Array(args.dropLast()) + ["24"], unprivileged: asNobody)
        XCTAssertEqual(other.status, 1, other.output)
        XCTAssertTrue(other.output.contains("to write the clip cache") && other.output.contains("likely fix:"), other.output)
        XCTAssertFalse(other.output.contains("NSCocoaErrorDomain"), other.output)
    }
}
