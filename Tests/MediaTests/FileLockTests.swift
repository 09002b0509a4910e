import XCTest
@testable import Media

/// A process blocked on another's lock says what it waits for and who holds it (pid, host,
/// command), repeats a progress line while it waits, and records itself once it holds it.
final class FileLockTests: XCTestCase {
    final class Lines: @unchecked Sendable {
        private let lock = NSLock()
        private var lines: [String] = []
        func add(_ line: String) { lock.lock(); lines.append(line); lock.unlock() }
        var all: [String] { lock.lock(); defer { lock.unlock() }; return lines }
    }

    func testWaiterNamesTheHolderAndReportsProgress() throws {
        let dir = try TestSupport.tempDir(self)
        let path = "\(dir)/stage.lock"
        // The holder: this test binary re-executed on LockHolderChild, holding the lock ~1.5 s.
        let child = Process()
        child.executableURL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        child.arguments = ["MediaTests.LockHolderChild/testHoldLock"]
        var env = ProcessInfo.processInfo.environment
        env["TEMPO_LOCK_CHILD_PATH"] = path
        child.environment = env
        child.standardOutput = FileHandle.nullDevice
        child.standardError = FileHandle.nullDevice
        try child.run()
        let deadline = Date().addingTimeInterval(20)
        while !FileManager.default.fileExists(atPath: path + ".ready") && Date() < deadline { usleep(10_000) }
        XCTAssertTrue(FileManager.default.fileExists(atPath: path + ".ready"), "the child never took the lock")

        XCTAssertNil(try FileLock(tryPath: path), "the lock is held")
        let holder = try XCTUnwrap(FileLock.holder(at: path))
        XCTAssertEqual(holder.pid, child.processIdentifier)
        XCTAssertEqual(holder.host, FileLock.hostName)
        XCTAssertTrue(holder.command.contains("LockHolderChild/testHoldLock"), holder.command)

        let lines = Lines()
        let savedReporter = FileLock.reporter, savedInterval = FileLock.reportInterval
        FileLock.reporter = { lines.add($0) }
        FileLock.reportInterval = 0.3
        defer { FileLock.reporter = savedReporter; FileLock.reportInterval = savedInterval }
        let lock = try FileLock(path: path)
        child.waitUntilExit()

        let got = lines.all
        XCTAssertTrue(got.first?.hasPrefix("waiting for \(path): held by pid \(child.processIdentifier) on \(FileLock.hostName) since 20") ?? false,
                      "\(got)")
        XCTAssertTrue(got.first?.contains("LockHolderChild/testHoldLock") ?? false, "\(got)")
        XCTAssertGreaterThanOrEqual(got.filter { $0.hasPrefix("still waiting for \(path) after ") }.count, 2, "\(got)")
        XCTAssertTrue(got.last?.hasPrefix("got \(path) after waiting ") ?? false, "\(got)")
        // Now this process is the recorded holder.
        XCTAssertEqual(FileLock.holder(at: path)?.pid, getpid())
        withExtendedLifetime(lock) {}
    }

    func testFreeLockIsTakenSilently() throws {
        let dir = try TestSupport.tempDir(self)
        let lines = Lines()
        let saved = FileLock.reporter
        FileLock.reporter = { lines.add($0) }
        defer { FileLock.reporter = saved }
        let lock = try FileLock(path: "\(dir)/x.lock")
        XCTAssertEqual(lines.all, [])
        XCTAssertEqual(FileLock.holder(at: "\(dir)/x.lock")?.pid, getpid())
        withExtendedLifetime(lock) {}
        XCTAssertNil(FileLock.holder(at: "\(dir)/absent.lock"))
    }
}

/// The holder side of `FileLockTests` (skipped unless launched by it).
final class LockHolderChild: XCTestCase {
    func testHoldLock() throws {
        guard let path = ProcessInfo.processInfo.environment["TEMPO_LOCK_CHILD_PATH"] else {
            throw XCTSkip("runs only as the child process of FileLockTests")
        }
        let lock = try FileLock(path: path)
        FileManager.default.createFile(atPath: path + ".ready", contents: nil)
        usleep(1_500_000)
        withExtendedLifetime(lock) {}
    }
}
