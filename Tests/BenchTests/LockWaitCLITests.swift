import Foundation
import Media
import XCTest

/// `bench` blocked on a lock another process holds says so on stderr: what it waits for,
/// who holds it (pid, host, command), and a progress line while it waits.
final class LockWaitCLITests: XCTestCase {
    var bench: String { Bundle.main.bundleURL.appendingPathComponent("bench").path }

    func testCacheBuildBlockedOnTheMergeLockSaysWhoHoldsIt() throws {
        guard let ffmpeg = ["/usr/bin/ffmpeg", "/usr/local/bin/ffmpeg"].first(where: FileManager.default.isExecutableFile) else {
            throw XCTSkip("the ffmpeg command-line tool is not installed")
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("lockwait-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: "\(dir)/videos", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: "\(dir)/cache/t", withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
        let gen = Process()
        gen.executableURL = URL(fileURLWithPath: ffmpeg)
        gen.arguments = ["-v", "error", "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=25", "-frames:v", "8",
                         "-c:v", "mpeg4", "\(dir)/videos/a.avi"]
        try gen.run()
        gen.waitUntilExit()

        // This test process holds the cache's merge lock, as a concurrent builder would.
        let lockPath = "\(dir)/cache/t/s16-native-bilinear.lock"
        var held: FileLock? = try FileLock(path: lockPath)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: bench)
        p.arguments = ["cache", "build", "t", "--videos", "\(dir)/videos", "--cache-dir", "\(dir)/cache", "--short-side", "16"]
        var env = ProcessInfo.processInfo.environment
        env["TEMPO_LOCK_REPORT_SECONDS"] = "0.3"
        p.environment = env
        let err = Pipe()
        p.standardError = err
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        // Release once the builder has said it waits (or after 20 s).
        var stderr = Data()
        let deadline = Date().addingTimeInterval(20)
        let handle = err.fileHandleForReading
        while Date() < deadline {
            let chunk = handle.availableData
            if chunk.isEmpty { break }
            stderr.append(chunk)
            if String(decoding: stderr, as: UTF8.self).contains("still waiting") { break }
        }
        held = nil
        stderr.append(handle.readDataToEndOfFile())
        p.waitUntilExit()
        withExtendedLifetime(held) {}
        let text = String(decoding: stderr, as: UTF8.self)
        XCTAssertEqual(p.terminationStatus, 0, text)
        XCTAssertTrue(text.contains("waiting for \(lockPath): held by pid \(getpid()) on "), text)
        XCTAssertTrue(text.contains("still waiting for \(lockPath) after "), text)
        XCTAssertTrue(text.contains("got \(lockPath) after waiting "), text)
    }
}
