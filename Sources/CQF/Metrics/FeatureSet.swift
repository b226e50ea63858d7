// Every feature vector of a set of images, as the metrics that compare sets point by point
// (KID, precision/recall) and the Inception Score's ordered splits need them. A rank collects
// the rows of the images it evaluated, each with its image index; `gathered` then puts the whole
// set, in image order, on every rank, so no result depends on how many ranks there were.
// What the features mean is not this file's concern: they are rows of floats.

/// Rows of `dimension` floats, (count, dimension) row-major, each tagged with the index of its
/// image in the whole set.
public struct FeatureSet {
    public let dimension: Int
    /// (count, dimension), row-major.
    public private(set) var values: [Float] = []
    /// The image index of each row: 0..<count once gathered.
    public private(set) var indices: [Int] = []

    /// An empty set whose rows will be `dimension` long.
    public init(dimension: Int) {
        precondition(dimension > 0, "FeatureSet: the dimension must be positive, got \(dimension).")
        self.dimension = dimension
    }

    /// A whole set: `values` (count, dimension) row-major, row i being image i.
    public init(dimension: Int, values: [Float]) {
        self.init(dimension: dimension)
        precondition(values.count % dimension == 0,
                     "FeatureSet: \(values.count) values are not whole rows of \(dimension).")
        self.values = values
        indices = Array(0..<values.count / dimension)
    }

    public var count: Int { indices.count }

    /// Appends `rows` (B, dimension), the features of images firstIndex..<firstIndex + B.
    public mutating func append(_ rows: Tensor, firstIndex: Int) {
        precondition(rows.rank == 2 && rows.shape[1] == dimension,
                     "FeatureSet.append: expected rows (B, \(dimension)), got \(rows.shape).")
        values.append(contentsOf: UnsafeBufferPointer(start: rows.data, count: rows.count))
        indices.append(contentsOf: firstIndex..<firstIndex + rows.shape[0])
    }

    /// The whole set on every rank, row i being image i. Each rank writes its rows into a zeroed
    /// (total, dimension) buffer and the buffers are summed: exact, since x + 0 = x. Every image
    /// index 0..<total must be held by exactly one rank.
    public func gathered(over communicator: Communicator) -> FeatureSet {
        let total = Int(communicator.gathered([Double(count)]).reduce(0) { $0 + $1[0] })
        // How many ranks hold each image; the last slot counts indices outside 0..<total, so
        // that every rank sees every mistake after the sum and all stop together.
        var holders = [Double](repeating: 0, count: total + 1)
        var whole = [Float](repeating: 0, count: total * dimension)
        whole.withUnsafeMutableBufferPointer { whole in
            values.withUnsafeBufferPointer { rows in
                for (row, index) in indices.enumerated() {
                    guard (0..<total).contains(index) else { holders[total] += 1; continue }
                    holders[index] += 1
                    (whole.baseAddress! + index * dimension).update(from: rows.baseAddress! + row * dimension, count: dimension)
                }
            }
        }
        holders.withUnsafeMutableBufferPointer { communicator.allreduceSum($0) }
        whole.withUnsafeMutableBufferPointer { communicator.allreduceSum($0) }
        precondition(holders[total] == 0,
                     "FeatureSet.gathered: \(Int(holders[total])) rows have image indices outside the \(total) images of the set.")
        if let index = holders.dropLast().firstIndex(where: { $0 != 1 }) {
            preconditionFailure("FeatureSet.gathered: image \(index) is held by \(Int(holders[index])) ranks; expected exactly one.")
        }
        return FeatureSet(dimension: dimension, values: whole)
    }

    /// The rows `rows`, in that order, as a (rows.count, dimension) row-major matrix.
    func selectedRows(_ rows: [Int]) -> [Float] {
        var result: [Float] = []
        result.reserveCapacity(rows.count * dimension)
        for row in rows { result.append(contentsOf: values[row * dimension..<(row + 1) * dimension]) }
        return result
    }
}
