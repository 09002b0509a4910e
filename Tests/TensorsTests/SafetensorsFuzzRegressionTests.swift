import Foundation
import Tensors
import XCTest

/// Safetensors headers the fuzz target (Fuzz/Targets/safetensors.swift) showed to trap:
/// sizes from the file were multiplied and subtracted unchecked. Each is now an error
/// naming the file and the entry.
final class SafetensorsFuzzRegressionTests: XCTestCase {
    func file(_ header: String, data: Int = 8) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("st-\(UUID().uuidString).safetensors")
        addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        var bytes = Data()
        var n = UInt64(header.utf8.count).littleEndian
        withUnsafeBytes(of: &n) { bytes.append(contentsOf: $0) }
        bytes.append(contentsOf: header.utf8)
        bytes.append(Data(count: data))
        try bytes.write(to: url)
        return url
    }

    func assertMalformed(_ header: String, _ expected: String, line: UInt = #line) throws {
        let url = try file(header)
        XCTAssertThrowsError(try Safetensors.read(url), line: line) { error in
            XCTAssertTrue("\(error)".contains(url.path), "\(error)", line: line)
            XCTAssertTrue("\(error)".contains(expected), "\(error)", line: line)
        }
    }

    func testNegativeShapeAndReversedOffsets() throws {
        // shape [-1] × 4 bytes = -4 = 0 - 4: the old check passed, then the data range was reversed.
        try assertMalformed(#"{"a":{"dtype":"F32","shape":[-1],"data_offsets":[4,0]}}"#, "entry 'a' has an invalid shape [-1]")
        try assertMalformed(#"{"a":{"dtype":"F32","shape":[-1,-1],"data_offsets":[0,4]}}"#, "invalid shape")
        try assertMalformed(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}}"#, "inconsistent with shape")
    }

    func testOverflowingShapeAndOffsets() throws {
        try assertMalformed(#"{"a":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,0]}}"#, "invalid shape")
        try assertMalformed(#"{"a":{"dtype":"F64","shape":[2305843009213693952],"data_offsets":[0,0]}}"#, "inconsistent with shape")
        try assertMalformed(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[9223372036854775800,9223372036854775804]}}"#,
                            "inconsistent with shape")
    }

    func testValidFileStillReads() throws {
        let (tensors, _) = try Safetensors.read(try file(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#))
        XCTAssertEqual(tensors["a"]?.shape, [2])
    }
}
