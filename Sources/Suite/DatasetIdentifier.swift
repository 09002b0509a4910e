import Datasets
import Foundation
import Media

/// A dataset's identity for stage identities: its name, format, split, decode options and
/// the bytes of the annotation files its format declares (split lists, CSVs, label maps),
/// keyed by manifest key, so regenerated or edited annotations invalidate the stages that
/// read them. No path enters it: a run store stays valid after a clone, a move, or on nodes
/// that mount the data at other paths. Video bytes are not hashed here (the clip cache keys
/// them itself); synthetic data are identified by their generator's stamp.
public struct DatasetIdentifier: Sendable {
    public var manifest: URL
    public var scale: Scale
    /// Whether every path the entry names must exist (set when a run is about to start; a
    /// plan alone also serves to price the paper scale on a machine without its data).
    public var checkPaths: Bool

    public init(manifest: URL, scale: Scale, checkPaths: Bool = false) {
        self.manifest = manifest; self.scale = scale; self.checkPaths = checkPaths
    }

    /// The problem with each dataset of `plan` whose files are missing (empty when none).
    public func missingData(_ plan: Plan) -> [String] {
        var out: [String] = []
        for name in Set(plan.stages.compactMap(\.dataset)).sorted() {
            do {
                try DatasetManifest.load(manifest.path, scale: scale.rawValue, checkPaths: false).entry(name).checkPaths()
            } catch {
                out.append("\(error)")
            }
        }
        return out
    }

    public func identity(_ name: String) throws -> String {
        let entry = try DatasetManifest.load(manifest.path, scale: scale.rawValue, checkPaths: false).entry(name)
        if checkPaths { try entry.checkPaths() }
        var text = "\(entry.name)|\(entry.format.rawValue)|\(entry.splitNumber)|\(String(describing: entry.decode))"
        for (key, path) in entry.annotationFiles {
            text += "\n" + key + "=" + Self.contentHash(path)
        }
        // Synthetic videos change with the generator while their annotation files may not:
        // the generator's stamp (version and configuration) in the root or a folder above it
        // makes regenerated data a new identity.
        var folder = URL(fileURLWithPath: entry.root).standardizedFileURL
        for _ in 0..<4 {
            let stamp = folder.appendingPathComponent(SyntheticDatasets.stampFile).path
            if FileManager.default.fileExists(atPath: stamp) { text += "\nsynthetic=" + Self.contentHash(stamp); break }
            folder.deleteLastPathComponent()
        }
        return SHA256Text.hex(text)
    }

    /// Hash of a file, or of a folder's files (names and bytes), or "missing".
    static func contentHash(_ path: String) -> String {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else { return "missing" }
        if !isDir.boolValue { return (try? SHA256.hex(fileAt: path)) ?? "unreadable" }
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted()
        return SHA256Text.hex(names.map { "\($0):" + ((try? SHA256.hex(fileAt: path + "/" + $0)) ?? "-") }.joined(separator: ","))
    }
}
