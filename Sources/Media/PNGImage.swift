import CPNG
import Foundation

/// An 8-bit RGB image: `pixels` row-major `[height, width, 3]`.
public struct RGBImage: Sendable, Equatable {
    public var width: Int, height: Int
    public var pixels: [UInt8]

    public init(width: Int, height: Int, pixels: [UInt8]) {
        precondition(pixels.count == width * height * 3, "RGB image \(width)×\(height) needs \(width * height * 3) bytes, got \(pixels.count)")
        self.width = width; self.height = height; self.pixels = pixels
    }

    public init(width: Int, height: Int, fill: UInt8 = 0) {
        self.init(width: width, height: height, pixels: [UInt8](repeating: fill, count: width * height * 3))
    }
}

/// PNG files through libpng's simplified API.
public enum PNG {
    /// Writes `image` to `url` atomically (temporary file, then rename).
    public static func write(_ image: RGBImage, to url: URL) throws(MediaError) {
        let path = url.path
        let tmp = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).\(getpid()).tmp").path
        var png = png_image()
        png.version = shim_PNG_IMAGE_VERSION()
        png.width = png_uint_32(image.width)
        png.height = png_uint_32(image.height)
        png.format = shim_PNG_FORMAT_RGB()
        let ok = image.pixels.withUnsafeBufferPointer { p in
            png_image_write_to_file(&png, tmp, 0, p.baseAddress, png_int_32(image.width * 3), nil)
        }
        defer { png_image_free(&png) }
        guard ok != 0 else {
            unlink(tmp)
            throw .io(file: path, what: "png_image_write_to_file: \(message(&png))", errno: errno)
        }
        guard rename(tmp, path) == 0 else {
            let e = errno
            unlink(tmp)
            throw .io(file: path, what: "rename", errno: e)
        }
    }

    /// Reads a PNG as 8-bit RGB.
    public static func read(_ url: URL) throws(MediaError) -> RGBImage {
        let path = url.path
        guard FileManager.default.fileExists(atPath: path) else { throw .notFound(file: path) }
        var png = png_image()
        png.version = shim_PNG_IMAGE_VERSION()
        defer { png_image_free(&png) }
        guard png_image_begin_read_from_file(&png, path) != 0 else {
            throw .corrupt(file: path, detail: "not a readable PNG: \(message(&png))")
        }
        png.format = shim_PNG_FORMAT_RGB()
        let width = Int(png.width), height = Int(png.height)
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        let ok = pixels.withUnsafeMutableBufferPointer { p in
            png_image_finish_read(&png, nil, p.baseAddress, png_int_32(width * 3), nil)
        }
        guard ok != 0 else { throw .corrupt(file: path, detail: "PNG decoding failed: \(message(&png))") }
        return RGBImage(width: width, height: height, pixels: pixels)
    }

    private static func message(_ png: inout png_image) -> String {
        withUnsafeBytes(of: &png.message) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
    }
}
