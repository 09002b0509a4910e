import CHDF5
import XCTest
@testable import Media

/// Cache files the fuzz target Fuzz/Targets/cacheattrs.swift wrote that the reader mishandled:
/// an attribute holding several values was read into room for one (a stack overflow under
/// AddressSanitizer, silent corruption without), and a frame dataset that is not
/// [T, H, W, 3] was indexed out of range. Both are now errors naming the file.
final class CacheAttributeFuzzRegressionTests: XCTestCase {
    /// A cache file with one video `v0` of `frameShape` frames (2 frames).
    func cache(frameShape: [Int], _ extra: (H5Object) throws -> Void = { _ in }) throws -> String {
        let path = try TestSupport.tempDir(self) + "/cache.h5"
        let file = try H5Object.createFile(path)
        try file.setAttribute("format", CacheAttr.format)
        let videos = try file.createGroup("videos")
        let d = try videos.createFrameDataset("v0", frameShape: frameShape, chunkFrames: 1, compression: .none)
        let frames = [UInt8](repeating: 9, count: 2 * frameShape.reduce(1, *))
        try frames.withUnsafeBytes { try d.writeFrames($0.baseAddress!, at: 0, count: 2, frameShape: frameShape) }
        try d.setAttribute("video_id", "v0")
        try extra(d)
        return path
    }

    func testArrayAttributeIsAnErrorNotAnOverrun() throws {
        let path = try cache(frameShape: [2, 2, 3]) { d in
            var dims: [hsize_t] = [3]
            let space = H5Screate_simple(1, &dims, nil)
            defer { H5Sclose(space) }
            let attr = H5Acreate2(d.id, "fps", shim_H5T_IEEE_F64LE(), space, shim_H5P_DEFAULT(), shim_H5P_DEFAULT())
            defer { H5Aclose(attr) }
            var values: [Double] = [25, 30, 60]
            XCTAssertGreaterThanOrEqual(H5Awrite(attr, shim_H5T_NATIVE_DOUBLE(), &values), 0)
        }
        let reader = try ClipCacheReader(path: path)
        XCTAssertThrowsError(try reader.entry("v0")) { error in
            XCTAssertEqual("\(error)", "\(path): attribute 'fps' holds 3 values, expected one (not a file this project wrote?)")
        }
        XCTAssertEqual(try reader.readClip(videoID: "v0", start: 0, count: 2).shape, [2, 2, 2, 3], "the frames still read")
    }

    func testFrameDatasetOfAnotherShapeIsAnError() throws {
        for shape in [[4], [2, 3], [2, 2, 4]] {
            let path = try cache(frameShape: shape)
            let reader = try ClipCacheReader(path: path)
            XCTAssertEqual(reader.videoIDs, ["v0"])
            for read in [{ _ = try reader.entry("v0") }, { _ = try reader.readClip(videoID: "v0", start: 0, count: 1) },
                         { _ = try reader.stats() }] {
                XCTAssertThrowsError(try read()) { error in
                    XCTAssertTrue("\(error)".hasPrefix(path + ": "), "\(error)")
                    XCTAssertTrue("\(error)".contains("video 'v0': shape [2, \(shape.map(String.init).joined(separator: ", "))] is not [T, H, W, 3]"), "\(error)")
                }
            }
            XCTAssertEqual(try reader.verify(checkSources: false).corrupt.count, 1)
        }
    }
}
