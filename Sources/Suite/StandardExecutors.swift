import Foundation

/// The stage kinds tempo-bench ships.
public enum StandardExecutors {
    public static func registry() -> ExecutorRegistry {
        ExecutorRegistry([])
    }

    /// Generates missing synthetic datasets for the ci scale.
    public static func prepareDatasets(manifest: URL, scale: Scale, progress: ProgressSink) throws {}
}
