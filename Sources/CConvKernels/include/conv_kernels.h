#ifndef TEMPO_CONV_KERNELS_H
#define TEMPO_CONV_KERNELS_H

#include <stddef.h>

/// Direct 3D-convolution kernels on channels-last, zero-padded activations ("CL" layout:
/// one sample is [Dp][Hp][Wp][C], channels contiguous). They need AVX-512F; callers check
/// `tb_conv_kernels_available()` and fall back to im2col + SGEMM otherwise.
///
/// Output position q runs over N·Do·Ho·Wo in NDHW order. Tap t runs over kt·kh·kw in
/// (a, b, e) order; `tap_offsets[t]` is the float offset of tap t inside a padded sample:
/// ((a·dd·Hp + b·dh)·Wp + e·dw)·C.

/// 1 when the CPU runs the AVX-512 kernels below, else 0.
int tb_conv_kernels_available(void);

/// Geometry shared by the kernels: padded input sizes, output sizes, strides.
typedef struct {
    int channels;          // C: channels of the padded CL input
    int dp, hp, wp;        // padded input sizes
    int dout, hout, wout;  // output sizes
    int sd, sh, sw;        // strides
    int taps;              // kt·kh·kw
    int kt, kh, kw;        // kernel sizes
    int dd, dh;            // dilations along depth and height
    int pad_d, pad_h;      // padding (cells) before the input along depth and height
    int in_d, in_h;        // unpadded input sizes along depth and height
} tb_conv_geometry;

/// Forward on output positions [q0, q1) and output channels [64·b0, 64·b1). Taps whose depth or
/// height falls in the padding for every position of a tile are skipped (they add zeros):
/// ~10 % of a 3×3×3 conv's products on 8 frames, most of them on 1–2-frame deep layers.
/// out[q][co] = Σ_t Σ_c in[pos(q) + tap_offsets[t] + c] · w[co][c][t].
/// `packed_w` is [Co/64][taps][C][64] (tb_conv_pack_weights); `out` is [Q][co_count], row q at q·co_count.
/// co_count must be a multiple of 64.
void tb_conv_forward_cl(const float *in, const tb_conv_geometry *g, const long *tap_offsets,
                        const float *packed_w, int co_count, float *out, long q0, long q1, int b0, int b1);

/// Weight gradient on output positions [q0, q1) and taps [t0, t1): gw[t][c][co] += Σ_q in[pos(q) + tap_offsets[t] + c] · gy(q)[co],
/// where gy(q) = gy + gy_offset(q) with the output gradient held in its own padded CL layout
/// (`gy_pad` cells of padding per side, `gy_dims` its padded sizes {Dp, Hp, Wp}).
/// co_count must be a multiple of 64. `gw` is [taps][C][co_count] and is overwritten (the
/// taps in [t0, t1) only); q1 > q0.
void tb_conv_weight_grad_cl(const float *in, const tb_conv_geometry *g, const long *tap_offsets,
                            const float *gy, const int *gy_pad, const int *gy_dims, int co_count,
                            float *gw, long q0, long q1, int t0, int t1);

/// Input gradient of any conv by scatter, for output positions [q0, q1) and input-channel
/// blocks [64·b0, 64·b1): gin[pos(q) + tap_offsets[t] + c] += Σ_co gy[q·co_count + co] · w[co][c][t].
/// `gin` is the zeroed padded CL input gradient (g->channels a multiple of 64); `packed_w` is
/// [C/64][taps][co_count][64] (tb_conv_pack_weights with transpose, without flip). Threads must
/// own disjoint samples or disjoint channel blocks.
void tb_conv_input_grad_scatter_cl(const float *gy, int co_count, const tb_conv_geometry *g, const long *tap_offsets,
                                   const float *packed_w, float *gin, long q0, long q1, int b0, int b1);

/// One padded CL sample [D+2pd][H+2ph][W+2pw][C] → its interior as NCDHW [C][D][H][W].
void tb_conv_from_cl_padded(const float *in, int c, int d, int h, int w, int pd, int ph, int pw, float *out);

/// Packs blocks [jb0, jb1) of w [J][R][taps] (J·R·taps floats, index (j·R + r)·taps + t) into
/// [J/64][taps][R][64], reading tap taps−1−t instead of t when `flip` is set. With `transpose`
/// set the source is read as [R][J][taps] instead (index (r·J + j)·taps + t): the
/// input-gradient weights. Needs AVX-512F, like the kernels that read the result.
void tb_conv_pack_weights(const float *w, int j_count, int r_count, int taps, int flip, int transpose,
                          float *out, int jb0, int jb1);

/// Sums `parts` weight-gradient partials (each [taps][ci][co], `part_stride` floats apart) in
/// order and writes input channels [c0, c1) of the sum as [co][ci][taps]. co must be a multiple of 16.
void tb_conv_unpack_weight_grad(const float *partials, int parts, long part_stride, int taps, int ci, int co,
                                float *out, int c0, int c1);

/// One NCDHW sample [C][D][H][W] → padded CL [D+2pd][H+2ph][W+2pw][C], padding zeroed.
void tb_conv_to_cl(const float *x, int c, int d, int h, int w, int pd, int ph, int pw, float *out);

/// One CL sample [L][C] → [C][L].
void tb_conv_from_cl(const float *in, int c, long l, float *out);

#endif
