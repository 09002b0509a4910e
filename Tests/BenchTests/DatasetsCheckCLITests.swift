import Datasets
import Foundation
import XCTest

/// `bench datasets check` end to end: damaged media listed with reasons, gaps listed, a
/// progress line on stderr, `--quick` and `--json`.
final class DatasetsCheckCLITests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    var bench: String { Bundle.main.bundleURL.appendingPathComponent("bench").path }

    func run(_ arguments: [String]) throws -> (status: Int32, out: String, err: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: bench)
        p.arguments = arguments
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        nonisolated(unsafe) var errData = Data()
        let group = DispatchGroup()
        DispatchQueue.global().async(group: group) { errData = err.fileHandleForReading.readDataToEndOfFile() }
        let o = out.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: errData, as: UTF8.self))
    }

    func testDamagedMediaAndGapsAreListed() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("dscheck-\(UUID().uuidString)").path
        addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
        // The tiny synthetic sets (`bench datasets synth` writes the ci ones, ~20 s in a debug build).
        _ = try SyntheticDatasets.generate(.tiny, out: "\(dir)/d", seed: 7)
        let manifest = try String(contentsOf: Self.root.appendingPathComponent("datasets.yaml"), encoding: .utf8)
            .replacingOccurrences(of: "data/synthetic/{scale}", with: "\(dir)/d")
        try manifest.write(toFile: "\(dir)/datasets.yaml", atomically: true, encoding: .utf8)

        let fm = FileManager.default
        let ucfRoot = "\(dir)/d/ucf101/UCF-101"
        let ucfClass = try fm.contentsOfDirectory(atPath: ucfRoot).sorted()[0]
        let avi = "\(ucfRoot)/\(ucfClass)/" + (try fm.contentsOfDirectory(atPath: "\(ucfRoot)/\(ucfClass)").sorted()[0])
        let size = try fm.attributesOfItem(atPath: avi)[.size] as! Int
        XCTAssertEqual(truncate(avi, off_t(size / 2)), 0)
        let frames = "\(dir)/d/ava/frames"
        let folders = try fm.contentsOfDirectory(atPath: frames).sorted()
        let corruptFolder = "\(frames)/\(folders[0])", gapFolder = "\(frames)/\(folders[1])"
        let jpeg = "\(corruptFolder)/" + (try fm.contentsOfDirectory(atPath: corruptFolder).sorted()[30])
        let jsize = try fm.attributesOfItem(atPath: jpeg)[.size] as! Int
        XCTAssertEqual(truncate(jpeg, off_t(jsize / 2)), 0)
        let removed = try fm.contentsOfDirectory(atPath: gapFolder).sorted()[20]
        try fm.removeItem(atPath: "\(gapFolder)/\(removed)")
        let number = Int(removed.dropLast(4).split(separator: "_").last!)!

        let full = try run(["datasets", "check", "--manifest", "\(dir)/datasets.yaml", "--jobs", "2"])
        XCTAssertEqual(full.status, 1, full.out + full.err)
        XCTAssertTrue(full.out.contains("ucf101 (ucf101, full check)  FAILED"), full.out)
        XCTAssertTrue(full.out.contains("undecodable (truncated): \(avi): truncated") || full.out.contains("undecodable (corrupt): \(avi)"), full.out)
        XCTAssertTrue(full.out.contains("undecodable (corrupt): \(jpeg): corrupt video data (damaged JPEG"), full.out)
        XCTAssertTrue(full.out.contains("gap: \(gapFolder): frame number(s) \(number) missing"), full.out)
        XCTAssertTrue(full.err.contains("check ucf101: 1/"), full.err)
        XCTAssertTrue(full.err.contains("check ava: \(folders.count)/\(folders.count) videos"), full.err)

        let quick = try run(["datasets", "check", "ava", "--manifest", "\(dir)/datasets.yaml", "--quick", "--json"])
        XCTAssertEqual(quick.status, 0, "a damaged 31st JPEG is past what --quick reads: \(quick.out)")
        let json = try JSONSerialization.jsonObject(with: Data(quick.out.utf8)) as! [String: Any]
        XCTAssertEqual(json["depth"] as? String, "quick")
        let splits = json["splits"] as! [String: [String: Any]]
        let gaps = splits.values.flatMap { ($0["gaps"] as? [[String: Any]]) ?? [] }
        XCTAssertEqual(gaps.count, 1)
        XCTAssertEqual(gaps.first?["missing"] as? [String], ["\(number)"])
    }
}
