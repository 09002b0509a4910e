#ifndef TEMPO_CPNG_SHIM_H
#define TEMPO_CPNG_SHIM_H
#include <png.h>

static inline const char *shim_PNG_LIBPNG_VER_STRING(void) { return PNG_LIBPNG_VER_STRING; }
static inline int shim_PNG_COLOR_TYPE_RGB(void) { return PNG_COLOR_TYPE_RGB; }
static inline int shim_PNG_COLOR_TYPE_RGBA(void) { return PNG_COLOR_TYPE_RGBA; }
static inline int shim_PNG_INTERLACE_NONE(void) { return PNG_INTERLACE_NONE; }
static inline int shim_PNG_COMPRESSION_TYPE_DEFAULT(void) { return PNG_COMPRESSION_TYPE_DEFAULT; }
static inline int shim_PNG_FILTER_TYPE_DEFAULT(void) { return PNG_FILTER_TYPE_DEFAULT; }
static inline png_uint_32 shim_PNG_IMAGE_VERSION(void) { return PNG_IMAGE_VERSION; }
static inline png_uint_32 shim_PNG_FORMAT_RGB(void) { return PNG_FORMAT_RGB; }
static inline int shim_PNG_IMAGE_FAILED(png_imagep image) { return PNG_IMAGE_FAILED(*image); }
#endif
