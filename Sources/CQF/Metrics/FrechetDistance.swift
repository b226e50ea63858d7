// The Fréchet distance between two Gaussians (Heusel et al. 2017, "GANs trained by a two
// time-scale update rule converge to a local Nash equilibrium"): FID when the Gaussians are
// fitted to Inception pool features, the same formula in any other feature space.
//
//     FD = |μ1 - μ2|² + tr Σ1 + tr Σ2 - 2 tr((Σ1 Σ2)^½)
//
// pytorch-fid takes scipy's sqrtm of the non-symmetric product Σ1 Σ2 (a Schur decomposition
// in complex arithmetic) and keeps the real part of its trace. Only that trace is needed, and it
// is the sum of the square roots of the eigenvalues of Σ1 Σ2. With Σ1 = V Λ Vᵀ and
// Σ1^½ = V Λ^½ Vᵀ, the products AB and BA of A = Σ1^½ and B = Σ1^½ Σ2 have the same
// eigenvalues, so Σ1 Σ2 has those of the symmetric positive semi-definite
// Σ1^½ Σ2 Σ1^½ = V (Λ^½ Vᵀ Σ2 V Λ^½) Vᵀ, i.e. of M = Λ^½ (Vᵀ Σ2 V) Λ^½: real and >= 0.
// So two symmetric eigendecompositions (dsyevd) give the trace exactly as sqrtm's principal
// root does, in real arithmetic, with no imaginary round-off to discard.
//
// A covariance of fewer images than dimensions is singular, and round-off leaves its zero
// eigenvalues as noise of size ε λmax of either sign, whose square roots (√ε ≈ 1e-8 of the
// scale each) would make FD differ between two correct computations, one rank and two, at
// 1e-8. So eigenvalues below n ε λmax (numpy's matrix_rank tolerance) count as 0 in both
// decompositions: they cannot be told from round-off. pytorch-fid keeps that noise (and adds
// 1e-6 I when sqrtm fails), and agrees with this to about 1e-8 on singular covariances.
import CBLAS

/// The Fréchet distance between N(a.mean, a.covariance) and N(b.mean, b.covariance); NaN when
/// either holds a value that is not finite.
public func frechetDistance(_ a: FeatureStatistics, _ b: FeatureStatistics) -> Double {
    precondition(a.dimension == b.dimension,
                 "frechetDistance: statistics of \(a.dimension) and \(b.dimension) features cannot be compared.")
    let n = a.dimension
    guard [a.mean, b.mean, a.covariance, b.covariance].allSatisfy({ $0.allSatisfy(\.isFinite) }) else { return .nan }
    var meanTerm = 0.0, traces = 0.0
    for i in 0..<n {
        meanTerm += (a.mean[i] - b.mean[i]) * (a.mean[i] - b.mean[i])
        traces += a.covariance[i * n + i] + b.covariance[i * n + i]
    }
    return meanTerm + traces - 2 * traceOfProductSquareRoot(a.covariance, b.covariance, n: n)
}

/// tr((S1 S2)^½) for symmetric positive semi-definite S1, S2 (n, n): Σ √μ over the eigenvalues μ
/// of M = Λ^½ Vᵀ S2 V Λ^½, where S1 = V Λ Vᵀ, eigenvalues within round-off of 0 taken as 0.
func traceOfProductSquareRoot(_ s1: [Double], _ s2: [Double], n: Int) -> Double {
    let first = SymmetricEigen(s1, n: n, vectors: true)
    let vt = first.vectorRows
    var vtS2 = [Double](repeating: 0, count: n * n)
    var m = [Double](repeating: 0, count: n * n)
    let size = Int32(n)
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, size, size, size, 1, vt, size, s2, size, 0, &vtS2, size)
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, size, size, size, 1, vtS2, size, vt, size, 0, &m, size)
    let roots = squareRootsAboveRoundOff(first.values)
    for i in 0..<n {
        for j in 0..<n { m[i * n + j] *= roots[i] * roots[j] }
    }
    return squareRootsAboveRoundOff(SymmetricEigen(m, n: n, vectors: false).values).reduce(0, +)
}

/// √λ of each eigenvalue λ of an (n, n) positive semi-definite matrix, 0 for those below
/// n ε λmax.
private func squareRootsAboveRoundOff(_ eigenvalues: [Double]) -> [Double] {
    let threshold = Double(eigenvalues.count) * Double.ulpOfOne * (eigenvalues.max() ?? 0)
    return eigenvalues.map { $0 > threshold ? $0.squareRoot() : 0 }
}
