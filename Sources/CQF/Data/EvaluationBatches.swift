// The evaluation loader: every image of a (held-out) dataset exactly once, in index order,
// split over the ranks, dequantised with noise fixed by a seed so that two evaluations of one
// checkpoint give the same number.
//
// Batch b covers images [b*B, min((b+1)*B, count)); rank r takes the r-th of P near-equal
// contiguous parts, so the last, short batch is shared too (a rank may get fewer images, or
// none). Noise: Philox(seed, evaluationDequantisation), counter (0, image index).

/// One rank's view of the evaluation batches of a dataset.
public final class EvaluationBatches {
    public let dataset: ImageDataset
    public let globalBatch: Int
    public let rank: Int
    public let ranks: Int
    private let noise: Philox
    private let scratch: UnsafeMutablePointer<UInt8>
    /// The next batch to give.
    public private(set) var batch = 0

    public init(dataset: ImageDataset, globalBatch: Int, rank: Int, ranks: Int, seed: UInt64 = 0) throws {
        guard ranks > 0, rank >= 0, rank < ranks, globalBatch > 0 else {
            throw DataError("EvaluationBatches: expected a positive batch and rank in 0..<\(ranks), found batch \(globalBatch), rank \(rank).")
        }
        self.dataset = dataset
        self.globalBatch = globalBatch
        self.rank = rank
        self.ranks = ranks
        noise = Philox(seed: seed, stream: PhiloxStream.evaluationDequantisation)
        scratch = .allocate(capacity: dataset.shape.byteCount)
    }

    deinit { scratch.deallocate() }

    /// Batches in one pass: ceil(count / B).
    public var batchCount: Int { (dataset.count + globalBatch - 1) / globalBatch }

    /// The dataset indices this rank reads in batch `batch`.
    public func shard(batch: Int) -> Range<Int> {
        let start = batch * globalBatch
        let size = min(globalBatch, dataset.count - start)
        return start + size * rank / ranks ..< start + size * (rank + 1) / ranks
    }

    /// Writes this rank's images of the next batch as (n, C, H, W) dequantised floats and
    /// returns n (0 when this rank's part is empty); nil once the pass is over.
    public func next(into output: UnsafeMutablePointer<Float>) -> Int? {
        guard batch < batchCount else { return nil }
        let indices = shard(batch: batch)
        let values = dataset.shape.byteCount
        for (slot, index) in indices.enumerated() {
            dataset.copyImage(index, into: scratch)
            BatchLoader.dequantise(scratch, count: values, into: output + slot * values,
                                   noise: noise, step: 0, imageIndex: UInt64(index))
        }
        batch += 1
        return indices.count
    }

    /// Writes this rank's images of the next batch as (n, C, H, W) uint8 and returns n; nil
    /// once the pass is over.
    public func next(raw output: UnsafeMutablePointer<UInt8>) -> Int? {
        guard batch < batchCount else { return nil }
        let indices = shard(batch: batch)
        for (slot, index) in indices.enumerated() {
            dataset.copyImage(index, into: output + slot * dataset.shape.byteCount)
        }
        batch += 1
        return indices.count
    }
}
