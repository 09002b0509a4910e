import Foundation
import Media
import Tensors

/// Facts about the software and machine that produced a report.
public struct Provenance: Sendable {
    public var gitCommit: String
    public var manifestHash: String
    public var versions: [(String, String)]
    public var machine: String
    public var date: String
    public init(gitCommit: String, manifestHash: String, versions: [(String, String)], machine: String, date: String) {
        self.gitCommit = gitCommit; self.manifestHash = manifestHash; self.versions = versions; self.machine = machine; self.date = date
    }
}

extension Provenance {
    /// The git commit of the working directory (marked when it has uncommitted changes), the
    /// manifest's hash, library versions, thread count, machine and date.
    public static func collect(manifest: URL) -> Provenance {
        let commit = git(["rev-parse", "HEAD"]) ?? "unknown"
        let dirty = (git(["status", "--porcelain", "--untracked-files=no"]) ?? "").isEmpty ? "" : " (with uncommitted changes)"
        let manifestHash = (try? Data(contentsOf: manifest)).map(SHA256Text.hex) ?? "unreadable"
        let versions: [(String, String)] = [
            ("FFmpeg", MediaLibraries.ffmpegVersion), ("HDF5", MediaLibraries.hdf5Version),
            ("OpenBLAS", "\(BLAS.config) (kernel \(BLAS.coreName))"), ("threads", "\(Parallel.threadCount)"),
        ]
        let date = ISO8601DateFormatter().string(from: Date())
        return Provenance(gitCommit: commit + dirty, manifestHash: manifestHash, versions: versions,
                          machine: Runner.machineDescription(), date: date)
    }

    static func git(_ args: [String]) -> String? {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["git"] + args
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        guard (try? p.run()) != nil else { return nil }
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { return nil }
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
