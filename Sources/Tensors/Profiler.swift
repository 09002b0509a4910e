import Dispatch
import Foundation

/// Wall time per kernel, for `bench perf step --profile`: where a training step's time goes.
/// Off by default; when off, `measure` costs one load of a flag.
public enum Profiler {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var totals: [String: (seconds: Double, calls: Int)] = [:]
    nonisolated(unsafe) public private(set) static var isEnabled = false

    public static func enable(_ on: Bool = true) {
        lock.lock(); defer { lock.unlock() }
        isEnabled = on
        totals = [:]
    }

    @inlinable
    public static func measure<R>(_ name: String, _ body: () throws -> R) rethrows -> R {
        guard isEnabled else { return try body() }
        let start = DispatchTime.now().uptimeNanoseconds
        defer { add(name, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9) }
        return try body()
    }

    public static func add(_ name: String, _ seconds: Double) {
        lock.lock(); defer { lock.unlock() }
        let old = totals[name] ?? (0, 0)
        totals[name] = (old.seconds + seconds, old.calls + 1)
    }

    /// Totals so far, largest first: (name, seconds, calls).
    public static func report() -> [(name: String, seconds: Double, calls: Int)] {
        lock.lock(); defer { lock.unlock() }
        return totals.map { ($0.key, $0.value.seconds, $0.value.calls) }.sorted { $0.seconds > $1.seconds }
    }
}

import CBLAS

/// Process-wide allocator policy for training workloads.
public enum MemoryPolicy {
    /// Keeps freed tensor buffers in the heap instead of returning them to the system.
    ///
    /// glibc serves large blocks with fresh `mmap`s and trims freed heap memory, so every
    /// step's activations and gradients would page-fault and be zeroed again by the kernel
    /// (measured: 8% of an R3D-18 training step). Training allocates the same sizes every
    /// step, so the memory is better kept. Call once, before the work starts.
    @discardableResult
    public static func retainFreedMemory() -> Bool { shim_retain_freed_memory() == 1 }
}
