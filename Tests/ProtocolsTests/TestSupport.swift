import Foundation
import Tensors
import XCTest

/// Asserts `|actual − expected| ≤ atol + rtol·|expected|` elementwise, reporting the worst
/// element at the caller's file and line.
func assertClose(_ actual: Tensor, _ expected: Tensor, rtol: Float = 1e-4, atol: Float = 1e-5,
                 _ message: @autoclosure () -> String = "", file: StaticString = #filePath, line: UInt = #line) {
    guard actual.shape == expected.shape else {
        XCTFail("shape \(actual.shape) != expected \(expected.shape) \(message())", file: file, line: line)
        return
    }
    var worst = -1, worstExcess: Float = 0
    for i in 0..<actual.count {
        let a = actual.scalars[i], e = expected.scalars[i]
        let excess = abs(a - e) - (atol + rtol * abs(e))
        if !(excess <= 0) && (worst < 0 || excess > worstExcess || excess.isNaN) { worst = i; worstExcess = excess }
    }
    if worst >= 0 {
        XCTFail("element \(worst): \(actual.scalars[worst]) vs expected \(expected.scalars[worst]) "
                + "(rtol \(rtol), atol \(atol), max |diff| \(actual.maxAbsDifference(expected))) \(message())",
                file: file, line: line)
    }
}

/// The repository's `Tests/ProtocolsTests/Fixtures` folder (read from the source tree).
let fixturesDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

/// Finite-difference gradient check of `f` at `inputs`: the scalar checked is
/// `Σ f(inputs) ⊙ r` for a fixed random `r`; the analytic gradient comes from
/// `backward(seed: r)`, the numeric one from central differences on (up to `maxElements`)
/// elements of each input.
func gradientCheck(_ inputs: [Tensor], eps: Float = 1e-2, rtol: Float = 2e-2, atol: Float = 2e-3,
                   maxElements: Int = 64, seed: UInt64 = 99,
                   file: StaticString = #filePath, line: UInt = #line,
                   _ f: ([Variable]) -> Variable) {
    let vars = inputs.map { Variable($0, requiresGrad: true) }
    let out = f(vars)
    var rng = RandomGenerator(seed: seed)
    let r = Tensor.randomNormal(out.shape, using: &rng)
    out.backward(seed: r)

    func objective(_ xs: [Tensor]) -> Double {
        let y = withoutGradient { f(xs.map { Variable($0) }) }.value
        var s = 0.0
        for i in 0..<y.count { s += Double(y.scalars[i]) * Double(r.scalars[i]) }
        return s
    }
    for (k, input) in inputs.enumerated() {
        guard let analytic = vars[k].grad else {
            XCTFail("input \(k) received no gradient", file: file, line: line)
            continue
        }
        let step = max(1, input.count / maxElements)
        var checked = 0, nonzero = 0
        for i in stride(from: 0, to: input.count, by: step) {
            var plus = inputs, minus = inputs
            plus[k].scalars[i] += eps
            minus[k].scalars[i] -= eps
            let numeric = Float((objective(plus) - objective(minus)) / Double(2 * eps))
            let a = analytic.scalars[i]
            if !(abs(a - numeric) <= atol + rtol * abs(numeric)) {
                XCTFail("input \(k) element \(i): analytic \(a) vs numeric \(numeric)", file: file, line: line)
                return
            }
            checked += 1
            if abs(numeric) > 1e-3 { nonzero += 1 }
        }
        XCTAssertGreaterThan(nonzero, checked / 4, "input \(k): too few elements with a gradient to make the check meaningful", file: file, line: line)
    }
}
