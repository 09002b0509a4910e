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
    /// The git commit of the working directory (marked when tracked files outside `output`,
    /// the folder reports are written to, have uncommitted changes: reports a run rewrites
    /// are its output, not a change to what produced it), the manifest's hash, library
    /// versions, thread count, machine and date. Git runs in `directory` (default: the
    /// current directory).
    public static func collect(manifest: URL, output: URL? = nil, directory: URL? = nil) -> Provenance {
        let git = { (args: [String]) in Self.git(args, in: directory) }
        let commit = git(["rev-parse", "HEAD"]) ?? "unknown"
        // Only a folder inside the work tree can be excluded (git rejects the pathspec
        // otherwise, which would read as a clean tree).
        var outside: [String] = []
        if let output, let top = git(["rev-parse", "--show-toplevel"]) {
            let path = output.standardizedFileURL.resolvingSymlinksInPath().path
            if (path + "/").hasPrefix(URL(fileURLWithPath: top).resolvingSymlinksInPath().path + "/") {
                outside = ["--", ":/", ":(exclude)\(path)"]
            }
        }
        let dirty: String
        switch (commit, git(["status", "--porcelain", "--untracked-files=no"] + outside)) {
        case ("unknown", _): dirty = ""
        case (_, nil): dirty = " (git status failed: uncommitted changes unknown)"
        case let (_, status?): dirty = status.isEmpty ? "" : " (with uncommitted changes)"
        }
        let manifestHash = (try? Data(contentsOf: manifest)).map(SHA256Text.hex) ?? "unreadable"
        let versions: [(String, String)] = [
            ("FFmpeg", MediaLibraries.ffmpegVersion), ("HDF5", MediaLibraries.hdf5Version),
            ("OpenBLAS", "\(BLAS.config) (kernel \(BLAS.coreName))"), ("threads", "\(Parallel.threadCount)"),
        ]
        let date = ISO8601DateFormatter().string(from: Date())
        return Provenance(gitCommit: commit + dirty, manifestHash: manifestHash, versions: versions,
                          machine: Runner.machineDescription(), date: date)
    }

    static func git(_ args: [String], in directory: URL?) -> String? {
        let p = Process()
        p.currentDirectoryURL = directory
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
