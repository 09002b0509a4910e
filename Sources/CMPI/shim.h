#ifndef TEMPO_CMPI_SHIM_H
#define TEMPO_CMPI_SHIM_H
#include <mpi.h>

// Open MPI's handles and constants are macros over addresses of global objects, which Swift
// cannot import; these functions return them.
static inline MPI_Comm tempo_mpi_comm_world(void) { return MPI_COMM_WORLD; }
static inline MPI_Datatype tempo_mpi_float(void) { return MPI_FLOAT; }
static inline MPI_Datatype tempo_mpi_double(void) { return MPI_DOUBLE; }
static inline MPI_Datatype tempo_mpi_int(void) { return MPI_INT; }
static inline MPI_Datatype tempo_mpi_int64(void) { return MPI_INT64_T; }
static inline MPI_Datatype tempo_mpi_byte(void) { return MPI_BYTE; }
static inline MPI_Op tempo_mpi_sum(void) { return MPI_SUM; }
static inline MPI_Op tempo_mpi_max(void) { return MPI_MAX; }
static inline MPI_Op tempo_mpi_min(void) { return MPI_MIN; }
static inline void *tempo_mpi_in_place(void) { return MPI_IN_PLACE; }
static inline MPI_Errhandler tempo_mpi_errors_return(void) { return MPI_ERRORS_RETURN; }
static inline int tempo_mpi_success(void) { return MPI_SUCCESS; }
static inline int tempo_mpi_max_error_string(void) { return MPI_MAX_ERROR_STRING; }
static inline int tempo_mpi_thread_serialized(void) { return MPI_THREAD_SERIALIZED; }

#endif
