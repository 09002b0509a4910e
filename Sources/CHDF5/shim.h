#ifndef TEMPO_CHDF5_SHIM_H
#define TEMPO_CHDF5_SHIM_H
#include <hdf5.h>

// HDF5's constants are macros over globals or casts; Swift imports none of them.
static inline hid_t shim_H5P_DEFAULT(void) { return H5P_DEFAULT; }
static inline hid_t shim_H5S_ALL(void) { return H5S_ALL; }
static inline hid_t shim_H5T_NATIVE_FLOAT(void) { return H5T_NATIVE_FLOAT; }
static inline hid_t shim_H5T_NATIVE_DOUBLE(void) { return H5T_NATIVE_DOUBLE; }
static inline hid_t shim_H5T_NATIVE_UINT8(void) { return H5T_NATIVE_UINT8; }
static inline hid_t shim_H5T_NATIVE_INT32(void) { return H5T_NATIVE_INT32; }
static inline hid_t shim_H5T_NATIVE_INT64(void) { return H5T_NATIVE_INT64; }
static inline hid_t shim_H5T_C_S1(void) { return H5T_C_S1; }
static inline hid_t shim_H5P_FILE_ACCESS(void) { return H5P_FILE_ACCESS; }
static inline hid_t shim_H5P_DATASET_CREATE(void) { return H5P_DATASET_CREATE; }
static inline hid_t shim_H5P_LINK_CREATE(void) { return H5P_LINK_CREATE; }
static inline unsigned shim_H5F_ACC_RDONLY(void) { return H5F_ACC_RDONLY; }
static inline unsigned shim_H5F_ACC_RDWR(void) { return H5F_ACC_RDWR; }
static inline unsigned shim_H5F_ACC_TRUNC(void) { return H5F_ACC_TRUNC; }
static inline unsigned shim_H5F_ACC_EXCL(void) { return H5F_ACC_EXCL; }
static inline size_t shim_H5T_VARIABLE(void) { return H5T_VARIABLE; }
static inline hid_t shim_H5E_DEFAULT(void) { return H5E_DEFAULT; }
static inline hid_t shim_H5P_DATASET_ACCESS(void) { return H5P_DATASET_ACCESS; }
static inline hid_t shim_H5P_OBJECT_COPY(void) { return H5P_OBJECT_COPY; }
static inline hid_t shim_H5P_GROUP_CREATE(void) { return H5P_GROUP_CREATE; }
static inline hid_t shim_H5T_STD_U8LE(void) { return H5T_STD_U8LE; }
static inline hid_t shim_H5T_IEEE_F64LE(void) { return H5T_IEEE_F64LE; }
static inline hid_t shim_H5T_STD_I64LE(void) { return H5T_STD_I64LE; }
static inline hsize_t shim_H5S_UNLIMITED(void) { return H5S_UNLIMITED; }
/// Silences HDF5's automatic error printing: failures are reported as typed errors instead.
static inline void shim_H5E_silence(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

static inline herr_t shim_H5E_walk_cb(unsigned n, const H5E_error2_t *e, void *data) {
    // Keep the first (innermost) entry: it names the actual failure.
    if (n == 0 && e->desc) {
        char *buf = (char *)data;
        snprintf(buf, 255, "%s (in %s)", e->desc, e->func_name ? e->func_name : "?");
    }
    return 0;
}
/// Pushes `message` on HDF5's error stack from inside a filter callback (the pipeline then
/// reports the read or write as failed, and `shim_H5E_last_message` returns this message).
static inline void shim_H5E_push_filter_error(const char *message) {
    H5Epush2(H5E_DEFAULT, __FILE__, "H5Z_filter_zstd", __LINE__, H5E_ERR_CLS, H5E_PLINE, H5E_CANTFILTER, "%s", message);
}
/// Copies the current error stack's innermost description into buf (256 bytes), then clears it.
static inline void shim_H5E_last_message(char *buf) {
    buf[0] = 0;
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, shim_H5E_walk_cb, buf);
    H5Eclear2(H5E_DEFAULT);
}
#endif
