// Shared by every fuzz target (compiled into each; see scripts/fuzz and docs/fuzzing.md).
import Foundation

/// This process's scratch folder (tmpfs when there is one): parsers that read files get the
/// input written here, under fixed names, overwritten by each input.
let scratch: String = {
    let base = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()
    let dir = (base as NSString).appendingPathComponent("tempo-fuzz-\(getpid())")
    do { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) } catch {
        fatalError("fuzz harness: cannot create its scratch folder \(dir): \(error)")
    }
    atexit { try? FileManager.default.removeItem(atPath: scratchAtExit) }
    scratchAtExit = dir
    return dir
}()
nonisolated(unsafe) var scratchAtExit = ""

/// The input bytes.
func bytes(_ data: UnsafePointer<UInt8>, _ size: Int) -> Data { Data(bytes: data, count: size) }

/// The input split into `count` parts at lines `~~~` (so one input fills several files);
/// missing parts are empty, extra separators stay in the last part.
func parts(_ data: Data, _ count: Int) -> [Data] {
    let separator = Data("\n~~~\n".utf8)
    var out: [Data] = []
    var rest = data[...]
    while out.count < count - 1, let r = rest.range(of: separator) {
        out.append(Data(rest[..<r.lowerBound]))
        rest = rest[r.upperBound...]
    }
    out.append(Data(rest))
    while out.count < count { out.append(Data()) }
    return out
}

/// Writes `contents` to `name` under a folder of the scratch folder; returns the path.
@discardableResult
func write(_ contents: Data, _ name: String, in folder: String = "") -> String {
    let dir = folder.isEmpty ? scratch : (scratch as NSString).appendingPathComponent(folder)
    let path = (dir as NSString).appendingPathComponent(name)
    do {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try contents.write(to: URL(fileURLWithPath: path))
    } catch {
        fatalError("fuzz harness: cannot write \(path): \(error)")
    }
    return path
}

/// Removes a folder of the scratch folder (between inputs that write a varying set of files).
func clear(_ folder: String) {
    let dir = (scratch as NSString).appendingPathComponent(folder)
    if FileManager.default.fileExists(atPath: dir) {
        do { try FileManager.default.removeItem(atPath: dir) } catch { fatalError("fuzz harness: cannot remove \(dir): \(error)") }
    }
}

/// The property every parser of outside input must have besides not trapping: its error
/// names the file it rejects (one of `files`). A violation stops the fuzzer like a crash.
func expectNamed(_ error: Error, _ files: [String], _ what: String) {
    let text = "\(error)"
    guard files.contains(where: { text.contains($0) }) else {
        fatalError("\(what): the error does not name its file (\(files.joined(separator: ", "))): \(text)")
    }
}
