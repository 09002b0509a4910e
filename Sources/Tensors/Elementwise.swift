/// Differentiable elementwise ops and reductions.

/// Rectified linear unit, `max(x, 0)`; the gradient at 0 is 0.
public func relu(_ x: Variable) -> Variable {
    let y = Profiler.measure("relu.forward") { reluForward(x.value) }
    return Variable.record(y, inputs: [x]) { gy in [Profiler.measure("relu.backward") { reluBackward(gy, y) }] }
}

/// `max(x, 0)` on a plain tensor.
public func reluForward(_ x: Tensor) -> Tensor {
    Tensor(uninitializedShape: x.shape) { out in
        x.scalars.withUnsafeBufferPointer { p in
            let O = UnsafeSendable(out.baseAddress!), X = UnsafeSendable(p.baseAddress!)
            Parallel.forEachRange(out.count, minimumPerThread: 1 << 16) { r in
                for i in r { O.pointer[i] = Swift.max(X.pointer[i], 0) }
            }
        }
    }
}

/// The ReLU pullback given its output `y`: `gy` where `y > 0`, else 0.
public func reluBackward(_ gy: Tensor, _ y: Tensor) -> Tensor {
        Tensor(uninitializedShape: gy.shape) { out in
            gy.scalars.withUnsafeBufferPointer { pg in
                y.scalars.withUnsafeBufferPointer { py in
                    let O = UnsafeSendable(out.baseAddress!), G = UnsafeSendable(pg.baseAddress!)
                    let Y = UnsafeSendable(py.baseAddress!)
                    Parallel.forEachRange(out.count, minimumPerThread: 1 << 16) { r in
                        // A bit mask, not `? :`: the select compiled to a branch, which mispredicts
                        // on ReLU's random signs (8× slower on 4 M elements).
                        for i in r {
                            let keep: UInt32 = Y.pointer[i] > 0 ? 0xFFFF_FFFF : 0
                            O.pointer[i] = Float(bitPattern: G.pointer[i].bitPattern & keep)
                        }
                    }
                }
            }
        }
}

/// Elementwise sum of two tensors of the same shape (residual connections).
public func add(_ a: Variable, _ b: Variable) -> Variable {
    precondition(shape: a.shape, equals: b.shape, "add")
    return Variable.record(Profiler.measure("add.forward") { a.value + b.value }, inputs: [a, b]) { [$0, $0] }
}

public func + (a: Variable, b: Variable) -> Variable { add(a, b) }

/// Elementwise product of two tensors of the same shape.
public func multiply(_ a: Variable, _ b: Variable) -> Variable {
    precondition(shape: a.shape, equals: b.shape, "multiply")
    let av = a.value, bv = b.value
    return Variable.record(av * bv, inputs: [a, b]) { [$0 * bv, $0 * av] }
}

/// `x · s` for a constant scalar `s` (e.g. dividing logits by a temperature).
public func scale(_ x: Variable, by s: Float) -> Variable {
    Variable.record(x.value * s, inputs: [x]) { [$0 * s] }
}

/// Sum of every element, as a scalar.
public func sum(_ x: Variable) -> Variable {
    let shape = x.shape
    return Variable.record(Tensor(x.value.sum()), inputs: [x]) { [Tensor(repeating: $0.scalar, shape: shape)] }
}

/// Mean of every element, as a scalar.
public func mean(_ x: Variable) -> Variable {
    let shape = x.shape, n = Float(x.value.count)
    return Variable.record(Tensor(x.value.mean()), inputs: [x]) { [Tensor(repeating: $0.scalar / n, shape: shape)] }
}

/// Mean of the squared elements, as a scalar.
public func meanSquare(_ x: Variable) -> Variable {
    let xv = x.value, n = Float(xv.count)
    let value = xv.scalars.withUnsafeBufferPointer { p -> Float in
        var s = 0.0
        for v in p { s += Double(v * v) }
        return Float(s / Double(n))
    }
    return Variable.record(Tensor(value), inputs: [x]) { g in [xv * (2 * g.scalar / n)] }
}

/// Inverted dropout: zeroes each element with probability `p` and scales the rest by
/// `1 / (1 − p)` in training; the identity otherwise.
public func dropout(_ x: Variable, probability p: Float, training: Bool, using rng: inout RandomGenerator) -> Variable {
    precondition(p >= 0 && p < 1, "dropout probability must be in [0, 1), got \(p)")
    guard training, p > 0 else { return x }
    let keep = 1 / (1 - p)
    var mask = Tensor(uninitializedShape: x.shape) { m in
        for i in 0..<m.count { m[i] = 0 }
    }
    for i in 0..<mask.count { mask.scalars[i] = rng.nextUniform() < p ? 0 : keep }
    let m = mask
    return Variable.record(x.value * m, inputs: [x]) { [$0 * m] }
}
