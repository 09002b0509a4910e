import Foundation
import XCTest
@testable import Suite

/// The provenance's git state: reports the run rewrites are its output and leave the
/// commit clean; any other tracked change marks it.
final class ProvenanceTests: XCTestCase {
    private func sh(_ args: [String], in dir: URL) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = args
        p.currentDirectoryURL = dir
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0, args.joined(separator: " "))
    }

    func testReportsTheRunWritesDoNotMarkTheCommitDirty() throws {
        guard Provenance.git(["--version"], in: nil) != nil else { throw XCTSkip("git is not installed") }
        let repo = FileManager.default.temporaryDirectory.appendingPathComponent("provenance-\(UUID().uuidString)")
        let reports = repo.appendingPathComponent("reports")
        try FileManager.default.createDirectory(at: reports, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: repo) }
        let code = repo.appendingPathComponent("suite.yaml"), report = reports.appendingPathComponent("table1.md")
        let manifest = repo.appendingPathComponent("datasets.yaml")
        for f in [code, report, manifest] { try "one\n".write(to: f, atomically: true, encoding: .utf8) }
        try sh(["git", "init", "-q"], in: repo)
        try sh(["git", "add", "."], in: repo)
        try sh(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "c"], in: repo)
        let head = try XCTUnwrap(Provenance.git(["rev-parse", "HEAD"], in: repo))

        XCTAssertEqual(Provenance.collect(manifest: manifest, output: reports, directory: repo).gitCommit, head)
        try "two\n".write(to: report, atomically: true, encoding: .utf8)
        XCTAssertEqual(Provenance.collect(manifest: manifest, output: reports, directory: repo).gitCommit, head,
                       "a rewritten report is the run's output")
        XCTAssertEqual(Provenance.collect(manifest: manifest, directory: repo).gitCommit, head + " (with uncommitted changes)",
                       "without an output folder every tracked change counts")
        // A reports folder outside the work tree excludes nothing (and is no error that reads as clean).
        let elsewhere = FileManager.default.temporaryDirectory.appendingPathComponent("elsewhere-\(UUID().uuidString)")
        XCTAssertEqual(Provenance.collect(manifest: manifest, output: elsewhere, directory: repo).gitCommit,
                       head + " (with uncommitted changes)")
        try sh(["git", "checkout", "-q", "--", "reports"], in: repo)
        try "two\n".write(to: code, atomically: true, encoding: .utf8)
        XCTAssertEqual(Provenance.collect(manifest: manifest, output: reports, directory: repo).gitCommit,
                       head + " (with uncommitted changes)", "a changed suite file is a change to what produced the results")
    }
}
