import XCTest
@testable import Media

/// A cache builder killed with SIGKILL at random moments leaves a valid cache that the next
/// build completes; two builders filling one cache at once do not corrupt it.
///
/// The builder runs in a child process: this test binary re-executed on
/// `CacheChildProcess/testChildBuild`, which builds the cache named by environment variables
/// and does nothing otherwise.
final class CrashSafetyTests: XCTestCase {
    static func sources(_ dir: String) throws -> [CacheSource] {
        try ClipCacheTests.makeVideos(dir, count: 10, frames: 48)
    }

    private func launchChild(dir: String) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        p.arguments = ["MediaTests.CacheChildProcess/testChildBuild"]
        var env = ProcessInfo.processInfo.environment
        env["TEMPO_CACHE_CHILD_DIR"] = dir
        p.environment = env
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        return p
    }

    private func cache(_ dir: String) -> ClipCache {
        ClipCache(directory: "\(dir)/cache", name: "crash", spec: DecodeSpec(shortSide: 32))
    }

    /// The cache file, when present, opens and verifies; every finished part opens.
    private func assertValid(_ dir: String, round: Int) throws {
        let c = cache(dir)
        if FileManager.default.fileExists(atPath: c.path) {
            let report = try ClipCacheReader(c).verify()
            XCTAssertTrue(report.ok, "round \(round): \(report.corrupt)")
        }
        for name in (try? FileManager.default.contentsOfDirectory(atPath: c.partsFolder)) ?? [] where name.hasSuffix(".h5") {
            XCTAssertNoThrow(try H5Object.openFile("\(c.partsFolder)/\(name)"), "round \(round): part \(name)")
        }
    }

    func testKillMidWriteThenResume() throws {
        let dir = try TestSupport.tempDir(self)
        let sources = try CrashSafetyTests.sources(dir)
        var killedWhileRunning = 0
        for round in 0..<4 {
            let child = try launchChild(dir: dir)
            // Wait until the child has started writing, then kill it at a random moment.
            let c = cache(dir)
            let deadline = Date().addingTimeInterval(20)
            while child.isRunning && !FileManager.default.fileExists(atPath: c.partsFolder) && Date() < deadline {
                usleep(2_000)
            }
            usleep(UInt32.random(in: 20_000...(120_000 + 60_000 * UInt32(round))))
            if child.isRunning {
                kill(child.processIdentifier, SIGKILL)
                killedWhileRunning += 1
            }
            child.waitUntilExit()
            try assertValid(dir, round: round)
        }
        XCTAssertGreaterThan(killedWhileRunning, 0, "no child was still running when killed")
        let report = try cache(dir).build(sources)
        XCTAssertTrue(report.bad.isEmpty)
        XCTAssertEqual(report.entries, sources.count)
        print("crash test: \(killedWhileRunning) kills; resume found \(report.hits) cached, decoded \(report.decoded)")
        let reader = try ClipCacheReader(cache(dir))
        XCTAssertTrue(try reader.verify().ok)
        let direct = try VideoReader(path: sources[3].path).read(spec: DecodeSpec(shortSide: 32))
        XCTAssertEqual(try reader.readClip(videoID: sources[3].id, start: 0, count: 48).pixels, direct.pixels)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: cache(dir).partsFolder).filter { !$0.hasSuffix(".claim") }
        XCTAssertEqual(leftovers, [], "parts left after a completed build")
    }

    func testTwoBuildersAtOnce() throws {
        let dir = try TestSupport.tempDir(self)
        let sources = try CrashSafetyTests.sources(dir)
        let a = try launchChild(dir: dir)
        let b = try launchChild(dir: dir)
        a.waitUntilExit()
        b.waitUntilExit()
        XCTAssertEqual(a.terminationStatus, 0)
        XCTAssertEqual(b.terminationStatus, 0)
        let reader = try ClipCacheReader(cache(dir))
        XCTAssertEqual(Set(reader.videoIDs), Set(sources.map(\.id)))
        XCTAssertTrue(try reader.verify().ok)
        let report = try cache(dir).build(sources)
        XCTAssertEqual(report.hits, sources.count)
    }
}

/// The child side of `CrashSafetyTests` (skipped unless launched by it).
final class CacheChildProcess: XCTestCase {
    func testChildBuild() throws {
        guard let dir = ProcessInfo.processInfo.environment["TEMPO_CACHE_CHILD_DIR"] else {
            throw XCTSkip("runs only as the child process of CrashSafetyTests")
        }
        let sources = CrashSafetyTests.sourcesOnDisk(dir)
        let cache = ClipCache(directory: "\(dir)/cache", name: "crash", spec: DecodeSpec(shortSide: 32))
        // Merge after every entry so kills also land inside merges.
        cache.mergeThresholdBytes = 1
        let report = try cache.build(sources)
        XCTAssertTrue(report.bad.isEmpty)
    }
}

extension CrashSafetyTests {
    /// The sources `sources(_:)` wrote, without rewriting them.
    static func sourcesOnDisk(_ dir: String, count: Int = 10) -> [CacheSource] {
        (0..<count).map { CacheSource(id: "class\($0 % 2)/v\($0)", path: "\(dir)/videos/v\($0).avi") }
    }
}
