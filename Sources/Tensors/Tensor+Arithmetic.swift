/// Elementwise arithmetic on tensors of equal shape, and reductions.
extension Tensor {
    @inlinable
    static func zipMap(_ a: Tensor, _ b: Tensor, _ what: String, _ f: (Float, Float) -> Float) -> Tensor {
        precondition(shape: a.shape, equals: b.shape, what)
        return Tensor(uninitializedShape: a.shape) { out in
            a.scalars.withUnsafeBufferPointer { pa in
                b.scalars.withUnsafeBufferPointer { pb in
                    for i in 0..<out.count { out[i] = f(pa[i], pb[i]) }
                }
            }
        }
    }

    @inlinable
    public func map(_ f: (Float) -> Float) -> Tensor {
        Tensor(uninitializedShape: shape) { out in
            scalars.withUnsafeBufferPointer { p in
                for i in 0..<out.count { out[i] = f(p[i]) }
            }
        }
    }

    @inlinable public static func + (a: Tensor, b: Tensor) -> Tensor { zipMap(a, b, "add") { $0 + $1 } }
    @inlinable public static func - (a: Tensor, b: Tensor) -> Tensor { zipMap(a, b, "subtract") { $0 - $1 } }
    @inlinable public static func * (a: Tensor, b: Tensor) -> Tensor { zipMap(a, b, "multiply") { $0 * $1 } }
    @inlinable public static func * (a: Tensor, s: Float) -> Tensor { a.map { $0 * s } }
    @inlinable public static func * (s: Float, a: Tensor) -> Tensor { a.map { $0 * s } }

    /// `self += alpha * other`, in place.
    @inlinable
    public mutating func addScaled(_ other: Tensor, alpha: Float = 1) {
        precondition(shape: shape, equals: other.shape, "addScaled")
        other.scalars.withUnsafeBufferPointer { po in
            scalars.withUnsafeMutableBufferPointer { p in
                for i in 0..<p.count { p[i] += alpha * po[i] }
            }
        }
    }

    /// Sum of all elements, accumulated in Double.
    public func sum() -> Float {
        scalars.withUnsafeBufferPointer { p in
            var s = 0.0
            for v in p { s += Double(v) }
            return Float(s)
        }
    }

    public func mean() -> Float { count == 0 ? 0 : sum() / Float(count) }

    public func max() -> Float { scalars.max() ?? -.infinity }

    /// The largest absolute elementwise difference (for tests and diagnostics).
    public func maxAbsDifference(_ other: Tensor) -> Float {
        precondition(shape: shape, equals: other.shape, "maxAbsDifference")
        var m: Float = 0
        for i in 0..<count { m = Swift.max(m, abs(scalars[i] - other.scalars[i])) }
        return m
    }
}
