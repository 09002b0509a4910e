import Datasets
import Foundation

/// The stage kinds tempo-bench ships.
public enum StandardExecutors {
    /// Executors reading datasets through `manifest` at `scale`, caching decoded clips in
    /// `cacheDirectory`.
    public static func registry(manifest: URL = URL(fileURLWithPath: "datasets.yaml"), scale: Scale = .ci,
                                cacheDirectory: URL = URL(fileURLWithPath: "cache")) -> ExecutorRegistry {
        let data = DataAccess(manifest: manifest, scale: scale, cacheDirectory: cacheDirectory)
        return ExecutorRegistry([
            PretrainExecutor(data: data),
            ClassifierExecutor(kind: "supervised", data: data),
            ClassifierExecutor(kind: "finetune", data: data),
            DetectExecutor(data: data),
            AnticipateExecutor(data: data),
            ICMExecutor(data: data),
            ProbeExecutor(data: data),
        ])
    }

    /// Generates the synthetic datasets (ci, small or mini) when the manifest's files are missing.
    public static func prepareDatasets(manifest: URL, scale: Scale, progress: ProgressSink) throws {
        guard scale != .paper else { return }
        do {
            let m = try DatasetManifest.load(manifest.path, scale: scale.rawValue, checkPaths: false)
            for entry in m.datasets { try entry.checkPaths() }
            return
        } catch {
            progress.log("datasets: \(error) — generating the synthetic \(scale.rawValue) datasets")
        }
        let out = manifest.deletingLastPathComponent().appendingPathComponent("data/synthetic/\(scale.rawValue)").path
        let started = Date()
        guard let synthetic = SyntheticScale(rawValue: scale.rawValue) else {
            throw SuiteCommandError(message: "\(manifest.path): the \(scale.rawValue) scale has no synthetic stand-ins; point the manifest at real data")
        }
        let summary = try SyntheticDatasets.generate(.preset(synthetic), out: out, seed: 0)
        progress.log("datasets: wrote \(summary.videos) videos and \(summary.frameFolders) frame folders to \(out) in \(ProgressSink.duration(Date().timeIntervalSince(started)))")
    }
}
