import Datasets
import Foundation
import Media
import Tensors

/// Errors that stop a suite command before it runs anything.
public struct SuiteCommandError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}

/// Everything the suite commands share: where suites, manifest, run store and reports live,
/// the stage executors, and the planner.
public struct SuiteEnvironment {
    public var suitesDirectory: URL
    public var manifest: URL
    public var store: RunStore
    public var reports: URL
    public var progress: ProgressSink
    public var executors: ExecutorRegistry
    public var scale: Scale

    public init(suitesDirectory: URL, manifest: URL, store: URL, reports: URL, progress: ProgressSink,
                scale: Scale, cacheDirectory: URL = URL(fileURLWithPath: "cache"), executors: ExecutorRegistry? = nil) throws {
        self.suitesDirectory = suitesDirectory; self.manifest = manifest
        self.store = RunStore(root: store); self.reports = reports; self.progress = progress
        self.scale = scale
        self.executors = executors ?? StandardExecutors.registry(manifest: manifest, scale: scale, cacheDirectory: cacheDirectory)
    }

    /// Suite names (files `NAME.yaml`), sorted.
    public func allSuites() throws -> [String] {
        let names = try FileManager.default.contentsOfDirectory(atPath: suitesDirectory.path)
        return names.filter { $0.hasSuffix(".yaml") }.map { String($0.dropLast(5)) }.sorted()
    }

    public func suiteURL(_ name: String) -> URL { suitesDirectory.appendingPathComponent("\(name).yaml") }

    public func load(_ name: String) throws -> SuiteSpec {
        let url = suiteURL(name)
        guard FileManager.default.fileExists(atPath: url.path) else {
            let known = (try? allSuites().joined(separator: ", ")) ?? ""
            throw SuiteCommandError(message: "\(url.path): no such suite (suites: \(known))")
        }
        return try SuiteSpec.load(url)
    }

    /// A dataset's identity: its manifest entry and the bytes of its annotation files (split
    /// lists, CSVs, label maps), so regenerated or edited annotations invalidate the stages
    /// that read them. Video bytes are not hashed here; the clip cache keys them itself.
    func datasetIdentity(_ name: String) throws -> String {
        let entry = try DatasetManifest.load(manifest.path, scale: scale.rawValue, checkPaths: false).entry(name)
        var text = "\(entry.name)|\(entry.format.rawValue)|\(entry.root)|\(entry.splitNumber)|\(String(describing: entry.decode))"
        let files = [entry.annotations, entry.train, entry.test, entry.labelMap, entry.trainExclusions, entry.testExclusions,
                     entry.trainProposals, entry.testProposals, entry.verbClasses, entry.nounClasses, entry.videoInfo].compactMap { $0 }
        for path in files {
            text += "\n" + path + "=" + Self.contentHash(path)
        }
        // Synthetic videos change with the generator while their annotation files may not:
        // the generator's stamp (version and configuration) in the root or a folder above it
        // makes regenerated data a new identity.
        var folder = URL(fileURLWithPath: entry.root).standardizedFileURL
        for _ in 0..<4 {
            let stamp = folder.appendingPathComponent(SyntheticDatasets.stampFile).path
            if FileManager.default.fileExists(atPath: stamp) { text += "\nsynthetic=" + Self.contentHash(stamp); break }
            folder.deleteLastPathComponent()
        }
        return SHA256Text.hex(text)
    }

    /// Hash of a file, or of a folder's files (names and bytes), or "missing".
    static func contentHash(_ path: String) -> String {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else { return "missing" }
        if !isDir.boolValue { return (try? SHA256.hex(fileAt: path)) ?? "unreadable" }
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted()
        return SHA256Text.hex(names.map { "\($0):" + ((try? SHA256.hex(fileAt: path + "/" + $0)) ?? "-") }.joined(separator: ","))
    }

    public func plan(_ name: String, scale: Scale) throws -> Plan {
        try Planner(executors: executors, datasetIdentity: datasetIdentity).plan(load(name), scale: scale)
    }

    public func run(_ plan: Plan, jobs: Int) throws {
        progress.log("suite   \(plan.suite.name) at scale \(plan.scale.rawValue): \(plan.stages.count) stages")
        try Runner(store: store, executors: executors, progress: progress, jobs: jobs).run(plan)
    }

    /// At the paper scale nothing starts: the cost is printed instead.
    public func refuseUnaffordable(scale: Scale) throws {
        guard scale == .paper else { return }
        var lines = ["The paper scale needs a GPU cluster; nothing was started. Estimated cost per suite:"]
        for name in try allSuites() {
            let plan = try self.plan(name, scale: .paper)
            let gpuHours = plan.stages.compactMap { executors[$0.kind]?.estimate($0, scale: .paper) }.map { CostModel.gpuHours(macs: $0.macs) }
            lines.append("  \(name): \(plan.stages.count) stages, ≈ \(String(format: "%.0f", gpuHours.reduce(0, +))) GPU-hours")
        }
        lines.append("(\(CostModel.assumption)) Use `bench plan SUITE --scale paper` for the per-stage breakdown.")
        throw SuiteCommandError(message: lines.joined(separator: "\n"))
    }

    /// Generates the synthetic datasets the ci scale reads when they are missing.
    public func prepareDatasets(scale: Scale) throws {
        try StandardExecutors.prepareDatasets(manifest: manifest, scale: scale, progress: progress)
    }

    /// The DAG, what is cached, and the estimated cost.
    public func describePlan(_ plan: Plan) throws -> String {
        var out = "\(plan.suite.name) at scale \(plan.scale.rawValue): \(plan.stages.count) stages, \(plan.cells.count) cells\n"
        var totalMacs = 0.0, totalCPU = 0.0, cpuKnown = true
        for stage in plan.stages {
            let state = try store.result(stage.identity) != nil ? "cached " : "pending"
            let needs = stage.inputs.compactMap { id in plan.stage(identity: id)?.key }
            var line = "  [\(state)] \(stage.key)  \(stage.shortIdentity)"
            if !needs.isEmpty { line += "  ← " + needs.joined(separator: ", ") }
            if let e = executors[stage.kind]?.estimate(stage, scale: plan.scale) {
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

    public func provenance() -> Provenance {
        let commit = Self.git(["rev-parse", "HEAD"]) ?? "unknown"
        let dirty = (Self.git(["status", "--porcelain", "--untracked-files=no"]) ?? "").isEmpty ? "" : " (with uncommitted changes)"
        let manifestHash = (try? Data(contentsOf: manifest)).map(SHA256Text.hex) ?? "unreadable"
        let versions: [(String, String)] = [
            ("FFmpeg", MediaLibraries.ffmpegVersion), ("HDF5", MediaLibraries.hdf5Version),
            ("OpenBLAS", "\(BLAS.config) (kernel \(BLAS.coreName))"), ("threads", "\(Parallel.threadCount)"),
        ]
        let date = ISO8601DateFormatter().string(from: Date())
        return Provenance(gitCommit: commit + dirty, manifestHash: manifestHash, versions: versions,
                          machine: Runner.machineDescription(), date: date)
    }

    static func git(_ args: [String]) -> String? {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["git"] + args
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        guard (try? p.run()) != nil else { return nil }
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { return nil }
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    public func results(_ plan: Plan) throws -> [String: StageResult] {
        var out: [String: StageResult] = [:]
        for s in plan.stages { if let r = try store.result(s.identity) { out[s.identity] = r } }
        return out
    }

    /// Writes a suite's report. Pass one `provenance` for a batch of reports: computed per
    /// report, the git state would count the reports already written as uncommitted changes.
    public func writeReport(_ plan: Plan, provenance given: Provenance? = nil) throws {
        guard let report = plan.suite.report else { return }
        try FileManager.default.createDirectory(at: reports, withIntermediateDirectories: true)
        let stored = try results(plan)
        var md = ReportWriter().render(plan: plan, results: stored, provenance: given ?? provenance())
        // Figures (artifacts named figure.N) are copied beside the report and embedded.
        var figures = ""
        let folder = reports.appendingPathComponent("figures")
        for stage in plan.stages {
            guard let r = stored[stage.identity] else { continue }
            for key in r.artifacts.keys.filter({ $0.hasPrefix("figure.") }).sorted() {
                try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
                let name = "\(plan.suite.name)-\(stage.shortIdentity)-\(key.dropFirst("figure.".count)).png"
                let target = folder.appendingPathComponent(name)
                try? FileManager.default.removeItem(at: target)
                try FileManager.default.copyItem(at: store.directory(stage.identity).appendingPathComponent(r.artifacts[key]!), to: target)
                figures += "\n**\(stage.key)**, figure \(key.dropFirst("figure.".count)):\n\n![ICM](figures/\(name))\n"
            }
        }
        if !figures.isEmpty { md += "\n## Figures\n" + figures }
        let url = reports.appendingPathComponent(report.file)
        try md.write(to: url, atomically: true, encoding: .utf8)
        progress.log("report  \(url.path)")
    }

    /// Mean of a metric over the plan's cells matching `filter` (nil when none is stored).
    func mean(_ plan: Plan, _ metric: SuiteSpec.MetricRef, _ filter: [String: [String]], _ stored: [String: StageResult]) -> (Double, Int)? {
        var values: [Double] = []
        var seen = Set<String>()
        for cell in plan.cells where matches(cell, filter) {
            guard let stage = plan.instance(of: metric.stage, for: cell), seen.insert(stage.identity).inserted,
                  let v = stored[stage.identity]?.metrics[metric.metric] else { continue }
            values.append(v)
        }
        return values.isEmpty ? nil : (values.reduce(0, +) / Double(values.count), values.count)
    }

    /// `reports/README.md`: the results section for the scale that produced the reports,
    /// with each suite's claims checked against the stored numbers.
    public func writeReportsIndex(_ plans: [Plan]) throws {
        try FileManager.default.createDirectory(at: reports, withIntermediateDirectories: true)
        let scale = plans.first?.scale.rawValue ?? "?"
        var out = "# Results at the \(scale) scale\n\n"
        out += "Generated by `bench report` from the stored results of `bench all --scale \(scale)`; "
        out += "every number below links back to a stage result in the run store. "
        if scale == "ci" {
            out += "The ci scale trains quarter-width R18 networks on 32-pixel crops of small synthetic datasets for a few "
            out += "hundred steps: it checks that every protocol runs end to end and that its numbers do not drift, "
            out += "not that the paper's absolute numbers are reached.\n\n"
        } else {
            out += "\n\n"
        }
        for plan in plans {
            let stored = try results(plan)
            out += "## [\(plan.suite.title)](\(plan.suite.report?.file ?? ""))\n\n"
            out += "\(stored.count) of \(plan.stages.count) stages finished.\n\n"
            for claim in plan.suite.claims {
                let other = claim.thanMetric ?? claim.metric
                let a = mean(plan, claim.metric, claim.better, stored), b = mean(plan, other, claim.than, stored)
                let percent = plan.suite.report?.percent ?? true
                func f(_ x: Double) -> String { String(format: "%.1f", percent ? x * 100 : x) }
                if let a, let b {
                    let verdict = a.0 > b.0 ? "**holds**" : "**does not hold**"
                    let names = other == claim.metric ? "\(claim.metric.stage).\(claim.metric.metric)"
                        : "\(claim.metric.stage).\(claim.metric.metric) vs \(other.stage).\(other.metric)"
                    out += "- \(claim.text): \(verdict) at this scale (\(f(a.0)) vs \(f(b.0)), \(names)).\n"
                } else {
                    out += "- \(claim.text): not measured (stages not finished).\n"
                }
            }
            if !plan.suite.claims.isEmpty { out += "\n" }
        }
        try out.write(to: reports.appendingPathComponent("README.md"), atomically: true, encoding: .utf8)
        try pruneFigures()
    }

    /// Removes files of `reports/figures` that no report links to any more (figures are named
    /// by stage identity, so a changed stage leaves its old figures behind). Runs with the
    /// index, i.e. only once every suite's report has been rewritten.
    func pruneFigures() throws {
        let folder = reports.appendingPathComponent("figures")
        let fm = FileManager.default
        guard let names = try? fm.contentsOfDirectory(atPath: folder.path) else { return }
        var linked = Set<String>()
        for md in try fm.contentsOfDirectory(atPath: reports.path) where md.hasSuffix(".md") {
            let text = try String(contentsOf: reports.appendingPathComponent(md), encoding: .utf8)
            for part in text.components(separatedBy: "](figures/").dropFirst() {
                if let end = part.firstIndex(of: ")") { linked.insert(String(part[..<end])) }
            }
        }
        for name in names where !linked.contains(name) {
            try fm.removeItem(at: folder.appendingPathComponent(name))
            progress.log("removed reports/figures/\(name) (no report links to it)")
        }
    }
}

/// How GPU-hours are estimated from multiply–adds.
public enum CostModel {
    /// Sustained multiply–adds per second of one V100-class GPU on 3D convolutions in mixed
    /// precision (≈ 30 % of its 125 TFLOPS tensor-core peak).
    public static let gpuMACsPerSecond = 0.3 * 125e12 / 2
    public static let assumption = "one V100-class GPU at 30 % of tensor-core peak, ≈ 19 TMAC/s"
    public static func gpuHours(macs: Double) -> Double { macs / gpuMACsPerSecond / 3600 }

    /// Effective multiply–adds per second of a whole training stage on the 2-core
    /// development machine (measured: ci-size networks are dominated by small convolutions
    /// and data preparation, ≈ 11 GMAC/s; full-width ones run closer to the SGEMM rate).
    public static func cpuMACsPerSecond(_ scale: Scale) -> Double { scale == .ci ? 11e9 : 45e9 }
}
