// Inflate throughput on the chunks of an HDF5 deflate dataset: the ceiling of the clip cache's
// compressed reads (benchmarks/RESULTS.md, Media). Prints one JSON object per line.
//
//   cc -O2 benchmarks/inflate_ceiling.c -o /tmp/inflate_ceiling $(pkg-config --cflags --libs hdf5 libdeflate) -lz -lpthread
//   bench video extract ../shared/fixtures/videos/bikes.mp4 --out /tmp/bikes.h5 --short-side 128
//   /tmp/inflate_ceiling /tmp/bikes.h5 frames [--sweep]
//
// --sweep also recompresses the frames with other zlib levels and strategies and libdeflate
// levels, and times libdeflate on each (one thread): does any deflate encoding inflate faster?
#include <hdf5.h>
#include <libdeflate.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

enum { ROUNDS = 5 };
static unsigned char **stored;
static size_t *sizes, chunk_bytes, nchunks;

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
    if (argc > 3 && strcmp(argv[3], "--sweep") == 0) sweep();
    return 0;
}
