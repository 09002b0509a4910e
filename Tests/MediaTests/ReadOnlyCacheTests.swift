import XCTest
@testable import Media

/// A complete clip cache on a read-only folder (`chmod -R a-w`, or a read-only mount) serves
/// builds that find everything cached, and reads, without writing anything, its lock file
/// included; when something does need writing, the error names the path, what was being
/// done and the likely fix.
///
/// Tests run as root, which permission bits do not stop; the checks then run in a child
/// process as `nobody` (`ReadOnlyCacheChild`, this test binary re-executed), where they apply
/// as they do for a user on a shared read-only dataset.
final class ReadOnlyCacheTests: XCTestCase {
    static let spec = DecodeSpec(shortSide: 32)

    /// A complete cache of three videos under `dir/cache`, then made read-only with its folders.
    private func readOnlyCache() throws -> (dir: String, sources: [CacheSource]) {
        let dir = try TestSupport.tempDir(self)
        let sources = try ClipCacheTests.makeVideos(dir, count: 3, frames: 20)
        let report = try ClipCache(directory: "\(dir)/cache", name: "ro", spec: Self.spec).build(sources)
        XCTAssertEqual(report.entries, 3)
        XCTAssertEqual(try TestSupport.run("/bin/chmod", ["-R", "a-w", "\(dir)/cache"]).0, 0)
        addTeardownBlock { _ = try? TestSupport.run("/bin/chmod", ["-R", "u+w", "\(dir)/cache"]) }
        return (dir, sources)
    }

    private func runCheck(_ name: String, dir: String) throws {
        if getuid() != 0 {
            try ReadOnlyCacheChild.check(name, dir: dir)
            return
        }
        let (status, output) = try TestSupport.runChildAsNobody("MediaTests.ReadOnlyCacheChild/testChild",
                                                                environment: ["TEMPO_RO_CHILD_DIR": dir, "TEMPO_RO_CHILD_CHECK": name])
        XCTAssertEqual(status, 0, "child check \(name) failed:\n\(output)")
        XCTAssertTrue(output.contains("read-only check \(name) ran"), output)
    }

    func testCompleteReadOnlyCacheServesBuildsAndReads() throws {
        let (dir, _) = try readOnlyCache()
        let before = TestSupport.snapshot("\(dir)/cache")
        try runCheck("complete", dir: dir)
        XCTAssertEqual(TestSupport.snapshot("\(dir)/cache"), before, "the read-only cache was written")
    }

    func testMissingVideoInReadOnlyCacheSaysWhatAndHowToFix() throws {
        let (dir, _) = try readOnlyCache()
        try runCheck("missing", dir: dir)
    }

    /// Foundation's file errors read as path, action, reason and fix, not as a domain dump.
    func testFoundationFileErrorsAreDescribed() throws {
        let posix = NSError(domain: NSPOSIXErrorDomain, code: Int(EACCES))
        let cocoa = NSError(domain: NSCocoaErrorDomain, code: CocoaError.fileWriteNoPermission.rawValue,
                            userInfo: [NSFilePathErrorKey: "/nonexistent-root/reports", NSUnderlyingErrorKey: posix])
        let text = try XCTUnwrap(FileSystemErrors.describe(cocoa))
        XCTAssertTrue(text.hasPrefix("/nonexistent-root/reports: writing failed: Permission denied (errno 13); likely fix:"), text)
        XCTAssertTrue(text.contains("you are uid \(getuid())"), text)
        XCTAssertFalse(text.contains("NSCocoaErrorDomain"), text)
        XCTAssertNil(FileSystemErrors.describe(MediaError.notFound(file: "x")))

        // A real one: writing into a path under a regular file.
        let dir = try TestSupport.tempDir(self)
        try Data("x".utf8).write(to: URL(fileURLWithPath: "\(dir)/file"))
        do {
            try Data("y".utf8).write(to: URL(fileURLWithPath: "\(dir)/file/inside.txt"))
            XCTFail("writing under a regular file succeeded")
        } catch {
            let real = try XCTUnwrap(FileSystemErrors.describe(error))
            XCTAssertTrue(real.hasPrefix("\(dir)/file/inside.txt: writing failed"), real)
            XCTAssertTrue(real.contains("likely fix: check the path: \(dir)/file is the deepest part of it that exists"), real)
            XCTAssertFalse(real.contains("NSCocoaErrorDomain"), real)
        }

        for (code, words) in [(EROFS, "read-only"), (ENOSPC, "full"), (ENOENT, "deepest part"), (EMFILE, "ulimit")] {
            let d = MediaError.io(file: "\(dir)/sub/x.h5", what: "open", errno: code).description
            XCTAssertTrue(d.hasPrefix("\(dir)/sub/x.h5: open failed: ") && d.contains("likely fix") && d.contains(words), d)
        }
    }
}

/// The child side of `ReadOnlyCacheTests` (skipped unless launched by it).
final class ReadOnlyCacheChild: XCTestCase {
    func testChild() throws {
        let env = ProcessInfo.processInfo.environment
        guard let dir = env["TEMPO_RO_CHILD_DIR"], let name = env["TEMPO_RO_CHILD_CHECK"] else {
            throw XCTSkip("runs only as the child process of ReadOnlyCacheTests")
        }
        try Self.check(name, dir: dir)
    }

    static func check(_ name: String, dir: String) throws {
        // Permission bits must apply here (an unprivileged user), or the check proves nothing.
        XCTAssertNotEqual(access("\(dir)/cache/ro", W_OK), 0, "the cache folder is writable for this user")
        let cache = ClipCache(directory: "\(dir)/cache", name: "ro", spec: ReadOnlyCacheTests.spec)
        let sources = CrashSafetyTests.sourcesOnDisk(dir, count: 3)
        switch name {
        case "complete":
            // What a run does: build (all cached), then read windows.
            let report = try cache.build(sources)
            XCTAssertEqual(report.hits, 3)
            XCTAssertEqual(report.decoded, 0)
            XCTAssertEqual(report.entries, 3)
            let reader = try ClipCacheReader(cache)
            let clip = try reader.readClip(videoID: sources[2].id, start: 4, count: 8)
            let direct = try VideoReader(path: sources[2].path).read(spec: ReadOnlyCacheTests.spec, start: .frame(4), count: 8)
            XCTAssertEqual(clip.pixels, direct.pixels)
            XCTAssertTrue(try reader.verify().ok)
        case "missing":
            // A video the cache lacks: it must be written, which it cannot be.
            let extra = CacheSource(id: "class1/v1-again", path: sources[1].path)
            XCTAssertThrowsError(try cache.build(sources + [extra])) { error in
                let text = "\(error)"
                XCTAssertTrue(text.hasPrefix("\(cache.folder)/s32-native-bilinear.parts: create folder") ||
                              text.hasPrefix("\(cache.folder): access"), text)
                for words in ["to write the clip cache", "lacks a video", "Permission denied", "likely fix:",
                              "\(cache.folder) is owned by uid 0", "you are uid \(getuid())", "copy or mount it read-only"] {
                    XCTAssertTrue(text.contains(words), "missing \"\(words)\" in: \(text)")
                }
                XCTAssertFalse(text.contains("NSCocoaErrorDomain"), text)
            }
        default:
            XCTFail("unknown check \(name)")
        }
        print("read-only check \(name) ran")
    }
}
