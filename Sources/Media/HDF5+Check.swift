import CHDF5

/// The one place where HDF5 return codes become `MediaError`s.
enum HDF5 {
    /// Opens the library once, turns off its automatic error printing (failures surface as
    /// typed errors carrying the innermost message of HDF5's error stack) and registers the
    /// Zstandard filter.
    static let initialize: Void = {
        _ = H5open()
        shim_H5E_silence()
        ZstdFilter.register()
    }()

    /// Throws for a negative status (`herr_t`, `htri_t`); returns it otherwise.
    @discardableResult
    static func check(_ status: Int32, _ what: String, file: String) throws(MediaError) -> Int32 {
        guard status < 0 else { return status }
        throw error(what, file: file)
    }

    /// Throws for an invalid identifier; returns it otherwise.
    static func check(id: hid_t, _ what: String, file: String) throws(MediaError) -> hid_t {
        guard id < 0 else { return id }
        throw error(what, file: file)
    }

    static func error(_ what: String, file: String) -> MediaError {
        var buffer = [CChar](repeating: 0, count: 256)
        shim_H5E_last_message(&buffer)
        let message = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return .hdf5(file: file, what: what, message: message.isEmpty ? "unknown error" : message)
    }

    /// The linked HDF5 library version, e.g. `1.10.8`.
    static var version: String {
        var major: UInt32 = 0, minor: UInt32 = 0, release: UInt32 = 0
        _ = H5get_libversion(&major, &minor, &release)
        return "\(major).\(minor).\(release)"
    }
}
