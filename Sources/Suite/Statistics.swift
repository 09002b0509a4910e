import Foundation
import Protocols

/// The statistics behind the reports' verdicts and noise floors (`docs/statistics.md`).
/// Pure functions; the bootstrap draws from a fixed seed, so a report is a function of
/// the stored results alone.
public enum Statistics {
    /// Confidence level of every interval in the reports.
    public static let confidence = 0.95
    /// The fewest test units a bootstrap resamples before its interval is reported: with m
    /// units there are C(2m − 1, m) distinct draws (3 for the ci scale's 2 AVA test movies),
    /// and a percentile interval over so few says nothing about the test set.
    public static let minimumUnits = 8
    /// Bootstrap replicates per interval.
    public static let replicates = 2000
    /// Seed of the bootstrap generator (SplitMix64), restarted for every interval.
    public static let bootstrapSeed: UInt64 = 0x7E3B_2026_0013

    // MARK: Moments

    public static func mean(_ xs: [Double]) -> Double {
        xs.isEmpty ? .nan : xs.reduce(0, +) / Double(xs.count)
    }

    /// Sample standard deviation (n − 1 in the denominator); nil below two values.
    public static func standardDeviation(_ xs: [Double]) -> Double? {
        guard xs.count > 1 else { return nil }
        let m = mean(xs)
        return (xs.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(xs.count - 1)).squareRoot()
    }

    /// Population variance (n in the denominator), used for bootstrap replicates.
    static func variance(_ xs: [Double]) -> Double {
        let m = mean(xs)
        return xs.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(xs.count)
    }

    /// The `p` quantile of sorted values, interpolating linearly between order statistics
    /// (Hyndman–Fan type 7, R's and NumPy's default).
    public static func quantile(sorted xs: [Double], _ p: Double) -> Double {
        precondition(!xs.isEmpty)
        let h = Double(xs.count - 1) * p
        let lo = Int(h.rounded(.down)), hi = min(lo + 1, xs.count - 1)
        return xs[lo] + (h - Double(lo)) * (xs[hi] - xs[lo])
    }

    // MARK: Student t

    /// log Γ.
    static func logGamma(_ x: Double) -> Double { lgamma(x) }

    /// The regularized incomplete beta function I_x(a, b), by its continued fraction
    /// (modified Lentz), using the symmetry I_x(a, b) = 1 − I_{1−x}(b, a) where it converges faster.
    public static func regularizedIncompleteBeta(_ x: Double, _ a: Double, _ b: Double) -> Double {
        if x <= 0 { return 0 }
        if x >= 1 { return 1 }
        let front = exp(logGamma(a + b) - logGamma(a) - logGamma(b) + a * log(x) + b * log(1 - x))
        if x > (a + 1) / (a + b + 2) { return 1 - front * betaFraction(1 - x, b, a) / b }
        return front * betaFraction(x, a, b) / a
    }

    static func betaFraction(_ x: Double, _ a: Double, _ b: Double) -> Double {
        let tiny = 1e-300
        var c = 1.0, d = 1 - (a + b) * x / (a + 1)
        if abs(d) < tiny { d = tiny }
        d = 1 / d
        var f = d
        for m in 1...10_000 {
            let m = Double(m)
            // Even step.
            var num = m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m))
            d = 1 + num * d; if abs(d) < tiny { d = tiny }
            c = 1 + num / c; if abs(c) < tiny { c = tiny }
            d = 1 / d; f *= d * c
            // Odd step.
            num = -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))
            d = 1 + num * d; if abs(d) < tiny { d = tiny }
            c = 1 + num / c; if abs(c) < tiny { c = tiny }
            d = 1 / d
            let delta = d * c
            f *= delta
            if abs(delta - 1) < 1e-15 { break }
        }
        return f
    }

    /// The standard normal CDF.
    public static func normalCDF(_ z: Double) -> Double { 0.5 * erfc(-z / 2.0.squareRoot()) }

    /// The CDF of Student's t with `df` degrees of freedom (`df` may be fractional or infinite).
    public static func tCDF(_ t: Double, df: Double) -> Double {
        precondition(df > 0, "degrees of freedom must be positive")
        if df.isInfinite || df > 1e7 { return normalCDF(t) }
        let tail = 0.5 * regularizedIncompleteBeta(df / (df + t * t), df / 2, 0.5)
        return t >= 0 ? 1 - tail : tail
    }

    /// The inverse CDF (quantile) of Student's t: bisection on `tCDF`, to 1e-12 relative.
    /// `tQuantile(0.975, df: 1)` = 12.706, df 2 → 4.303, df 10 → 2.228, df ∞ → 1.960.
    public static func tQuantile(_ p: Double, df: Double) -> Double {
        precondition(p > 0 && p < 1, "a quantile needs 0 < p < 1")
        if p == 0.5 { return 0 }
        if p < 0.5 { return -tQuantile(1 - p, df: df) }
        // The quantile is positive; grow the bracket until it holds it.
        var lo = 0.0, hi = 2.0
        while tCDF(hi, df: df) < p { lo = hi; hi *= 2 }
        for _ in 0..<200 {
            let mid = (lo + hi) / 2
            if tCDF(mid, df: df) < p { lo = mid } else { hi = mid }
            if hi - lo <= 1e-12 * hi { break }
        }
        return (lo + hi) / 2
    }

    /// The two-sided critical value of a `confidence` interval.
    public static func tCritical(df: Double, confidence: Double = Statistics.confidence) -> Double {
        tQuantile(1 - (1 - confidence) / 2, df: df)
    }

    // MARK: Bootstrap over test items

    /// SplitMix64: small, fast, and the same sequence on every platform.
    public struct Generator {
        var state: UInt64
        public init(seed: UInt64) { state = seed }
        public mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE5_E9B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        /// Uniform in 0..<n without modulo bias (Lemire's multiply-and-reject).
        public mutating func index(below n: Int) -> Int {
            let bound = UInt64(n)
            var m = next().multipliedFullWidth(by: bound)
            if m.low < bound {
                let threshold = (0 &- bound) % bound
                while m.low < threshold { m = next().multipliedFullWidth(by: bound) }
            }
            return Int(m.high)
        }
    }

    /// What one run stored for a metric and the test set it comes from: the bootstrap draws
    /// the test set's units with replacement and recomputes the metric on each draw.
    /// Samples of the same test set and units (same `testSet`, unit kind, count and unit ids)
    /// are resampled with the same indices, because they score the same test items.
    public struct ItemSample: Sendable, Equatable {
        /// How the metric follows from the drawn units.
        public enum Data: Sendable, Equatable {
            /// Per-item values (1/0 correctness); the metric is their mean over the draw.
            case mean([Double])
            /// Per-item labels and hits; the metric is the class-mean recall of the draw.
            case classMeanRecall(ClassRecallItems)
            /// The matching outcome per test video; the metric is the frame mAP of the draw.
            case frameMAP(AVAFrameMAPUnits)
        }
        public var data: Data
        public var testSet: String

        public init(_ data: Data, testSet: String) { self.data = data; self.testSet = testSet }
        public init(items: [Double], testSet: String) { self.init(.mean(items), testSet: testSet) }

        /// The number of units a draw takes (with replacement).
        public var count: Int {
            switch data {
            case .mean(let xs): return xs.count
            case .classMeanRecall(let r): return r.count
            case .frameMAP(let u): return u.videos.count
            }
        }

        /// What a unit is: `items`, or `videos` for frame mAP.
        public var unit: String {
            if case .frameMAP = data { return "videos" }
            return "items"
        }

        /// How the metric is obtained from a draw, as the reports name it.
        public var method: String {
            switch data {
            case .mean: return "mean"
            case .classMeanRecall: return "class-mean recall recomputed"
            case .frameMAP: return "mAP recomputed"
            }
        }

        /// The units' identities where they are stored (videos), else nil.
        var unitIDs: [String]? { if case .frameMAP(let u) = data { return u.videos } else { return nil } }

        /// The metric on a draw: `draw` holds unit indices in 0..<count, with repetition.
        /// Nil where it is undefined (a frame mAP whose draw has no ground-truth instance).
        public func value(over draw: [Int]) -> Double? {
            switch data {
            case .mean(let xs):
                guard !xs.isEmpty else { return nil }
                var sum = 0.0
                for j in draw { sum += xs[j] }
                return sum / Double(xs.count)
            case .classMeanRecall(let r): return r.classMeanRecall(weights: Self.weights(draw, count: r.count))
            case .frameMAP(let u): return u.meanAP(weights: Self.weights(draw, count: u.videos.count))
            }
        }

        static func weights(_ draw: [Int], count: Int) -> [Int] {
            var w = [Int](repeating: 0, count: count)
            for j in draw { w[j] += 1 }
            return w
        }
    }

    /// Bootstrap replicates of `statistic` over the test set: each replicate draws, for every
    /// test set, m units with replacement (m = its number of units: items, or videos for
    /// frame mAP), recomputes each sample's metric on the drawn units (`ItemSample.value`),
    /// and passes those values (in `samples` order) to `statistic`. A replicate in which some
    /// sample's metric is undefined is left out (its draw is still consumed), so fewer than
    /// `replicates` values may come back.
    public static func bootstrap(_ samples: [ItemSample], replicates: Int = Statistics.replicates,
                                 seed: UInt64 = Statistics.bootstrapSeed,
                                 statistic: ([Double]) -> Double) -> [Double] {
        struct Key: Hashable { var set: String; var unit: String; var count: Int; var ids: [String]? }
        var keys: [Key] = []
        let sampleKey = samples.map { s -> Int in
            let k = Key(set: s.testSet, unit: s.unit, count: s.count, ids: s.unitIDs)
            if let i = keys.firstIndex(of: k) { return i }
            keys.append(k); return keys.count - 1
        }
        var rng = Generator(seed: seed)
        var indices = keys.map { [Int](repeating: 0, count: $0.count) }
        var values = [Double](repeating: 0, count: samples.count)
        var out: [Double] = []
        out.reserveCapacity(replicates)
        replicate: for _ in 0..<replicates {
            for k in keys.indices {
                for j in indices[k].indices { indices[k][j] = rng.index(below: keys[k].count) }
            }
            for (i, s) in samples.enumerated() {
                guard let v = s.value(over: indices[sampleKey[i]]) else { continue replicate }
                values[i] = v
            }
            out.append(statistic(values))
        }
        return out
    }

    /// The percentile bootstrap interval of one run's metric over the test set, or of the
    /// mean over several runs' metrics (runs on one test set share the drawn units); nil
    /// when no replicate is defined.
    public static func bootstrapMeanInterval(_ samples: [ItemSample], confidence: Double = Statistics.confidence)
        -> (lower: Double, upper: Double)? {
        let reps = bootstrap(samples) { mean($0) }.sorted()
        guard !reps.isEmpty else { return nil }
        let tail = (1 - confidence) / 2
        return (quantile(sorted: reps, tail), quantile(sorted: reps, 1 - tail))
    }

    // MARK: Claims

    public enum Verdict: String, Sendable {
        case holds, contradicted, inconclusive
    }

    /// A difference "A − B" with its interval.
    public struct Comparison: Sendable, Equatable {
        /// Seeds (pairs of runs) the difference is averaged over.
        public var n: Int
        /// Mean over seeds of the per-seed difference d_s.
        public var difference: Double
        /// Standard error of `difference` (nil: not estimable — one seed, no per-item data).
        public var standardError: Double?
        /// Degrees of freedom of the t critical value (∞ when only the bootstrap part counts).
        public var degreesOfFreedom: Double?
        public var interval: (lower: Double, upper: Double)? {
            guard let se = standardError, let df = degreesOfFreedom else { return nil }
            let h = Statistics.tCritical(df: df) * se
            return (difference - h, difference + h)
        }
        /// Holds when the interval lies above 0, contradicted when below, else inconclusive.
        public var verdict: Verdict {
            guard let i = interval else { return .inconclusive }
            if i.lower > 0 { return .holds }
            if i.upper < 0 { return .contradicted }
            return .inconclusive
        }
    }

    /// Combines the seed-to-seed variation of the per-seed differences `d` with the
    /// test-set variance `itemVariance` of their mean (the bootstrap variance over test
    /// items; nil when no run has per-item values):
    ///
    ///     SE² = s_d² / n + v_items,   df = (s_d²/n + v_items)² (n − 1) / (s_d²/n)²
    ///
    /// (Welch–Satterthwaite, the bootstrap part counted with infinite degrees of freedom):
    /// the paired t interval when `itemVariance` is nil, the normal interval of the
    /// bootstrap when n = 1, and nothing when n = 1 without per-item values.
    public static func pairedComparison(differences d: [Double], itemVariance: Double?) -> Comparison {
        let n = d.count
        let diff = mean(d)
        let seedPart = standardDeviation(d).map { $0 * $0 / Double(n) }
        switch (seedPart, itemVariance) {
        case (nil, nil):
            return Comparison(n: n, difference: diff, standardError: nil, degreesOfFreedom: nil)
        case (nil, let v?):
            return Comparison(n: n, difference: diff, standardError: v.squareRoot(), degreesOfFreedom: .infinity)
        case (let a?, let v):
            let total = a + (v ?? 0)
            let df = a > 0 ? total * total * Double(n - 1) / (a * a) : .infinity
            return Comparison(n: n, difference: diff, standardError: total.squareRoot(), degreesOfFreedom: df)
        }
    }

    /// The smallest difference between two cells that a claim could call: the half-width
    /// of the interval of a difference between two independent cells with seed-to-seed
    /// standard deviation `seedStd` over `n` seeds each and test-set variance `cellVariance`
    /// of each cell's mean — t · √(2 s²/n + 2 v). Nil when neither part is known. With
    /// n = 1 (a cell of one seed beside cells of several, whose pooled `seedStd` applies)
    /// the seed part is given one degree of freedom, the fewest a pooled estimate has.
    public static func smallestDecidableDifference(seedStd: Double?, n: Int, cellVariance: Double?) -> Double? {
        precondition(n >= 1, "a cell has at least one seed")
        let seedPart = seedStd.map { 2 * $0 * $0 / Double(n) }
        let itemPart = cellVariance.map { 2 * $0 }
        guard seedPart != nil || itemPart != nil else { return nil }
        let a = seedPart ?? 0, total = a + (itemPart ?? 0)
        let df = seedPart != nil && a > 0 ? total * total * Double(max(n - 1, 1)) / (a * a) : .infinity
        return tCritical(df: df) * total.squareRoot()
    }
}
