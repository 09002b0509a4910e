import Foundation
import XCTest
@testable import Datasets

enum TestSupport {
    /// A fresh temporary folder removed when the test ends.
    static func tempDir(_ test: XCTestCase) throws -> String {
        let dir = NSTemporaryDirectory() + "datasets-tests-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        test.addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
        return dir
    }

    /// Writes `text` to `dir/rel`, creating folders.
    @discardableResult
    static func write(_ text: String, _ dir: String, _ rel: String) throws -> String {
        let path = (dir as NSString).appendingPathComponent(rel)
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    static func touch(_ dir: String, _ rel: String) throws { try write("x", dir, rel) }

    /// The error's description, or a failure when nothing is thrown.
    static func errorText(_ body: () throws -> Void, file: StaticString = #filePath, line: UInt = #line) -> String {
        do {
            try body()
            XCTFail("expected an error", file: file, line: line)
            return ""
        } catch {
            return "\(error)"
        }
    }
}
