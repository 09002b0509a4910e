/// Matrix products.

/// Matrix product of [M, K] and [K, N] → [M, N].
public func matmul(_ a: Variable, _ b: Variable) -> Variable {
    let av = a.value, bv = b.value
    precondition(av.rank == 2 && bv.rank == 2 && av.shape[1] == bv.shape[0],
                 "matmul: shape mismatch \(av.shape) vs \(bv.shape)")
    let y = matmulForward(av, bv)
    return Variable.record(y, inputs: [a, b]) { gy in
        [a.requiresGrad ? matmulForward(gy, bv, transB: true) : nil,
         b.requiresGrad ? matmulForward(av, gy, transA: true) : nil]
    }
}

/// `op(a) · op(b)` on plain tensors (op = transpose when asked).
public func matmulForward(_ a: Tensor, _ b: Tensor, transA: Bool = false, transB: Bool = false) -> Tensor {
    let m = transA ? a.shape[1] : a.shape[0], k = transA ? a.shape[0] : a.shape[1]
    let kb = transB ? b.shape[1] : b.shape[0], n = transB ? b.shape[0] : b.shape[1]
    precondition(k == kb, "matmul: inner dimensions differ, \(a.shape)\(transA ? "ᵀ" : "") vs \(b.shape)\(transB ? "ᵀ" : "")")
    return Tensor(uninitializedShape: [m, n]) { out in
        a.scalars.withUnsafeBufferPointer { pa in
            b.scalars.withUnsafeBufferPointer { pb in
                BLAS.gemm(transA: transA, transB: transB, m: m, n: n, k: k,
                          a: pa.baseAddress!, lda: a.shape[1], b: pb.baseAddress!, ldb: b.shape[1],
                          c: out.baseAddress!, ldc: n)
            }
        }
    }
}

/// Fully connected layer: `x` [B, in], `weight` [out, in] (PyTorch's layout), `bias` [out]
/// → [B, out] = x · weightᵀ + bias.
public func linear(_ x: Variable, weight: Variable, bias: Variable?) -> Variable {
    let xv = x.value, wv = weight.value
    precondition(xv.rank == 2 && wv.rank == 2 && xv.shape[1] == wv.shape[1],
                 "linear: input \(xv.shape) does not match weight \(wv.shape)")
    var y = matmulForward(xv, wv, transB: true)
    let B = xv.shape[0], O = wv.shape[0]
    if let bias {
        precondition(shape: bias.shape, equals: [O], "linear bias")
        for i in 0..<B { for j in 0..<O { y.scalars[i * O + j] += bias.value.scalars[j] } }
    }
    let inputs = bias.map { [x, weight, $0] } ?? [x, weight]
    return Variable.record(y, inputs: inputs) { gy in
        var grads: [Tensor?] = [x.requiresGrad ? matmulForward(gy, wv) : nil,
                                matmulForward(gy, xv, transA: true)]
        if bias != nil {
            var gb = [Float](repeating: 0, count: O)
            for i in 0..<B { for j in 0..<O { gb[j] += gy.scalars[i * O + j] } }
            grads.append(Tensor(shape: [O], scalars: gb))
        }
        return grads
    }
}
