// The 2-D matrix product through cblas_sgemm (dense layers), with optional transposes so that
// every gradient is again one product and nothing is copied to transpose.
import CBLAS

/// op(a) x op(b), where op transposes when asked: (M, K) x (K, N) -> (M, N).
public func matmul(_ a: Tensor, _ b: Tensor, transposeA: Bool = false, transposeB: Bool = false) -> Tensor {
    precondition(a.rank == 2 && b.rank == 2, "matmul needs matrices, got \(a.shape) and \(b.shape).")
    let (m, k) = transposeA ? (a.shape[1], a.shape[0]) : (a.shape[0], a.shape[1])
    let (k2, n) = transposeB ? (b.shape[1], b.shape[0]) : (b.shape[0], b.shape[1])
    precondition(k == k2, "matmul: inner sizes differ, \(a.shape)\(transposeA ? "^T" : "") x \(b.shape)\(transposeB ? "^T" : "").")
    let out = Tensor(uninitialized: [m, n])
    cblas_sgemm(CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
                Int32(m), Int32(n), Int32(k), 1, a.data, Int32(a.shape[1]), b.data, Int32(b.shape[1]),
                0, out.data, Int32(n))
    return record(out, "matmul", [a, b], uses: [[.input(1)], [.input(0)]]) { c in
        let g = c.gradient
        let da = !c.needs[0] ? nil
            : transposeA ? matmul(c.input(1), g, transposeA: transposeB, transposeB: true)
            : matmul(g, c.input(1), transposeA: false, transposeB: !transposeB)
        let db = !c.needs[1] ? nil
            : transposeB ? matmul(g, c.input(0), transposeA: true, transposeB: transposeA)
            : matmul(c.input(0), g, transposeA: !transposeA, transposeB: false)
        return [da, db]
    }
}
