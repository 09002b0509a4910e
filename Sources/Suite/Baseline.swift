import Foundation

/// A numeric regression baseline: expected values and tolerances per (stage, metric).
public struct Baseline: Codable, Sendable, Equatable {
    public struct Cell: Codable, Sendable, Equatable {
        public var suite: String
        public var stage: String
        public var metric: String
        public var expected: Double
        /// Absolute tolerance.
        public var tolerance: Double
    }
    public var scale: String
    public var cells: [Cell]

    public static func load(_ url: URL) throws -> Baseline {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw SuiteFileError(file: url.path, line: nil, key: "", message: "cannot read the baseline: \(error.localizedDescription)")
        }
        do { return try JSONDecoder().decode(Baseline.self, from: data) } catch let DecodingError.keyNotFound(key, ctx) {
            throw SuiteFileError(file: url.path, line: nil, key: (ctx.codingPath.map(\.stringValue) + [key.stringValue]).joined(separator: "."),
                                 message: "missing key")
        } catch {
            throw SuiteFileError(file: url.path, line: nil, key: "", message: "not a valid baseline: \(error)")
        }
    }

    public func write(to url: URL) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(self).write(to: url, options: .atomic)
    }

    /// A baseline holding every metric of the given results.
    public static func from(results: [StageResult], scale: Scale, tolerance: (String) -> Double) -> Baseline {
        var cells: [Cell] = []
        for r in results.sorted(by: { ($0.suite, $0.key) < ($1.suite, $1.key) }) {
            for metric in r.metrics.keys.sorted() {
                cells.append(Cell(suite: r.suite, stage: r.key, metric: metric, expected: r.metrics[metric]!, tolerance: tolerance(metric)))
            }
        }
        return Baseline(scale: scale.rawValue, cells: cells)
    }

    /// Every cell outside its tolerance (or without a result), as readable lines.
    public func violations(results: [StageResult]) -> [String] {
        var byKey: [String: StageResult] = [:]
        for r in results { byKey["\(r.suite)/\(r.key)"] = r }
        return cells.compactMap { cell in
            guard let r = byKey["\(cell.suite)/\(cell.stage)"] else { return "\(cell.suite)/\(cell.stage): no stored result" }
            guard let v = r.metrics[cell.metric] else { return "\(cell.suite)/\(cell.stage): no metric '\(cell.metric)'" }
            guard abs(v - cell.expected) <= cell.tolerance else {
                return String(format: "%@/%@ %@: %.4f, expected %.4f ± %.4f", cell.suite, cell.stage, cell.metric, v, cell.expected, cell.tolerance)
            }
            return nil
        }
    }
}
