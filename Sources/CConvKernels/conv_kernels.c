// Direct convolution kernels: see include/conv_kernels.h for layouts.
#include "conv_kernels.h"
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#define TB_AVX512 __attribute__((target("avx512f")))
#endif

int tb_conv_kernels_available(void) {
#if defined(__x86_64__)
    static int cached = -1;  // a benign race: every thread computes the same value
    if (cached < 0) {
        __builtin_cpu_init();
        cached = __builtin_cpu_supports("avx512f") ? 1 : 0;
    }
    return cached;
#else
    return 0;
#endif
}

/// Output position q = ((n·Do + od)·Ho + oh)·Wo + ow.
typedef struct { long n, od, oh, ow; } tb_position;

static inline tb_position position_of(const tb_conv_geometry *g, long q) {
    tb_position p;
    p.ow = q % g->wout; q /= g->wout;
    p.oh = q % g->hout; q /= g->hout;
    p.od = q % g->dout;
    p.n = q / g->dout;
    return p;
}

/// Float offset of output position q's window origin inside the padded CL input.
static inline long window_origin(const tb_conv_geometry *g, long q) {
    const tb_position p = position_of(g, q);
    return (((p.n * g->dp + p.od * g->sd) * g->hp + p.oh * g->sh) * g->wp + p.ow * g->sw) * g->channels;
}

/// Whether depth tap a (height tap b) of an output at depth od (height oh) reads the unpadded
/// input rather than padding: pad ≤ o·stride + tap·dilation < pad + size.
static inline int depth_tap_live(const tb_conv_geometry *g, long od, int a) {
    const long z = od * g->sd + (long)a * g->dd;
    return z >= g->pad_d && z < g->pad_d + g->in_d;
}

static inline int height_tap_live(const tb_conv_geometry *g, long oh, int b) {
    const long y = oh * g->sh + (long)b * g->dh;
    return y >= g->pad_h && y < g->pad_h + g->in_h;
}

#if defined(__x86_64__)

enum { FQ = 6 };   // output positions per forward tile (× 64 output channels = 24 zmm accumulators)

/// acc[i][0..64) += Σ_{c < count} r_i[c] · w[c][0..64) for the FQ rows r_i: 24 FMAs per c.
__attribute__((always_inline)) TB_AVX512 static inline void rank1_updates(__m512 acc[FQ][4], const float *const *r,
                                                                         const float *w, int count) {
    const float *r0 = r[0], *r1 = r[1], *r2 = r[2], *r3 = r[3], *r4 = r[4], *r5 = r[5];
    for (int c = 0; c < count; c++) {
        const __m512 w0 = _mm512_loadu_ps(w), w1 = _mm512_loadu_ps(w + 16);
        const __m512 w2 = _mm512_loadu_ps(w + 32), w3 = _mm512_loadu_ps(w + 48);
        w += 64;
#define TB_ROW(i, ri) { const __m512 b = _mm512_set1_ps(ri[c]); \
            acc[i][0] = _mm512_fmadd_ps(b, w0, acc[i][0]); acc[i][1] = _mm512_fmadd_ps(b, w1, acc[i][1]); \
            acc[i][2] = _mm512_fmadd_ps(b, w2, acc[i][2]); acc[i][3] = _mm512_fmadd_ps(b, w3, acc[i][3]); }
        TB_ROW(0, r0) TB_ROW(1, r1) TB_ROW(2, r2) TB_ROW(3, r3) TB_ROW(4, r4) TB_ROW(5, r5)
#undef TB_ROW
    }
}

/// out[i][0..64) = Σ_{t in list} Σ_c x_i[off_t + c] · w[t][c][0..64) for the FQ window origins x_i.
TB_AVX512 static void forward_tile(const float *const *x, const long *offs, const int *list, int count, int channels,
                                   const float *weights, float *const *out) {
    __m512 acc[FQ][4];
    for (int i = 0; i < FQ; i++) for (int j = 0; j < 4; j++) acc[i][j] = _mm512_setzero_ps();
    for (int k = 0; k < count; k++) {
        const int t = list[k];
        const long o = offs[t];
        const float *rows[FQ] = { x[0] + o, x[1] + o, x[2] + o, x[3] + o, x[4] + o, x[5] + o };
        rank1_updates(acc, rows, weights + (long)t * channels * 64, channels);
    }
    for (int i = 0; i < FQ; i++)
        for (int j = 0; j < 4; j++) _mm512_storeu_ps(out[i] + 16 * j, acc[i][j]);
}

/// The taps that can touch real input for the positions [q, q + n): depth and height ranges
/// that reach inside the unpadded input for at least one of them, every width tap.
static int live_taps(const tb_conv_geometry *g, long q, int n, int *list) {
    int a_lo = g->kt, a_hi = 0, b_lo = g->kh, b_hi = 0;
    for (int i = 0; i < n; i++) {
        const tb_position p = position_of(g, q + i);
        for (int a = 0; a < g->kt; a++)
            if (depth_tap_live(g, p.od, a)) { if (a < a_lo) a_lo = a; if (a + 1 > a_hi) a_hi = a + 1; }
        for (int b = 0; b < g->kh; b++)
            if (height_tap_live(g, p.oh, b)) { if (b < b_lo) b_lo = b; if (b + 1 > b_hi) b_hi = b + 1; }
    }
    int count = 0;
    for (int a = a_lo; a < a_hi; a++)
        for (int b = b_lo; b < b_hi; b++)
            for (int e = 0; e < g->kw; e++) list[count++] = (a * g->kh + b) * g->kw + e;
    return count;
}

TB_AVX512 static void forward_cl(const float *in, const tb_conv_geometry *g, const long *offs,
                                 const float *packed_w, int co_count, float *out, long q0, long q1,
                                 int b0, int b1) {
    const int blocks = b1 - b0;
    const long block_floats = (long)g->taps * g->channels * 64;
    float scratch[FQ][64];
    const float *x[FQ];
    float *o[FQ];
    int list[g->taps];
    // A weight block larger than L2 is better kept while every position passes over it.
    const int blocks_outer = block_floats * 4 * blocks > (768L << 10);
    if (blocks_outer) {
        for (int b = b0; b < b1; b++) {
            for (long q = q0; q < q1; q += FQ) {
                const int valid = q1 - q < FQ ? (int)(q1 - q) : FQ;
                for (int i = 0; i < FQ; i++) {
                    long qi = i < valid ? q + i : q1 - 1;
                    x[i] = in + window_origin(g, qi);
                    o[i] = i < valid ? out + (q + i) * co_count + b * 64 : scratch[i];
                }
                const int count = live_taps(g, q, valid, list);
                forward_tile(x, offs, list, count, g->channels, packed_w + b * block_floats, o);
            }
        }
    } else {
        for (long q = q0; q < q1; q += FQ) {
            const int valid = q1 - q < FQ ? (int)(q1 - q) : FQ;
            for (int i = 0; i < FQ; i++) {
                long qi = i < valid ? q + i : q1 - 1;
                x[i] = in + window_origin(g, qi);
            }
            const int count = live_taps(g, q, valid, list);
            for (int b = b0; b < b1; b++) {
                for (int i = 0; i < FQ; i++) o[i] = i < valid ? out + (q + i) * co_count + b * 64 : scratch[i];
                forward_tile(x, offs, list, count, g->channels, packed_w + b * block_floats, o);
            }
        }
    }
}

/// dst_i[0..64) += Σ_co gy_i[co] · w[co][0..64) for the first `valid` of six rows.
TB_AVX512 static void scatter_tile(const float *const *gy, int co_count, const float *w, float *const *dst, int valid) {
    __m512 acc[FQ][4];
    for (int i = 0; i < FQ; i++) for (int j = 0; j < 4; j++) acc[i][j] = _mm512_setzero_ps();
    rank1_updates(acc, gy, w, co_count);
    for (int i = 0; i < valid; i++)
        for (int j = 0; j < 4; j++)
            _mm512_storeu_ps(dst[i] + 16 * j, _mm512_add_ps(_mm512_loadu_ps(dst[i] + 16 * j), acc[i][j]));
}

TB_AVX512 static void input_grad_scatter_cl(const float *gy, int co_count, const tb_conv_geometry *g,
                                            const long *offs, const float *packed_w, float *gin,
                                            long q0, long q1, int b0, int b1) {
    const float *rows[FQ];
    float *dst[FQ];
    long origin[FQ];
    // Per (block, tap) the weights (co_count × 64) stay in cache while every position passes.
    for (int b = b0; b < b1; b++)
        for (int t = 0; t < g->taps; t++) {
            const float *w = packed_w + ((long)b * g->taps + t) * co_count * 64;
            const int ta = t / (g->kh * g->kw), tb = (t / g->kw) % g->kh;
            for (long q = q0; q < q1; q += FQ) {
                const int valid = q1 - q < FQ ? (int)(q1 - q) : FQ;
                // Skip the tile when this tap lands in the padding (depth or height) for all of it.
                int live = 0;
                for (int i = 0; i < valid && !live; i++) {
                    const tb_position p = position_of(g, q + i);
                    live = depth_tap_live(g, p.od, ta) && height_tap_live(g, p.oh, tb);
                }
                if (!live) continue;
                for (int i = 0; i < FQ; i++) {
                    const long qi = i < valid ? q + i : q1 - 1;
                    rows[i] = gy + qi * co_count;
                    origin[i] = window_origin(g, qi);
                    dst[i] = gin + origin[i] + offs[t] + (long)b * 64;
                }
                scatter_tile(rows, co_count, w, dst, valid);
            }
        }
}

enum { WQ = 256 };  // output positions per weight-gradient slice

/// gw[i·ldw + 0..64) (+)= Σ_q x_q[off[i]] · gy_q[0..64) for i < 6 (rows past `rows` repeat the
/// last one and are not written): 24 zmm accumulators. Row i is one (tap, channel) pair, so a
/// tile may span taps, which keeps narrow inputs (RGB) efficient. The first slice stores
/// (`store`), later ones add, so the gradient needs no zeroing pass.
TB_AVX512 static void weight_grad_tile(const float *const *x, const long *off, const float *const *gy, long gy_off,
                                       int count, float *gw, long ldw, int rows, int store) {
    __m512 acc[6][4];
    for (int i = 0; i < 6; i++) for (int j = 0; j < 4; j++) acc[i][j] = _mm512_setzero_ps();
    const long o0 = off[0], o1 = off[1], o2 = off[2], o3 = off[3], o4 = off[4], o5 = off[5];
    for (int q = 0; q < count; q++) {
        const float *xs = x[q];
        const float *ys = gy[q] + gy_off;
        const __m512 y0 = _mm512_loadu_ps(ys), y1 = _mm512_loadu_ps(ys + 16);
        const __m512 y2 = _mm512_loadu_ps(ys + 32), y3 = _mm512_loadu_ps(ys + 48);
#define TB_ROW(i, o) { const __m512 b = _mm512_set1_ps(xs[o]); \
            acc[i][0] = _mm512_fmadd_ps(b, y0, acc[i][0]); acc[i][1] = _mm512_fmadd_ps(b, y1, acc[i][1]); \
            acc[i][2] = _mm512_fmadd_ps(b, y2, acc[i][2]); acc[i][3] = _mm512_fmadd_ps(b, y3, acc[i][3]); }
        TB_ROW(0, o0) TB_ROW(1, o1) TB_ROW(2, o2) TB_ROW(3, o3) TB_ROW(4, o4) TB_ROW(5, o5)
#undef TB_ROW
    }
    for (int i = 0; i < rows; i++) {
        float *row = gw + i * ldw;
        for (int j = 0; j < 4; j++)
            _mm512_storeu_ps(row + 16 * j, store ? acc[i][j] : _mm512_add_ps(_mm512_loadu_ps(row + 16 * j), acc[i][j]));
    }
}

TB_AVX512 static void weight_grad_cl(const float *in, const tb_conv_geometry *g, const long *offs,
                                     const float *gy, const int *gy_pad, const int *gy_dims, int co_count,
                                     float *gw, long q0, long q1, int t0, int t1) {
    const float *x[WQ];
    const float *y[WQ];
    const int C = g->channels;
    // Per (depth tap, height tap) class, the positions of a slice whose window there is inside
    // the input: the others multiply padding zeros and are skipped.
    const int classes = g->kt * g->kh;
    const float **cx = malloc(sizeof(float *) * WQ * classes);
    const float **cy = malloc(sizeof(float *) * WQ * classes);
    int *ccount = malloc(sizeof(int) * classes);
    if (!cx || !cy || !ccount) __builtin_trap();
    for (long s = q0; s < q1; s += WQ) {
        const int count = (int)(q1 - s < WQ ? q1 - s : WQ);
        for (int k = 0; k < classes; k++) ccount[k] = 0;
        for (int i = 0; i < count; i++) {
            x[i] = in + window_origin(g, s + i);
            const tb_position p = position_of(g, s + i);
            y[i] = gy + (((p.n * gy_dims[0] + p.od + gy_pad[0]) * gy_dims[1] + p.oh + gy_pad[1]) * gy_dims[2]
                         + p.ow + gy_pad[2]) * co_count;
            for (int a = 0; a < g->kt; a++) {
                if (!depth_tap_live(g, p.od, a)) continue;
                for (int b = 0; b < g->kh; b++) {
                    if (!height_tap_live(g, p.oh, b)) continue;
                    const int k = a * g->kh + b;
                    cx[(long)k * WQ + ccount[k]] = x[i];
                    cy[(long)k * WQ + ccount[k]] = y[i];
                    ccount[k]++;
                }
            }
        }
        const int store = s == q0;
        // Rows of the gradient are (tap, channel) pairs, row ρ = t·C + c.
        const long r0 = (long)t0 * C, r1 = (long)t1 * C;
        long off[6];
        for (int cb = 0; cb < co_count; cb += 64)
            for (long r = r0; r < r1; r += 6) {
                const int rows = r1 - r < 6 ? (int)(r1 - r) : 6;
                for (int i = 0; i < 6; i++) {
                    const long ri = i < rows ? r + i : r1 - 1;
                    off[i] = offs[ri / C] + ri % C;
                }
                // One class for the whole tile: only its live positions; else all of them.
                const int k0 = (int)(r / C) / g->kw, k1 = (int)((r + rows - 1) / C) / g->kw;
                if (k0 == k1)
                    weight_grad_tile(cx + (long)k0 * WQ, off, cy + (long)k0 * WQ, cb, ccount[k0],
                                     gw + r * co_count + cb, co_count, rows, store);
                else
                    weight_grad_tile(x, off, y, cb, count, gw + r * co_count + cb, co_count, rows, store);
            }
    }
    free(cx); free(cy); free(ccount);
}

/// Transposes the 16×16 block held in r[0..16) (row k → column k).
TB_AVX512 static inline void transpose16(__m512 r[16]) {
    __m512 t[16];
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 16; i += 4) {
        r[i] = _mm512_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(1, 0, 1, 0));
        r[i + 1] = _mm512_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(3, 2, 3, 2));
        r[i + 2] = _mm512_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(1, 0, 1, 0));
        r[i + 3] = _mm512_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(3, 2, 3, 2));
    }
    for (int i = 0; i < 4; i++) {
        t[i] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0x88);
        t[i + 4] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0xdd);
        t[i + 8] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0x88);
        t[i + 12] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0xdd);
    }
    for (int i = 0; i < 8; i++) {
        r[i] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0x88);
        r[i + 8] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0xdd);
    }
}

/// One row [c][w] (channel stride `cs`) → [w][c], c a multiple of 16.
TB_AVX512 static void row_to_cl16(const float *src, long cs, int c, int w, float *dst) {
    __m512 r[16];
    for (int c0 = 0; c0 < c; c0 += 16)
        for (int w0 = 0; w0 < w; w0 += 16) {
            const int wn = w - w0 < 16 ? w - w0 : 16;
            const __mmask16 m = (__mmask16)((1u << wn) - 1);
            for (int k = 0; k < 16; k++) r[k] = _mm512_maskz_loadu_ps(m, src + (c0 + k) * cs + w0);
            transpose16(r);
            for (int j = 0; j < wn; j++) _mm512_storeu_ps(dst + (long)(w0 + j) * c + c0, r[j]);
        }
}

/// [l][c] → [c][l], c a multiple of 16.
TB_AVX512 static void from_cl16(const float *in, int c, long l, float *out) {
    __m512 r[16];
    for (long p0 = 0; p0 < l; p0 += 16) {
        const int pn = l - p0 < 16 ? (int)(l - p0) : 16;
        const __mmask16 m = (__mmask16)((1u << pn) - 1);
        for (int c0 = 0; c0 < c; c0 += 16) {
            for (int k = 0; k < 16; k++)
                r[k] = k < pn ? _mm512_loadu_ps(in + (p0 + k) * c + c0) : _mm512_setzero_ps();
            transpose16(r);
            for (int j = 0; j < 16; j++) _mm512_mask_storeu_ps(out + (long)(c0 + j) * l + p0, m, r[j]);
        }
    }
}

/// dst[c·ds + r] = src[r·ss + c] for r < rows, c < cols, in 16×16 register tiles (ds may be negative).
TB_AVX512 static void transpose_block(const float *src, long ss, int rows, int cols, float *dst, long ds) {
    __m512 v[16];
    for (int r0 = 0; r0 < rows; r0 += 16) {
        const int rn = rows - r0 < 16 ? rows - r0 : 16;
        const __mmask16 mr = (__mmask16)((1u << rn) - 1);
        for (int c0 = 0; c0 < cols; c0 += 16) {
            const int cn = cols - c0 < 16 ? cols - c0 : 16;
            const __mmask16 mc = (__mmask16)((1u << cn) - 1);
            for (int k = 0; k < 16; k++)
                v[k] = k < rn ? _mm512_maskz_loadu_ps(mc, src + (long)(r0 + k) * ss + c0) : _mm512_setzero_ps();
            transpose16(v);
            for (int j = 0; j < cn; j++) _mm512_mask_storeu_ps(dst + (long)(c0 + j) * ds + r0, mr, v[j]);
        }
    }
}

#endif

void tb_conv_forward_cl(const float *in, const tb_conv_geometry *g, const long *tap_offsets,
                        const float *packed_w, int co_count, float *out, long q0, long q1, int b0, int b1) {
#if defined(__x86_64__)
    forward_cl(in, g, tap_offsets, packed_w, co_count, out, q0, q1, b0, b1);
#else
    (void)in; (void)g; (void)tap_offsets; (void)packed_w; (void)co_count; (void)out; (void)q0; (void)q1;
    (void)b0; (void)b1;
    __builtin_trap();
#endif
}

void tb_conv_weight_grad_cl(const float *in, const tb_conv_geometry *g, const long *tap_offsets,
                            const float *gy, const int *gy_pad, const int *gy_dims, int co_count,
                            float *gw, long q0, long q1, int t0, int t1) {
#if defined(__x86_64__)
    weight_grad_cl(in, g, tap_offsets, gy, gy_pad, gy_dims, co_count, gw, q0, q1, t0, t1);
#else
    (void)in; (void)g; (void)tap_offsets; (void)gy; (void)gy_pad; (void)gy_dims; (void)co_count;
    (void)gw; (void)q0; (void)q1; (void)t0; (void)t1;
    __builtin_trap();
#endif
}

void tb_conv_input_grad_scatter_cl(const float *gy, int co_count, const tb_conv_geometry *g, const long *tap_offsets,
                                   const float *packed_w, float *gin, long q0, long q1, int b0, int b1) {
#if defined(__x86_64__)
    input_grad_scatter_cl(gy, co_count, g, tap_offsets, packed_w, gin, q0, q1, b0, b1);
#else
    (void)gy; (void)co_count; (void)g; (void)tap_offsets; (void)packed_w; (void)gin; (void)q0; (void)q1;
    (void)b0; (void)b1;
    __builtin_trap();
#endif
}

void tb_conv_from_cl_padded(const float *in, int c, int d, int h, int w, int pd, int ph, int pw, float *out) {
    const long hp = h + 2 * ph, wp = w + 2 * pw, volume = (long)d * h * w;
    for (int z = 0; z < d; z++)
        for (int y = 0; y < h; y++) {
            const float *row = in + (((long)(z + pd) * hp + y + ph) * wp + pw) * c;
            float *dst = out + ((long)z * h + y) * w;
#if defined(__x86_64__)
            if (tb_conv_kernels_available()) { transpose_block(row, c, w, c, dst, volume); continue; }
#endif
            for (int x = 0; x < w; x++)
                for (int ch = 0; ch < c; ch++) dst[(long)ch * volume + x] = row[(long)x * c + ch];
        }
}

void tb_conv_pack_weights(const float *w, int j_count, int r_count, int taps, int flip, int transpose,
                          float *out, int jb0, int jb1) {
#if defined(__x86_64__)
    // Per (block, r): a 64 × taps block of the source, transposed into taps rows of 64 (strided
    // scalar stores straight to `out` stalled on 4 KiB aliasing: 5 ns per float).
    for (int jb = jb0; jb < jb1; jb++)
        for (int r = 0; r < r_count; r++) {
            const float *src = w + (transpose ? ((long)r * j_count + (long)jb * 64) * taps
                                              : ((long)jb * 64 * r_count + r) * taps);
            const long ss = transpose ? taps : (long)r_count * taps;
            const long ds = (long)r_count * 64;
            float *dst = out + ((long)jb * taps * r_count + r) * 64;
            if (flip) transpose_block(src, ss, 64, taps, dst + (long)(taps - 1) * ds, -ds);
            else transpose_block(src, ss, 64, taps, dst, ds);
        }
#else
    (void)w; (void)j_count; (void)r_count; (void)taps; (void)flip; (void)transpose; (void)out; (void)jb0; (void)jb1;
    __builtin_trap();
#endif
}

void tb_conv_unpack_weight_grad(const float *partials, int parts, long part_stride, int taps, int ci, int co,
                                float *out, int c0, int c1) {
#if defined(__x86_64__)
    if (parts == 1 && tb_conv_kernels_available()) {
        // One partial: a pure permutation, [taps][co] → [co][taps] per input channel.
        for (int c = c0; c < c1; c++)
            transpose_block(partials + (long)c * co, (long)ci * co, taps, co, out + (long)c * taps, (long)ci * taps);
        return;
    }
#endif
    float tmp[16 * 512];
    const int tap_block = taps < 512 ? taps : 512;
    for (int c = c0; c < c1; c++)
        for (int o0 = 0; o0 < co; o0 += 16)
            for (int tb = 0; tb < taps; tb += tap_block) {
                const int tn = taps - tb < tap_block ? taps - tb : tap_block;
                for (int t = 0; t < tn; t++) {
                    const float *src = partials + ((long)(tb + t) * ci + c) * co + o0;
                    for (int k = 0; k < 16; k++) tmp[t * 16 + k] = src[k];
                    for (int p = 1; p < parts; p++)
                        for (int k = 0; k < 16; k++) tmp[t * 16 + k] += src[p * part_stride + k];
                }
                for (int k = 0; k < 16; k++) {
                    float *dst = out + ((long)(o0 + k) * ci + c) * taps + tb;
                    for (int t = 0; t < tn; t++) dst[t] = tmp[t * 16 + k];
                }
            }
}

void tb_conv_to_cl(const float *x, int c, int d, int h, int w, int pd, int ph, int pw, float *out) {
    const long hp = h + 2 * ph, wp = w + 2 * pw, plane = hp * wp * c, row = wp * c;
    const long sample_plane = (long)h * w, sample = (long)d * sample_plane;
    const int fast = c % 16 == 0 && tb_conv_kernels_available();
    for (long z = 0; z < d + 2 * pd; z++) {
        float *pz = out + z * plane;
        const long iz = z - pd;
        if (iz < 0 || iz >= d) { memset(pz, 0, sizeof(float) * plane); continue; }
        for (long y = 0; y < hp; y++) {
            float *py = pz + y * row;
            const long iy = y - ph;
            if (iy < 0 || iy >= h) { memset(py, 0, sizeof(float) * row); continue; }
            if (pw > 0) {
                memset(py, 0, sizeof(float) * pw * c);
                memset(py + (pw + w) * c, 0, sizeof(float) * pw * c);
            }
            const float *src = x + iz * sample_plane + iy * w;
            float *dst = py + (long)pw * c;
#if defined(__x86_64__)
            if (fast) { row_to_cl16(src, sample, c, w, dst); continue; }
#endif
            // Transpose [c][w] → [w][c] in 8-channel strips to keep both sides in cache.
            for (int c0 = 0; c0 < c; c0 += 8) {
                const int cn = c - c0 < 8 ? c - c0 : 8;
                for (int ix = 0; ix < w; ix++)
                    for (int k = 0; k < cn; k++) dst[(long)ix * c + c0 + k] = src[(long)(c0 + k) * sample + ix];
            }
        }
    }
}

void tb_conv_from_cl(const float *in, int c, long l, float *out) {
#if defined(__x86_64__)
    if (c % 16 == 0 && tb_conv_kernels_available()) { from_cl16(in, c, l, out); return; }
#endif
    for (long p0 = 0; p0 < l; p0 += 16) {
        const long pn = l - p0 < 16 ? l - p0 : 16;
        for (int ch = 0; ch < c; ch++)
            for (long p = 0; p < pn; p++) out[(long)ch * l + p0 + p] = in[(p0 + p) * c + ch];
    }
}
