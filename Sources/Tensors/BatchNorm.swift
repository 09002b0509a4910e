import Foundation

/// Synchronised batch norm for data-parallel training: while `reduce` is set, batch norm in
/// training mode sums its per-channel statistics (forward: sums and counts; backward: the
/// gradient sums) over every process with it, so each normalises with the statistics of
/// the whole global batch. `reduce` sums a buffer element-wise over the processes, in place;
/// every process must run the same batch norms in the same order.
public enum BatchNormSync {
    nonisolated(unsafe) public static var reduce: ((inout [Double]) -> Void)? = nil
}

/// Batch normalisation over the channel axis (axis 1) of an [N, C, …] tensor (NCDHW for
/// video): statistics per channel over N and every axis after the channel.
///
/// Training mode normalises with the batch statistics (biased variance) and updates the
/// running statistics in place: `running ← (1 − momentum)·running + momentum·batch`, with
/// the unbiased variance, as PyTorch does. Evaluation mode uses the running statistics.
public func batchNorm(_ x: Variable, gamma: Variable, beta: Variable,
                      runningMean: inout Tensor, runningVariance: inout Tensor,
                      training: Bool, momentum: Float = 0.1, epsilon: Float = 1e-5) -> Variable {
    let (y, pullback) = Profiler.measure("batchnorm.forward") {
        _vjpBatchNorm(x.value, gamma: gamma.value, beta: beta.value,
                      runningMean: &runningMean, runningVariance: &runningVariance,
                      training: training, momentum: momentum, epsilon: epsilon)
    }
    return Variable.record(y, inputs: [x, gamma, beta]) { gy in
        let (gx, gg, gb) = Profiler.measure("batchnorm.backward") { pullback(gy) }
        return [gx, gg, gb]
    }
}

/// Forward value and pullback of batch norm, side by side.
public func _vjpBatchNorm(_ x: Tensor, gamma: Tensor, beta: Tensor,
                          runningMean: inout Tensor, runningVariance: inout Tensor,
                          training: Bool, momentum: Float, epsilon: Float)
    -> (Tensor, (Tensor) -> (Tensor, Tensor, Tensor)) {
    precondition(x.rank >= 2, "batch norm expects [N, C, …], got \(x.shape)")
    let N = x.shape[0], C = x.shape[1], S = x.shape.dropFirst(2).reduce(1, *)
    let M = N * S
    precondition(shape: gamma.shape, equals: [C], "batch norm gamma vs channels of \(x.shape)")
    precondition(shape: beta.shape, equals: [C], "batch norm beta vs channels of \(x.shape)")
    precondition(shape: runningMean.shape, equals: [C], "batch norm running mean")
    precondition(shape: runningVariance.shape, equals: [C], "batch norm running variance")
    precondition(!training || M > 1, "batch norm in training mode needs more than one value per channel, got input \(x.shape)")

    var mean = [Float](repeating: 0, count: C)
    var invStd = [Float](repeating: 0, count: C)
    let reduce = training ? BatchNormSync.reduce : nil
    var totalCount = M
    if let reduce {
        // Two passes as below, each summed over the processes: the global mean, then the
        // squared deviations from it.
        var sums = [Double](repeating: 0, count: C + 1)
        x.scalars.withUnsafeBufferPointer { px in
            sums.withUnsafeMutableBufferPointer { ps in
                let X = UnsafeSendable(px.baseAddress!), P = UnsafeSendable(ps.baseAddress!)
                Parallel.forEachRange(C) { channels in
                    for c in channels {
                        var s = 0.0
                        for n in 0..<N { s += Double(simdSum(X.pointer + (n * C + c) * S, S)) }
                        P.pointer[c] = s
                    }
                }
            }
        }
        sums[C] = Double(M)
        reduce(&sums)
        totalCount = Int(sums[C])
        for c in 0..<C { mean[c] = Float(sums[c] / sums[C]) }
        var deviations = [Double](repeating: 0, count: C)
        x.scalars.withUnsafeBufferPointer { px in
            deviations.withUnsafeMutableBufferPointer { pd in
                let X = UnsafeSendable(px.baseAddress!), D = UnsafeSendable(pd.baseAddress!)
                let mean = mean
                Parallel.forEachRange(C) { channels in
                    for c in channels {
                        var v = 0.0
                        for n in 0..<N { v += Double(simdSquaredDeviation(X.pointer + (n * C + c) * S, S, from: mean[c])) }
                        D.pointer[c] = v
                    }
                }
            }
        }
        reduce(&deviations)
        let Mt = Float(totalCount)
        for c in 0..<C {
            let variance = Float(deviations[c] / sums[C])
            runningMean.scalars[c] = (1 - momentum) * runningMean.scalars[c] + momentum * mean[c]
            runningVariance.scalars[c] = (1 - momentum) * runningVariance.scalars[c] + momentum * variance * Mt / (Mt - 1)
            invStd[c] = 1 / (variance + epsilon).squareRoot()
        }
    } else if training {
        x.scalars.withUnsafeBufferPointer { px in
            mean.withUnsafeMutableBufferPointer { pm in
                invStd.withUnsafeMutableBufferPointer { pi in
                    let X = UnsafeSendable(px.baseAddress!), Mn = UnsafeSendable(pm.baseAddress!)
                    let Iv = UnsafeSendable(pi.baseAddress!)
                    Parallel.forEachRange(C) { channels in
                        for c in channels {
                            var s = 0.0
                            for n in 0..<N {
                                let p = X.pointer + (n * C + c) * S
                                s += Double(simdSum(p, S))
                            }
                            let mu = s / Double(M)
                            var v = 0.0
                            let muF = Float(mu)
                            for n in 0..<N {
                                let p = X.pointer + (n * C + c) * S
                                v += Double(simdSquaredDeviation(p, S, from: muF))
                            }
                            let variance = v / Double(M)
                            Mn.pointer[c] = muF
                            // Stash the biased variance; converted to 1/σ below.
                            Iv.pointer[c] = Float(variance)
                        }
                    }
                }
            }
        }
        for c in 0..<C {
            let variance = invStd[c]
            runningMean.scalars[c] = (1 - momentum) * runningMean.scalars[c] + momentum * mean[c]
            runningVariance.scalars[c] = (1 - momentum) * runningVariance.scalars[c]
                + momentum * variance * Float(M) / Float(M - 1)
            invStd[c] = 1 / (variance + epsilon).squareRoot()
        }
    } else {
        for c in 0..<C {
            mean[c] = runningMean.scalars[c]
            invStd[c] = 1 / (runningVariance.scalars[c] + epsilon).squareRoot()
        }
    }

    let y = Tensor(uninitializedShape: x.shape) { out in
        x.scalars.withUnsafeBufferPointer { px in
            gamma.scalars.withUnsafeBufferPointer { pg in
                beta.scalars.withUnsafeBufferPointer { pb in
                    let X = UnsafeSendable(px.baseAddress!), O = UnsafeSendable(out.baseAddress!)
                    let G = UnsafeSendable(pg.baseAddress!), B = UnsafeSendable(pb.baseAddress!)
                    let mean = mean, invStd = invStd
                    Parallel.forEachRange(N * C, minimumPerThread: 4) { planes in
                        for plane in planes {
                            let c = plane % C
                            let scale = G.pointer[c] * invStd[c]
                            let shift = B.pointer[c] - mean[c] * scale
                            let src = X.pointer + plane * S, dst = O.pointer + plane * S
                            for i in 0..<S { dst[i] = src[i] * scale + shift }
                        }
                    }
                }
            }
        }
    }

    let savedMean = mean, savedInvStd = invStd, savedCount = totalCount
    return (y, { gy in
        precondition(shape: gy.shape, equals: x.shape, "batch norm output gradient")
        var gGamma = [Float](repeating: 0, count: C)
        var gBeta = [Float](repeating: 0, count: C)
        var gx = [Float](repeating: 0, count: x.count)
        x.scalars.withUnsafeBufferPointer { px in
            gy.scalars.withUnsafeBufferPointer { pgy in
                gamma.scalars.withUnsafeBufferPointer { pg in
                    gGamma.withUnsafeMutableBufferPointer { pgg in
                        gBeta.withUnsafeMutableBufferPointer { pgb in
                            gx.withUnsafeMutableBufferPointer { pgx in
                                let X = UnsafeSendable(px.baseAddress!), GY = UnsafeSendable(pgy.baseAddress!)
                                let G = UnsafeSendable(pg.baseAddress!), GG = UnsafeSendable(pgg.baseAddress!)
                                let GB = UnsafeSendable(pgb.baseAddress!), GX = UnsafeSendable(pgx.baseAddress!)
                                if let reduce {
                                    // Synchronised: the gradient sums of the whole global batch.
                                    var sums = [Double](repeating: 0, count: 2 * C)
                                    sums.withUnsafeMutableBufferPointer { ps in
                                        let P = UnsafeSendable(ps.baseAddress!)
                                        Parallel.forEachRange(C) { channels in
                                            for c in channels {
                                                var sumDy = 0.0, sumDyXhat = 0.0
                                                for n in 0..<N {
                                                    let xs = X.pointer + (n * C + c) * S, gs = GY.pointer + (n * C + c) * S
                                                    let (a, b) = simdSumAndCenteredDot(gs, xs, S, center: savedMean[c])
                                                    sumDy += Double(a); sumDyXhat += Double(b)
                                                }
                                                sumDyXhat *= Double(savedInvStd[c])
                                                // This process's share of the parameter gradients
                                                // (data parallelism sums those over the processes).
                                                GG.pointer[c] = Float(sumDyXhat); GB.pointer[c] = Float(sumDy)
                                                P.pointer[2 * c] = sumDy; P.pointer[2 * c + 1] = sumDyXhat
                                            }
                                        }
                                    }
                                    reduce(&sums)
                                    let sumsCopy = sums
                                    Parallel.forEachRange(C) { channels in
                                        for c in channels {
                                            let mu = savedMean[c], inv = savedInvStd[c], scale = G.pointer[c] * inv
                                            let meanDy = Float(sumsCopy[2 * c] / Double(savedCount))
                                            let meanDyXhat = Float(sumsCopy[2 * c + 1] / Double(savedCount))
                                            for n in 0..<N {
                                                let xs = X.pointer + (n * C + c) * S, gs = GY.pointer + (n * C + c) * S
                                                let d = GX.pointer + (n * C + c) * S
                                                for i in 0..<S {
                                                    let xhat = (xs[i] - mu) * inv
                                                    d[i] = scale * (gs[i] - meanDy - xhat * meanDyXhat)
                                                }
                                            }
                                        }
                                    }
                                    return
                                }
                                Parallel.forEachRange(C) { channels in
                                    for c in channels {
                                        let mu = savedMean[c], inv = savedInvStd[c]
                                        var sumDy = 0.0, sumDyXhat = 0.0
                                        for n in 0..<N {
                                            let xs = X.pointer + (n * C + c) * S, gs = GY.pointer + (n * C + c) * S
                                            let (a, b) = simdSumAndCenteredDot(gs, xs, S, center: mu)
                                            sumDy += Double(a); sumDyXhat += Double(b)
                                        }
                                        sumDyXhat *= Double(inv)
                                        GG.pointer[c] = Float(sumDyXhat)
                                        GB.pointer[c] = Float(sumDy)
                                        let scale = G.pointer[c] * inv
                                        if training {
                                            let meanDy = Float(sumDy / Double(M))
                                            let meanDyXhat = Float(sumDyXhat / Double(M))
                                            for n in 0..<N {
                                                let xs = X.pointer + (n * C + c) * S, gs = GY.pointer + (n * C + c) * S
                                                let d = GX.pointer + (n * C + c) * S
                                                for i in 0..<S {
                                                    let xhat = (xs[i] - mu) * inv
                                                    d[i] = scale * (gs[i] - meanDy - xhat * meanDyXhat)
                                                }
                                            }
                                        } else {
                                            for n in 0..<N {
                                                let gs = GY.pointer + (n * C + c) * S, d = GX.pointer + (n * C + c) * S
                                                for i in 0..<S { d[i] = scale * gs[i] }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return (Tensor(shape: x.shape, scalars: gx), Tensor(shape: [C], scalars: gGamma), Tensor(shape: [C], scalars: gBeta))
    })
}

// Reductions with 16 lanes of partial sums: a single running `Float` sum is one dependent
// add per element (the compiler may not reorder it), four times slower than memory.

@inlinable
func simdSum(_ p: UnsafePointer<Float>, _ n: Int) -> Float {
    var acc = SIMD16<Float>(repeating: 0)
    var i = 0
    let raw = UnsafeRawPointer(p)
    while i + 16 <= n { acc += raw.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self); i += 16 }
    var s = acc.sum()
    while i < n { s += p[i]; i += 1 }
    return s
}

@inlinable
func simdSquaredDeviation(_ p: UnsafePointer<Float>, _ n: Int, from mu: Float) -> Float {
    var acc = SIMD16<Float>(repeating: 0)
    let m = SIMD16<Float>(repeating: mu)
    var i = 0
    let raw = UnsafeRawPointer(p)
    while i + 16 <= n {
        let d = raw.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self) - m
        acc += d * d
        i += 16
    }
    var s = acc.sum()
    while i < n { let d = p[i] - mu; s += d * d; i += 1 }
    return s
}

/// (Σ g, Σ g·(x − center)).
@inlinable
func simdSumAndCenteredDot(_ g: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ n: Int,
                           center: Float) -> (Float, Float) {
    var a = SIMD16<Float>(repeating: 0), b = SIMD16<Float>(repeating: 0)
    let m = SIMD16<Float>(repeating: center)
    var i = 0
    let rg = UnsafeRawPointer(g), rx = UnsafeRawPointer(x)
    while i + 16 <= n {
        let gv = rg.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self)
        let xv = rx.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self)
        a += gv
        b += gv * (xv - m)
        i += 16
    }
    var sa = a.sum(), sb = b.sum()
    while i < n { sa += g[i]; sb += g[i] * (x[i] - center); i += 1 }
    return (sa, sb)
}
