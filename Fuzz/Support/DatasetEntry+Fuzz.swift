// Shared by the dataset-adapter fuzz targets.
@testable import Datasets
import Foundation

extension DatasetEntry {
    /// An entry of `format` whose root is the scratch folder and whose annotation keys name
    /// the files a target wrote (manifest key → path), with split 1.
    static func fuzz(format: DatasetFormat, keys: [String: String]) -> DatasetEntry {
        var e = DatasetEntry(name: "fuzz", format: format, root: scratch)
        e.split = 1
        e.origin.file = "fuzz/datasets.yaml"
        for (key, path) in keys {
            switch key {
            case "annotations": e.annotations = path
            case "train": e.train = path
            case "test": e.test = path
            case "label_map": e.labelMap = path
            case "train_exclusions": e.trainExclusions = path
            case "test_exclusions": e.testExclusions = path
            case "train_proposals": e.trainProposals = path
            case "test_proposals": e.testProposals = path
            case "verb_classes": e.verbClasses = path
            case "noun_classes": e.nounClasses = path
            case "video_info": e.videoInfo = path
            default: fatalError("fuzz harness: unknown manifest key \(key)")
            }
        }
        return e
    }
}
