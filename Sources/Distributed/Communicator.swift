import CMPI
import Foundation
import Networks

/// An MPI call that failed: the call, its return code and MPI's message for it.
public struct MPIError: Error, CustomStringConvertible {
    public var call: String
    public var code: Int32
    public var message: String
    public var description: String { "MPI \(call) failed (\(code)): \(message)" }
}

/// A rank's failure as the other ranks see it: the job ends with this rank's error.
public struct RankFailure: Error, CustomStringConvertible {
    public var rank: Int, size: Int
    public var error: Error
    public var description: String { "rank \(rank) of \(size): \(error)" }
}

/// The world of processes this one was launched in, over Open MPI.
///
/// A process not started by `mpirun`/`srun` (none of `OMPI_COMM_WORLD_SIZE`, `PMI_SIZE`,
/// `PMIX_RANK` in its environment) is a world of one and makes no MPI call at all. Every MPI
/// return code goes through `check`, which turns a failure into an `MPIError` (the world
/// communicator returns errors instead of aborting: `MPI_ERRORS_RETURN`).
public final class Communicator: ProcessGroup, @unchecked Sendable {
    public let rank: Int
    public let size: Int
    /// Whether MPI was initialised (launched by mpirun/srun).
    public let usesMPI: Bool

    nonisolated(unsafe) private static var shared: Communicator?
    /// The most elements one MPI call moves (its counts are 32-bit).
    static let chunk = 1 << 30

    /// Whether the environment says this process was launched by an MPI starter.
    public static var isLaunchedByMPI: Bool {
        let env = ProcessInfo.processInfo.environment
        return ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"].contains { env[$0] != nil }
    }

    /// A rank's compute threads when `TEMPO_THREADS` is not set, from its launcher's
    /// environment: under `mpirun`, the machine's cores over the ranks on it
    /// (`OMPI_COMM_WORLD_LOCAL_SIZE`); under `srun`, the CPUs Slurm gave each task
    /// (`SLURM_CPUS_PER_TASK`), else the cores over the step's tasks on this node
    /// (`SLURM_STEP_TASKS_PER_NODE` at `SLURM_NODEID`). Nil when the process is alone on its
    /// machine (all cores, the kernels' own default).
    public static func defaultThreads(_ env: [String: String], cores: Int) -> Int? {
        if let local = env["OMPI_COMM_WORLD_LOCAL_SIZE"].flatMap(Int.init) {
            return local > 1 ? max(1, cores / local) : nil
        }
        guard let list = env["SLURM_STEP_TASKS_PER_NODE"] else { return nil }
        if let c = env["SLURM_CPUS_PER_TASK"].flatMap(Int.init), c > 0 { return c }
        let node = env["SLURM_NODEID"].flatMap(Int.init) ?? 0
        guard let local = tasksOnNode(list, node: node), local > 1 else { return nil }
        return max(1, cores / local)
    }

    /// The task count of node `node` in Slurm's compressed per-node list: `2`, `4(x3)`,
    /// `2(x2),1` (nil when malformed or too short).
    public static func tasksOnNode(_ list: String, node: Int) -> Int? {
        var index = 0
        for item in list.split(separator: ",") {
            let count: Int?, repeats: Int?
            if let open = item.firstIndex(of: "(") {
                guard item.hasSuffix(")"), item[item.index(after: open)...].hasPrefix("x") else { return nil }
                count = Int(item[..<open])
                repeats = Int(item[item.index(open, offsetBy: 2)..<item.index(before: item.endIndex)])
            } else {
                count = Int(item); repeats = 1
            }
            guard let count, let repeats, count >= 0, repeats >= 1 else { return nil }
            if node < index + repeats { return count }
            index += repeats
        }
        return nil
    }

    /// The world communicator, initialising MPI on first use when launched by mpirun/srun.
    public static func world() throws -> Communicator {
        if let c = shared { return c }
        let c = try Communicator()
        shared = c
        return c
    }

    /// Sets up the world and makes it the group every trainer runs in
    /// (`DataParallel.group`). Returns it.
    ///
    /// Ranks sharing a machine share its cores: unless `TEMPO_THREADS` is set, each gets
    /// the compute threads `defaultThreads` gives. Call it before any kernel runs (the thread
    /// count is read once).
    @discardableResult
    public static func installWorld() throws -> Communicator {
        let env = ProcessInfo.processInfo.environment
        if isLaunchedByMPI, env["TEMPO_THREADS"] == nil,
           let n = defaultThreads(env, cores: max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN)))) {
            setenv("TEMPO_THREADS", "\(n)", 1)
        }
        let c = try world()
        DataParallel.group = c
        if c.usesMPI { atexit { Communicator.finalizeAtExit() } }
        return c
    }

    private init() throws {
        guard Self.isLaunchedByMPI else { rank = 0; size = 1; usesMPI = false; return }
        var provided: Int32 = 0
        // One thread at a time calls MPI (the trainer's), but not necessarily the main thread:
        // the suite runner runs stages on threads of their own.
        let rc = MPI_Init_thread(nil, nil, tempo_mpi_thread_serialized(), &provided)
        guard rc == tempo_mpi_success() else {
            throw MPIError(call: "MPI_Init_thread", code: rc, message: "cannot initialise MPI")
        }
        guard provided >= tempo_mpi_thread_serialized() else {
            throw MPIError(call: "MPI_Init_thread", code: provided, message: "this MPI cannot be called from more than one thread")
        }
        try Self.check(MPI_Comm_set_errhandler(tempo_mpi_comm_world(), tempo_mpi_errors_return()), "MPI_Comm_set_errhandler")
        var r: Int32 = 0, s: Int32 = 0
        try Self.check(MPI_Comm_rank(tempo_mpi_comm_world(), &r), "MPI_Comm_rank")
        try Self.check(MPI_Comm_size(tempo_mpi_comm_world(), &s), "MPI_Comm_size")
        rank = Int(r); size = Int(s); usesMPI = true
    }

    /// The one place MPI return codes become Swift errors.
    static func check(_ rc: Int32, _ call: String) throws {
        guard rc != tempo_mpi_success() else { return }
        var text = [CChar](repeating: 0, count: Int(tempo_mpi_max_error_string()) + 1)
        var length: Int32 = 0
        _ = MPI_Error_string(rc, &text, &length)
        let bytes = text.prefix(Int(length)).map { UInt8(bitPattern: $0) }
        throw MPIError(call: call, code: rc, message: String(decoding: bytes, as: UTF8.self))
    }

    public func barrier() throws {
        guard usesMPI else { return }
        try Self.check(MPI_Barrier(tempo_mpi_comm_world()), "MPI_Barrier")
    }

    /// Rank `root`'s buffer on every rank (every rank passes a buffer of the same length).
    public func broadcast(_ buffer: inout [Float], root: Int = 0) throws {
        guard usesMPI, !buffer.isEmpty else { return }
        try buffer.withUnsafeMutableBytes { p in
            try Self.check(MPI_Bcast(p.baseAddress, Int32(p.count), tempo_mpi_byte(), Int32(root), tempo_mpi_comm_world()), "MPI_Bcast")
        }
    }

    /// Rank `root`'s bytes on every rank; the others' `data` is replaced (lengths may differ).
    public func broadcast(_ data: inout [UInt8], root: Int = 0) throws {
        guard usesMPI else { return }
        var count = Int64(data.count)
        try Self.check(MPI_Bcast(&count, 1, tempo_mpi_int64(), Int32(root), tempo_mpi_comm_world()), "MPI_Bcast")
        if rank != root { data = [UInt8](repeating: 0, count: Int(count)) }
        guard !data.isEmpty else { return }
        try data.withUnsafeMutableBytes { p in
            try Self.check(MPI_Bcast(p.baseAddress, Int32(p.count), tempo_mpi_byte(), Int32(root), tempo_mpi_comm_world()), "MPI_Bcast")
        }
    }

    public func allreduceSum(_ buffer: inout [Float]) throws { try allreduce(&buffer, tempo_mpi_float(), tempo_mpi_sum()) }
    public func allreduceSum(_ buffer: inout [Double]) throws { try allreduce(&buffer, tempo_mpi_double(), tempo_mpi_sum()) }

    /// Element-wise maximum over the ranks, in place.
    public func allreduceMax(_ buffer: inout [Double]) throws { try allreduce(&buffer, tempo_mpi_double(), tempo_mpi_max()) }

    /// `op` over the ranks, element-wise and in place, on values of MPI type `type`.
    private func allreduce<T>(_ buffer: inout [T], _ type: MPI_Datatype, _ op: MPI_Op) throws {
        guard usesMPI, !buffer.isEmpty else { return }
        try buffer.withUnsafeMutableBufferPointer { p in
            // MPI counts are 32-bit: larger buffers go in chunks.
            for start in stride(from: 0, to: p.count, by: Self.chunk) {
                let n = min(Self.chunk, p.count - start)
                try Self.check(MPI_Allreduce(tempo_mpi_in_place(), p.baseAddress! + start, Int32(n), type, op, tempo_mpi_comm_world()),
                               "MPI_Allreduce")
            }
        }
    }

    public func allgather(_ local: [Float]) throws -> [Float] {
        guard usesMPI else { return local }
        guard local.count * size <= Int(Int32.max) else {
            throw MPIError(call: "MPI_Allgather", code: -1, message: "\(local.count) floats a rank exceed MPI's 32-bit counts")
        }
        var out = [Float](repeating: 0, count: local.count * size)
        try local.withUnsafeBufferPointer { src in
            try out.withUnsafeMutableBufferPointer { dst in
                try Self.check(MPI_Allgather(src.baseAddress, Int32(src.count), tempo_mpi_float(), dst.baseAddress,
                                             Int32(src.count), tempo_mpi_float(), tempo_mpi_comm_world()), "MPI_Allgather")
            }
        }
        return out
    }

    /// Ends every rank of the job (MPI_Abort; mpirun kills the others), after printing
    /// `message` on standard error. Without MPI it exits the process with `code`.
    public func abort(code: Int32 = 1, message: String) -> Never {
        FileHandle.standardError.write(Data((message + "\n").utf8))
        if usesMPI { MPI_Abort(tempo_mpi_comm_world(), code) }
        exit(code)
    }

    /// Runs `body`; an error on this rank ends all ranks with it (named by rank) instead of
    /// leaving the others waiting in a collective. In a world of one the error is rethrown.
    public func runOrAbort<T>(_ body: () throws -> T) rethrows -> T {
        guard size > 1 else { return try body() }
        do { return try body() } catch {
            abort(message: "error: \(RankFailure(rank: rank, size: size, error: error))")
        }
    }

    private static func finalizeAtExit() {
        var finalized: Int32 = 0
        MPI_Finalized(&finalized)
        if finalized == 0 { MPI_Finalize() }
    }
}
