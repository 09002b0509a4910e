/// A small, fast, seedable generator (xoshiro256**), identical on every platform so that
/// a seed gives bit-identical initialisations, augmentations and data orders.
public struct RandomGenerator: RandomNumberGenerator, Sendable, Codable, Equatable {
    public var state: [UInt64]

    public init(seed: UInt64) {
        // SplitMix64 expands the seed into the four words of state.
        var z = seed
        var words = [UInt64]()
        for _ in 0..<4 {
            z &+= 0x9E37_79B9_7F4A_7C15
            var x = z
            x = (x ^ (x >> 30)) &* 0xBF58_476D_1CE4_E5B9
            x = (x ^ (x >> 27)) &* 0x94D0_49BB_1331_11EB
            words.append(x ^ (x >> 31))
        }
        state = words
    }

    @inlinable
    public mutating func next() -> UInt64 {
        let result = rotl(state[1] &* 5, 7) &* 9
        let t = state[1] << 17
        state[2] ^= state[0]
        state[3] ^= state[1]
        state[1] ^= state[2]
        state[0] ^= state[3]
        state[2] ^= t
        state[3] = rotl(state[3], 45)
        return result
    }

    @inlinable
    func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }

    /// Uniform in [0, 1) with 24 random bits.
    @inlinable
    public mutating func nextUniform() -> Float {
        Float(next() >> 40) * (1.0 / 16_777_216.0)
    }

    /// Standard normal via Box–Muller (one value per call; simple and reproducible).
    @inlinable
    public mutating func nextNormal() -> Float {
        var u1 = Double(next() >> 11) * (1.0 / 9_007_199_254_740_992.0)
        if u1 < 1e-300 { u1 = 1e-300 }
        let u2 = Double(next() >> 11) * (1.0 / 9_007_199_254_740_992.0)
        return Float((-2 * _log(u1)).squareRoot() * _cos(2 * Double.pi * u2))
    }

    /// A uniformly random integer in `0..<bound`.
    @inlinable
    public mutating func nextInt(below bound: Int) -> Int {
        precondition(bound > 0, "nextInt(below:) needs a positive bound, got \(bound)")
        return Int(next() % UInt64(bound))
    }

    /// A uniformly random permutation of `0..<n` (Fisher–Yates, from the last element down),
    /// used for every data order so that all of them shuffle the same way.
    public mutating func permutation(_ n: Int) -> [Int] {
        var order = Array(0..<n)
        for i in stride(from: n - 1, to: 0, by: -1) { order.swapAt(i, nextInt(below: i + 1)) }
        return order
    }

    /// Derives an independent generator (for a worker or a layer) from this one.
    public mutating func split() -> RandomGenerator { RandomGenerator(seed: next()) }
}

#if canImport(Glibc)
import Glibc
@usableFromInline func _log(_ x: Double) -> Double { Glibc.log(x) }
@usableFromInline func _cos(_ x: Double) -> Double { Glibc.cos(x) }
#else
import Foundation
@usableFromInline func _log(_ x: Double) -> Double { Foundation.log(x) }
@usableFromInline func _cos(_ x: Double) -> Double { Foundation.cos(x) }
#endif

extension Tensor {
    /// Independent normal samples with the given mean and standard deviation.
    public static func randomNormal(_ shape: [Int], mean: Float = 0, std: Float = 1,
                                    using rng: inout RandomGenerator) -> Tensor {
        Tensor(shape: shape, scalars: (0..<shape.reduce(1, *)).map { _ in mean + std * rng.nextNormal() })
    }

    /// Independent uniform samples in `[low, high)`.
    public static func randomUniform(_ shape: [Int], low: Float = 0, high: Float = 1,
                                     using rng: inout RandomGenerator) -> Tensor {
        Tensor(shape: shape, scalars: (0..<shape.reduce(1, *)).map { _ in low + (high - low) * rng.nextUniform() })
    }
}

/// A named random stream of a stage seed. Every random choice of a procedure draws from
/// its own stream (`SeedStream(seed, "finetune.order").generator(epoch)`), derived from the
/// stage seed, the stream's name and its indices only: streams never collide, and no draw
/// depends on the order in which threads or resumed runs ask for it.
public struct SeedStream: Sendable, Equatable {
    public let seed: UInt64
    public let name: String

    public init(_ seed: UInt64, _ name: String) { self.seed = seed; self.name = name }

    /// The seed of this stream at `indices` (epoch, step, item …).
    public func seed(_ indices: Int...) -> UInt64 { seed(indices) }

    public func seed(_ indices: [Int]) -> UInt64 {
        // FNV-1a of the name, then a SplitMix64 finaliser per index.
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for b in name.utf8 { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01B3 }
        var z = Self.mix(seed ^ h)
        for i in indices { z = Self.mix(z ^ (UInt64(bitPattern: Int64(i)) &* 0x9E37_79B9_7F4A_7C15)) }
        return z
    }

    public func generator(_ indices: Int...) -> RandomGenerator { RandomGenerator(seed: seed(indices)) }

    static func mix(_ x: UInt64) -> UInt64 {
        var z = x &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
