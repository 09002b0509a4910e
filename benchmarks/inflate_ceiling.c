// Inflate throughput on the chunks of an HDF5 deflate dataset: the ceiling of the clip cache's
// compressed reads (benchmarks/RESULTS.md, Media). Prints one JSON object per line.
//
//   cc -O2 benchmarks/inflate_ceiling.c -o /tmp/inflate_ceiling $(pkg-config --cflags --libs hdf5 libdeflate libzstd) -lz -lpthread
//   bench video extract ../shared/fixtures/videos/bikes.mp4 --out /tmp/bikes.h5 --short-side 128 --codec deflate
//   /tmp/inflate_ceiling /tmp/bikes.h5 frames [--sweep] [--zstd]
//
// --sweep also recompresses the frames with other zlib levels and strategies and libdeflate
// levels, and times libdeflate on each (one thread): does any deflate encoding inflate faster?
// --zstd recompresses the frames with Zstandard (one frame per chunk, as the HDF5 filter 32015
// stores them) at several levels and chunk sizes, and times decompression on one and two threads.
#include <hdf5.h>
#include <libdeflate.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>
#include <zstd.h>

enum { ROUNDS = 5 };
static unsigned char **stored;
static size_t *sizes, chunk_bytes, frame_bytes, nchunks;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

// Inflates chunks [first, first + count) ROUNDS times with libdeflate; returns 0 or the failing result.
static void *inflate_range(void *arg) {
    size_t *range = arg;
    struct libdeflate_decompressor *d = libdeflate_alloc_decompressor();
    unsigned char *out = malloc(chunk_bytes);
    long failed = 0;
    for (int r = 0; r < ROUNDS; r++)
        for (size_t i = range[0]; i < range[0] + range[1]; i++) {
            size_t got;
            int rc = libdeflate_zlib_decompress(d, stored[i], sizes[i], out, chunk_bytes, &got);
            if (rc != LIBDEFLATE_SUCCESS || got != chunk_bytes) failed = rc ? rc : -1;
        }
    free(out);
    libdeflate_free_decompressor(d);
    return (void *)failed;
}

// Re-encodes every chunk (inflated first) and reports ratio and libdeflate inflate speed.
static void sweep(void) {
    struct libdeflate_decompressor *d = libdeflate_alloc_decompressor();
    unsigned char *raw = malloc(chunk_bytes * nchunks), *out = malloc(chunk_bytes);
    size_t cap = compressBound(chunk_bytes) + 1024;
    unsigned char *packed = malloc(cap * nchunks);
    size_t *packed_sizes = calloc(nchunks, sizeof *packed_sizes);
    for (size_t i = 0; i < nchunks; i++) {
        size_t got;
        libdeflate_zlib_decompress(d, stored[i], sizes[i], raw + i * chunk_bytes, chunk_bytes, &got);
    }
    const char *names[] = {"default", "filtered", "huffman-only", "rle"};
    int strategies[] = {Z_DEFAULT_STRATEGY, Z_FILTERED, Z_HUFFMAN_ONLY, Z_RLE};
    int zlib_levels[] = {1, 6, 9}, libdeflate_levels[] = {1, 6, 12};
    for (int k = 0; k < 4 + 3; k++) {
        int z = k < 4;
        for (int l = 0; l < 3; l++) {
            if (!z && l > 0) break;
            int level = z ? zlib_levels[l] : libdeflate_levels[k - 4];
            size_t total = 0;
            for (size_t i = 0; i < nchunks; i++) {
                if (z) {
                    z_stream s;
                    memset(&s, 0, sizeof s);
                    deflateInit2(&s, level, Z_DEFLATED, 15, 8, strategies[k]);
                    s.next_in = raw + i * chunk_bytes;
                    s.avail_in = chunk_bytes;
                    s.next_out = packed + i * cap;
                    s.avail_out = cap;
                    deflate(&s, Z_FINISH);
                    packed_sizes[i] = s.total_out;
                    deflateEnd(&s);
                } else {
                    struct libdeflate_compressor *c = libdeflate_alloc_compressor(level);
                    packed_sizes[i] = libdeflate_zlib_compress(c, raw + i * chunk_bytes, chunk_bytes, packed + i * cap, cap);
                    libdeflate_free_compressor(c);
                }
                total += packed_sizes[i];
            }
            double t = now();
            for (int r = 0; r < ROUNDS; r++)
                for (size_t i = 0; i < nchunks; i++) {
                    size_t got;
                    libdeflate_zlib_decompress(d, packed + i * cap, packed_sizes[i], out, chunk_bytes, &got);
                }
            double mbps = (double)ROUNDS * nchunks * chunk_bytes / 1e6 / (now() - t);
            printf("{\"figure\":\"inflate.sweep\",\"value\":%.1f,\"unit\":\"MB/s of output\",\"config\":{\"encoder\":\"%s\",\"level\":%d,\"strategy\":\"%s\",\"ratio\":%.4f,\"threads\":1}}\n",
                   mbps, z ? "zlib" : "libdeflate", level, z ? names[k] : "default", (double)nchunks * chunk_bytes / total);
        }
    }
    free(packed_sizes); free(packed); free(out); free(raw);
    libdeflate_free_decompressor(d);
}

// Zstandard on the same frames: chunks of N frames, one zstd frame each (with the content
// checksum unless `checksum` is 0), decompressed with one ZSTD_DCtx per thread.
static unsigned char **zchunks;
static size_t *zsizes, zchunk_bytes;

static void *zstd_range(void *arg) {
    size_t *range = arg;
    ZSTD_DCtx *d = ZSTD_createDCtx();
    unsigned char *out = malloc(zchunk_bytes);
    long failed = 0;
    for (int r = 0; r < ROUNDS; r++)
        for (size_t i = range[0]; i < range[0] + range[1]; i++) {
            size_t got = ZSTD_decompressDCtx(d, out, zchunk_bytes, zchunks[i], zsizes[i]);
            if (ZSTD_isError(got) || got != zchunk_bytes) failed = -1;
        }
    free(out);
    ZSTD_freeDCtx(d);
    return (void *)failed;
}

static int zstd_sweep(void) {
    struct libdeflate_decompressor *d = libdeflate_alloc_decompressor();
    size_t frames_per_chunk = chunk_bytes / frame_bytes, frames = nchunks * frames_per_chunk;
    unsigned char *raw = malloc(chunk_bytes * nchunks);
    for (size_t i = 0; i < nchunks; i++) {
        size_t got;
        libdeflate_zlib_decompress(d, stored[i], sizes[i], raw + i * chunk_bytes, chunk_bytes, &got);
    }
    libdeflate_free_decompressor(d);
    int chunk_frames[] = {4, 8, 16};
    int levels[] = {-10, -5, -3, -1, 1, 2, 3};
    ZSTD_CCtx *c = ZSTD_createCCtx();
    for (int f = 0; f < 3; f++) {
        size_t n = chunk_frames[f], count = frames / n;
        zchunk_bytes = n * frame_bytes;
        zchunks = calloc(count, sizeof *zchunks);
        zsizes = calloc(count, sizeof *zsizes);
        size_t cap = ZSTD_compressBound(zchunk_bytes);
        for (size_t i = 0; i < count; i++) zchunks[i] = malloc(cap);
        for (int l = 0; l < 7 + 1; l++) {
            int level = l < 7 ? levels[l] : 1, checksum = l < 7;
            ZSTD_CCtx_reset(c, ZSTD_reset_session_and_parameters);
            ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, level);
            ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, checksum);
            size_t total = 0;
            double t = now();
            for (size_t i = 0; i < count; i++) {
                zsizes[i] = ZSTD_compress2(c, zchunks[i], cap, raw + i * zchunk_bytes, zchunk_bytes);
                if (ZSTD_isError(zsizes[i])) { fprintf(stderr, "ZSTD_compress2: %s\n", ZSTD_getErrorName(zsizes[i])); return 1; }
                total += zsizes[i];
            }
            double compress_mbps = (double)count * zchunk_bytes / 1e6 / (now() - t);
            for (int threads = 1; threads <= 2; threads++) {
                pthread_t th[2];
                size_t ranges[2][2], per = (count + threads - 1) / threads;
                t = now();
                for (int k = 0; k < threads; k++) {
                    ranges[k][0] = k * per;
                    ranges[k][1] = ranges[k][0] + per <= count ? per : count - ranges[k][0];
                    pthread_create(&th[k], NULL, zstd_range, ranges[k]);
                }
                long failed = 0;
                for (int k = 0; k < threads; k++) {
                    void *rc;
                    pthread_join(th[k], &rc);
                    if (rc) failed = (long)rc;
                }
                double mbps = (double)ROUNDS * count * zchunk_bytes / 1e6 / (now() - t);
                if (failed) { fprintf(stderr, "zstd failed\n"); return 1; }
                // A random 64-frame window decompresses its whole first and last chunks: 64 + N - 1 frames on average.
                printf("{\"figure\":\"zstd.decompress\",\"value\":%.1f,\"unit\":\"MB/s of output\",\"config\":{\"level\":%d,\"checksum\":%d,\"chunk_frames\":%zu,\"threads\":%d,\"ratio\":%.4f,\"compress_mb_s\":%.1f,\"windows_per_s\":%.1f,\"zstd\":\"%s\"}}\n",
                       mbps, level, checksum, n, threads, (double)count * zchunk_bytes / total, compress_mbps,
                       mbps * 1e6 / ((64.0 + n - 1) * frame_bytes), ZSTD_versionString());
            }
        }
        for (size_t i = 0; i < count; i++) free(zchunks[i]);
        free(zchunks); free(zsizes);
    }
    ZSTD_freeCCtx(c);
    free(raw);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 3) { fprintf(stderr, "usage: %s FILE.h5 DATASET\n", argv[0]); return 2; }
    hid_t file = H5Fopen(argv[1], H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t dset = file < 0 ? -1 : H5Dopen2(file, argv[2], H5P_DEFAULT);
    if (dset < 0) { fprintf(stderr, "cannot open %s:%s\n", argv[1], argv[2]); return 1; }
    hid_t dcpl = H5Dget_create_plist(dset), space = H5Dget_space(dset);
    hsize_t chunk[8], dims[8];
    int rank = H5Pget_chunk(dcpl, 8, chunk);
    H5Sget_simple_extent_dims(space, dims, NULL);
    chunk_bytes = 1;
    for (int i = 0; i < rank; i++) chunk_bytes *= chunk[i];
    frame_bytes = chunk_bytes / chunk[0];
    // Whole chunks only: the last one's padding frames would compress and inflate unusually fast.
    nchunks = dims[0] / chunk[0];
    stored = calloc(nchunks, sizeof *stored);
    sizes = calloc(nchunks, sizeof *sizes);
    size_t total_stored = 0;
    for (size_t i = 0; i < nchunks; i++) {
        hsize_t offset[8] = {0}, nbytes;
        offset[0] = i * chunk[0];
        uint32_t mask;
        H5Dget_chunk_storage_size(dset, offset, &nbytes);
        sizes[i] = nbytes;
        stored[i] = malloc(nbytes);
        if (H5Dread_chunk(dset, H5P_DEFAULT, offset, &mask, stored[i]) < 0 || mask) {
            fprintf(stderr, "chunk %zu: not a deflate chunk\n", i);
            return 1;
        }
        total_stored += nbytes;
    }
    double out_mb = (double)ROUNDS * nchunks * chunk_bytes / 1e6;
    printf("{\"figure\":\"inflate.input\",\"value\":%zu,\"config\":{\"chunks\":%zu,\"chunk_bytes\":%zu,\"ratio\":%.4f,\"libdeflate\":\"%s\",\"zlib\":\"%s\"}}\n",
           nchunks, nchunks, chunk_bytes, (double)nchunks * chunk_bytes / total_stored, LIBDEFLATE_VERSION_STRING, zlibVersion());

    // zlib (what HDF5's deflate filter calls), one thread.
    unsigned char *out = malloc(chunk_bytes);
    double t = now();
    for (int r = 0; r < ROUNDS; r++)
        for (size_t i = 0; i < nchunks; i++) {
            uLongf got = chunk_bytes;
            uncompress(out, &got, stored[i], sizes[i]);
        }
    printf("{\"figure\":\"inflate.zlib\",\"value\":%.1f,\"unit\":\"MB/s of output\",\"config\":{\"threads\":1}}\n", out_mb / (now() - t));

    // libdeflate, one thread, then the chunks split over two threads.
    for (int threads = 1; threads <= 2; threads++) {
        pthread_t th[2];
        size_t ranges[2][2];
        size_t per = (nchunks + threads - 1) / threads;
        t = now();
        for (int k = 0; k < threads; k++) {
            ranges[k][0] = k * per;
            ranges[k][1] = ranges[k][0] + per <= nchunks ? per : nchunks - ranges[k][0];
            pthread_create(&th[k], NULL, inflate_range, ranges[k]);
        }
        long failed = 0;
        for (int k = 0; k < threads; k++) {
            void *rc;
            pthread_join(th[k], &rc);
            if (rc) failed = (long)rc;
        }
        double seconds = now() - t;
        if (failed) { fprintf(stderr, "libdeflate failed: %ld\n", failed); return 1; }
        printf("{\"figure\":\"inflate.libdeflate\",\"value\":%.1f,\"unit\":\"MB/s of output\",\"config\":{\"threads\":%d}}\n",
               out_mb / seconds, threads);
    }
    for (int i = 3; i < argc; i++) {
        if (strcmp(argv[i], "--sweep") == 0) sweep();
        else if (strcmp(argv[i], "--zstd") == 0) { if (zstd_sweep()) return 1; }
        else { fprintf(stderr, "unknown option %s\n", argv[i]); return 2; }
    }
    return 0;
}
