#ifndef TEMPO_CDEFLATE_SHIM_H
#define TEMPO_CDEFLATE_SHIM_H
// libdeflate: whole-buffer DEFLATE/zlib decompression, several times faster than zlib's
// streaming inflate. The clip cache reader uses it on HDF5 deflate chunks (zlib streams).
#include <libdeflate.h>
#endif
