/// Shape ops: reshape, permute, concatenation.

/// The same elements with another shape (one axis may be −1).
public func reshape(_ x: Variable, _ shape: [Int]) -> Variable {
    let original = x.shape
    return Variable.record(x.value.reshaped(shape), inputs: [x]) { [$0.reshaped(original)] }
}

/// Reorders axes: output axis `i` is input axis `order[i]`.
public func permute(_ x: Variable, _ order: [Int]) -> Variable {
    var inverse = [Int](repeating: 0, count: order.count)
    for (i, o) in order.enumerated() { inverse[o] = i }
    return Variable.record(permuteForward(x.value, order), inputs: [x]) { [permuteForward($0, inverse)] }
}

/// Permutation on plain tensors.
public func permuteForward(_ x: Tensor, _ order: [Int]) -> Tensor {
    precondition(order.sorted() == Array(0..<x.rank), "permute order \(order) is not a permutation of the axes of \(x.shape)")
    let outShape = order.map { x.shape[$0] }
    let inStrides = Tensor.strides(of: x.shape)
    let srcStrides = order.map { inStrides[$0] }
    let rank = x.rank
    return Tensor(uninitializedShape: outShape) { out in
        x.scalars.withUnsafeBufferPointer { p in
            var index = [Int](repeating: 0, count: rank)
            var src = 0
            for o in 0..<out.count {
                out[o] = p[src]
                // Odometer increment over the output index, tracking the source offset.
                var axis = rank - 1
                while axis >= 0 {
                    index[axis] += 1
                    src += srcStrides[axis]
                    if index[axis] < outShape[axis] { break }
                    src -= srcStrides[axis] * outShape[axis]
                    index[axis] = 0
                    axis -= 1
                }
            }
        }
    }
}

/// Concatenates along `axis` (default 1, the channel axis of NCDHW); other axes must match.
public func concat(_ xs: [Variable], axis: Int = 1) -> Variable {
    precondition(!xs.isEmpty, "concat of no tensors")
    let first = xs[0].shape
    for x in xs {
        var a = x.shape, b = first
        precondition(a.count == b.count && axis < a.count, "concat: rank mismatch \(x.shape) vs \(first)")
        a[axis] = 0; b[axis] = 0
        precondition(shape: a, equals: b, "concat along axis \(axis) (\(x.shape) vs \(first))")
    }
    let outer = first[..<axis].reduce(1, *), inner = first[(axis + 1)...].reduce(1, *)
    let widths = xs.map { $0.shape[axis] * inner }
    let total = widths.reduce(0, +)
    var outShape = first
    outShape[axis] = xs.map { $0.shape[axis] }.reduce(0, +)
    var y = [Float](repeating: 0, count: outer * total)
    var offset = 0
    for (x, width) in zip(xs, widths) {
        for o in 0..<outer {
            for i in 0..<width { y[o * total + offset + i] = x.value.scalars[o * width + i] }
        }
        offset += width
    }
    return Variable.record(Tensor(shape: outShape, scalars: y), inputs: xs) { gy in
        var grads: [Tensor?] = []
        var offset = 0
        for (x, width) in zip(xs, widths) {
            var g = [Float](repeating: 0, count: outer * width)
            for o in 0..<outer { for i in 0..<width { g[o * width + i] = gy.scalars[o * total + offset + i] } }
            grads.append(Tensor(shape: x.shape, scalars: g))
            offset += width
        }
        return grads
    }
}
