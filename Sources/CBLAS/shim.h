#ifndef TEMPO_CBLAS_SHIM_H
#define TEMPO_CBLAS_SHIM_H
#include <cblas.h>

// OpenBLAS extensions (declared in Debian's cblas.h, re-declared here for
// builds whose cblas.h is the reference one).
void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);
char *openblas_get_corename(void);
char *openblas_get_config(void);

// Allocator tuning for numeric work (glibc): keep freed large blocks in the heap so
// per-step tensors are not page-faulted and zeroed again. Returns 1 when applied.
#if defined(__GLIBC__)
#include <malloc.h>
static inline int shim_retain_freed_memory(void) {
    int ok = mallopt(M_MMAP_THRESHOLD, 32 << 20);  // glibc's upper limit for this knob
    ok &= mallopt(M_TRIM_THRESHOLD, 0x7fffffff);
    ok &= mallopt(M_TOP_PAD, 64 << 20);
    return ok;
}
#else
static inline int shim_retain_freed_memory(void) { return 0; }
#endif
#endif
