import Tensors

/// Stochastic gradient descent with momentum and (coupled) weight decay, as PyTorch's SGD:
/// `d = g + wd·p; v ← μ·v + d` (v = d on the first step); `p ← p − lr·v`.
public final class SGD {
    public let momentum: Float, weightDecay: Float
    public var learningRate: Float
    public let parameters: [(String, Variable)]
    /// Momentum buffers by parameter name (saved in checkpoints for exact resume).
    public var velocity: [String: Tensor] = [:]

    public init(parameters: [(String, Variable)], learningRate: Float, momentum: Float = 0.9, weightDecay: Float = 0) {
        self.parameters = parameters
        self.learningRate = learningRate; self.momentum = momentum; self.weightDecay = weightDecay
    }

    /// Applies one update with the accumulated gradients. Parameters without a gradient
    /// (unused in this step) are left untouched.
    public func step() {
        for (name, p) in parameters {
            guard let g = p.grad else { continue }
            precondition(shape: g.shape, equals: p.value.shape, "SGD gradient of \(name)")
            if momentum != 0, var v = velocity.removeValue(forKey: name) {
                // One pass over p, g and v on every core (the update is memory-bound), with the
                // same float operations as the steps below.
                let mu = momentum, wd = weightDecay, rate = -learningRate
                g.scalars.withUnsafeBufferPointer { pg in
                    v.scalars.withUnsafeMutableBufferPointer { pv in
                        p.value.scalars.withUnsafeMutableBufferPointer { pw in
                            let G = UnsafeSendable(pg.baseAddress!), V = UnsafeSendable(pv.baseAddress!)
                            let W = UnsafeSendable(pw.baseAddress!)
                            Parallel.forEachRange(pw.count, minimumPerThread: 1 << 16) { range in
                                for i in range {
                                    var d = G.pointer[i]
                                    if wd != 0 { d += wd * W.pointer[i] }
                                    let vi = mu * V.pointer[i] + d
                                    V.pointer[i] = vi
                                    W.pointer[i] += rate * vi
                                }
                            }
                        }
                    }
                }
                velocity[name] = v
                continue
            }
            var d = g
            if weightDecay != 0 { d.addScaled(p.value, alpha: weightDecay) }
            if momentum != 0 {
                if var v = velocity.removeValue(forKey: name) {
                    let mu = momentum
                    d.scalars.withUnsafeBufferPointer { pd in
                        v.scalars.withUnsafeMutableBufferPointer { pv in
                            for i in 0..<pv.count { pv[i] = mu * pv[i] + pd[i] }
                        }
                    }
                    d = v
                }
                velocity[name] = d
            }
            p.value.addScaled(d, alpha: -learningRate)
        }
    }

    public func zeroGrad() { for (_, p) in parameters { p.zeroGrad() } }

    /// The momentum buffers as checkpoint tensors, named `optim.velocity.<parameter>`.
    public var checkpointTensors: [String: Tensor] {
        Dictionary(uniqueKeysWithValues: velocity.map { ("optim.velocity.\($0.key)", $0.value) })
    }

    /// Restores the momentum buffers from a checkpoint's tensors (parameters without one
    /// start without momentum, as they would have before their first gradient).
    public func restore(from tensors: [String: Tensor]) {
        var restored: [String: Tensor] = [:]
        for (name, _) in parameters { if let v = tensors["optim.velocity.\(name)"] { restored[name] = v } }
        velocity = restored
    }
}

/// A learning rate as a function of (fractional) epoch.
public protocol LearningRateSchedule: Sendable {
    func rate(atEpoch epoch: Double) -> Float
}

/// Linear warm-up from `start · base` to `base` over `epochs`, then the wrapped schedule.
public struct Warmup: Sendable {
    public var epochs: Double
    public var startFactor: Double
    public init(epochs: Double, startFactor: Double = 0) { self.epochs = epochs; self.startFactor = startFactor }
    func factor(_ epoch: Double) -> Double {
        guard epochs > 0, epoch < epochs else { return 1 }
        return startFactor + (1 - startFactor) * epoch / epochs
    }
}

/// Half-period cosine: `base · ½(1 + cos(π · epoch / total))`, with optional warm-up.
public struct HalfCosineSchedule: LearningRateSchedule {
    public var base: Float, totalEpochs: Double, warmup: Warmup?
    public init(base: Float, totalEpochs: Double, warmup: Warmup? = nil) {
        precondition(totalEpochs > 0, "cosine schedule needs a positive number of epochs")
        self.base = base; self.totalEpochs = totalEpochs; self.warmup = warmup
    }
    public func rate(atEpoch epoch: Double) -> Float {
        let t = min(max(epoch / totalEpochs, 0), 1)
        let cosine = 0.5 * (1 + _cosine(Double.pi * t))
        return Float(Double(base) * cosine * (warmup?.factor(epoch) ?? 1))
    }
}

/// Step decay: multiply by `gamma` (0.1) at each milestone epoch, with optional warm-up.
public struct MultiStepSchedule: LearningRateSchedule {
    public var base: Float, milestones: [Double], gamma: Float, warmup: Warmup?
    public init(base: Float, milestones: [Double], gamma: Float = 0.1, warmup: Warmup? = nil) {
        self.base = base; self.milestones = milestones.sorted(); self.gamma = gamma; self.warmup = warmup
    }
    public func rate(atEpoch epoch: Double) -> Float {
        let passed = milestones.filter { epoch >= $0 }.count
        var lr = Double(base)
        for _ in 0..<passed { lr *= Double(gamma) }
        return Float(lr * (warmup?.factor(epoch) ?? 1))
    }
}

#if canImport(Glibc)
import Glibc
func _cosine(_ x: Double) -> Double { Glibc.cos(x) }
#else
import Foundation
func _cosine(_ x: Double) -> Double { Foundation.cos(x) }
#endif
