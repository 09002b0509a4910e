import CHDF5
import CZstd
import Foundation

/// Zstandard as the clip cache stores it: HDF5's registered filter 32015, each chunk one
/// complete zstd frame holding the chunk's size in its header (what the HDF5Plugin-Zstandard
/// filter shipped by the `hdf5plugin` Python package reads with `ZSTD_decompress`), plus an
/// XXH64 content checksum, so damaged chunks are found as deflate's adler32 finds them.
/// `cd_values[0]` is the compression level (a negative level as its two's complement).
enum Zstd {
    /// HDF5's registered id of the Zstandard filter.
    static let filterID: H5Z_filter_t = 32015

    /// Levels a cache may be written with: zstd's negative "fast" levels through its maximum.
    /// 0 is left out: zstd reads it as "the default level" (3), which would record the wrong level.
    static var levels: ClosedRange<Int> { Int(ZSTD_minCLevel())...Int(ZSTD_maxCLevel()) }

    static var version: String { String(cString: ZSTD_versionString()) }

    /// The one place where zstd results become `MediaError`s. Returns `code` when it is not
    /// an error; otherwise throws `.corrupt` for decompression (the data is damaged) and
    /// `.invalidArgument` for compression (a level or buffer zstd refused).
    /// `what` names the data (the video and chunk) for the message.
    @discardableResult
    static func check(_ code: Int, _ call: String, decompressing: Bool, file: String,
                      what: @autoclosure () -> String) throws(MediaError) -> Int {
        guard ZSTD_isError(code) != 0 else { return code }
        let detail = "\(what()): \(call): \(String(cString: ZSTD_getErrorName(code)))"
        throw decompressing ? .corrupt(file: file, detail: detail) : .invalidArgument(file: file, detail: detail)
    }
}

/// One `ZSTD_DCtx`, freed with its owner. Not thread-safe: each worker takes its own from
/// `ZstdDecompressor.pool` and puts it back, so the contexts (about 160 KiB each) are made
/// once per worker, not once per chunk.
final class ZstdDecompressor {
    private let context: OpaquePointer

    init(file: String) throws(MediaError) {
        guard let context = ZSTD_createDCtx() else {
            throw .io(file: file, what: "ZSTD_createDCtx", errno: ENOMEM)
        }
        self.context = context
    }

    deinit { ZSTD_freeDCtx(context) }

    /// Decompresses the zstd frame `input` into exactly `output.count` bytes (checking the
    /// frame's checksum when it has one).
    func decompress(_ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer,
                    file: String, what: @autoclosure () -> String) throws(MediaError) {
        let produced = try Zstd.check(ZSTD_decompressDCtx(context, output.baseAddress, output.count,
                                                          input.baseAddress, input.count),
                                      "ZSTD_decompressDCtx", decompressing: true, file: file, what: what())
        guard produced == output.count else {
            throw .corrupt(file: file, detail: "\(what()): zstd frame holds \(produced) bytes, expected \(output.count)")
        }
    }

    /// Idle decompressors, shared by every reader of the process.
    private nonisolated(unsafe) static var idle: [ZstdDecompressor] = []
    private static let idleLock = NSLock()

    /// Runs `body` with a decompressor no other thread is using, then keeps it for the next caller.
    static func pooled<T>(file: String, _ body: (ZstdDecompressor) throws(MediaError) -> T) throws(MediaError) -> T {
        let d: ZstdDecompressor
        if let taken = idleLock.withLock({ idle.popLast() }) { d = taken } else { d = try ZstdDecompressor(file: file) }
        defer { idleLock.withLock { idle.append(d) } }
        return try body(d)
    }
}

/// HDF5's side of the filter, registered in-process (`HDF5.initialize`) so `H5Dwrite` and
/// `H5Dread` handle zstd datasets without any plugin on `HDF5_PLUGIN_PATH`. A failure inside
/// the filter is pushed on HDF5's error stack, so the failing `H5Dread`/`H5Dwrite` throws a
/// `MediaError.hdf5` naming the file and carrying zstd's message.
enum ZstdFilter {
    /// HDF5's message when registering failed (writing a zstd dataset then throws it).
    nonisolated(unsafe) static var registrationError: String?

    static func register() {
        let cls = UnsafeMutablePointer<H5Z_class2_t>.allocate(capacity: 1)
        cls.initialize(to: H5Z_class2_t(
            version: H5Z_CLASS_T_VERS, id: Zstd.filterID, encoder_present: 1, decoder_present: 1,
            name: UnsafePointer(strdup("Zstandard compression: http://www.zstd.net")),
            can_apply: nil, set_local: nil, filter: ZstdFilter.run))
        // Kept for the life of the process, as HDF5 requires of a registered class.
        if H5Zregister(cls) < 0 {
            var buffer = [CChar](repeating: 0, count: 256)
            shim_H5E_last_message(&buffer)
            registrationError = "H5Zregister(zstd) failed: "
                + String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
    }

    /// The level stored in `cd_values[0]`.
    static func level(cdValues count: Int, _ values: UnsafePointer<UInt32>?) -> Int32 {
        guard count > 0, let values else { return ZSTD_CLEVEL_DEFAULT }
        return Int32(bitPattern: values[0])
    }

    /// `H5Z_func_t`: compresses (or with `H5Z_FLAG_REVERSE` decompresses) `*buf`, of which
    /// `nbytes` are valid, into a new buffer allocated with HDF5's allocator; returns the
    /// output size, or 0 on failure.
    private static let run: H5Z_func_t = { flags, cdCount, cdValues, nbytes, bufSize, buf in
        guard let buf, let bufSize, let input = buf.pointee else { return 0 }
        do throws(MediaError) {
            let (output, size) = flags & UInt32(H5Z_FLAG_REVERSE) != 0
                ? try decode(UnsafeRawBufferPointer(start: input, count: nbytes))
                : try encode(UnsafeRawBufferPointer(start: input, count: nbytes), level: level(cdValues: cdCount, cdValues))
            H5free_memory(input)
            buf.pointee = output
            bufSize.pointee = size
            return size
        } catch {
            var message = error.description
            if message.hasPrefix(": ") { message.removeFirst(2) }
            shim_H5E_push_filter_error(message)
            return 0
        }
    }

    private static let encoderLock = NSLock()
    private nonisolated(unsafe) static var encoder: OpaquePointer?

    private static func encode(_ input: UnsafeRawBufferPointer, level: Int32) throws(MediaError) -> (UnsafeMutableRawPointer, Int) {
        let capacity = ZSTD_compressBound(input.count)
        guard let output = H5allocate_memory(capacity, false) else {
            throw .io(file: "", what: "H5allocate_memory(\(capacity))", errno: ENOMEM)
        }
        do throws(MediaError) {
            encoderLock.lock()
            defer { encoderLock.unlock() }
            if encoder == nil { encoder = ZSTD_createCCtx() }
            guard let cctx = encoder else { throw .io(file: "", what: "ZSTD_createCCtx", errno: ENOMEM) }
            let clamped = min(max(level, ZSTD_minCLevel()), ZSTD_maxCLevel())
            try Zstd.check(ZSTD_CCtx_reset(cctx, ZSTD_reset_session_and_parameters), "ZSTD_CCtx_reset",
                           decompressing: false, file: "", what: "chunk")
            try Zstd.check(ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, clamped), "ZSTD_CCtx_setParameter(level \(clamped))",
                           decompressing: false, file: "", what: "chunk")
            try Zstd.check(ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1), "ZSTD_CCtx_setParameter(checksum)",
                           decompressing: false, file: "", what: "chunk")
            let size = try Zstd.check(ZSTD_compress2(cctx, output, capacity, input.baseAddress, input.count), "ZSTD_compress2",
                                      decompressing: false, file: "", what: "chunk of \(input.count) bytes")
            return (output, size)
        } catch {
            H5free_memory(output)
            throw error
        }
    }

    private static func decode(_ input: UnsafeRawBufferPointer) throws(MediaError) -> (UnsafeMutableRawPointer, Int) {
        let what = "chunk of \(input.count) bytes"
        let size = ZSTD_getFrameContentSize(input.baseAddress, input.count)
        guard size != shim_ZSTD_CONTENTSIZE_ERROR() else {
            throw .corrupt(file: "", detail: "\(what): not a zstd frame")
        }
        guard size != shim_ZSTD_CONTENTSIZE_UNKNOWN(), size <= UInt64(Int.max) else {
            throw .corrupt(file: "", detail: "\(what): zstd frame without its content size")
        }
        guard let output = H5allocate_memory(Int(size), false) else {
            throw .io(file: "", what: "H5allocate_memory(\(size))", errno: ENOMEM)
        }
        do throws(MediaError) {
            try ZstdDecompressor.pooled(file: "") { (d) throws(MediaError) in
                try d.decompress(input, into: UnsafeMutableRawBufferPointer(start: output, count: Int(size)), file: "", what: what)
            }
            return (output, Int(size))
        } catch {
            H5free_memory(output)
            throw error
        }
    }
}
