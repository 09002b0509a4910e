import Foundation

/// The suite files of a folder (`NAME.yaml`), found and parsed.
public struct SuiteCatalog: Sendable {
    public var directory: URL
    public init(directory: URL) { self.directory = directory }

    /// Suite names, sorted.
    public func allSuites() throws -> [String] {
        let names: [String]
        do { names = try FileManager.default.contentsOfDirectory(atPath: directory.path) } catch {
            throw SuiteCommandError(message: "\(directory.path): cannot list the suite folder (\(error.localizedDescription)); pass --suites FOLDER")
        }
        return names.filter { $0.hasSuffix(".yaml") }.map { String($0.dropLast(5)) }.sorted()
    }

    public func url(_ name: String) -> URL { directory.appendingPathComponent("\(name).yaml") }

    public func load(_ name: String) throws -> SuiteSpec {
        let url = url(name)
        guard FileManager.default.fileExists(atPath: url.path) else {
            let known = try allSuites().joined(separator: ", ")
            throw SuiteCommandError(message: "\(url.path): no such suite (suites: \(known))")
        }
        return try SuiteSpec.load(url)
    }
}
