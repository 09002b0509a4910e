import Foundation

/// What a stage produced.
public struct StageOutcome: Sendable {
    public var metrics: [String: Double]
    public var artifacts: [String: String]
    public var counts: [String: Int]
    public var checkpointHash: String?
    /// Per metric, the per-test-item values whose mean it is (1/0 correctness per video):
    /// what a bootstrap over test items resamples.
    public var perItem: [String: [Double]]
    /// Items left out, by reason (`undecodable: truncated`, …) → their names (file paths
    /// relative to the dataset root), sorted; the report lists them.
    public var skipped: [String: [String]]
    /// Per metric that is not a mean of per-item values, what a bootstrap over the test set
    /// needs to recompute it (`ResamplingData`): mAP's matching outcome per test video, a
    /// class-mean recall's (label, hit) pairs. Its value on the whole test set equals the metric.
    public var resampling: [String: ResamplingData]
    public init(metrics: [String: Double], artifacts: [String: String] = [:], counts: [String: Int] = [:],
                checkpointHash: String? = nil, perItem: [String: [Double]] = [:], skipped: [String: [String]] = [:],
                resampling: [String: ResamplingData] = [:]) {
        self.metrics = metrics; self.artifacts = artifacts; self.counts = counts; self.checkpointHash = checkpointHash
        self.perItem = perItem; self.skipped = skipped; self.resampling = resampling
    }
}

/// A cost estimate of one stage, for `bench plan`.
public struct CostEstimate: Sendable {
    /// Multiply–adds of all training and evaluation passes.
    public var macs: Double
    /// Seconds on this machine, from measured throughput (nil when not measured).
    public var cpuSeconds: Double?
    public var notes: String
    /// A training stage's optimiser steps and the trainable values whose gradients each step
    /// allreduces when data-parallel (nil for stages that do not train).
    public var steps: Double? = nil
    public var gradientFloats: Double? = nil
    /// The global batch of a training step.
    public var batch: Int? = nil
    /// The multiply–adds of training passes (3× forward) and of forward-only evaluation.
    public var trainMACs: Double? = nil
    public var evalMACs: Double? = nil
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

/// Runs one kind of stage (pretrain, finetune, …) from its typed configuration.
/// Implementations must resume from their own checkpoints in `workDirectory` when restarted.
public protocol StageExecutor: Sendable {
    associatedtype Configuration: StageConfiguration
    var kind: String { get }
    /// Bumped only when the procedure itself changes (not its settings: those are hashed).
    var codeVersion: String { get }
    /// Whether the stage runs on every rank of an MPI job, each on its slice of every batch
    /// (the trainers); otherwise rank 0 runs it alone while the others wait for its result.
    var dataParallel: Bool { get }
    func run(_ stage: PlannedStage, config: Configuration, context: StageContext) throws -> StageOutcome
    /// Nil when the kind has no cost model; throws when the manifest cannot be read.
    func estimate(_ stage: PlannedStage, config: Configuration, scale: Scale) throws -> CostEstimate?
}

extension StageExecutor {
    public var dataParallel: Bool { false }

    public func estimate(_ stage: PlannedStage, config: Configuration, scale: Scale) throws -> CostEstimate? { nil }

    /// The kind's settings (an axis whose name is a setting is read as that setting).
    public var schema: ConfigurationSchema { Configuration.schema }

    /// Validates and resolves written values into the full configuration.
    public func resolve(_ layers: [(key: String, value: SourcedValue)],
                        fallback: (file: String, line: Int?, key: String)) throws -> ResolvedConfiguration {
        try Configuration.resolve(layers, kind: kind, fallback: fallback).1
    }

    /// Runs a planned stage: its stored resolution decodes back into the configuration.
    public func run(_ stage: PlannedStage, context: StageContext) throws -> StageOutcome {
        try run(stage, config: Configuration.decode(resolved: stage.params), context: context)
    }

    public func estimate(_ stage: PlannedStage, scale: Scale) throws -> CostEstimate? {
        try estimate(stage, config: try Configuration.decode(resolved: stage.params), scale: scale)
    }
}

/// Executors by kind: the one place that adds a stage kind.
public struct ExecutorRegistry: Sendable {
    var byKind: [String: any StageExecutor] = [:]
    public init(_ executors: [any StageExecutor] = []) { for e in executors { register(e) } }
    public mutating func register(_ e: any StageExecutor) { byKind[e.kind] = e }
    public subscript(kind: String) -> (any StageExecutor)? { byKind[kind] }
    public var kinds: [String] { byKind.keys.sorted() }
    /// The kinds whose stages run on every rank (`StageExecutor.dataParallel`: the trainers).
    public var dataParallelKinds: Set<String> { Set(byKind.values.filter(\.dataParallel).map(\.kind)) }
}
