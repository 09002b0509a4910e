import CFFmpeg

/// Converts decoded frames to packed RGB24 at the output size with swscale.
///
/// It applies colour metadata the way ffmpeg's `scale` filter does (its default
/// `in_color_matrix=auto`): the YCbCr matrix comes from the frame's colorspace tag
/// (BT.601 when untagged) and the range from its range tag. That is what makes the output
/// match `ffmpeg -vf scale=W:H:flags=bilinear -pix_fmt rgb24`.
final class FrameConverter {
    let width: Int
    let height: Int
    let flags: Int32
    private let scale = ScaleContext()
    private var colorKey: (UInt32, UInt32)? = nil
    private var lastContext: OpaquePointer?

    init(width: Int, height: Int, filter: ScaleFilter) {
        self.width = width
        self.height = height
        flags = filter.swsFlag
    }

    var frameBytes: Int { width * height * 3 }

    /// Writes `frame` as `[height, width, 3]` RGB into `dst`.
    func convert(_ frame: UnsafeMutablePointer<AVFrame>, into dst: UnsafeMutablePointer<UInt8>, file: String) throws(MediaError) {
        let f = frame.pointee
        let ctx = try scale.context(srcW: f.width, srcH: f.height, srcFormat: AVPixelFormat(rawValue: f.format),
                                    dstW: Int32(width), dstH: Int32(height), dstFormat: AV_PIX_FMT_RGB24,
                                    flags: flags, file: file)
        let key = (f.colorspace.rawValue, f.color_range.rawValue)
        if ctx != lastContext || colorKey == nil || colorKey! != key {
            applyColorDetails(ctx, colorspace: f.colorspace, range: f.color_range)
            lastContext = ctx
            colorKey = key
        }
        // Into FFmpeg's own padded frame, then packed: see shim_sws_scale_frames for why a
        // packed destination loses the right edge.
        let out = try padded(file: file)
        let h = shim_sws_scale_frames(ctx, frame, out)
        if h != Int32(height) {
            throw .ffmpeg(file: file, what: "sws_scale", code: h, message: "converted \(h) of \(height) rows")
        }
        shim_copy_frame_to_packed(dst, out, Int32(width * 3), Int32(height))
    }

    private var output: Frame?

    /// The RGB24 frame swscale writes into, allocated on first use.
    private func padded(file: String) throws(MediaError) -> UnsafeMutablePointer<AVFrame> {
        if let output { return output.pointer }
        let frame = try Frame.allocated(format: AV_PIX_FMT_RGB24, width: width, height: height, file: file)
        output = frame
        return frame.pointer
    }

    private func applyColorDetails(_ ctx: OpaquePointer, colorspace: AVColorSpace, range: AVColorRange) {
        var inv: UnsafeMutablePointer<Int32>?
        var table: UnsafeMutablePointer<Int32>?
        var srcRange: Int32 = 0, dstRange: Int32 = 0, brightness: Int32 = 0, contrast: Int32 = 0, saturation: Int32 = 0
        guard sws_getColorspaceDetails(ctx, &inv, &srcRange, &table, &dstRange, &brightness, &contrast, &saturation) >= 0 else {
            return  // RGB sources have no YCbCr details to set
        }
        var cs = Int32(colorspace.rawValue)
        if cs < 1 || cs > 10 || cs == 8 { cs = Int32(AVCOL_SPC_BT470BG.rawValue) }
        let coefficients = sws_getCoefficients(cs)
        if range != AVCOL_RANGE_UNSPECIFIED { srcRange = range == AVCOL_RANGE_JPEG ? 1 : 0 }
        _ = sws_setColorspaceDetails(ctx, coefficients, srcRange, coefficients, dstRange, brightness, contrast, saturation)
    }
}
