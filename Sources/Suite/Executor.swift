import Foundation

/// What a stage produced.
public struct StageOutcome: Sendable {
    public var metrics: [String: Double]
    public var artifacts: [String: String]
    public var counts: [String: Int]
    public var checkpointHash: String?
    public init(metrics: [String: Double], artifacts: [String: String] = [:], counts: [String: Int] = [:],
                checkpointHash: String? = nil) {
        self.metrics = metrics; self.artifacts = artifacts; self.counts = counts; self.checkpointHash = checkpointHash
    }
}

/// A cost estimate of one stage, for `bench plan`.
public struct CostEstimate: Sendable {
    /// Multiply–adds of all training and evaluation passes.
    public var macs: Double
    /// Seconds on this machine, from measured throughput (nil when not measured).
    public var cpuSeconds: Double?
    public var notes: String
    public init(macs: Double, cpuSeconds: Double?, notes: String) { self.macs = macs; self.cpuSeconds = cpuSeconds; self.notes = notes }
}

/// Everything a running stage may use.
public struct StageContext: Sendable {
    /// The stage's own directory in the run store: checkpoints live here and survive a kill.
    public var workDirectory: URL
    public var scale: Scale
    /// Results of the stages it needs, in `needs` order.
    public var inputs: [StageResult]
    public var store: RunStore
    public var progress: ProgressSink
}

/// Runs one kind of stage (pretrain, finetune, …). Implementations must resume from
/// their own checkpoints in `workDirectory` when restarted.
public protocol StageExecutor: Sendable {
    var kind: String { get }
    /// Bumped whenever the stage's semantics change, so stored results are not reused.
    var codeVersion: String { get }
    func run(_ stage: PlannedStage, context: StageContext) throws -> StageOutcome
    func estimate(_ stage: PlannedStage, scale: Scale) -> CostEstimate?
    /// Axes whose values this kind reads as parameters (and so belong to its identity).
    /// Other axes only multiply instances: a fine-tune's α reaches it through its input.
    var axisParameters: Set<String> { get }
}

extension StageExecutor {
    public var axisParameters: Set<String> { ["backbone", "seed"] }
    public func estimate(_ stage: PlannedStage, scale: Scale) -> CostEstimate? { nil }
}

/// Executors by kind.
public struct ExecutorRegistry: Sendable {
    var byKind: [String: any StageExecutor] = [:]
    public init(_ executors: [any StageExecutor] = []) { for e in executors { register(e) } }
    public mutating func register(_ e: any StageExecutor) { byKind[e.kind] = e }
    public subscript(kind: String) -> (any StageExecutor)? { byKind[kind] }
    public var kinds: [String] { byKind.keys.sorted() }
}
