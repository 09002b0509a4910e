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

    /// With `ranks` above one, each training stage's line adds its data-parallel cost on that
    /// many ranks linked at `linkGbits` (`CostModel.dataParallel`): one GPU a rank at the
    /// paper scale, one machine like this one otherwise.
    public func describe(_ plan: Plan, ranks: Int = 1, linkGbits: Double = 10) throws -> String {
        var out = "\(plan.suite.name) at scale \(plan.scale.rawValue): \(plan.stages.count) stages, \(plan.cells.count) cells\n"
        var totalMacs = 0.0, totalCPU = 0.0, cpuKnown = true
        let rate = plan.scale == .paper ? CostModel.gpuMACsPerSecond : CostModel.cpuMACsPerSecond(plan.scale)
        var oneRank = 0.0, onRanks = 0.0, overlapSaving = 0.0
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
                oneRank += e.macs / rate
                if ranks > 1 {
                    if let dp = CostModel.dataParallel(e, ranks: ranks, gbits: linkGbits, macsPerSecond: rate) {
                        onRanks += dp.totalSeconds
                        line += String(format: "  | %d ranks: ≈ %@ (allreduce %.0f MB/step, %.1f ms against %.1f ms compute; %.0f %% efficient; hidden above %.1f clips/rank; overlap would save ≤ %.0f %%)",
                                       ranks, ProgressSink.duration(dp.totalSeconds), 4 * (e.gradientFloats ?? 0) / 1e6,
                                       dp.perStepAllreduceSeconds * 1e3, dp.perStepComputeSeconds * 1e3,
                                       100 * dp.efficiency(ranks: ranks, oneRankSeconds: e.macs / rate),
                                       dp.hidingBatch, 100 * dp.overlapSavingShare)
                        overlapSaving += dp.overlapSavingSeconds
                    } else {
                        onRanks += e.macs / rate
                        line += "  | rank 0 alone"
                    }
                }
            }
            out += line + "\n"
        }
        out += String(format: "total: %.3g TMAC", totalMacs / 1e12)
        if cpuKnown && totalCPU > 0 { out += ", ≈ \(ProgressSink.duration(totalCPU)) on this machine" }
        if plan.scale == .paper {
            out += String(format: ", ≈ %.0f GPU-hours (%@)", CostModel.gpuHours(macs: totalMacs), CostModel.assumption)
        }
        if ranks > 1, oneRank > 0 {
            out += String(format: "\non %d ranks at %g Gbit/s: ≈ %@ wall against ≈ %@ on one (%@ a rank; ring allreduce, %.0f µs a message, not overlapped)",
                          ranks, linkGbits, ProgressSink.duration(onRanks), ProgressSink.duration(oneRank),
                          plan.scale == .paper ? "one GPU" : "one machine like this one", CostModel.linkLatencySeconds * 1e6)
            out += String(format: "; overlapping the allreduce with the backward pass would save ≤ %@ (%.0f %%)",
                          ProgressSink.duration(overlapSaving), onRanks > 0 ? 100 * overlapSaving / onRanks : 0)
        }
        return out + "\n"
    }

    /// Every suite of a scale at once (`bench plan all`): each distinct stage once (suites
    /// share stages), its state and estimate, then the whole scale's pending cost — what
    /// `bench all` would run — with the synthetic data it would generate and decode first.
    public func describeAll(_ plans: [Plan], dataSeconds: Double?) throws -> String {
        guard let scale = plans.first?.scale else { return "no suites\n" }
        var seen = Set<String>(), out = "", pending = 0.0, cached = 0, count = 0, unknown: [String] = []
        for plan in plans {
            var suiteSeconds = 0.0, fresh = 0
            for stage in plan.stages where seen.insert(stage.identity).inserted {
                count += 1; fresh += 1
                if try store.result(stage.identity) != nil { cached += 1; continue }
                if let c = try estimate(stage, scale: scale)?.cpuSeconds { suiteSeconds += c } else { unknown.append(stage.key) }
            }
            pending += suiteSeconds
            out += "  \(plan.suite.name): \(plan.stages.count) stages, \(fresh) not in an earlier suite, pending ≈ \(ProgressSink.duration(suiteSeconds))\n"
        }
        var head = "every suite at scale \(scale.rawValue): \(count) distinct stages, \(cached) cached\n"
        head += out
        var total = "pending stages ≈ \(ProgressSink.duration(pending)) on this machine"
        if let dataSeconds { total += "; generating and decoding the synthetic data ≈ \(ProgressSink.duration(dataSeconds)); in all ≈ \(ProgressSink.duration(pending + dataSeconds))" }
        if !unknown.isEmpty { total += " (not estimated: \(unknown.joined(separator: ", ")))" }
        return head + total + "\n"
    }

    /// Every distinct stage of a scale as JSON lines: key, kind, identity, whether it is cached,
    /// its training and evaluation multiply–adds and estimated seconds; with the stored wall
    /// time of a cached one (what `benchmarks/plan_calibration.py` fits the rates to).
    public func jsonLines(_ plans: [Plan]) throws -> String {
        guard let scale = plans.first?.scale else { return "" }
        var seen = Set<String>(), out = ""
        for plan in plans {
            for stage in plan.stages where seen.insert(stage.identity).inserted {
                var row: [String: Any] = ["suite": plan.suite.name, "key": stage.key, "kind": stage.kind, "identity": stage.identity]
                if let e = try estimate(stage, scale: scale) {
                    row["train_macs"] = e.trainMACs ?? e.macs; row["eval_macs"] = e.evalMACs ?? 0
                    if let c = e.cpuSeconds { row["estimated_seconds"] = c }
                }
                if let r = try store.result(stage.identity) { row["wall_seconds"] = r.wallSeconds }
                let data = try JSONSerialization.data(withJSONObject: row, options: [.sortedKeys])
                out += String(decoding: data, as: UTF8.self) + "\n"
            }
        }
        return out
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
