// The clip cache reader's handling of what it reads from an HDF5 cache file: attribute
// values of any type and shape where it expects a scalar string, integer or double, and
// frame datasets of any rank, shape, element type and chunking.
//
// The input is not an HDF5 file (fuzzing the HDF5 file format would fuzz libhdf5, not this
// project): it is a small program that the harness runs through the HDF5 API to write a
// well-formed cache file, which the project's reader (`ClipCacheReader`, `ClipCache.record`)
// then opens, lists, reads and verifies.
//
// Program: dataset rank r (1 byte, 1…4), its r dims (1 byte each, 0…7), element type (1
// byte), chunk frames (1 byte, 0 = contiguous), then attribute records until the input
// ends: target (root | video dataset | bad-video group), name (one the reader reads), type,
// element count, value bytes.
import CHDF5
@testable import Media
import Foundation

let attributeNames = ["format", "video_id", "fps", "frames", "source_path", "source_size", "source_mtime_ns", "source_hash",
                      "ffmpeg_version", "spec", "error_kind", "error", "lookups_hit", "lookups_miss", "cache_name",
                      "compression", "frame_gap_rule", "filled_frames", "filled_frame_count"]

struct Program {
    var data: [UInt8]
    var at = 0
    mutating func byte() -> UInt8? { guard at < data.count else { return nil }; defer { at += 1 }; return data[at] }
    mutating func take(_ n: Int) -> [UInt8] { let s = Array(data[at..<min(data.count, at + n)]); at += s.count; return s }
}

func h5(_ id: hid_t) -> hid_t {
    guard id >= 0 else { fatalError("fuzz harness: an HDF5 call of the writer failed") }
    return id
}

/// Writes attribute `name` on `object`: one of ten type/shape combinations, `count` elements.
func writeAttribute(_ object: hid_t, _ name: String, kind: UInt8, count: Int, value: [UInt8]) {
    if H5Aexists(object, name) > 0 { _ = H5Adelete(object, name) }
    var dims: [hsize_t] = [hsize_t(count)]
    let space = kind % 2 == 0 ? h5(H5Screate(H5S_SCALAR)) : h5(H5Screate_simple(1, &dims, nil))
    defer { H5Sclose(space) }
    let n = kind % 2 == 0 ? 1 : count
    var padded = value
    while padded.count < 8 * n { padded.append(0) }
    switch kind / 2 % 5 {
    case 0:  // variable-length UTF-8 strings
        let type = h5(H5Tcopy(shim_H5T_C_S1())); defer { H5Tclose(type) }
        H5Tset_size(type, shim_H5T_VARIABLE()); H5Tset_cset(type, H5T_CSET_UTF8)
        let text = String(decoding: value, as: UTF8.self)
        let strings = (0..<n).map { _ in strdup(text) }
        defer { strings.forEach { free($0) } }
        var pointers: [UnsafePointer<CChar>?] = strings.map { UnsafePointer($0) }
        let attr = h5(H5Acreate2(object, name, type, space, shim_H5P_DEFAULT(), shim_H5P_DEFAULT())); defer { H5Aclose(attr) }
        _ = H5Awrite(attr, type, &pointers)
    case 1:  // fixed-length strings of the value's length (at least 1)
        let size = max(1, value.count)
        let type = h5(H5Tcopy(shim_H5T_C_S1())); defer { H5Tclose(type) }
        H5Tset_size(type, size)
        var buffer = [UInt8](repeating: 0, count: size * n)
        for i in 0..<n { for (j, b) in value.enumerated() { buffer[i * size + j] = b } }
        let attr = h5(H5Acreate2(object, name, type, space, shim_H5P_DEFAULT(), shim_H5P_DEFAULT())); defer { H5Aclose(attr) }
        _ = H5Awrite(attr, type, &buffer)
    case 2, 3, 4:  // int64, double, uint8
        let (file, memory, width) = [(shim_H5T_STD_I64LE(), shim_H5T_NATIVE_INT64(), 8), (shim_H5T_IEEE_F64LE(), shim_H5T_NATIVE_DOUBLE(), 8),
                                     (shim_H5T_STD_U8LE(), shim_H5T_NATIVE_UINT8(), 1)][Int(kind / 2 % 5) - 2]
        var buffer = Array(padded.prefix(width * n))
        let attr = h5(H5Acreate2(object, name, file, space, shim_H5P_DEFAULT(), shim_H5P_DEFAULT())); defer { H5Aclose(attr) }
        _ = H5Awrite(attr, memory, &buffer)
    default: break
    }
}

/// Writes the cache file the program describes; false when the program cannot be written.
func writeCache(_ path: String, _ input: [UInt8]) -> Bool {
    var p = Program(data: input)
    guard let rankByte = p.byte() else { return false }
    let rank = Int(rankByte % 4) + 1
    var dims = (0..<rank).map { _ in hsize_t((p.byte() ?? 1) % 8) }
    let typeByte = p.byte() ?? 0
    let chunkFrames = Int((p.byte() ?? 0) % 8)
    _ = HDF5.initialize
    let file = h5(H5Fcreate(path, shim_H5F_ACC_TRUNC(), shim_H5P_DEFAULT(), shim_H5P_DEFAULT()))
    defer { H5Fclose(file) }
    let videos = h5(H5Gcreate2(file, "videos", shim_H5P_DEFAULT(), shim_H5P_DEFAULT(), shim_H5P_DEFAULT()))
    defer { H5Gclose(videos) }
    let bad = h5(H5Gcreate2(file, "bad", shim_H5P_DEFAULT(), shim_H5P_DEFAULT(), shim_H5P_DEFAULT()))
    defer { H5Gclose(bad) }
    let badVideo = h5(H5Gcreate2(bad, "v1", shim_H5P_DEFAULT(), shim_H5P_DEFAULT(), shim_H5P_DEFAULT()))
    defer { H5Gclose(badVideo) }
    var maxDims = dims
    if chunkFrames > 0 { maxDims[0] = shim_H5S_UNLIMITED() }
    let space = h5(H5Screate_simple(Int32(rank), &dims, &maxDims)); defer { H5Sclose(space) }
    let dcpl = h5(H5Pcreate(shim_H5P_DATASET_CREATE())); defer { H5Pclose(dcpl) }
    if chunkFrames > 0 {
        var chunk = [hsize_t(chunkFrames)] + dims.dropFirst().map { max(1, $0) }
        guard H5Pset_chunk(dcpl, Int32(rank), &chunk) >= 0 else { return false }
        if typeByte & 0x10 != 0 { H5Pset_deflate(dcpl, 1) }
    }
    let elementType = [shim_H5T_STD_U8LE(), shim_H5T_STD_I64LE(), shim_H5T_IEEE_F64LE()][Int(typeByte % 3)]
    let dataset = H5Dcreate2(videos, "v0", elementType, space, shim_H5P_DEFAULT(), dcpl, shim_H5P_DEFAULT())
    guard dataset >= 0 else { H5Eclear2(shim_H5E_DEFAULT()); return false }
    defer { H5Dclose(dataset) }
    let count = Int(dims.reduce(1, *))
    if count > 0 {
        var zeros = [UInt8](repeating: 7, count: count * 8)
        _ = H5Dwrite(dataset, shim_H5T_NATIVE_UINT8(), shim_H5S_ALL(), shim_H5S_ALL(), shim_H5P_DEFAULT(), &zeros)
    }
    writeAttribute(file, "format", kind: 0, count: 1, value: Array(CacheAttr.format.utf8))
    writeAttribute(dataset, "video_id", kind: 0, count: 1, value: Array("v0".utf8))
    while let target = p.byte(), let nameByte = p.byte(), let kind = p.byte(), let countByte = p.byte() {
        let length = Int(p.byte() ?? 0) % 64
        let value = p.take(length)
        let object = [file, dataset, badVideo][Int(target % 3)]
        writeAttribute(object, attributeNames[Int(nameByte) % attributeNames.count], kind: kind, count: Int(countByte % 4) + 1, value: value)
    }
    H5Eclear2(shim_H5E_DEFAULT())
    return true
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let path = (scratch as NSString).appendingPathComponent("cache.h5")
    guard writeCache(path, Array(UnsafeBufferPointer(start: data, count: size))) else { return 0 }
    do {
        let reader = try ClipCacheReader(path: path)
        for id in reader.videoIDs {
            do { _ = try reader.entry(id) } catch { expectNamed(error, [path], "entry") }
            do { _ = try reader.readClip(videoID: id, start: 0, count: 1) } catch { expectNamed(error, [path], "readClip") }
        }
        do { _ = try reader.stats() } catch { expectNamed(error, [path], "stats") }
        _ = try reader.verify(checkSources: false)
        let file = try H5Object.openFile(path)
        for (group, isBad) in [("videos", false), ("bad", true)] {
            let g = try file.openGroup(group)
            for key in try g.memberNames() {
                _ = try ClipCache.record(of: isBad ? try g.openGroup(key) : try g.openDataset(key), isBad: isBad)
            }
        }
    } catch {
        expectNamed(error, [path], "cache reader")
    }
    return 0
}
