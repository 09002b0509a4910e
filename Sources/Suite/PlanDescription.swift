import Foundation

/// What `bench plan` prints: the DAG, what is cached, each stage's estimated cost; and the
/// paper scale's per-suite cost in place of a run.
public struct PlanDescription {
    public var store: RunStore
    public var executors: ExecutorRegistry
    public init(store: RunStore, executors: ExecutorRegistry) { self.store = store; self.executors = executors }

    func estimate(_ stage: PlannedStage, scale: Scale) throws -> CostEstimate? {
        try executors[stage.kind]?.estimate(stage, scale: scale)
    }

    public func describe(_ plan: Plan) throws -> String {
        var out = "\(plan.suite.name) at scale \(plan.scale.rawValue): \(plan.stages.count) stages, \(plan.cells.count) cells\n"
        var totalMacs = 0.0, totalCPU = 0.0, cpuKnown = true
        for stage in plan.stages {
            let state = try store.result(stage.identity) != nil ? "cached " : "pending"
            let needs = stage.inputs.compactMap { id in plan.stage(identity: id)?.key }
            var line = "  [\(state)] \(stage.key)  \(stage.shortIdentity)"
            if !needs.isEmpty { line += "  ← " + needs.joined(separator: ", ") }
            if let e = try estimate(stage, scale: plan.scale) {
                totalMacs += e.macs
                if let c = e.cpuSeconds { totalCPU += c } else { cpuKnown = false }
                line += String(format: "  %.2g TMAC", e.macs / 1e12)
                if let c = e.cpuSeconds { line += "  ≈ \(ProgressSink.duration(c)) here" }
                line += plan.scale == .paper ? String(format: "  ≈ %.1f GPU-h", CostModel.gpuHours(macs: e.macs)) : ""
            }
            out += line + "\n"
        }
        out += String(format: "total: %.3g TMAC", totalMacs / 1e12)
        if cpuKnown && totalCPU > 0 { out += ", ≈ \(ProgressSink.duration(totalCPU)) on this machine" }
        if plan.scale == .paper {
            out += String(format: ", ≈ %.0f GPU-hours (%@)", CostModel.gpuHours(macs: totalMacs), CostModel.assumption)
        }
        return out + "\n"
    }

    /// A stage's resolved configuration, one setting a line, with where each value came from.
    public func explain(_ stage: PlannedStage, schema: ConfigurationSchema?) -> String {
        var out = "\(stage.key)  kind \(stage.kind)  identity \(stage.shortIdentity)\n"
        if let d = stage.dataset { out += "  dataset \(d)\n" }
        let width = max(8, stage.settingOrder.map(\.count).max() ?? 0)
        for name in stage.settingOrder {
            let value = stage.params[name].map(\.description) ?? "(unset)"
            let origin = stage.origins[name].map(\.description) ?? "default"
            var line = "  " + name.padding(toLength: width, withPad: " ", startingAt: 0) + "  "
            line += value.padding(toLength: max(12, value.count), withPad: " ", startingAt: 0) + "  ← " + origin
            if let doc = schema?.setting(name)?.doc, !doc.isEmpty { line += "  — " + doc }
            out += line + "\n"
        }
        return out
    }

    /// The message that replaces a paper-scale run: estimated GPU-hours per suite.
    public func paperRefusal(_ plans: [Plan]) throws -> String {
        var lines = ["The paper scale needs a GPU cluster; nothing was started. Estimated cost per suite:"]
        for plan in plans {
            let gpuHours = try plan.stages.compactMap { try estimate($0, scale: .paper) }.map { CostModel.gpuHours(macs: $0.macs) }
            lines.append("  \(plan.suite.name): \(plan.stages.count) stages, ≈ \(String(format: "%.0f", gpuHours.reduce(0, +))) GPU-hours")
        }
        lines.append("(\(CostModel.assumption)) Use `bench plan SUITE --scale paper` for the per-stage breakdown.")
        return lines.joined(separator: "\n")
    }
}
