import Foundation
import XCTest

/// The Slurm executor's command line: its options are checked before anything is planned or
/// submitted, and a machine without Slurm gets a clear error. The cluster itself is tested
/// by `scripts/slurm-test`.
final class SlurmCLITests: XCTestCase {
    var benchURL: URL { Bundle.main.bundleURL.appendingPathComponent("bench") }
    var repo: URL { URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent() }

    func run(_ arguments: [String], environment: [String: String]? = nil) throws -> (status: Int32, out: String, err: String) {
        try runBench(benchURL, arguments, environment: environment, in: repo)
    }

    func testSlurmOptionsAreValidated() throws {
        let cases: [([String], String)] = [
            (["run", "ci", "--partition", "gpu"], "--partition applies to the Slurm executor: add --executor slurm"),
            (["all", "--wait"], "--wait applies to the Slurm executor"),
            (["run", "ci", "--executor", "slurm", "--time", "soon"], "--time soon: not a Slurm time limit"),
            (["run", "ci", "--executor", "slurm", "--ranks", "0"], "--ranks must be at least 1, got 0"),
            (["run", "ci", "--executor", "slurm", "--ranks", "2", "--mpi", "pmix;reboot"], "--mpi pmix;reboot: not an srun MPI type"),
            (["run", "ci", "--mpi", "pmix"], "--mpi applies to the Slurm executor: add --executor slurm"),
            (["run", "ci", "--executor", "slurm", "--slurm-config", "/nonexistent/cluster.yaml"], "--slurm-config /nonexistent/cluster.yaml: no such file"),
            (["run", "ci", "--executor", "pbs"], "pbs"),
            (["plan", "ci", "--wait"], "--wait"),
        ]
        for (args, message) in cases {
            let r = try run(args)
            XCTAssertEqual(r.status, 64, "\(args): \(r.err)")
            XCTAssertTrue(r.err.contains(message), "\(args): expected '\(message)' in\n\(r.err)")
        }
    }

    /// Without sbatch on PATH the submission stops with one line naming the command.
    func testWithoutSlurmTheErrorNamesTheCommand() throws {
        let store = FileManager.default.temporaryDirectory.appendingPathComponent("slurm-cli-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: store) }
        let r = try run(["run", "ci", "--scale", "paper", "--executor", "slurm", "--store", store.path, "--quiet"],
                        environment: ["PATH": "/nonexistent", "HOME": NSTemporaryDirectory()])
        XCTAssertEqual(r.status, 1, r.err)
        XCTAssertTrue(r.err.contains("sbatch: command not found"), r.err)
        XCTAssertEqual(r.err.split(separator: "\n").filter { $0.hasPrefix("Error") }.count, 1, r.err)
        // The first job's script was written: it starts this very executable, by absolute path.
        let scripts = try FileManager.default.contentsOfDirectory(atPath: store.appendingPathComponent("slurm").path).filter { $0.hasSuffix(".sh") }
        XCTAssertEqual(scripts.count, 1, "\(scripts)")
        let script = try String(contentsOf: store.appendingPathComponent("slurm/\(scripts[0])"), encoding: .utf8)
        XCTAssertTrue(script.contains("\n\(benchURL.resolvingSymlinksInPath().path) job cache "), script)
        XCTAssertTrue(script.contains(" --scale paper --suites \(repo.appendingPathComponent("Suites").path) "), script)
    }

    func testHelpShowsTheExecutorAndCancel() throws {
        let help = try run(["run", "--help"])
        XCTAssertEqual(help.status, 0, help.err)
        for word in ["--executor <executor>", "--partition", "--time <limit>", "--gpus-per-task", "--sbatch-arg", "--wait"] {
            XCTAssertTrue(help.out.contains(word), "missing \(word) in\n\(help.out)")
        }
        let top = try run(["--help"])
        XCTAssertTrue(top.out.contains("cancel"), top.out)
        XCTAssertFalse(top.out.contains("  job "), "the jobs' own command stays hidden:\n\(top.out)")
    }
}
