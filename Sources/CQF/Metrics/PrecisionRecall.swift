// Improved precision and recall (Kynkäänniemi et al. 2019, "Improved precision and recall
// metric for assessing generative models"), k = 3 as in their paper and code. Each real feature
// is the centre of a ball whose radius is its distance to its k-th nearest other real feature;
// the union of the balls estimates the manifold of real images. Precision is the fraction of
// fake features inside some real ball; recall, symmetrically, the fraction of real features
// inside some ball of the fake set. A point on a ball's boundary is inside (their `<=`).
//
// Squared distances |a|² + |b|² - 2 a·b come in blocks of rows, the products from sgemm in
// float32 (Kynkäänniemi et al.'s code computes them in reduced precision on the GPU) and the
// norms and sums in float64, so that 10k x 10k features of 2048 values never need more than a block of the
// distance matrix. The float32 rounding, ~1e-6 of |a||b|, can only move a point that sits on a
// ball's boundary to within that margin. Over MPI each rank takes a contiguous share of the
// rows and the counts are summed; every distance is computed whole on one rank, so the result
// does not depend on the number of ranks.
import CBLAS

/// (precision, recall) of `fake` against `real`, both whole (gathered) on every rank; the
/// result is the same on every rank.
public func precisionAndRecall(real: FeatureSet, fake: FeatureSet, neighbourhood k: Int = 3,
                               over communicator: Communicator = SingleProcess()) -> (precision: Double, recall: Double) {
    precondition(real.dimension == fake.dimension,
                 "precisionAndRecall: features of \(real.dimension) and \(fake.dimension) values cannot be compared.")
    precondition(k >= 1 && real.count > k && fake.count > k,
                 "precisionAndRecall: a neighbourhood of \(k) needs more than \(k) features in each set, got \(real.count) real and \(fake.count) fake.")
    let realPoints = PointCloud(real), fakePoints = PointCloud(fake)
    let realRadii = realPoints.squaredRadii(k: k, over: communicator)
    let fakeRadii = fakePoints.squaredRadii(k: k, over: communicator)
    // [fake features inside a real ball, then for each real feature 1 if inside a fake ball].
    var counts = [Double](repeating: 0, count: 1 + real.count)
    fakePoints.forEachDistanceBlock(to: realPoints, rows: communicator.share(of: fake.count)) { fakeRow, distances in
        var inside = false
        for j in 0..<real.count {
            if distances[j] <= realRadii[j] { inside = true }
            if distances[j] <= fakeRadii[fakeRow] { counts[1 + j] = 1 }
        }
        if inside { counts[0] += 1 }
    }
    counts.withUnsafeMutableBufferPointer { communicator.allreduceSum($0) }
    let covered = counts.dropFirst().reduce(0) { $0 + ($1 > 0 ? 1 : 0) }
    return (counts[0] / Double(fake.count), Double(covered) / Double(real.count))
}

/// A feature set with its rows' squared norms (float64): what the distance blocks are made of.
private struct PointCloud {
    let features: FeatureSet
    let squaredNorms: [Double]

    /// Elements of the distance matrix computed at once (32 MiB of floats).
    static let blockElements = 1 << 23

    init(_ features: FeatureSet) {
        self.features = features
        let d = features.dimension
        squaredNorms = (0..<features.count).map { i in
            features.values[i * d..<(i + 1) * d].reduce(0.0) { $0 + Double($1) * Double($1) }
        }
    }

    var count: Int { features.count }

    /// Squared distance from each point to its k-th nearest other point of the cloud, on every
    /// rank (each rank computes its share and the shares are summed into zeros).
    func squaredRadii(k: Int, over communicator: Communicator) -> [Double] {
        var radii = [Double](repeating: 0, count: count)
        var nearest = [Double](repeating: 0, count: k)
        forEachDistanceBlock(to: self, rows: communicator.share(of: count)) { row, distances in
            for i in 0..<k { nearest[i] = .infinity }
            for j in 0..<count where j != row && distances[j] < nearest[k - 1] {
                var slot = k - 1
                while slot > 0 && nearest[slot - 1] > distances[j] {
                    nearest[slot] = nearest[slot - 1]
                    slot -= 1
                }
                nearest[slot] = distances[j]
            }
            radii[row] = nearest[k - 1]
        }
        radii.withUnsafeMutableBufferPointer { communicator.allreduceSum($0) }
        return radii
    }

    /// Calls `body(row, distances)` for each row of this cloud in `rows`, `distances` holding its
    /// squared distances to every point of `other` (negative round-off clamped at 0).
    func forEachDistanceBlock(to other: PointCloud, rows: Range<Int>,
                              _ body: (Int, UnsafeBufferPointer<Double>) -> Void) {
        let n = other.count, d = features.dimension
        let blockRows = max(1, min(rows.count, Self.blockElements / n))
        var products = [Float](repeating: 0, count: blockRows * n)
        var distances = [Double](repeating: 0, count: n)
        for start in stride(from: rows.lowerBound, to: rows.upperBound, by: blockRows) {
            let height = min(blockRows, rows.upperBound - start)
            features.values.withUnsafeBufferPointer { mine in
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(height), Int32(n), Int32(d), 1,
                            mine.baseAddress! + start * d, Int32(d), other.features.values, Int32(d), 0, &products, Int32(n))
            }
            for r in 0..<height {
                for j in 0..<n {
                    distances[j] = max(0, squaredNorms[start + r] + other.squaredNorms[j] - 2 * Double(products[r * n + j]))
                }
                distances.withUnsafeBufferPointer { body(start + r, $0) }
            }
        }
    }
}

extension Communicator {
    /// This rank's contiguous share of 0..<count: the r-th of P near-equal parts.
    func share(of count: Int) -> Range<Int> {
        rank * count / size..<(rank + 1) * count / size
    }
}
