import Foundation

/// A numeric regression baseline: one cell per (stage identity, metric), whatever suites
/// share the stage, each with its own tolerance. Counts are cells too (`count.NAME`).
public struct Baseline: Codable, Sendable, Equatable {
    public struct Cell: Codable, Sendable, Equatable {
        /// The stage's identity: what the cell is keyed by.
        public var identity: String
        /// The stage's key (`pretrain[backbone=r18,seed=0]`) and the suites that plan it, for messages.
        public var stage: String
        public var suites: [String]
        public var metric: String
        public var expected: Double
        /// Absolute tolerance (0: must match exactly).
        public var tolerance: Double
    }
    public var scale: String
    /// The numeric platform every result of the baseline was computed on
    /// (`StageResult.numerics`: CPU, threads, BLAS kernel, ranks), when they share one.
    /// Results from the same platform must match the baseline exactly; results from another
    /// round differently and are held to each cell's tolerance instead.
    public var numerics: String? = nil
    public var cells: [Cell]

    public static func load(_ url: URL) throws -> Baseline {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw SuiteFileError(file: url.path, line: nil, key: "", message: "cannot read the baseline: \(error.localizedDescription)")
        }
        do { return try JSONDecoder().decode(Baseline.self, from: data) } catch let DecodingError.keyNotFound(key, ctx) {
            throw SuiteFileError(file: url.path, line: nil, key: (ctx.codingPath.map(\.stringValue) + [key.stringValue]).joined(separator: "."),
                                 message: "missing key (write a new baseline with `bench check --write-baseline FILE`)")
        } catch {
            throw SuiteFileError(file: url.path, line: nil, key: "", message: "not a valid baseline: \(error)")
        }
    }

    public func write(to url: URL) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(self).write(to: url, options: .atomic)
    }

    /// How far a value may move. Constants of the data and schedule (chance level, epochs,
    /// evaluated videos) and counts must not move at all; losses move relative to their
    /// size; accuracies, mAP and the other learned fractions by `learned` (absolute).
    public static func tolerance(metric: String, value: Double, learned: Double) -> Double {
        if metric.hasPrefix("count.") || ["chance", "epochs", "mass_videos"].contains(metric) { return 0 }
        if metric.hasPrefix("loss") { return max(learned, 0.02 * abs(value)) }
        return learned
    }

    /// A baseline of every metric and count of the given stages (one cell per identity and
    /// metric, in a fixed order whatever order the suites ran in).
    public static func from(stages: [(stage: PlannedStage, result: StageResult)], scale: Scale, learnedTolerance: Double) -> Baseline {
        var byIdentity: [String: (key: String, suites: Set<String>, result: StageResult)] = [:]
        for (stage, result) in stages {
            byIdentity[stage.identity, default: (stage.key, [], result)].suites.insert(stage.suite)
        }
        var cells: [Cell] = []
        for identity in byIdentity.keys.sorted() {
            let (key, suites, r) = byIdentity[identity]!
            var values = r.metrics
            for (name, n) in r.counts { values["count.\(name)"] = Double(n) }
            for metric in values.keys.sorted() {
                let v = values[metric]!
                cells.append(Cell(identity: identity, stage: key, suites: suites.sorted(), metric: metric, expected: v,
                                  tolerance: tolerance(metric: metric, value: v, learned: learnedTolerance)))
            }
        }
        let platforms = Set(byIdentity.values.map { $0.result.numerics ?? "" })
        var b = Baseline(scale: scale.rawValue, cells: cells)
        if platforms.count == 1, let p = platforms.first, !p.isEmpty { b.numerics = p }
        return b
    }

    /// Whether `results` come from the baseline's own numeric platform, so that they must
    /// reproduce it bit for bit.
    public func isExact(for results: [StageResult]) -> Bool {
        guard let numerics else { return false }
        let ids = Set(cells.map(\.identity))
        let mine = results.filter { ids.contains($0.identity) }
        return !mine.isEmpty && mine.allSatisfy { $0.numerics == numerics }
    }

    /// Every cell outside its tolerance or without a result, naming suite, stage and metric.
    /// On the baseline's own numeric platform (`isExact`) every tolerance is zero.
    public func violations(results: [StageResult]) -> [String] {
        var byIdentity: [String: StageResult] = [:]
        for r in results { byIdentity[r.identity] = r }
        let exact = isExact(for: results)
        return cells.compactMap { cell in
            let tolerance = exact ? 0 : cell.tolerance
            let name = "\(cell.suites.joined(separator: ",")) \(cell.stage) \(cell.metric)"
            guard let r = byIdentity[cell.identity] else {
                return "\(name): no stored result for stage \(cell.identity.prefix(16)) (not run, or its configuration changed: rerun and write a new baseline)"
            }
            let v: Double
            if cell.metric.hasPrefix("count.") {
                guard let n = r.counts[String(cell.metric.dropFirst("count.".count))] else { return "\(name): no such count in the result" }
                v = Double(n)
            } else {
                guard let m = r.metrics[cell.metric] else { return "\(name): no such metric in the result" }
                v = m
            }
            guard abs(v - cell.expected) <= tolerance else {
                return exact ? String(format: "%@: %.6g, expected exactly %.6g (same numeric platform)", name, v, cell.expected)
                             : String(format: "%@: %.4f, expected %.4f ± %.4f", name, v, cell.expected, tolerance)
            }
            return nil
        }
    }
}
