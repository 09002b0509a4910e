import Foundation

/// Per-epoch values kept next to a run's checkpoint (`epochs.json`), so a resumed run still
/// reports the epochs it ran before the interruption: `{"values": [{"epoch": 0, "loss": …}]}`.
public struct EpochLog: Codable, Sendable {
    public var values: [[String: Double]] = []
    public init() {}
    public static func load(_ url: URL) throws -> EpochLog {
        guard FileManager.default.fileExists(atPath: url.path) else { return EpochLog() }
        do { return try JSONDecoder().decode(EpochLog.self, from: Data(contentsOf: url)) } catch {
            throw IncompatibleCheckpoint(path: url.path, reason: "unreadable epoch log: \(error)")
        }
    }
    /// Written with sorted keys, so the same epochs give the same bytes.
    public func save(_ url: URL) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        try encoder.encode(self).write(to: url, options: .atomic)
    }

    /// The log beside a checkpoint: `epochs.json` in its folder.
    public static func url(besideCheckpoint checkpoint: URL) -> URL {
        checkpoint.deletingLastPathComponent().appendingPathComponent("epochs.json")
    }

    /// Replaces `row`'s epoch (a redone epoch records the same again) and keeps epoch order.
    public mutating func record(_ row: [String: Double]) {
        values = (values.filter { $0["epoch"] != row["epoch"] } + [row]).sorted { ($0["epoch"] ?? 0) < ($1["epoch"] ?? 0) }
    }
}

extension TrainingLoop {
    /// Notes a step's progress values for the epoch log (`epochLog`): `loss` is averaged over
    /// the epoch's steps, `lr` kept as its last step's. The sums live in `epochSums`, so an
    /// epoch resumed part-way logs what an uninterrupted one does. Then forwards to `progress`.
    public func report(_ p: TrainingProgress, to progress: ProgressHandler) throws {
        if epochLog != nil {
            for (name, value) in p.values {
                if name == "lr" { epochSums["log.lr"] = value } else { epochSums["log.sum.\(name)", default: 0] += value }
            }
            epochSums["log.steps", default: 0] += 1
        }
        try progress(p)
    }

    /// Writes the finished epoch's row (rank 0) and clears its sums.
    func logEpoch(_ epoch: Int) throws {
        guard let url = epochLog else { return }
        var row: [String: Double] = ["epoch": Double(epoch)]
        let steps = max(1, epochSums["log.steps"] ?? 0)
        for (key, value) in epochSums where key.hasPrefix("log.sum.") { row[String(key.dropFirst(8))] = value / steps }
        if let lr = epochSums["log.lr"] { row["lr"] = lr }
        if group.rank == 0 {
            var log = try EpochLog.load(url)
            log.record(row)
            try log.save(url)
        }
        for key in epochSums.keys where key.hasPrefix("log.") { epochSums[key] = nil }
    }
}
