// Eigenvalues and eigenvectors of a real symmetric matrix through LAPACK's dsyevd (divide and
// conquer), which OpenBLAS ships: what the Fréchet distance needs instead of a general matrix
// square root.
import CBLAS

/// The eigendecomposition A = V diag(λ) Vᵀ of a symmetric (n, n) matrix.
struct SymmetricEigen {
    /// λ, ascending.
    let values: [Double]
    /// Vᵀ, (n, n) row-major: row k is the unit eigenvector of values[k]. Empty when only the
    /// values were asked for.
    let vectorRows: [Double]

    /// Decomposes `matrix` (n, n), row-major; only its upper triangle is read.
    init(_ matrix: [Double], n: Int, vectors: Bool) {
        precondition(matrix.count == n * n, "SymmetricEigen: \(matrix.count) values are not an (\(n), \(n)) matrix.")
        // LAPACK is column-major: our row-major upper triangle is its lower triangle, and the
        // column-major eigenvectors it returns are, read row-major, the rows of Vᵀ.
        var a = matrix
        var w = [Double](repeating: 0, count: n)
        var jobz: CChar = vectors ? 0x56 /* V */ : 0x4E /* N */
        var uplo: CChar = 0x4C /* L */
        var order = Int32(n), leading = Int32(n), info: Int32 = 0
        var workSize = 0.0, iworkSize: Int32 = 0, lwork: Int32 = -1, liwork: Int32 = -1
        dsyevd_(&jobz, &uplo, &order, &a, &leading, &w, &workSize, &lwork, &iworkSize, &liwork, &info, 1, 1)
        precondition(info == 0, "SymmetricEigen: dsyevd's workspace query failed (info \(info)).")
        lwork = Int32(workSize)
        liwork = iworkSize
        var work = [Double](repeating: 0, count: Int(lwork))
        var iwork = [Int32](repeating: 0, count: Int(liwork))
        dsyevd_(&jobz, &uplo, &order, &a, &leading, &w, &work, &lwork, &iwork, &liwork, &info, 1, 1)
        precondition(info == 0, "SymmetricEigen: dsyevd did not converge on a (\(n), \(n)) matrix (info \(info)).")
        values = w
        vectorRows = vectors ? a : []
    }
}
