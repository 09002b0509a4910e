import ArgumentParser
import Distributed
import Foundation
import Media
import Tensors

/// The `bench` command-line tool: the front door of tempo-bench.
@main
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "tempo-bench: a reproducibility benchmark suite for VTHCL video representation learning.",
        discussion: """
        Pretrains slow/fast 3D-ResNets with visual-tempo consistency and evaluates them on the \
        paper's downstream protocols. Speed figures: `bench perf`. Video tools: `bench video`, \
        `bench cache`.
        """,
        version: BenchVersion.string,
        subcommands: [AllCommand.self, RunCommand.self, ListCommand.self, PlanCommand.self, ReportCommand.self,
                      CheckCommand.self, SettingsCommand.self, ICMCommand.self, PerfCommand.self, VideoCommand.self, CacheCommand.self, EvalCommand.self, DatasetsCommand.self,
                      CancelCommand.self, JobCommand.self]
    )

    static func main() {
        OpenBLASCore.reexecWithBestCoreIfNeeded()
        MemoryPolicy.retainFreedMemory()
        // Under mpirun/srun: join the world (trainers split each global batch over it); an error
        // on any rank ends every rank with it. Started plainly, a world of one with no MPI call.
        let world: Communicator
        do { world = try Communicator.installWorld() } catch { exit(withError: error) }
        // The other ranks wait on rank 0's cache builds as a matter of course: rank 0 alone speaks.
        if world.rank != 0 { FileLock.reporter = { _ in } }
        do {
            var command = try parseAsRoot()
            try world.runOrAbort { try command.run() }
        } catch {
            // Foundation's file errors print as an NSCocoaErrorDomain dump; say instead which
            // path, what failed, why and the likely fix.
            if let text = FileSystemErrors.describe(error) {
                FileHandle.standardError.write(Data("Error: \(text)\n".utf8))
                Foundation.exit(1)
            }
            exit(withError: error)
        }
    }
}

enum BenchVersion {
    static let string = "0.1.0"
}
