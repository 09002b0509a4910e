/// A node of the define-by-run autodiff graph: a tensor value, and (for results of ops
/// recorded while gradients are enabled) the inputs and pullback that produced it.
///
/// Leaves created with `requiresGrad: true` are parameters: `backward()` accumulates into
/// their `grad` until `zeroGrad()`. Intermediate gradients are freed as soon as they have
/// been pulled back, so peak memory is the forward activations plus one gradient frontier.
public final class Variable {
    public var value: Tensor
    public var grad: Tensor?
    public let requiresGrad: Bool
    @usableFromInline let inputs: [Variable]
    @usableFromInline let pullback: ((Tensor) -> [Tensor?])?

    /// A leaf: a constant input (`requiresGrad: false`) or a trainable parameter.
    public init(_ value: Tensor, requiresGrad: Bool = false) {
        self.value = value
        self.requiresGrad = requiresGrad
        self.inputs = []
        self.pullback = nil
    }

    @usableFromInline
    init(value: Tensor, inputs: [Variable], pullback: @escaping (Tensor) -> [Tensor?]) {
        self.value = value
        self.requiresGrad = true
        self.inputs = inputs
        self.pullback = pullback
    }

    public var shape: [Int] { value.shape }

    /// Records the result of an op. When gradients are disabled, or no input needs one,
    /// the result is a constant and the pullback (and what it captured) is dropped.
    @inlinable
    public static func record(_ value: Tensor, inputs: [Variable],
                              pullback: @escaping (Tensor) -> [Tensor?]) -> Variable {
        guard GradientMode.isEnabled, inputs.contains(where: \.requiresGrad) else {
            return Variable(value)
        }
        return Variable(value: value, inputs: inputs, pullback: pullback)
    }

    public func zeroGrad() { grad = nil }

    /// Reverse-mode sweep from this variable. `seed` defaults to ones (for a scalar loss).
    public func backward(seed: Tensor? = nil) {
        precondition(requiresGrad, "backward() on a value that does not depend on any parameter")
        let seed = seed ?? Tensor.ones(value.shape)
        precondition(shape: seed.shape, equals: value.shape, "backward seed")

        // Iterative post-order DFS gives a topological order without deep recursion.
        var order: [Variable] = []
        var visited = Set<ObjectIdentifier>()
        var stack: [(Variable, Bool)] = [(self, false)]
        while let (node, expanded) = stack.popLast() {
            if expanded { order.append(node); continue }
            if !visited.insert(ObjectIdentifier(node)).inserted { continue }
            stack.append((node, true))
            for input in node.inputs where input.requiresGrad && !visited.contains(ObjectIdentifier(input)) {
                stack.append((input, false))
            }
        }

        var grads: [ObjectIdentifier: Tensor] = [ObjectIdentifier(self): seed]
        for node in order.reversed() {
            guard let g = grads.removeValue(forKey: ObjectIdentifier(node)) else { continue }
            guard let pullback = node.pullback else {
                node.grad = node.grad.map { $0 + g } ?? g
                continue
            }
            let inputGrads = pullback(g)
            precondition(inputGrads.count == node.inputs.count, "pullback returned \(inputGrads.count) gradients for \(node.inputs.count) inputs")
            for (input, inputGrad) in zip(node.inputs, inputGrads) {
                guard input.requiresGrad, let inputGrad else { continue }
                precondition(shape: inputGrad.shape, equals: input.value.shape, "gradient of an op input")
                let key = ObjectIdentifier(input)
                if var existing = grads.removeValue(forKey: key) {
                    Profiler.measure("autodiff.accumulate") { existing.addScaled(inputGrad) }
                    grads[key] = existing
                } else {
                    grads[key] = inputGrad
                }
            }
        }
    }
}

/// Whether ops record pullbacks. Task-local (thread-local outside tasks), so evaluation
/// in one stage never disables training in another.
public enum GradientMode {
    @TaskLocal public static var isEnabled: Bool = true
}

/// Evaluates `body` without recording pullbacks (inference, bank updates, kNN monitoring).
@inlinable
public func withoutGradient<R>(_ body: () throws -> R) rethrows -> R {
    try GradientMode.$isEnabled.withValue(false) { try body() }
}
