import CBLAS

/// The single bridge to OpenBLAS: row-major SGEMM and thread control.
public enum BLAS {
    /// The kernel OpenBLAS selected at load time (e.g. "SkylakeX", "Prescott").
    public static var coreName: String {
        guard let name = openblas_get_corename() else { return "unknown" }
        return String(cString: name)
    }

    /// OpenBLAS build configuration string (version, threading model).
    public static var config: String {
        guard let text = openblas_get_config() else { return "unknown" }
        return String(cString: text)
    }

    /// The threads OpenBLAS runs a call on now (`Parallel.threadCount` outside
    /// `withThreads`, once a kernel has run).
    public static var threads: Int { Int(openblas_get_num_threads()) }

    /// Runs `body` with OpenBLAS limited to `n` threads, restoring the default after.
    @inlinable
    public static func withThreads<R>(_ n: Int, _ body: () throws -> R) rethrows -> R {
        openblas_set_num_threads(Int32(n))
        defer { openblas_set_num_threads(Int32(Parallel.threadCount)) }
        return try body()
    }

    /// C[m×n] = alpha · op(A) · op(B) + beta · C, all row-major with leading dimensions.
    @inlinable
    public static func gemm(transA: Bool = false, transB: Bool = false,
                            m: Int, n: Int, k: Int,
                            alpha: Float = 1,
                            a: UnsafePointer<Float>, lda: Int,
                            b: UnsafePointer<Float>, ldb: Int,
                            beta: Float = 0,
                            c: UnsafeMutablePointer<Float>, ldc: Int) {
        if m == 0 || n == 0 { return }
        if k == 0 {
            // BLAS leaves C untouched when k = 0 only for beta = 1; make the result explicit.
            for i in 0..<m { for j in 0..<n { c[i * ldc + j] = beta == 0 ? 0 : beta * c[i * ldc + j] } }
            return
        }
        _ = Parallel.threadCount  // sets OpenBLAS's thread count on first use
        cblas_sgemm(CblasRowMajor,
                    transA ? CblasTrans : CblasNoTrans,
                    transB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), alpha,
                    a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }
}
