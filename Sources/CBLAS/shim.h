#include <cblas.h>
#include <stddef.h>

// LAPACK's symmetric eigensolver (divide and conquer), which libopenblas exports under its
// Fortran name. Arguments by reference, matrices column-major; the two trailing lengths are
// gfortran's hidden string-length arguments of `jobz` and `uplo`.
void dsyevd_(const char *jobz, const char *uplo, const int *n, double *a, const int *lda, double *w,
             double *work, const int *lwork, int *iwork, const int *liwork, int *info,
             size_t jobz_length, size_t uplo_length);
