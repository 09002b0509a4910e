// A suite file (Suites/*.yaml): the reader, then the planner, which validates every setting
// against the stage kinds' schemas, then what `bench plan` prints (cost estimates from the
// settings) and a report of the unrun plan.
@testable import Suite
import Foundation

let executors = StandardExecutors.registry(manifest: URL(fileURLWithPath: "/nonexistent/datasets.yaml"))
let store = RunStore(root: URL(fileURLWithPath: "/nonexistent/runs"))

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let path = write(bytes(data, size), "suite.yaml")
    let spec: SuiteSpec
    do { spec = try SuiteSpec.load(URL(fileURLWithPath: path)) } catch { expectNamed(error, [path], "suite"); return 0 }
    for scale in [Scale.ci, .paper] {
        do {
            let plan = try Planner(executors: executors, datasetIdentity: { _ in "fuzz" }).plan(spec, scale: scale)
            _ = try PlanDescription(store: store, executors: executors).describe(plan)
            _ = ReportWriter().render(plan: plan, results: [:], provenance: Provenance(gitCommit: "", manifestHash: "", versions: [],
                                                                                      machine: "", date: ""))
        } catch {
            _ = "\(error)"
        }
    }
    return 0
}
