import Foundation

/// Errors reading or writing safetensors files; each names the file.
public enum SafetensorsError: Error, CustomStringConvertible, Equatable {
    case unreadable(path: String, reason: String)
    case malformed(path: String, reason: String)
    case unsupportedDType(path: String, tensor: String, dtype: String)
    case unwritable(path: String, reason: String)

    public var description: String {
        switch self {
        case let .unreadable(path, reason): return "\(path): cannot read safetensors file: \(reason)"
        case let .malformed(path, reason): return "\(path): not a valid safetensors file: \(reason)"
        case let .unwritable(path, reason): return "\(path): cannot write safetensors file: \(reason)"
        case let .unsupportedDType(path, tensor, dtype): return "\(path): tensor '\(tensor)' has dtype \(dtype); only F32 (and F64/F16/I64/I32, converted) are read"
        }
    }
}

/// The safetensors format: an 8-byte little-endian header length, a JSON header mapping
/// names to `{dtype, shape, data_offsets}` (plus an optional `__metadata__` string map),
/// then the raw little-endian data. Files are written atomically (temporary file + rename),
/// so a crash never leaves a torn checkpoint.
public enum Safetensors {
    /// Writes tensors (as F32) in name order with string metadata.
    public static func write(_ tensors: [String: Tensor], metadata: [String: String] = [:], to url: URL) throws {
        var header: [String: Any] = [:]
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var offset = 0
        let names = tensors.keys.sorted()
        for name in names {
            let t = tensors[name]!
            header[name] = ["dtype": "F32", "shape": t.shape, "data_offsets": [offset, offset + 4 * t.count]] as [String: Any]
            offset += 4 * t.count
        }
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        while json.count % 8 != 0 { json.append(0x20) }
        var data = Data(capacity: 8 + json.count + offset)
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { data.append(contentsOf: $0) }
        data.append(json)
        for name in names {
            tensors[name]!.scalars.withUnsafeBytes { data.append(contentsOf: $0) }
        }
        let dir = url.deletingLastPathComponent()
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let tmp = dir.appendingPathComponent(".\(url.lastPathComponent).\(getpid()).tmp")
        do {
            try data.write(to: tmp)
            // Flush before rename so a crash after the rename never exposes an empty file.
            let handle = try FileHandle(forWritingTo: tmp)
            try handle.synchronize()
            try handle.close()
            // rename(2) replaces the destination atomically.
            guard rename(tmp.path, url.path) == 0 else {
                throw SafetensorsError.unwritable(path: url.path, reason: "rename failed: \(String(cString: strerror(errno)))")
            }
        } catch {
            try? FileManager.default.removeItem(at: tmp)
            if let error = error as? SafetensorsError { throw error }
            throw SafetensorsError.unwritable(path: url.path, reason: "\(error.localizedDescription)")
        }
    }

    /// Reads every tensor (converted to Float32) and the metadata map.
    public static func read(_ url: URL) throws -> (tensors: [String: Tensor], metadata: [String: String]) {
        let path = url.path
        let data: Data
        do { data = try Data(contentsOf: url, options: .alwaysMapped) } catch {
            throw SafetensorsError.unreadable(path: path, reason: "\(error.localizedDescription)")
        }
        guard data.count >= 8 else { throw SafetensorsError.malformed(path: path, reason: "file shorter than its 8-byte header length") }
        let headerLength = data.prefix(8).withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
        guard headerLength <= UInt64(data.count - 8) else {
            throw SafetensorsError.malformed(path: path, reason: "header length \(headerLength) exceeds the file size \(data.count)")
        }
        let headerData = data.subdata(in: 8..<(8 + Int(headerLength)))
        guard let header = try? JSONSerialization.jsonObject(with: headerData) as? [String: Any] else {
            throw SafetensorsError.malformed(path: path, reason: "header is not a JSON object")
        }
        let base = 8 + Int(headerLength)
        var tensors: [String: Tensor] = [:]
        var metadata: [String: String] = [:]
        for (name, value) in header {
            if name == "__metadata__" {
                metadata = (value as? [String: String]) ?? [:]
                continue
            }
            guard let entry = value as? [String: Any], let dtype = entry["dtype"] as? String,
                  let shape = entry["shape"] as? [Int], let offsets = entry["data_offsets"] as? [Int], offsets.count == 2 else {
                throw SafetensorsError.malformed(path: path, reason: "entry '\(name)' lacks dtype, shape or data_offsets")
            }
            // Sizes come from the file: checked for sign and overflow before any arithmetic
            // that would trap on them.
            var count = 1
            for d in shape {
                let (product, overflow) = count.multipliedReportingOverflow(by: d)
                guard d >= 0, !overflow else {
                    throw SafetensorsError.malformed(path: path, reason: "entry '\(name)' has an invalid shape \(shape)")
                }
                count = product
            }
            let width: Int
            switch dtype {
            case "F32", "I32": width = 4
            case "F64", "I64": width = 8
            case "F16": width = 2
            default: throw SafetensorsError.unsupportedDType(path: path, tensor: name, dtype: dtype)
            }
            let (size, overflow) = count.multipliedReportingOverflow(by: width)
            guard offsets[0] >= 0, offsets[1] >= offsets[0], !overflow, offsets[1] - offsets[0] == size,
                  offsets[1] <= data.count - base else {
                throw SafetensorsError.malformed(path: path, reason: "entry '\(name)' has data_offsets \(offsets) inconsistent with shape \(shape) and dtype \(dtype)")
            }
            let bytes = data.subdata(in: (base + offsets[0])..<(base + offsets[1]))
            let scalars: [Float] = bytes.withUnsafeBytes { raw in
                switch dtype {
                case "F32": return (0..<count).map { raw.loadUnaligned(fromByteOffset: 4 * $0, as: Float.self) }
                case "F64": return (0..<count).map { Float(raw.loadUnaligned(fromByteOffset: 8 * $0, as: Double.self)) }
                case "I64": return (0..<count).map { Float(raw.loadUnaligned(fromByteOffset: 8 * $0, as: Int64.self)) }
                case "I32": return (0..<count).map { Float(raw.loadUnaligned(fromByteOffset: 4 * $0, as: Int32.self)) }
                default: return (0..<count).map { Float(Float16(bitPattern: raw.loadUnaligned(fromByteOffset: 2 * $0, as: UInt16.self))) }
                }
            }
            tensors[name] = Tensor(shape: shape, scalars: scalars)
        }
        return (tensors, metadata)
    }
}
