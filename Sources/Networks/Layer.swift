import Tensors

/// A network building block. Configuration lives in `let` properties, parameters and
/// state in `var` properties holding `Variable`s.
///
/// Names are dotted paths (`layer1.0.conv1.weight`); buffers are non-trainable state such
/// as batch-norm running statistics (`…bn1.running_mean`). Checkpoints use these names.
public protocol Layer: AnyObject {
    /// Trainable parameters, named relative to this layer.
    var namedParameters: [(String, Variable)] { get }
    /// Non-trainable state saved in checkpoints, named relative to this layer.
    var namedBuffers: [(String, Variable)] { get }
}

extension Layer {
    public var namedBuffers: [(String, Variable)] { [] }
    public var parameters: [Variable] { namedParameters.map(\.1) }
    public var parameterCount: Int { parameters.reduce(0) { $0 + $1.value.count } }
    public func zeroGrad() { for p in parameters { p.zeroGrad() } }
    /// Parameters and buffers together: the state a checkpoint holds.
    public var namedState: [(String, Variable)] { namedParameters + namedBuffers }
}

/// Prefixes child names: `child("layer1", block.namedParameters)`.
public func scoped(_ prefix: String, _ items: [(String, Variable)]) -> [(String, Variable)] {
    items.map { ("\(prefix).\($0.0)", $0.1) }
}
