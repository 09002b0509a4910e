#ifndef TEMPO_CFFMPEG_SHIM_H
#define TEMPO_CFFMPEG_SHIM_H
#include <libavformat/avformat.h>
#include <libavcodec/avcodec.h>
#include <libswscale/swscale.h>
#include <libavutil/avutil.h>
#include <libavutil/error.h>
#include <libavutil/imgutils.h>
#include <libavutil/opt.h>
#include <libavutil/pixdesc.h>

// Function-like and expression macros that Swift cannot import.
static inline int shim_AVERROR_EOF(void) { return AVERROR_EOF; }
static inline int shim_AVERROR_EAGAIN(void) { return AVERROR(EAGAIN); }
static inline int shim_AVERROR(int e) { return AVERROR(e); }
static inline int64_t shim_AV_NOPTS_VALUE(void) { return AV_NOPTS_VALUE; }
static inline int shim_AV_TIME_BASE(void) { return AV_TIME_BASE; }
static inline AVRational shim_AV_TIME_BASE_Q(void) { return AV_TIME_BASE_Q; }
static inline int shim_AVSEEK_FLAG_BACKWARD(void) { return AVSEEK_FLAG_BACKWARD; }
static inline int shim_AV_ERROR_MAX_STRING_SIZE(void) { return AV_ERROR_MAX_STRING_SIZE; }
static inline unsigned shim_LIBAVFORMAT_VERSION_INT(void) { return LIBAVFORMAT_VERSION_INT; }
static inline unsigned shim_LIBAVCODEC_VERSION_INT(void) { return LIBAVCODEC_VERSION_INT; }
static inline unsigned shim_LIBSWSCALE_VERSION_INT(void) { return LIBSWSCALE_VERSION_INT; }
static inline unsigned shim_LIBAVUTIL_VERSION_INT(void) { return LIBAVUTIL_VERSION_INT; }
static inline int shim_SWS_BILINEAR(void) { return SWS_BILINEAR; }
static inline int shim_SWS_BICUBIC(void) { return SWS_BICUBIC; }
static inline int shim_SWS_AREA(void) { return SWS_AREA; }
static inline int shim_SWS_ACCURATE_RND(void) { return SWS_ACCURATE_RND; }
static inline int shim_SWS_FULL_CHR_H_INT(void) { return SWS_FULL_CHR_H_INT; }
static inline int shim_FF_THREAD_FRAME(void) { return FF_THREAD_FRAME; }
static inline int shim_FF_THREAD_SLICE(void) { return FF_THREAD_SLICE; }
static inline int shim_AV_CODEC_FLAG_GLOBAL_HEADER(void) { return AV_CODEC_FLAG_GLOBAL_HEADER; }
static inline int shim_AVFMT_GLOBALHEADER(void) { return AVFMT_GLOBALHEADER; }
static inline int shim_AVFMT_NOFILE(void) { return AVFMT_NOFILE; }
static inline int shim_AVIO_FLAG_WRITE(void) { return AVIO_FLAG_WRITE; }
#include <libavutil/sha.h>
#include <libavutil/log.h>

// Media module helpers: AVFrame's data/linesize arrays import as tuples, so hand out pointers.
static inline uint8_t **shim_frame_data(AVFrame *f) { return f->data; }
static inline int *shim_frame_linesize(AVFrame *f) { return f->linesize; }
static inline int shim_AV_LOG_QUIET(void) { return AV_LOG_QUIET; }
static inline int shim_AV_LOG_ERROR(void) { return AV_LOG_ERROR; }
static inline int shim_AV_CODEC_FLAG_QSCALE(void) { return AV_CODEC_FLAG_QSCALE; }
static inline int shim_FF_QP2LAMBDA(void) { return FF_QP2LAMBDA; }
static inline int shim_AV_FRAME_FLAG_CORRUPT(void) { return AV_FRAME_FLAG_CORRUPT; }
static inline int shim_AVERROR_INVALIDDATA(void) { return AVERROR_INVALIDDATA; }
static inline int shim_AV_PKT_FLAG_KEY(void) { return AV_PKT_FLAG_KEY; }
static inline int shim_AV_EF_EXPLODE(void) { return AV_EF_EXPLODE; }

/// Converts one frame into another with one call, so Swift never walks the tuple-typed
/// plane arrays. Both frames must own buffers from av_frame_get_buffer (or a decoder):
/// swscale's SIMD converters work in blocks of 8 or more pixels and rely on the padding
/// such buffers have at the end of every row. Given a packed row stride instead, the
/// yuv420p/yuv422p -> RGB converter drops the last width % 8 columns (it shortens each
/// row to what the stride holds), and others write past the buffer.
/// Returns sws_scale's output height.
static inline int shim_sws_scale_frames(struct SwsContext *c, const AVFrame *src, AVFrame *dst) {
    return sws_scale(c, (const uint8_t *const *)src->data, src->linesize, 0, src->height,
                     dst->data, dst->linesize);
}

/// Copies packed rows (`row_bytes` each, no padding) into plane 0 of a padded frame.
static inline void shim_copy_packed_into_frame(AVFrame *dst, const uint8_t *src, int row_bytes, int rows) {
    av_image_copy_plane(dst->data[0], dst->linesize[0], src, row_bytes, row_bytes, rows);
}

/// Copies plane 0 of a padded frame out as packed rows (`row_bytes` each, no padding).
static inline void shim_copy_frame_to_packed(uint8_t *dst, const AVFrame *src, int row_bytes, int rows) {
    av_image_copy_plane(dst, row_bytes, src->data[0], src->linesize[0], row_bytes, rows);
}
#endif
