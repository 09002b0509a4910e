import Foundation
import Tensors

/// Errors loading a checkpoint into a network; each names the file and the tensor.
public enum CheckpointError: Error, CustomStringConvertible, Equatable {
    case missingTensor(path: String, name: String)
    case shapeMismatch(path: String, name: String, expected: [Int], found: [Int])
    case unexpectedTensors(path: String, names: [String])

    public var description: String {
        switch self {
        case let .missingTensor(path, name): return "\(path): checkpoint has no tensor '\(name)'"
        case let .shapeMismatch(path, name, e, f): return "\(path): tensor '\(name)' has shape \(f), the network expects \(e)"
        case let .unexpectedTensors(path, names): return "\(path): tensors not in the network: \(names.prefix(5).joined(separator: ", "))\(names.count > 5 ? ", …" : "")"
        }
    }
}

/// Safetensors checkpoints of a layer's parameters and buffers under their dotted names.
public enum Checkpoint {
    /// Saves the layer's state (and extra named tensors, e.g. optimiser state) atomically.
    public static func save(_ layer: Layer, prefix: String = "", extra: [String: Tensor] = [:],
                            metadata: [String: String] = [:], to url: URL) throws {
        var tensors = extra
        for (name, v) in layer.namedState { tensors[prefix + name] = v.value }
        try Safetensors.write(tensors, metadata: metadata, to: url)
    }

    /// Loads state saved by `save` into `layer`, checking every name and shape.
    /// Returns the tensors that do not belong to the layer (extras) and the metadata.
    @discardableResult
    public static func load(into layer: Layer, prefix: String = "", from url: URL, strict: Bool = false) throws
        -> (extra: [String: Tensor], metadata: [String: String]) {
        var (tensors, metadata) = try Safetensors.read(url)
        for (name, v) in layer.namedState {
            guard let t = tensors.removeValue(forKey: prefix + name) else {
                throw CheckpointError.missingTensor(path: url.path, name: prefix + name)
            }
            guard t.shape == v.value.shape else {
                throw CheckpointError.shapeMismatch(path: url.path, name: prefix + name, expected: v.value.shape, found: t.shape)
            }
            v.value = t
        }
        if strict, !tensors.isEmpty { throw CheckpointError.unexpectedTensors(path: url.path, names: tensors.keys.sorted()) }
        return (tensors, metadata)
    }
}
