import ArgumentParser
import Foundation
import Networks
import Tensors

/// Options shared by every `bench perf` figure.
struct PerfOptions: ParsableArguments {
    @Flag(help: "Print one JSON object per line and figure.")
    var json = false

    @Option(help: "Timed repetitions per figure (the median is reported).")
    var repeats = 5

    func validate() throws {
        guard repeats >= 1 else { throw ValidationError("--repeats must be at least 1, got \(repeats)") }
    }
}

/// One measured figure, printed as `{"figure": NAME, "value": X, "unit": U, "config": {...}}`.
struct Figure {
    var name: String
    var value: Any
    var unit: String?
    var config: [String: Any] = [:]

    func print(json: Bool) {
        if json {
            var object: [String: Any] = ["figure": name, "value": value]
            if let unit { object["unit"] = unit }
            if !config.isEmpty { object["config"] = config }
            let data = try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
            Swift.print(String(decoding: data, as: UTF8.self))
        } else {
            let v = (value as? Double).map { String(format: "%.1f", $0) } ?? "\(value)"
            let c = config.keys.sorted().map { "\($0)=\(config[$0]!)" }.joined(separator: " ")
            // Padded to a column, never cut: `padding(toLength:)` truncates longer names.
            let label = name.count >= 16 ? name : name.padding(toLength: 16, withPad: " ", startingAt: 0)
            Swift.print("\(label) \(v) \(unit ?? "")  \(c)")
        }
        _ = fflushStdout()
    }
}

/// Median wall time in seconds of `body` over `repeats` runs after one warm-up.
func medianSeconds(repeats: Int, warmup: Int = 1, _ body: () -> Void) -> Double {
    for _ in 0..<warmup { body() }
    var times: [Double] = []
    for _ in 0..<repeats {
        let start = DispatchTime.now().uptimeNanoseconds
        body()
        times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
    }
    return times.sorted()[times.count / 2]
}

struct PerfCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "perf",
        abstract: "Measure speed figures (GEMM, conv3d, training step, decode, cache).",
        discussion: """
        Each figure is the median of --repeats timed runs after a warm-up. The OpenBLAS kernel \
        in use is printed first (figure openblas.core). `bench perf` alone runs gemm, conv and step.
        """,
        subcommands: [PerfAll.self, PerfGEMM.self, PerfConv.self, PerfStep.self, PerfPretrain.self, PerfPretrainStep.self, PerfDecode.self, PerfCache.self],
        defaultSubcommand: PerfAll.self)
}

func printEngineFigures(json: Bool) {
    Figure(name: "openblas.core", value: BLAS.coreName,
           config: ["threads": Parallel.threadCount, "openblas_threads": BLAS.threads, "openblas": BLAS.config]).print(json: json)
}

struct PerfAll: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "all", abstract: "gemm, conv and step figures.")
    @OptionGroup var options: PerfOptions
    func run() throws {
        printEngineFigures(json: options.json)
        PerfGEMM.measure(options)
        PerfConv.measure(options)
        PerfStep.measure(options, sizes: [32, 64])
    }
}

struct PerfGEMM: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "gemm", abstract: "SGEMM GFLOPS at 1024³.")
    @OptionGroup var options: PerfOptions
    func run() throws {
        printEngineFigures(json: options.json)
        Self.measure(options)
    }

    static func measure(_ options: PerfOptions) {
        let n = 1024
        var rng = RandomGenerator(seed: 1)
        let a = Tensor.randomNormal([n, n], using: &rng), b = Tensor.randomNormal([n, n], using: &rng)
        let seconds = medianSeconds(repeats: max(options.repeats, 5)) { _ = matmulForward(a, b) }
        Figure(name: "gemm.1024", value: 2 * Double(n * n * n) / seconds / 1e9, unit: "GFLOPS",
               config: ["m": n, "n": n, "k": n, "threads": Parallel.threadCount, "openblas_threads": BLAS.threads]).print(json: options.json)
    }
}

struct PerfConv: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "conv", abstract: "conv3d forward/backward GFLOPS, 64→64 3×3×3 on 8×64×8×32×32.")
    @OptionGroup var options: PerfOptions
    func run() throws {
        printEngineFigures(json: options.json)
        Self.measure(options, breakdown: breakdown)
    }

    @Flag(help: "Also time the column build and the SGEMMs of the forward pass alone, on one thread.")
    var breakdown = false

    /// Single-thread split of the forward pass: vol2col vs SGEMM, chunk by chunk.
    static func breakdown(_ x: Tensor, _ w: Tensor, _ g: Conv3DGeometry, _ options: PerfOptions) {
        let rows = g.output.t * g.output.h, chunk = rowsPerChunk(g), K = g.columnRows, L = g.output.product
        let col = UnsafeMutablePointer<Float>.allocate(capacity: K * chunk * g.output.w)
        let out = UnsafeMutablePointer<Float>.allocate(capacity: g.outChannels * L)
        defer { col.deallocate(); out.deallocate() }
        x.scalars.withUnsafeBufferPointer { px in
            w.scalars.withUnsafeBufferPointer { pw in
                BLAS.withThreads(1) {
                    var colTime = 0.0, gemmTime = 0.0
                    for _ in 0..<2 {
                        colTime = 0; gemmTime = 0
                        for n in 0..<g.batch {
                            var r0 = 0
                            while r0 < rows {
                                let r = r0..<min(rows, r0 + chunk), lc = r.count * g.output.w
                                let t0 = DispatchTime.now().uptimeNanoseconds
                                vol2col(px.baseAddress! + n * g.inChannels * g.input.product, col, g, rows: r)
                                let t1 = DispatchTime.now().uptimeNanoseconds
                                BLAS.gemm(m: g.outChannels, n: lc, k: K, a: pw.baseAddress!, lda: K, b: col, ldb: lc,
                                          c: out + r0 * g.output.w, ldc: L)
                                let t2 = DispatchTime.now().uptimeNanoseconds
                                colTime += Double(t1 - t0) / 1e6; gemmTime += Double(t2 - t1) / 1e6
                                r0 = r.upperBound
                            }
                        }
                    }
                    Figure(name: "conv3d.fwd.vol2col", value: colTime, unit: "ms", config: ["threads": 1, "chunk_rows": chunk]).print(json: options.json)
                    Figure(name: "conv3d.fwd.sgemm", value: gemmTime, unit: "ms",
                           config: ["threads": 1, "gflops": 2 * Double(g.macs) / gemmTime / 1e6]).print(json: options.json)
                }
            }
        }
    }

    static func measure(_ options: PerfOptions, breakdown: Bool = false) {
        var rng = RandomGenerator(seed: 2)
        let x = Tensor.randomNormal([8, 64, 8, 32, 32], using: &rng)
        let w = Tensor.randomNormal([64, 64, 3, 3, 3], std: 0.05, using: &rng)
        let one = Size3(all: 1)
        let g = Conv3DGeometry(inputShape: x.shape, outChannels: 64, kernel: Size3(all: 3), stride: one,
                               padding: one, dilation: one)
        let flops = 2 * Double(g.macs)
        var y = Tensor.zeros([1])
        let fwd = medianSeconds(repeats: options.repeats) {
            y = conv3dForward(x, weight: w, bias: nil, stride: one, padding: one, dilation: one)
        }
        let gy = y
        let bwd = medianSeconds(repeats: options.repeats) {
            _ = conv3dBackward(x, weight: w, hasBias: false, gy: gy, stride: one, padding: one, dilation: one)
        }
        let config: [String: Any] = ["input": [8, 64, 8, 32, 32], "out_channels": 64, "kernel": [3, 3, 3], "padding": 1,
                                     "threads": Parallel.threadCount]
        Figure(name: "conv3d.fwd", value: flops / fwd / 1e9, unit: "GFLOPS", config: config.merging(["ms": fwd * 1e3]) { $1 })
            .print(json: options.json)
        if breakdown { Self.breakdown(x, w, g, options) }
        // Backward = input gradient + weight gradient: twice the forward FLOPs.
        Figure(name: "conv3d.bwd", value: 2 * flops / bwd / 1e9, unit: "GFLOPS", config: config.merging(["ms": bwd * 1e3]) { $1 })
            .print(json: options.json)
    }
}

struct PerfStep: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "step",
        abstract: "One SGD training step of torchvision's r3d_18(num_classes=128) at batch 8.",
        discussion: "Inputs 3×8×32×32 and 3×8×64×64; loss = mean of squared outputs; SGD momentum 0.9.")
    @OptionGroup var options: PerfOptions
    @Option(help: "Input sizes (height = width) to measure.")
    var size: [Int] = [32, 64]

    func run() throws {
        printEngineFigures(json: options.json)
        Self.measure(options, sizes: size, profile: profile)
    }

    @Flag(help: "Also print the time of forward, backward and update separately.")
    var profile = false

    static func measure(_ options: PerfOptions, sizes: [Int], profile: Bool = false) {
        var rng = RandomGenerator(seed: 3)
        let net = ResNet3D(.r3d18(numClasses: 128), rng: &rng)
        let sgd = SGD(parameters: net.namedParameters, learningRate: 0.01, momentum: 0.9)
        for s in sizes {
            let x = Variable(Tensor.randomNormal([8, 3, 8, s, s], using: &rng))
            var parts = [0.0, 0.0, 0.0]
            let seconds = medianSeconds(repeats: max(3, options.repeats / 2)) {
                let t0 = DispatchTime.now().uptimeNanoseconds
                sgd.zeroGrad()
                let loss = meanSquare(net(x, training: true))
                let t1 = DispatchTime.now().uptimeNanoseconds
                loss.backward()
                let t2 = DispatchTime.now().uptimeNanoseconds
                sgd.step()
                let t3 = DispatchTime.now().uptimeNanoseconds
                parts = [Double(t1 - t0) / 1e6, Double(t2 - t1) / 1e6, Double(t3 - t2) / 1e6]
            }
            var config: [String: Any] = ["model": "r3d_18", "num_classes": 128, "batch": 8, "input": [3, 8, s, s],
                                         "threads": Parallel.threadCount]
            if profile { config["last_forward_ms"] = parts[0]; config["last_backward_ms"] = parts[1]; config["last_update_ms"] = parts[2] }
            Figure(name: "r3d18.step.\(s)", value: seconds * 1e3, unit: "ms", config: config).print(json: options.json)
            if profile {
                // One more step with per-kernel timing (kept out of the figure above).
                Profiler.enable()
                sgd.zeroGrad()
                let loss = meanSquare(net(x, training: true))
                loss.backward()
                Profiler.measure("sgd.step") { sgd.step() }
                for entry in Profiler.report() {
                    Figure(name: "r3d18.step.\(s).profile", value: entry.seconds * 1e3, unit: "ms",
                           config: ["kernel": entry.name, "calls": entry.calls]).print(json: options.json)
                }
                Profiler.enable(false)
            }
        }
    }
}

/// Flushes stdout so figures appear as they are measured (pipes are block-buffered).
@discardableResult
func fflushStdout() -> Int32 { fflush(nil) }
