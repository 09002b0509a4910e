import Foundation

/// Reading a manifest entry's split through its format adapter.
public enum Dataset {
    /// The records and classes of one split of `entry` (paths already resolved, as
    /// `DatasetManifest.load` leaves them). Annotation problems throw; videos are not opened
    /// (`DatasetCheck` decodes them).
    public static func load(_ entry: DatasetEntry, split: SplitName) throws(DatasetError) -> DatasetSplit {
        switch entry.format {
        case .kinetics400: return try KineticsAdapter.load(entry, split: split)
        case .ucf101: return try UCF101Adapter.load(entry, split: split)
        case .hmdb51: return try HMDB51Adapter.load(entry, split: split)
        case .ava: return try AVAAdapter.load(entry, split: split)
        case .epic55: return try EpicAdapter.load(entry, split: split)
        }
    }

    static func join(_ a: String, _ b: String) -> String { (a as NSString).appendingPathComponent(b) }

    static func isDirectory(_ path: String) -> Bool {
        var d: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &d) && d.boolValue
    }

    static func exists(_ path: String) -> Bool { FileManager.default.fileExists(atPath: path) }

    static func required(_ value: String?, _ key: String, _ entry: DatasetEntry) throws(DatasetError) -> String {
        guard let value else { throw entry.error(nil, "missing required key '\(key)'") }
        return value
    }
}
