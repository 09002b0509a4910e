import CHDF5

/// Owns one HDF5 identifier (file, group, dataset, dataspace, type, property list or
/// attribute) and closes it with the matching call in `deinit`.
final class H5Object: @unchecked Sendable {
    enum Kind { case file, group, dataset, dataspace, datatype, plist, attribute }
    let id: hid_t
    let kind: Kind
    /// The file this object lives in, for error messages.
    let file: String

    init(_ id: hid_t, _ kind: Kind, file: String) {
        self.id = id
        self.kind = kind
        self.file = file
    }

    deinit {
        switch kind {
        case .file: _ = H5Fclose(id)
        case .group: _ = H5Gclose(id)
        case .dataset: _ = H5Dclose(id)
        case .dataspace: _ = H5Sclose(id)
        case .datatype: _ = H5Tclose(id)
        case .plist: _ = H5Pclose(id)
        case .attribute: _ = H5Aclose(id)
        }
    }

    // MARK: files

    static func createFile(_ path: String) throws(MediaError) -> H5Object {
        _ = HDF5.initialize
        let id = try HDF5.check(id: H5Fcreate(path, shim_H5F_ACC_TRUNC(), shim_H5P_DEFAULT(), shim_H5P_DEFAULT()), "H5Fcreate", file: path)
        return H5Object(id, .file, file: path)
    }

    static func openFile(_ path: String, writable: Bool = false) throws(MediaError) -> H5Object {
        _ = HDF5.initialize
        let flags = writable ? shim_H5F_ACC_RDWR() : shim_H5F_ACC_RDONLY()
        let id = try HDF5.check(id: H5Fopen(path, flags, shim_H5P_DEFAULT()), "H5Fopen", file: path)
        return H5Object(id, .file, file: path)
    }

    func flush() throws(MediaError) {
        try HDF5.check(H5Fflush(id, H5F_SCOPE_GLOBAL), "H5Fflush", file: file)
    }

    // MARK: groups and links

    func exists(_ path: String) -> Bool {
        // Check each component: H5Lexists fails (rather than returning false) on a missing parent.
        var prefix = ""
        for part in path.split(separator: "/") {
            prefix += (prefix.isEmpty && !path.hasPrefix("/") ? "" : "/") + part
            if H5Lexists(id, prefix, shim_H5P_DEFAULT()) <= 0 {
                H5Eclear2(shim_H5E_DEFAULT())
                return false
            }
        }
        return true
    }

    func createGroup(_ name: String) throws(MediaError) -> H5Object {
        let gid = try HDF5.check(id: H5Gcreate2(id, name, shim_H5P_DEFAULT(), shim_H5P_DEFAULT(), shim_H5P_DEFAULT()),
                                 "H5Gcreate(\(name))", file: file)
        return H5Object(gid, .group, file: file)
    }

    func openGroup(_ name: String) throws(MediaError) -> H5Object {
        let gid = try HDF5.check(id: H5Gopen2(id, name, shim_H5P_DEFAULT()), "H5Gopen(\(name))", file: file)
        return H5Object(gid, .group, file: file)
    }

    /// Opens `name` or creates it when missing.
    func group(_ name: String) throws(MediaError) -> H5Object {
        exists(name) ? try openGroup(name) : try createGroup(name)
    }

    /// Names of the members of this group, in name order.
    func memberNames() throws(MediaError) -> [String] {
        var info = H5G_info_t()
        try HDF5.check(H5Gget_info(id, &info), "H5Gget_info", file: file)
        var names: [String] = []
        names.reserveCapacity(Int(info.nlinks))
        for i in 0..<info.nlinks {
            let n = H5Lget_name_by_idx(id, ".", H5_INDEX_NAME, H5_ITER_INC, i, nil, 0, shim_H5P_DEFAULT())
            guard n >= 0 else { throw HDF5.error("H5Lget_name_by_idx", file: file) }
            var buffer = [CChar](repeating: 0, count: Int(n) + 1)
            _ = H5Lget_name_by_idx(id, ".", H5_INDEX_NAME, H5_ITER_INC, i, &buffer, buffer.count, shim_H5P_DEFAULT())
            names.append(String(decoding: buffer.prefix(Int(n)).map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        return names
    }

    /// Copies object `name` of this file/group to `dest` under `destName` (raw, no re-encoding
    /// of attributes; chunks are copied as stored).
    func copy(_ name: String, to dest: H5Object, as destName: String) throws(MediaError) {
        try HDF5.check(H5Ocopy(id, name, dest.id, destName, shim_H5P_DEFAULT(), shim_H5P_DEFAULT()),
                       "H5Ocopy(\(name))", file: file)
    }

    // MARK: datasets

    /// Creates an extendible uint8 dataset of shape `[0, rest...]`, chunked `[chunkFrames, rest...]`,
    /// with `compression`'s filter (an optional one, as h5py sets filters: a chunk the filter
    /// fails on is stored raw, its filter mask saying so).
    func createFrameDataset(_ name: String, frameShape: [Int], chunkFrames: Int,
                            compression: CacheCompression) throws(MediaError) -> H5Object {
        var dims: [hsize_t] = [0] + frameShape.map { hsize_t($0) }
        var maxDims: [hsize_t] = [shim_H5S_UNLIMITED()] + frameShape.map { hsize_t($0) }
        let space = H5Object(try HDF5.check(id: H5Screate_simple(Int32(dims.count), &dims, &maxDims), "H5Screate_simple", file: file),
                             .dataspace, file: file)
        let dcpl = H5Object(try HDF5.check(id: H5Pcreate(shim_H5P_DATASET_CREATE()), "H5Pcreate", file: file), .plist, file: file)
        var chunk: [hsize_t] = [hsize_t(chunkFrames)] + frameShape.map { hsize_t($0) }
        try HDF5.check(H5Pset_chunk(dcpl.id, Int32(chunk.count), &chunk), "H5Pset_chunk", file: file)
        switch compression {
        case .none:
            break
        case .deflate(let level):
            try HDF5.check(H5Pset_deflate(dcpl.id, UInt32(level)), "H5Pset_deflate", file: file)
        case .zstd(let level):
            if let failure = ZstdFilter.registrationError {
                throw .unsupported(file: file, detail: failure)
            }
            var values: [UInt32] = [UInt32(bitPattern: Int32(level))]
            try HDF5.check(H5Pset_filter(dcpl.id, Zstd.filterID, UInt32(H5Z_FLAG_OPTIONAL), 1, &values),
                           "H5Pset_filter(zstd)", file: file)
        }
        let did = try HDF5.check(id: H5Dcreate2(id, name, shim_H5T_STD_U8LE(), space.id, shim_H5P_DEFAULT(), dcpl.id, shim_H5P_DEFAULT()),
                                 "H5Dcreate(\(name))", file: file)
        return H5Object(did, .dataset, file: file)
    }

    func openDataset(_ name: String) throws(MediaError) -> H5Object {
        let did = try HDF5.check(id: H5Dopen2(id, name, shim_H5P_DEFAULT()), "H5Dopen(\(name))", file: file)
        return H5Object(did, .dataset, file: file)
    }

    /// The dataset's current shape.
    func shape() throws(MediaError) -> [Int] {
        let space = H5Object(try HDF5.check(id: H5Dget_space(id), "H5Dget_space", file: file), .dataspace, file: file)
        let rank = Int(H5Sget_simple_extent_ndims(space.id))
        guard rank > 0 else { throw HDF5.error("H5Sget_simple_extent_ndims", file: file) }
        var dims = [hsize_t](repeating: 0, count: rank)
        try HDF5.check(H5Sget_simple_extent_dims(space.id, &dims, nil), "H5Sget_simple_extent_dims", file: file)
        return dims.map { Int($0) }
    }

    /// Bytes the dataset occupies in the file (after compression).
    var storageSize: Int { Int(H5Dget_storage_size(id)) }

    /// Appends `count` frames (`bytes` holds `[count, rest...]`) at frame `at`, growing the dataset.
    func writeFrames(_ bytes: UnsafeRawPointer, at start: Int, count: Int, frameShape: [Int]) throws(MediaError) {
        var newDims: [hsize_t] = [hsize_t(start + count)] + frameShape.map { hsize_t($0) }
        try HDF5.check(H5Dset_extent(id, &newDims), "H5Dset_extent", file: file)
        try withSelection(start: start, count: count, frameShape: frameShape) { (mem, fileSpace) throws(MediaError) in
            try HDF5.check(H5Dwrite(id, shim_H5T_NATIVE_UINT8(), mem, fileSpace, shim_H5P_DEFAULT(), bytes), "H5Dwrite", file: file)
        }
    }

    /// Reads frames `[start, start + count)` into `buffer` (`[count, rest...]`).
    func readFrames(into buffer: UnsafeMutableRawPointer, start: Int, count: Int, frameShape: [Int]) throws(MediaError) {
        try withSelection(start: start, count: count, frameShape: frameShape) { (mem, fileSpace) throws(MediaError) in
            try HDF5.check(H5Dread(id, shim_H5T_NATIVE_UINT8(), mem, fileSpace, shim_H5P_DEFAULT(), buffer), "H5Dread", file: file)
        }
    }

    // MARK: stored chunks

    /// How this dataset's chunks may be fetched as stored and decompressed by the caller:
    /// stored type uint8, chunks of whole frames (`[n, rest...]` for a dataset `[T, rest...]`),
    /// deflate or zstd as the only filter, and partial edge chunks filtered like the others
    /// (HDF5's default: the last chunk is stored full-size, compressed). nil for any other
    /// layout; `readFrames`, which runs HDF5's own pipeline, reads those.
    func storedChunkLayout(frameShape: [Int]) throws(MediaError) -> StoredChunks.Layout? {
        let type = H5Object(try HDF5.check(id: H5Dget_type(id), "H5Dget_type", file: file), .datatype, file: file)
        // Signedness matters: H5Dread would clip int8 to uint8, the stored bytes would not.
        guard H5Tget_class(type.id) == H5T_INTEGER, H5Tget_size(type.id) == 1,
              H5Tget_sign(type.id) == H5T_SGN_NONE else { return nil }
        let dcpl = H5Object(try HDF5.check(id: H5Dget_create_plist(id), "H5Dget_create_plist", file: file), .plist, file: file)
        guard H5Pget_layout(dcpl.id) == H5D_CHUNKED else { return nil }
        let rank = frameShape.count + 1
        var dims = [hsize_t](repeating: 0, count: rank)
        guard H5Pget_chunk(dcpl.id, Int32(rank), &dims) == Int32(rank), dims[0] > 0,
              dims.dropFirst().map({ Int($0) }) == frameShape else { return nil }
        var options: UInt32 = 0
        try HDF5.check(H5Pget_chunk_opts(dcpl.id, &options), "H5Pget_chunk_opts", file: file)
        guard options == 0, H5Pget_nfilters(dcpl.id) == 1 else { return nil }
        var flags: UInt32 = 0, valueCount = 0, config: UInt32 = 0
        switch H5Pget_filter2(dcpl.id, 0, &flags, &valueCount, nil, 0, nil, &config) {
        case H5Z_FILTER_DEFLATE: return StoredChunks.Layout(chunkFrames: Int(dims[0]), codec: .deflate)
        case Zstd.filterID: return StoredChunks.Layout(chunkFrames: Int(dims[0]), codec: .zstd)
        default: return nil
        }
    }

    /// Bytes the chunk starting at frame `frame` occupies in the file (compressed); 0 when
    /// it was never written.
    func storedChunkSize(frame: Int, rank: Int) throws(MediaError) -> Int {
        var offset = [hsize_t](repeating: 0, count: rank)
        offset[0] = hsize_t(frame)
        var bytes: hsize_t = 0
        try HDF5.check(H5Dget_chunk_storage_size(id, &offset, &bytes), "H5Dget_chunk_storage_size", file: file)
        return Int(bytes)
    }

    /// Copies the chunk starting at frame `frame` into `buffer` as stored, without running the
    /// filters (`buffer` holds `storedChunkSize` bytes). Returns the chunk's filter mask: bit
    /// `i` set means filter `i` was skipped when the chunk was written.
    func readStoredChunk(frame: Int, rank: Int, into buffer: UnsafeMutableRawPointer) throws(MediaError) -> UInt32 {
        var offset = [hsize_t](repeating: 0, count: rank)
        offset[0] = hsize_t(frame)
        var mask: UInt32 = 0
        try HDF5.check(H5Dread_chunk(id, shim_H5P_DEFAULT(), &offset, &mask, buffer), "H5Dread_chunk", file: file)
        return mask
    }

    private func withSelection(start: Int, count: Int, frameShape: [Int],
                               _ body: (hid_t, hid_t) throws(MediaError) -> Void) throws(MediaError) {
        let fileSpace = H5Object(try HDF5.check(id: H5Dget_space(id), "H5Dget_space", file: file), .dataspace, file: file)
        var offset: [hsize_t] = [hsize_t(start)] + frameShape.map { _ in 0 }
        var size: [hsize_t] = [hsize_t(count)] + frameShape.map { hsize_t($0) }
        try HDF5.check(H5Sselect_hyperslab(fileSpace.id, H5S_SELECT_SET, &offset, nil, &size, nil), "H5Sselect_hyperslab", file: file)
        let mem = H5Object(try HDF5.check(id: H5Screate_simple(Int32(size.count), &size, nil), "H5Screate_simple", file: file),
                           .dataspace, file: file)
        try body(mem.id, fileSpace.id)
    }

    // MARK: attributes

    private func replaceAttribute(_ name: String, type: hid_t, space: hid_t) throws(MediaError) -> H5Object {
        if H5Aexists(id, name) > 0 { try HDF5.check(H5Adelete(id, name), "H5Adelete(\(name))", file: file) }
        let aid = try HDF5.check(id: H5Acreate2(id, name, type, space, shim_H5P_DEFAULT(), shim_H5P_DEFAULT()),
                                 "H5Acreate(\(name))", file: file)
        return H5Object(aid, .attribute, file: file)
    }

    private func scalarSpace() throws(MediaError) -> H5Object {
        H5Object(try HDF5.check(id: H5Screate(H5S_SCALAR), "H5Screate", file: file), .dataspace, file: file)
    }

    private static func utf8StringType(file: String) throws(MediaError) -> H5Object {
        let t = H5Object(try HDF5.check(id: H5Tcopy(shim_H5T_C_S1()), "H5Tcopy", file: file), .datatype, file: file)
        try HDF5.check(H5Tset_size(t.id, shim_H5T_VARIABLE()), "H5Tset_size", file: file)
        try HDF5.check(H5Tset_cset(t.id, H5T_CSET_UTF8), "H5Tset_cset", file: file)
        return t
    }

    /// Writes a variable-length UTF-8 string attribute (h5py reads it as `str`).
    func setAttribute(_ name: String, _ value: String) throws(MediaError) {
        let type = try H5Object.utf8StringType(file: file)
        let space = try scalarSpace()
        let attr = try replaceAttribute(name, type: type.id, space: space.id)
        let cString = Array(value.utf8CString)
        try cString.withUnsafeBufferPointer { (cstr) throws(MediaError) in
            var pointer: UnsafePointer<CChar>? = cstr.baseAddress
            try HDF5.check(H5Awrite(attr.id, type.id, &pointer), "H5Awrite(\(name))", file: file)
        }
    }

    func setAttribute(_ name: String, _ value: Int64) throws(MediaError) {
        let space = try scalarSpace()
        let attr = try replaceAttribute(name, type: shim_H5T_STD_I64LE(), space: space.id)
        var v = value
        try HDF5.check(H5Awrite(attr.id, shim_H5T_NATIVE_INT64(), &v), "H5Awrite(\(name))", file: file)
    }

    func setAttribute(_ name: String, _ value: Double) throws(MediaError) {
        let space = try scalarSpace()
        let attr = try replaceAttribute(name, type: shim_H5T_IEEE_F64LE(), space: space.id)
        var v = value
        try HDF5.check(H5Awrite(attr.id, shim_H5T_NATIVE_DOUBLE(), &v), "H5Awrite(\(name))", file: file)
    }

    /// The attribute `name`, or nil when absent. It must hold one value (the readers below
    /// read into room for one): an array attribute, which another writer could leave, is
    /// an error rather than an overrun of that room.
    private func openAttribute(_ name: String) throws(MediaError) -> H5Object? {
        guard H5Aexists(id, name) > 0 else { H5Eclear2(shim_H5E_DEFAULT()); return nil }
        let aid = H5Aopen(id, name, shim_H5P_DEFAULT())
        guard aid >= 0 else { H5Eclear2(shim_H5E_DEFAULT()); return nil }
        let attr = H5Object(aid, .attribute, file: file)
        let space = H5Object(try HDF5.check(id: H5Aget_space(aid), "H5Aget_space(\(name))", file: file), .dataspace, file: file)
        let values = H5Sget_simple_extent_npoints(space.id)
        guard values == 1 else {
            throw .invalidArgument(file: file, detail: "attribute '\(name)' holds \(values) values, expected one (not a file this project wrote?)")
        }
        return attr
    }

    /// A string attribute (variable or fixed length), or nil when absent.
    func stringAttribute(_ name: String) throws(MediaError) -> String? {
        guard let attr = try openAttribute(name) else { return nil }
        let stored = H5Object(try HDF5.check(id: H5Aget_type(attr.id), "H5Aget_type", file: file), .datatype, file: file)
        guard H5Tget_class(stored.id) == H5T_STRING else { return nil }
        if H5Tis_variable_str(stored.id) > 0 {
            let type = try H5Object.utf8StringType(file: file)
            var pointer: UnsafeMutablePointer<CChar>? = nil
            try HDF5.check(H5Aread(attr.id, type.id, &pointer), "H5Aread(\(name))", file: file)
            guard let p = pointer else { return "" }
            defer { H5free_memory(p) }
            return String(cString: p)
        }
        let size = H5Tget_size(stored.id)
        var buffer = [CChar](repeating: 0, count: size + 1)
        try HDF5.check(H5Aread(attr.id, stored.id, &buffer), "H5Aread(\(name))", file: file)
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    func intAttribute(_ name: String) throws(MediaError) -> Int64? {
        guard let attr = try openAttribute(name) else { return nil }
        var v: Int64 = 0
        try HDF5.check(H5Aread(attr.id, shim_H5T_NATIVE_INT64(), &v), "H5Aread(\(name))", file: file)
        return v
    }

    func doubleAttribute(_ name: String) throws(MediaError) -> Double? {
        guard let attr = try openAttribute(name) else { return nil }
        var v: Double = 0
        try HDF5.check(H5Aread(attr.id, shim_H5T_NATIVE_DOUBLE(), &v), "H5Aread(\(name))", file: file)
        return v
    }
}
