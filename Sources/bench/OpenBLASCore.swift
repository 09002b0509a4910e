import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Picks OpenBLAS's compute kernel before the library reads its configuration.
///
/// Debian's OpenBLAS 0.3.21 does not recognise recent Intel CPUs and falls back to its
/// slowest (Prescott) kernel. OpenBLAS reads `OPENBLAS_CORETYPE` when it is loaded, which
/// happens before `main`, so the only way to change it from inside the program is to set
/// the variable and re-execute once. A user-set value is always respected.
enum OpenBLASCore {
    static let marker = "TEMPO_BENCH_REEXEC"

    /// The best kernel name for this CPU, from `/proc/cpuinfo`, or nil when unknown.
    ///
    /// On AMD CPUs the AVX2 (Haswell) kernels beat the AVX-512 (SkylakeX) ones even where
    /// AVX-512 exists (Zen 4 executes it as two 256-bit halves): measured 213 vs 203 GFLOPS
    /// for a 1024³ SGEMM and 99 vs 91 GFLOPS per thread on the conv3d benchmark's SGEMMs.
    static func bestCoreType(cpuinfo: String) -> String? {
        let lines = cpuinfo.split(separator: "\n")
        guard let flagsLine = lines.first(where: { $0.hasPrefix("flags") }) else {
            return nil
        }
        let flags = Set(flagsLine.split(separator: " ").map(String.init))
        let amd = lines.contains { $0.hasPrefix("vendor_id") && $0.contains("AuthenticAMD") }
        if amd, ["avx2", "fma"].allSatisfy(flags.contains) { return "Haswell" }
        if ["avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512cd"].allSatisfy(flags.contains) {
            return "SkylakeX"
        }
        if ["avx2", "fma"].allSatisfy(flags.contains) { return "Haswell" }
        if flags.contains("avx") { return "Sandybridge" }
        return nil
    }

    static func reexecWithBestCoreIfNeeded() {
        let env = ProcessInfo.processInfo.environment
        guard env["OPENBLAS_CORETYPE"] == nil, env[marker] == nil else { return }
        guard let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let core = bestCoreType(cpuinfo: info) else { return }
        setenv("OPENBLAS_CORETYPE", core, 1)
        setenv(marker, "1", 1)
        let args = CommandLine.arguments
        var cArgs: [UnsafeMutablePointer<CChar>?] = args.map { strdup($0) }
        cArgs.append(nil)
        execv("/proc/self/exe", &cArgs)
        // execv only returns on failure: carry on with the default kernel.
        FileHandle.standardError.write(Data("warning: could not re-exec with OPENBLAS_CORETYPE=\(core): errno \(errno)\n".utf8))
    }
}
