import CDeflate

/// One libdeflate decompressor: whole-buffer inflate, several times faster than zlib's
/// streaming inflate (the clip cache reader's bottleneck with HDF5's own filter). Not
/// thread-safe, so each worker allocates its own (a few KiB, negligible next to a chunk).
final class Inflater {
    private let handle: OpaquePointer

    init(file: String) throws(MediaError) {
        guard let handle = libdeflate_alloc_decompressor() else {
            throw .io(file: file, what: "libdeflate_alloc_decompressor", errno: ENOMEM)
        }
        self.handle = handle
    }

    deinit { libdeflate_free_decompressor(handle) }

    /// Inflates the zlib stream `input` (what HDF5's deflate filter stores: header, raw
    /// deflate, adler32, which libdeflate verifies) into exactly `output.count` bytes.
    /// `what` names the data for the error message (the video and chunk).
    func zlibInflate(_ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer,
                     file: String, what: @autoclosure () -> String) throws(MediaError) {
        var produced = 0
        let result = libdeflate_zlib_decompress(handle, input.baseAddress, input.count,
                                                output.baseAddress, output.count, &produced)
        try Deflate.check(result, produced: produced, expected: output.count, file: file, what: what())
    }
}

/// The one place where libdeflate results become `MediaError`s.
enum Deflate {
    static func check(_ result: libdeflate_result, produced: Int, expected: Int,
                      file: String, what: @autoclosure () -> String) throws(MediaError) {
        let reason: String
        switch result {
        case LIBDEFLATE_SUCCESS:
            guard produced != expected else { return }
            reason = "inflated to \(produced) bytes, expected \(expected)"
        case LIBDEFLATE_BAD_DATA: reason = "invalid or corrupt deflate data"
        case LIBDEFLATE_INSUFFICIENT_SPACE: reason = "inflates to more than the expected \(expected) bytes"
        case LIBDEFLATE_SHORT_OUTPUT: reason = "inflates to fewer than the expected \(expected) bytes"
        default: reason = "error \(result.rawValue)"
        }
        throw .corrupt(file: file, detail: "\(what()): libdeflate_zlib_decompress: \(reason)")
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
