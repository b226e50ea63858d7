// Improved precision and recall (Kynkäänniemi et al. 2019, "Improved precision and recall
// metric for assessing generative models"), k = 3 as in their paper and code. Each real feature
// is the centre of a ball whose radius is its distance to its k-th nearest other real feature;
// the union of the balls estimates the manifold of real images. Precision is the fraction of
// fake features inside some real ball; recall, symmetrically, the fraction of real features
// inside some ball of the fake set. A point on a ball's boundary is inside (their `<=`).
//
// Squared distances |a|² + |b|² - 2 a·b come in blocks of rows from dgemm in float64, so that
// 10k x 10k features of 2048 values never need more than a block of the distance matrix.
// Over MPI each rank takes a contiguous share of the rows and the counts are summed; every
// distance is computed whole on one rank, so the result does not depend on the number of ranks.
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

/// A feature set in float64 with its rows' squared norms: what the distance blocks are made of.
private struct PointCloud {
    let count: Int
    let dimension: Int
    /// (count, dimension) row-major.
    let rows: [Double]
    let squaredNorms: [Double]

    /// Elements of the distance matrix computed at once (64 MiB).
    static let blockElements = 1 << 23

    init(_ features: FeatureSet) {
        count = features.count
        dimension = features.dimension
        let rows = features.doubleRows(0..<features.count)
        squaredNorms = (0..<features.count).map { i in
            (0..<features.dimension).reduce(0) { $0 + rows[i * features.dimension + $1] * rows[i * features.dimension + $1] }
        }
        self.rows = rows
    }

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
        let n = other.count, d = dimension
        let blockRows = max(1, min(rows.count, Self.blockElements / n))
        var block = [Double](repeating: 0, count: blockRows * n)
        for start in stride(from: rows.lowerBound, to: rows.upperBound, by: blockRows) {
            let height = min(blockRows, rows.upperBound - start)
            self.rows.withUnsafeBufferPointer { mine in
                cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(height), Int32(n), Int32(d), -2,
                            mine.baseAddress! + start * d, Int32(d), other.rows, Int32(d), 0, &block, Int32(n))
            }
            block.withUnsafeMutableBufferPointer { block in
                for r in 0..<height {
                    let distances = UnsafeMutableBufferPointer(rebasing: block[r * n..<(r + 1) * n])
                    for j in 0..<n { distances[j] = max(0, distances[j] + squaredNorms[start + r] + other.squaredNorms[j]) }
                    body(start + r, UnsafeBufferPointer(distances))
                }
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
