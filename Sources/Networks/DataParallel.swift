import Dispatch
import Tensors

/// The processes a training run is spread over (data parallelism), as the trainers see them.
///
/// Networks and trainers depend on this protocol only; the `Distributed` module implements it
/// over MPI. Every rank runs the same program on its own slice of each global batch; these
/// collectives must be called by all ranks in the same order.
public protocol ProcessGroup: AnyObject {
    var rank: Int { get }
    var size: Int { get }
    /// Sums `buffer` element-wise over the ranks, in place; every rank receives the sum.
    func allreduceSum(_ buffer: inout [Float]) throws
    func allreduceSum(_ buffer: inout [Double]) throws
    /// Every rank's `local` (the same length on every rank), concatenated in rank order.
    func allgather(_ local: [Float]) throws -> [Float]
    /// Rank `root`'s bytes on every rank; the others' `data` is replaced (lengths may differ).
    func broadcast(_ data: inout [UInt8], root: Int) throws
    func barrier() throws
}

/// A world of one: no communication (a process started without `mpirun`).
public final class SingleProcess: ProcessGroup {
    public init() {}
    public var rank: Int { 0 }
    public var size: Int { 1 }
    public func allreduceSum(_ buffer: inout [Float]) throws {}
    public func allreduceSum(_ buffer: inout [Double]) throws {}
    public func allgather(_ local: [Float]) throws -> [Float] { local }
    public func broadcast(_ data: inout [UInt8], root: Int) throws {}
    public func barrier() throws {}
}

/// Wall time this process has spent in a data-parallel step's collectives, waiting for the
/// other ranks included (what `bench perf pretrain-step` reports per step).
public struct CommunicationTimes: Sendable, Equatable {
    /// In `DataParallel.reduceGradients`: the gradient allreduce after the backward pass.
    public var gradientSeconds = 0.0
    public var gradientCalls = 0
    /// In synchronised batch norm's statistics allreduces (forward and backward).
    public var batchNormSeconds = 0.0
    public var batchNormCalls = 0
    public init() {}
}

/// The group trainers run in. `bench` (or a test helper) sets it once at start-up, before any
/// training; it stays a world of one otherwise.
public enum DataParallel {
    nonisolated(unsafe) public static var group: ProcessGroup = SingleProcess()

    /// Totals since the process started (collectives are called by one thread at a time).
    nonisolated(unsafe) public private(set) static var communication = CommunicationTimes()

    static func seconds(since start: UInt64) -> Double { Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 }

    /// Whether this process writes files (checkpoints, results, logs): rank 0 alone.
    public static var isWriter: Bool { group.rank == 0 }

    /// Runs `body` as a world of one (what a stage that runs on rank 0 alone needs: no
    /// collective inside it may wait for ranks that are not taking part).
    public static func alone<T>(_ body: () throws -> T) rethrows -> T {
        let saved = group
        group = SingleProcess()
        defer { group = saved }
        return try body()
    }

    /// Splits a global batch of `batch` items into `shards` contiguous slices as evenly as
    /// possible (the first `batch % shards` get one more): shard `s`'s index range.
    public static func slice(_ batch: Int, shards: Int, shard s: Int) -> Range<Int> {
        let base = batch / shards, extra = batch % shards
        let start = s * base + min(s, extra)
        return start..<(start + base + (s < extra ? 1 : 0))
    }

    /// The shards of a step this rank runs when a global batch is split into `shards`
    /// batch-norm groups (`shards` must be a multiple of the rank count).
    public static func localShards(_ shards: Int, in group: ProcessGroup) -> Range<Int> {
        precondition(shards % group.size == 0, "\(shards) batch shards cannot be split over \(group.size) ranks")
        let per = shards / group.size
        return (group.rank * per)..<((group.rank + 1) * per)
    }

    /// The items of a global batch of `batch` this rank loads and runs: its shards' slices,
    /// which are contiguous. The whole batch in a world of one.
    public static func localItems(_ batch: Int, shards: Int, in group: ProcessGroup) -> Range<Int> {
        let local = localShards(shards, in: group)
        return slice(batch, shards: shards, shard: local.lowerBound).lowerBound
            ..< slice(batch, shards: shards, shard: local.upperBound - 1).upperBound
    }

    /// Runs `body` with synchronised batch norm over `group` when `enabled` (and there is more
    /// than one rank): every batch norm in training mode then uses the statistics of the
    /// whole global batch (`BatchNormSync`). It needs one shard per rank. An MPI failure
    /// inside batch norm cannot be thrown through the autodiff graph: it ends the process,
    /// and mpirun the job.
    public static func withBatchNormSync<T>(_ enabled: Bool, shards: Int, in group: ProcessGroup,
                                            _ body: () throws -> T) throws -> T {
        guard enabled, group.size > 1 else { return try body() }
        guard shards == group.size else {
            throw DataParallelError("synchronised batch norm needs one shard per rank, not \(shards) shards over \(group.size) ranks")
        }
        BatchNormSync.reduce = { buffer in
            let start = DispatchTime.now().uptimeNanoseconds
            do { try group.allreduceSum(&buffer) } catch { fatalError("rank \(group.rank): synchronised batch norm: \(error)") }
            communication.batchNormSeconds += seconds(since: start)
            communication.batchNormCalls += 1
        }
        defer { BatchNormSync.reduce = nil }
        return try body()
    }

    /// The number of batch shards (batch-norm groups) a step uses: the configured one, or
    /// one per rank.
    public static func shards(_ configured: Int?, in group: ProcessGroup) throws -> Int {
        let n = configured ?? group.size
        guard n >= 1, n % group.size == 0 else {
            throw DataParallelError("\(n) batch shards cannot be split evenly over \(group.size) ranks")
        }
        return n
    }

    /// Sums the parameters' gradients over the ranks in place, in buckets of about
    /// `bucketFloats` values (one allreduce each). Parameters without a gradient count as zero
    /// and keep none when no rank has one. Each rank must scale its loss so that the sum is the
    /// one-process gradient of the global batch (`loss · local items / global batch`).
    public static func reduceGradients(_ parameters: [(String, Variable)], in group: ProcessGroup,
                                       bucketFloats: Int = 1 << 22) throws {
        guard group.size > 1 else { return }
        let start = DispatchTime.now().uptimeNanoseconds
        defer { communication.gradientSeconds += seconds(since: start); communication.gradientCalls += 1 }
        var bucket: [Float] = []
        var members: [Variable] = []
        // A flag per parameter (1 where this rank has a gradient) travels with the values, so
        // that ranks that disagree about which parameters were used still sum correctly.
        func flush() throws {
            guard !members.isEmpty else { return }
            bucket += members.map { $0.grad == nil ? 0 : 1 }
            try group.allreduceSum(&bucket)
            var offset = 0
            let flags = bucket.suffix(members.count)
            for (i, p) in members.enumerated() {
                let n = p.value.count
                if flags[flags.startIndex + i] > 0 {
                    p.grad = Tensor(shape: p.value.shape, scalars: Array(bucket[offset..<(offset + n)]))
                }
                offset += n
            }
            bucket.removeAll(keepingCapacity: true); members.removeAll()
        }
        for (_, p) in parameters {
            if let g = p.grad { bucket += g.scalars } else { bucket += [Float](repeating: 0, count: p.value.count) }
            members.append(p)
            if bucket.count >= bucketFloats { try flush() }
        }
        try flush()
    }

    /// Replaces the buffers (batch-norm running statistics) by their mean over `count`
    /// contributions summed across the ranks: `sums` holds this rank's sum of its shards'
    /// buffer values, in `buffers` order.
    public static func averageBuffers(_ buffers: [(String, Variable)], localSums sums: [Float], count: Int,
                                      in group: ProcessGroup) throws {
        var total = sums
        try group.allreduceSum(&total)
        var offset = 0
        let scale = 1 / Float(count)
        for (_, b) in buffers {
            let n = b.value.count
            b.value = Tensor(shape: b.value.shape, scalars: total[offset..<(offset + n)].map { $0 * scale })
            offset += n
        }
    }

    /// Runs `body` once per local shard with the buffers as they were before the step, and
    /// leaves the buffers at the mean of every shard's result (over all ranks). Running
    /// statistics are linear in the batch statistics, so this is the update of the mean of
    /// the shards' statistics. With one shard in all it just runs `body`.
    public static func forEachShard(_ shards: Range<Int>, total: Int, buffers: [(String, Variable)],
                                    in group: ProcessGroup, _ body: (Int) throws -> Void) throws {
        if total == 1 { for s in shards { try body(s) }; return }
        let before = buffers.map { $0.1.value }
        var sums = [Float](repeating: 0, count: before.reduce(0) { $0 + $1.count })
        for s in shards {
            for (i, (_, b)) in buffers.enumerated() { b.value = before[i] }
            try body(s)
            var offset = 0
            for (_, b) in buffers {
                b.value.scalars.withUnsafeBufferPointer { p in
                    for j in 0..<p.count { sums[offset + j] += p[j] }
                }
                offset += b.value.count
            }
        }
        try averageBuffers(buffers, localSums: sums, count: total, in: group)
    }
}

/// A data-parallel run that cannot proceed as configured.
public struct DataParallelError: Error, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

extension DataParallel {
    /// Every rank's `local` (lengths may differ), concatenated in rank order.
    public static func gather(_ local: [Float], in group: ProcessGroup) throws -> [Float] {
        guard group.size > 1 else { return local }
        let counts = try group.allgather([Float(local.count)]).map { Int($0) }
        let width = counts.max() ?? 0
        let padded = try group.allgather(local + [Float](repeating: 0, count: width - local.count))
        return (0..<group.size).flatMap { r in padded[(r * width)..<(r * width + counts[r])] }
    }

    /// Items `range` of a batch tensor [B, …] (along the first axis).
    public static func rows(_ t: Tensor, _ range: Range<Int>) -> Tensor {
        if range == 0..<t.shape[0] { return t }
        let per = t.count / max(1, t.shape[0])
        return Tensor(shape: [range.count] + t.shape.dropFirst(),
                      scalars: Array(t.scalars[(range.lowerBound * per)..<(range.upperBound * per)]))
    }
}
