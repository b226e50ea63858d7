// Open MPI defines its handles and constants as macros over global symbols, which
// Swift cannot import; these accessors make them plain functions.
#include <mpi.h>

static inline MPI_Comm mpi_comm_world(void) { return MPI_COMM_WORLD; }
static inline MPI_Datatype mpi_float(void) { return MPI_FLOAT; }
static inline MPI_Datatype mpi_double(void) { return MPI_DOUBLE; }
static inline MPI_Datatype mpi_uint64(void) { return MPI_UINT64_T; }
static inline MPI_Datatype mpi_byte(void) { return MPI_BYTE; }
static inline MPI_Op mpi_sum(void) { return MPI_SUM; }
static inline MPI_Op mpi_max(void) { return MPI_MAX; }
static inline MPI_Op mpi_min(void) { return MPI_MIN; }
static inline void *mpi_in_place(void) { return MPI_IN_PLACE; }
static inline MPI_Errhandler mpi_errors_return(void) { return MPI_ERRORS_RETURN; }
static inline MPI_Request mpi_request_null(void) { return MPI_REQUEST_NULL; }
static inline MPI_Status *mpi_status_ignore(void) { return MPI_STATUS_IGNORE; }
static inline MPI_Info mpi_info_null(void) { return MPI_INFO_NULL; }
static inline MPI_Comm mpi_comm_null(void) { return MPI_COMM_NULL; }
static inline int mpi_any_source(void) { return MPI_ANY_SOURCE; }
static inline int mpi_max_error_string(void) { return MPI_MAX_ERROR_STRING; }
