import Foundation

/// Checks a suite's claims against stored results.
public struct ClaimJudge {
    public var plan: Plan
    public var results: [String: StageResult]

    /// Mean of a metric over the plan's cells matching `filter` (nil when none is stored).
    func mean(_ metric: SuiteSpec.MetricRef, _ filter: [String: [String]]) -> (Double, Int)? {
        var values: [Double] = []
        var seen = Set<String>()
        for cell in plan.cells where matches(cell, filter) {
            guard let stage = plan.instance(of: metric.stage, for: cell), seen.insert(stage.identity).inserted,
                  let v = results[stage.identity]?.metrics[metric.metric] else { continue }
            values.append(v)
        }
        return values.isEmpty ? nil : (values.reduce(0, +) / Double(values.count), values.count)
    }

    /// One line of the index: the claim, its verdict at this scale and the numbers.
    public func line(_ claim: SuiteSpec.Claim) -> String {
        let other = claim.thanMetric ?? claim.metric
        let percent = plan.suite.report?.percent ?? true
        func f(_ x: Double) -> String { String(format: "%.1f", percent ? x * 100 : x) }
        guard let a = mean(claim.metric, claim.better), let b = mean(other, claim.than) else {
            return "\(claim.text): not measured (stages not finished)."
        }
        let verdict = a.0 > b.0 ? "**holds**" : "**does not hold**"
        let names = other == claim.metric ? "\(claim.metric.stage).\(claim.metric.metric)"
            : "\(claim.metric.stage).\(claim.metric.metric) vs \(other.stage).\(other.metric)"
        return "\(claim.text): \(verdict) at this scale (\(f(a.0)) vs \(f(b.0)), \(names))."
    }
}
