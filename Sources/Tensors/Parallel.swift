import Dispatch
import CBLAS
#if canImport(Glibc)
import Glibc
#endif

/// A raw pointer that may cross into a `concurrentPerform` closure. Callers guarantee that
/// the concurrent iterations touch disjoint elements.
public struct UnsafeSendable<Pointer>: @unchecked Sendable {
    public let pointer: Pointer
    @inlinable public init(_ pointer: Pointer) { self.pointer = pointer }
}

/// Thread-count policy for the kernels. The count is fixed for a process so that the same
/// seed and thread count give bit-identical results (work is split into fixed chunks).
public enum Parallel {
    /// Worker threads used by the kernels: `TEMPO_THREADS` if set, else the active cores.
    /// OpenBLAS is set to the same count when it is first read (`BLAS.gemm` reads it): left
    /// alone, OpenBLAS starts as many threads as the process's CPU affinity allows, so one
    /// thread count would give other last bits under `mpirun` (which binds each rank to a
    /// core) than under `srun` or a plain start (which do not bind).
    public static let threadCount: Int = {
        let n: Int
        if let text = getenv("TEMPO_THREADS"), let v = Int(String(cString: text)), v > 0 {
            n = v
        } else {
            n = max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN)))
        }
        openblas_set_num_threads(Int32(n))
        return n
    }()

    /// Runs `body(chunk)` for `chunks` disjoint chunks on up to `threadCount` threads.
    /// OpenBLAS is held to one thread inside, so the parallelism is ours alone.
    @inlinable
    public static func forEach(chunks: Int, _ body: (Int) -> Void) {
        if chunks <= 1 || threadCount == 1 {
            for c in 0..<chunks { body(c) }
            return
        }
        BLAS.withThreads(1) {
            withoutActuallyEscaping(body) { body in
                let box = UnsafeSendable(body)
                DispatchQueue.concurrentPerform(iterations: chunks) { box.pointer($0) }
            }
        }
    }

    /// Splits `0..<count` into `threadCount` contiguous ranges (fixed for a given count).
    @inlinable
    public static func ranges(_ count: Int, parts: Int = threadCount) -> [Range<Int>] {
        let parts = max(1, min(parts, count))
        return (0..<parts).map { p in (count * p / parts)..<(count * (p + 1) / parts) }
    }

    /// Runs `body(range)` over contiguous, disjoint ranges covering `0..<count`.
    @inlinable
    public static func forEachRange(_ count: Int, minimumPerThread: Int = 1, _ body: (Range<Int>) -> Void) {
        let parts = max(1, min(threadCount, count / max(1, minimumPerThread)))
        if parts == 1 { body(0..<count); return }
        let ranges = ranges(count, parts: parts)
        forEach(chunks: ranges.count) { body(ranges[$0]) }
    }
}
