// The 2-D matrix product (dense layers), with optional transposes so that every gradient is
// again one product and nothing is copied to transpose. oneDNN's sgemm runs it on the OpenMP
// team of the convolutions: OpenBLAS's own threads, woken for a product of a few hundred
// thousand FLOPs while that team spins between regions, took 11.6 ms a step on config b at two
// threads against 0.8 at one (bench --ops).
import CDNNL

/// op(a) x op(b), where op transposes when asked: (M, K) x (K, N) -> (M, N).
public func matmul(_ a: Tensor, _ b: Tensor, transposeA: Bool = false, transposeB: Bool = false) -> Tensor {
    precondition(a.rank == 2 && b.rank == 2, "matmul needs matrices, got \(a.shape) and \(b.shape).")
    let (m, k) = transposeA ? (a.shape[1], a.shape[0]) : (a.shape[0], a.shape[1])
    let (k2, n) = transposeB ? (b.shape[1], b.shape[0]) : (b.shape[0], b.shape[1])
    precondition(k == k2, "matmul: inner sizes differ, \(a.shape)\(transposeA ? "^T" : "") x \(b.shape)\(transposeB ? "^T" : "").")
    let out = Tensor(uninitialized: [m, n])
    let flag = { (transposed: Bool) in CChar(UInt8(ascii: transposed ? "T" : "N")) }
    // Row-major, as dnnl_sgemm reads its operands.
    let status = dnnl_sgemm(flag(transposeA), flag(transposeB), Int64(m), Int64(n), Int64(k), 1, a.data, Int64(a.shape[1]),
                            b.data, Int64(b.shape[1]), 0, out.data, Int64(n))
    precondition(status == dnnl_success, "dnnl_sgemm failed (status \(status.rawValue)) on \(a.shape) x \(b.shape).")
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
