import Foundation

/// Softmax-family ops and losses. "Rows" are all leading axes; the last axis is the class axis.

/// log-softmax along the last axis, computed stably (max subtracted).
public func logSoftmaxForward(_ x: Tensor) -> Tensor {
    precondition(x.rank >= 1, "log-softmax of a scalar")
    let C = x.shape[x.rank - 1], rows = x.count / max(1, C)
    return Tensor(uninitializedShape: x.shape) { out in
        x.scalars.withUnsafeBufferPointer { p in
            for r in 0..<rows {
                let row = p.baseAddress! + r * C, o = out.baseAddress! + r * C
                var m = -Float.infinity
                for j in 0..<C { m = max(m, row[j]) }
                var s: Float = 0
                for j in 0..<C { s += Foundation.exp(row[j] - m) }
                let lse = m + Foundation.log(s)
                for j in 0..<C { o[j] = row[j] - lse }
            }
        }
    }
}

public func logSoftmax(_ x: Variable) -> Variable {
    let y = logSoftmaxForward(x.value)
    let C = x.shape[x.value.rank - 1]
    return Variable.record(y, inputs: [x]) { gy in
        // dx = gy − softmax · Σ gy (per row)
        var gx = gy
        let rows = gy.count / C
        for r in 0..<rows {
            var s: Float = 0
            for j in 0..<C { s += gy.scalars[r * C + j] }
            for j in 0..<C { gx.scalars[r * C + j] -= Foundation.exp(y.scalars[r * C + j]) * s }
        }
        return [gx]
    }
}

public func softmax(_ x: Variable) -> Variable {
    let y = logSoftmaxForward(x.value).map { Foundation.exp($0) }
    let C = x.shape[x.value.rank - 1]
    return Variable.record(y, inputs: [x]) { gy in
        // dx = y ⊙ (gy − Σ gy·y) (per row)
        var gx = gy
        let rows = gy.count / C
        for r in 0..<rows {
            var dot: Float = 0
            for j in 0..<C { dot += gy.scalars[r * C + j] * y.scalars[r * C + j] }
            for j in 0..<C { gx.scalars[r * C + j] = y.scalars[r * C + j] * (gy.scalars[r * C + j] - dot) }
        }
        return [gx]
    }
}

/// Mean cross-entropy of logits [B, C] against integer targets in `0..<C`.
public func crossEntropy(logits: Variable, targets: [Int]) -> Variable {
    precondition(logits.value.rank == 2, "cross-entropy expects logits [B, C], got \(logits.shape)")
    let B = logits.shape[0], C = logits.shape[1]
    precondition(targets.count == B, "cross-entropy: \(targets.count) targets for \(B) rows")
    precondition(targets.allSatisfy { (0..<C).contains($0) }, "cross-entropy: a target is outside 0..<\(C)")
    let logp = logSoftmaxForward(logits.value)
    var loss = 0.0
    for b in 0..<B { loss -= Double(logp.scalars[b * C + targets[b]]) }
    return Variable.record(Tensor(Float(loss / Double(B))), inputs: [logits]) { g in
        let s = g.scalar / Float(B)
        var gx = logp.map { Foundation.exp($0) * s }
        for b in 0..<B { gx.scalars[b * C + targets[b]] -= s }
        return [gx]
    }
}

/// Mean binary cross-entropy of logits against targets in [0, 1] (same shape), in the
/// stable form `max(x, 0) − x·t + log(1 + e^(−|x|))`.
public func binaryCrossEntropyWithLogits(logits: Variable, targets: Tensor) -> Variable {
    precondition(shape: logits.shape, equals: targets.shape, "binary cross-entropy logits vs targets")
    let x = logits.value, n = Float(x.count)
    var loss = 0.0
    for i in 0..<x.count {
        let v = x.scalars[i]
        loss += Double(max(v, 0) - v * targets.scalars[i] + Foundation.log1p(Foundation.exp(-abs(v))))
    }
    return Variable.record(Tensor(Float(loss / Double(n))), inputs: [logits]) { g in
        let s = g.scalar / n
        var gx = x
        for i in 0..<x.count {
            gx.scalars[i] = (1 / (1 + Foundation.exp(-x.scalars[i])) - targets.scalars[i]) * s
        }
        return [gx]
    }
}

/// Divides by the L2 norm along `axis`: `y = x / max(‖x‖, ε)`.
public func l2Normalize(_ x: Variable, axis: Int = 1, epsilon: Float = 1e-12) -> Variable {
    let xv = x.value
    precondition(axis >= 0 && axis < xv.rank, "l2Normalize axis \(axis) out of range for \(xv.shape)")
    let outer = xv.shape[..<axis].reduce(1, *), n = xv.shape[axis], inner = xv.shape[(axis + 1)...].reduce(1, *)
    var norms = [Float](repeating: 0, count: outer * inner)
    var y = xv
    for o in 0..<outer {
        for i in 0..<inner {
            var s: Float = 0
            for k in 0..<n { let v = xv.scalars[(o * n + k) * inner + i]; s += v * v }
            let norm = max(s.squareRoot(), epsilon)
            norms[o * inner + i] = norm
            for k in 0..<n { y.scalars[(o * n + k) * inner + i] /= norm }
        }
    }
    let yv = y
    return Variable.record(y, inputs: [x]) { gy in
        // dx = (gy − y·⟨gy, y⟩) / ‖x‖
        var gx = gy
        for o in 0..<outer {
            for i in 0..<inner {
                var dot: Float = 0
                for k in 0..<n { let j = (o * n + k) * inner + i; dot += gy.scalars[j] * yv.scalars[j] }
                let norm = norms[o * inner + i]
                for k in 0..<n {
                    let j = (o * n + k) * inner + i
                    gx.scalars[j] = (gy.scalars[j] - yv.scalars[j] * dot) / norm
                }
            }
        }
        return [gx]
    }
}

/// Row-wise dot products of queries against gathered rows of a memory bank (contrastive
/// logits). `queries` [B, D], `bank` [n, D] (constant), `indices` [B·K] row-major →
/// [B, K] with `out[b, k] = ⟨queries[b], bank[indices[b·K + k]]⟩`. Gradients flow to the
/// queries only: the bank is updated by momentum, not by gradient.
public func bankDot(_ queries: Variable, bank: Tensor, indices: [Int], perRow K: Int) -> Variable {
    let q = queries.value
    precondition(q.rank == 2 && bank.rank == 2 && q.shape[1] == bank.shape[1],
                 "bankDot: queries \(q.shape) vs bank \(bank.shape)")
    let B = q.shape[0], D = q.shape[1], n = bank.shape[0]
    precondition(indices.count == B * K, "bankDot: \(indices.count) indices for \(B) rows × \(K)")
    precondition(indices.allSatisfy { (0..<n).contains($0) }, "bankDot: an index is outside the bank of \(n) rows")
    let y = Tensor(uninitializedShape: [B, K]) { out in
        q.scalars.withUnsafeBufferPointer { pq in
            bank.scalars.withUnsafeBufferPointer { pb in
                indices.withUnsafeBufferPointer { pi in
                    let Q = UnsafeSendable(pq.baseAddress!), Bk = UnsafeSendable(pb.baseAddress!)
                    let I = UnsafeSendable(pi.baseAddress!), O = UnsafeSendable(out.baseAddress!)
                    Parallel.forEachRange(B) { rows in
                        for b in rows {
                            let qb = Q.pointer + b * D
                            for k in 0..<K {
                                let row = Bk.pointer + I.pointer[b * K + k] * D
                                var s: Float = 0
                                for d in 0..<D { s += qb[d] * row[d] }
                                O.pointer[b * K + k] = s
                            }
                        }
                    }
                }
            }
        }
    }
    return Variable.record(y, inputs: [queries]) { gy in
        var gq = [Float](repeating: 0, count: B * D)
        bank.scalars.withUnsafeBufferPointer { pb in
            for b in 0..<B {
                for k in 0..<K {
                    let g = gy.scalars[b * K + k]
                    let row = pb.baseAddress! + indices[b * K + k] * D
                    for d in 0..<D { gq[b * D + d] += g * row[d] }
                }
            }
        }
        return [Tensor(shape: [B, D], scalars: gq)]
    }
}
