// The Kernel Inception Distance (Bińkowski et al. 2018, "Demystifying MMD GANs") as
// torch-fidelity computes it by default: the unbiased estimate of the squared maximum mean
// discrepancy with the cubic polynomial kernel k(x, y) = (γ x·y + c)^3, γ = 1/d, c = 1,
//
//     MMD² = (Σ_{i≠j} k(x_i, x_j) + Σ_{i≠j} k(y_i, y_j)) / (m (m - 1)) - 2 Σ_{i,j} k(x_i, y_j) / m²,
//
// over 100 subsets of 1000 features drawn without replacement from each set, reported as the
// mean and the (population) standard deviation over the subsets. Two differences from
// torch-fidelity: the subsets come from our Philox generator (stream `kidSubsets`), not numpy's,
// so single subsets differ while the estimate does not; and when a set has fewer features than
// the subset size, the subsets shrink to the smaller set's size, where torch-fidelity refuses.
// The Gram matrices x·y come from ssyrk and sgemm in float32, as torch-fidelity computes them
// (half the time of float64; their rounding, ~1e-6 of |x||y| and of either sign, moves KID far
// less than its spread over subsets); the kernel and the sums are float64. Over MPI the subsets
// are shared out among the ranks (subset s on rank s mod P), each computed whole on one rank,
// so the result does not depend on the number of ranks.
import CBLAS

/// KID's settings, torch-fidelity's defaults, and its computation.
public struct KernelInceptionDistance {
    public var subsets = 100
    public var subsetSize = 1000
    public var degree = 3
    /// c in (γ x·y + c)^degree.
    public var coefficient = 1.0
    /// γ; nil for 1 / dimension.
    public var gamma: Double? = nil
    /// Keys the subsets' generator.
    public var seed: UInt64 = 0

    public init() {}

    /// Mean and standard deviation of MMD² over the subsets; the sets are whole (gathered) on
    /// every rank and the result is the same on every rank.
    public func callAsFunction(real: FeatureSet, fake: FeatureSet,
                               over communicator: Communicator = SingleProcess()) -> (mean: Double, standardDeviation: Double) {
        precondition(real.dimension == fake.dimension,
                     "KernelInceptionDistance: features of \(real.dimension) and \(fake.dimension) values cannot be compared.")
        precondition(subsets >= 1 && subsetSize >= 2 && min(real.count, fake.count) >= 2,
                     "KernelInceptionDistance: \(subsets) subsets of \(subsetSize) from sets of \(real.count) and \(fake.count) features; expected at least one subset of at least 2.")
        let size = min(subsetSize, real.count, fake.count)
        var estimates = [Double](repeating: 0, count: subsets)
        for subset in stride(from: communicator.rank, to: subsets, by: communicator.size) {
            estimates[subset] = mmdSquared(real, rows: subsetRows(subset, of: real.count, size: size, side: 0),
                                           fake, rows: subsetRows(subset, of: fake.count, size: size, side: 1))
        }
        estimates.withUnsafeMutableBufferPointer { communicator.allreduceSum($0) }
        let mean = estimates.reduce(0, +) / Double(subsets)
        let variance = estimates.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(subsets)
        return (mean, variance.squareRoot())
    }

    /// `size` distinct indices of 0..<count: the first `size` steps of a Fisher-Yates shuffle
    /// driven by Philox(seed, kidSubsets) at counter (subset, side). A word w picks among r
    /// choices as (w · r) >> 32, whose bias, below r / 2^32, no estimate can see.
    func subsetRows(_ subset: Int, of count: Int, size: Int, side: UInt64) -> [Int] {
        let generator = Philox(seed: seed, stream: PhiloxStream.kidSubsets)
        var indices = Array(0..<count)
        for i in 0..<size {
            let word = Philox.lane(generator.block(a: UInt64(subset), b: side, blockIndex: i / 4), i % 4)
            indices.swapAt(i, i + Int((UInt64(word) * UInt64(count - i)) >> 32))
        }
        return Array(indices[..<size])
    }

    /// The unbiased MMD² between rows `xRows` of `x` and rows `yRows` of `y` (as many of each).
    func mmdSquared(_ x: FeatureSet, rows xRows: [Int], _ y: FeatureSet, rows yRows: [Int]) -> Double {
        precondition(xRows.count == yRows.count, "mmdSquared: the unbiased estimate needs subsets of one size, got \(xRows.count) and \(yRows.count).")
        let m = xRows.count, d = x.dimension
        let a = x.selectedRows(xRows), b = y.selectedRows(yRows)
        let gamma = self.gamma ?? 1 / Double(d)
        func kernel(_ dot: Double) -> Double {
            let base = gamma * dot + coefficient
            var value = 1.0
            for _ in 0..<degree { value *= base }
            return value
        }
        var gram = [Float](repeating: 0, count: m * m)
        /// Σ_{i≠j} k over the Gram matrix of `rows` with itself: twice its strict upper triangle.
        func offDiagonalSum(_ rows: [Float]) -> Double {
            cblas_ssyrk(CblasRowMajor, CblasUpper, CblasNoTrans, Int32(m), Int32(d), 1, rows, Int32(d), 0, &gram, Int32(m))
            var total = 0.0
            for i in 0..<m {
                for j in i + 1..<m { total += kernel(Double(gram[i * m + j])) }
            }
            return 2 * total
        }
        let within = offDiagonalSum(a) + offDiagonalSum(b)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(m), Int32(m), Int32(d), 1, a, Int32(d), b, Int32(d), 0, &gram, Int32(m))
        let across = gram.reduce(0) { $0 + kernel(Double($1)) }
        return within / Double(m * (m - 1)) - 2 * across / Double(m * m)
    }
}
