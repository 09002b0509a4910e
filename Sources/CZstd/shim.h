#ifndef TEMPO_CZSTD_SHIM_H
#define TEMPO_CZSTD_SHIM_H
// Zstandard: the clip cache's default codec, stored as the registered HDF5 filter 32015 (one
// zstd frame per chunk, the format of the HDF5Plugin-Zstandard filter that hdf5plugin ships).
#include <zstd.h>

// Macros Swift cannot import (casts of integer expressions).
static inline unsigned long long shim_ZSTD_CONTENTSIZE_UNKNOWN(void) { return ZSTD_CONTENTSIZE_UNKNOWN; }
static inline unsigned long long shim_ZSTD_CONTENTSIZE_ERROR(void) { return ZSTD_CONTENTSIZE_ERROR; }
#endif
