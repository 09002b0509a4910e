import Foundation
import XCTest

/// `scripts/setup`, the README's first step, on the machines a newcomer has: root without sudo
/// (a fresh Debian machine or container), a user with sudo, a user without it, with package
/// lists that are empty until `apt-get update` runs, and a machine that is already set up.
///
/// `dpkg-query`, `apt-get` and `sudo` are stubs on `PATH` that log their calls: the stub
/// `apt-get install` fails with apt's "Unable to locate package" unless `apt-get update` ran
/// first, as on a machine whose lists are stale. Non-root runs use `setpriv` to drop to
/// `nobody`.
final class SetupScriptTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    var script: String { Self.root.appendingPathComponent("scripts/setup").path }

    struct Outcome {
        var status: Int32
        var output: String
        /// One line per stub call: `sudo ...`, `apt-get ...`.
        var calls: [String]
    }

    /// Runs `scripts/setup` with stubs reporting `installed` as the installed packages.
    func runSetup(installed: [String], asUser: Bool = false, sudo: Bool = false) throws -> Outcome {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("setup-\(UUID().uuidString)").path
        let bin = "\(dir)/bin"
        try FileManager.default.createDirectory(atPath: bin, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
        let log = "\(dir)/calls.log"
        try "".write(toFile: log, atomically: true, encoding: .utf8)
        try installed.joined(separator: "\n").appending("\n").write(toFile: "\(dir)/installed", atomically: true, encoding: .utf8)
        var stubs = [
            "dpkg-query": """
                #!/bin/sh
                # dpkg-query -W -f='${Status}' PACKAGE
                for last; do :; done
                if grep -qx "$last" "\(dir)/installed"; then printf 'install ok installed'; exit 0; fi
                echo "dpkg-query: no packages found matching $last" >&2; exit 1
                """,
            "apt-get": """
                #!/bin/sh
                echo "apt-get $*" >> "\(log)"
                echo "DEBIAN_FRONTEND=$DEBIAN_FRONTEND" >> "\(log)"
                case "$1" in
                update) touch "\(dir)/lists-fresh" ;;
                install)
                    [ -f "\(dir)/lists-fresh" ] || { echo "E: Unable to locate package pkg-config" >&2; exit 100; } ;;
                esac
                """,
        ]
        if sudo {
            stubs["sudo"] = """
                #!/bin/sh
                echo "sudo $*" >> "\(log)"
                exec "$@"
                """
        }
        for (name, text) in stubs {
            try (text + "\n").write(toFile: "\(bin)/\(name)", atomically: true, encoding: .utf8)
            chmod("\(bin)/\(name)", 0o755)
        }
        // Everything under dir must be usable by `nobody` too.
        for path in [dir, bin, log] { chmod(path, 0o777) }

        let process = Process()
        var arguments = [script]
        if asUser {
            guard FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv"), getuid() == 0 else {
                throw XCTSkip("needs root and setpriv to run scripts/setup as an unprivileged user")
            }
            process.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
            arguments = ["--reuid=65534", "--regid=65534", "--clear-groups", "/bin/bash"] + arguments
        } else {
            guard getuid() == 0 else { throw XCTSkip("the root cases need the tests to run as root") }
            process.executableURL = URL(fileURLWithPath: "/bin/bash")
        }
        process.arguments = arguments
        // sudo, when not stubbed, must not be found anywhere: /usr/sbin and /sbin are left out.
        process.environment = ["PATH": "\(bin):/usr/bin:/bin", "HOME": dir]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let calls = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n").map(String.init)
        return Outcome(status: process.terminationStatus, output: String(decoding: data, as: UTF8.self), calls: calls)
    }

    var packages: [String] {
        get throws {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/bin/bash")
            process.arguments = [script, "--list"]
            let pipe = Pipe()
            process.standardOutput = pipe
            try process.run()
            let data = pipe.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            return String(decoding: data, as: UTF8.self).split(separator: "\n").map(String.init)
        }
    }

    /// As root: apt-get directly, never sudo (a stub sudo is on PATH and must stay unused).
    func testRootUpdatesListsThenInstallsOnlyWhatIsMissing() throws {
        let all = try packages
        XCTAssertEqual(all.count, 14, "the README lists the same packages")
        let r = try runSetup(installed: ["pkg-config", "ffmpeg"], sudo: true)
        XCTAssertEqual(r.status, 0, r.output)
        let missing = all.filter { $0 != "pkg-config" && $0 != "ffmpeg" }
        XCTAssertEqual(r.calls, [
            "apt-get update -qq", "DEBIAN_FRONTEND=noninteractive",
            "apt-get install -y -qq --no-install-recommends " + missing.joined(separator: " "), "DEBIAN_FRONTEND=noninteractive",
        ], r.output)
        XCTAssertFalse(r.calls.contains { $0.hasPrefix("sudo") })
    }

    func testNothingRunsWhenEverythingIsInstalled() throws {
        let r = try runSetup(installed: try packages, sudo: true)
        XCTAssertEqual(r.status, 0, r.output)
        XCTAssertEqual(r.calls, [], r.output)
        XCTAssertTrue(r.output.contains("all \(try packages.count) system packages are installed"), r.output)
    }

    func testUserWithSudo() throws {
        let r = try runSetup(installed: [], asUser: true, sudo: true)
        XCTAssertEqual(r.status, 0, r.output)
        let all = try packages.joined(separator: " ")
        XCTAssertEqual(r.calls.filter { !$0.hasPrefix("DEBIAN") }, [
            "sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq", "apt-get update -qq",
            "sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \(all)",
            "apt-get install -y -qq --no-install-recommends \(all)",
        ], r.output)
    }

    func testUserWithoutSudoIsToldWhatToDo() throws {
        let r = try runSetup(installed: [], asUser: true, sudo: false)
        XCTAssertEqual(r.status, 1, r.output)
        XCTAssertEqual(r.calls, [])
        XCTAssertTrue(r.output.contains("needs root") && r.output.contains("libhdf5-dev"), r.output)
    }

    /// The README's first command and CI go through the script, and the README names what it installs.
    func testReadmeAndCIUseTheScript() throws {
        let readme = try String(contentsOf: Self.root.appendingPathComponent("README.md"), encoding: .utf8)
        let ci = try String(contentsOf: Self.root.appendingPathComponent(".ci/run"), encoding: .utf8)
        XCTAssertTrue(readme.contains("\nscripts/setup && swift run -c release bench all --scale ci\n"))
        XCTAssertFalse(readme.contains("sudo apt-get"))
        XCTAssertTrue(ci.contains("\nscripts/setup\n"))
        XCTAssertFalse(ci.contains("apt-get install"), "the package list lives in scripts/setup only")
        for p in try packages { XCTAssertTrue(readme.contains("`\(p)`"), "README does not name \(p)") }
    }
}
