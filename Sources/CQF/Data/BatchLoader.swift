// The training loader: each rank's shard of each global batch, dequantised, in an order that
// every rank computes alone and a checkpoint can resume.
//
//   let data = try openDataset(kind: .packed, path: "cifar.packed", split: .train)
//   let loader = try BatchLoader(dataset: data, globalBatch: 64, rank: r, ranks: P, seed: 1)
//   loader.position = checkpoint.loaderPosition            // when resuming
//   let info = loader.next(into: x)                        // x: (64/P, C, H, W) floats in [0, 1)
//   checkpoint.loaderPosition = loader.position             // the next unseen batch
//
// - Epoch e visits the images in a permutation drawn from Philox(seed, epochShuffle) with
//   counter (e, 0): the same on every rank, different every epoch. An epoch is
//   count / globalBatch full batches; the few images past the last full batch wait for a later
//   epoch's permutation (every batch has the same size, so batch-norm statistics and the
//   gradient scale never change).
// - Batch b of an epoch is the permutation's slice [b*B, (b+1)*B); rank r takes its contiguous
//   B/P images [b*B + r*B/P, b*B + (r+1)*B/P) and reads only those.
// - Dequantisation: x = (x_int + u) / 256 with u from Philox(seed, dequantisation), counter
//   (step, image index), step = epoch * batchesPerEpoch + batch. u has 16 bits (8 values per
//   Philox block), so the sum is exact in a float and x < 1 strictly. Nothing depends on P: one rank with B images and four
//   with B/4 each feed the model the same numbers.

/// Where a loader stands: the next batch it will give. A checkpoint stores it (Codable) so
/// that a resumed run continues with the next unseen batch.
public struct LoaderPosition: Codable, Equatable, Sendable {
    public var epoch: Int
    /// The index, within the epoch, of the next batch.
    public var batch: Int

    public init(epoch: Int = 0, batch: Int = 0) {
        self.epoch = epoch
        self.batch = batch
    }
}

/// Which batch `next` gave.
public struct BatchInfo: Equatable, Sendable {
    public let epoch: Int
    public let batch: Int
    /// epoch * batchesPerEpoch + batch: the step the dequantisation noise is keyed by.
    public let step: Int
}

/// One rank's view of the training batches of a dataset.
public final class BatchLoader {
    public let dataset: ImageDataset
    public let globalBatch: Int
    public let rank: Int
    public let ranks: Int
    public let seed: UInt64
    public var position: LoaderPosition
    private let packed: PackedDataset?
    private let noise: Philox
    private let scratch: UnsafeMutablePointer<UInt8>
    private var order: [Int32] = []
    private var orderEpoch = -1

    /// Throws a sentence when the batch cannot be split over the ranks or exceeds the dataset.
    public init(dataset: ImageDataset, globalBatch: Int, rank: Int, ranks: Int, seed: UInt64,
                position: LoaderPosition = LoaderPosition()) throws {
        guard ranks > 0, rank >= 0, rank < ranks else {
            throw DataError("BatchLoader: rank \(rank) is not one of 0..<\(ranks).")
        }
        guard globalBatch > 0, globalBatch % ranks == 0 else {
            throw DataError("The global batch \(globalBatch) does not split over \(ranks) ranks; expected a multiple of \(ranks) (for example \(max(1, globalBatch / ranks) * ranks)).")
        }
        guard globalBatch <= dataset.count, dataset.count <= Int(Int32.max) else {
            throw DataError("The global batch \(globalBatch) needs at least that many images; the dataset has \(dataset.count).")
        }
        self.dataset = dataset
        self.globalBatch = globalBatch
        self.rank = rank
        self.ranks = ranks
        self.seed = seed
        self.position = position
        packed = dataset as? PackedDataset
        noise = Philox(seed: seed, stream: PhiloxStream.dequantisation)
        scratch = .allocate(capacity: dataset.shape.byteCount)
    }

    deinit { scratch.deallocate() }

    /// Images this rank gets per batch: B / P.
    public var localBatch: Int { globalBatch / ranks }
    /// Full global batches per epoch.
    public var batchesPerEpoch: Int { dataset.count / globalBatch }
    /// Floats (or bytes) one call to `next` writes: localBatch * C * H * W.
    public var localBatchCount: Int { localBatch * dataset.shape.byteCount }

    /// Writes this rank's images of the next batch as (B/P, C, H, W) dequantised floats in
    /// [0, 1) to `output`, and moves on.
    public func next(into output: UnsafeMutablePointer<Float>) -> BatchInfo {
        let info = current()
        let step = UInt64(info.step)
        let values = dataset.shape.byteCount
        for (slot, index) in shard(epoch: info.epoch, batch: info.batch).enumerated() {
            BatchLoader.dequantise(image(Int(index)), count: values, into: output + slot * values,
                                   noise: noise, step: step, imageIndex: UInt64(index))
        }
        advance()
        return info
    }

    /// Writes this rank's images of the next batch as (B/P, C, H, W) uint8, and moves on.
    public func next(raw output: UnsafeMutablePointer<UInt8>) -> BatchInfo {
        let info = current()
        let values = dataset.shape.byteCount
        for (slot, index) in shard(epoch: info.epoch, batch: info.batch).enumerated() {
            dataset.copyImage(Int(index), into: output + slot * values)
        }
        advance()
        return info
    }

    /// The dataset indices this rank reads for batch `batch` of epoch `epoch`.
    public func shard(epoch: Int, batch: Int) -> ArraySlice<Int32> {
        if orderEpoch != epoch {
            order = BatchLoader.permutation(count: dataset.count, seed: seed, epoch: epoch)
            orderEpoch = epoch
        }
        let start = batch * globalBatch + rank * localBatch
        return order[start..<start + localBatch]
    }

    /// x = (x_int + u) / 256 for `count` values, u from counter (step, imageIndex): computed as
    /// (x_int * 2^16 + 16 random bits) * 2^-24, exact in a float and below 1. Each Philox block
    /// gives 8 values: word j's low half goes to value 8k + 2j, its high half to 8k + 2j + 1.
    @inline(__always)
    public static func dequantise(_ image: UnsafePointer<UInt8>, count: Int, into output: UnsafeMutablePointer<Float>,
                                  noise: Philox, step: UInt64, imageIndex: UInt64) {
        @inline(__always)
        func value(_ byte: UInt8, _ bits: UInt32) -> Float {
            // Below 2^24, so the signed conversion (one instruction on x86) is exact.
            Float(Int32(bitPattern: UInt32(byte) << 16 | bits & 0xFFFF)) * 0x1p-24
        }
        var i = 0
        var blockIndex = 0
        while i + 8 <= count {
            let w = noise.block(a: step, b: imageIndex, blockIndex: blockIndex)
            output[i] = value(image[i], w.0)
            output[i + 1] = value(image[i + 1], w.0 >> 16)
            output[i + 2] = value(image[i + 2], w.1)
            output[i + 3] = value(image[i + 3], w.1 >> 16)
            output[i + 4] = value(image[i + 4], w.2)
            output[i + 5] = value(image[i + 5], w.2 >> 16)
            output[i + 6] = value(image[i + 6], w.3)
            output[i + 7] = value(image[i + 7], w.3 >> 16)
            i += 8
            blockIndex += 1
        }
        if i < count {
            let w = noise.block(a: step, b: imageIndex, blockIndex: blockIndex)
            for lane in 0..<(count - i) {
                output[i + lane] = value(image[i + lane], Philox.lane(w, lane / 2) >> (16 * UInt32(lane % 2)))
            }
        }
    }

    /// The visiting order of epoch `epoch`: Fisher-Yates driven by Philox(seed, epochShuffle),
    /// counter (epoch, 0), two 64-bit draws per block.
    public static func permutation(count: Int, seed: UInt64, epoch: Int) -> [Int32] {
        var order = (0..<Int32(count)).map { $0 }
        let generator = Philox(seed: seed, stream: PhiloxStream.epochShuffle)
        var draw = 0
        order.withUnsafeMutableBufferPointer { order in
            var i = count - 1
            while i > 0 {
                let w = generator.block(a: UInt64(epoch), b: 0, blockIndex: draw)
                draw += 1
                let randoms = (UInt64(w.0) << 32 | UInt64(w.1), UInt64(w.2) << 32 | UInt64(w.3))
                // j uniform in 0...i: the high word of random * (i + 1).
                order.swapAt(i, Int(randoms.0.multipliedFullWidth(by: UInt64(i + 1)).high))
                i -= 1
                if i > 0 {
                    order.swapAt(i, Int(randoms.1.multipliedFullWidth(by: UInt64(i + 1)).high))
                    i -= 1
                }
            }
        }
        return order
    }

    private func current() -> BatchInfo {
        if position.batch >= batchesPerEpoch {
            position = LoaderPosition(epoch: position.epoch + 1, batch: 0)
        }
        return BatchInfo(epoch: position.epoch, batch: position.batch,
                         step: position.epoch * batchesPerEpoch + position.batch)
    }

    private func advance() {
        position.batch += 1
        if position.batch == batchesPerEpoch {
            position = LoaderPosition(epoch: position.epoch + 1, batch: 0)
        }
    }

    @inline(__always)
    private func image(_ index: Int) -> UnsafePointer<UInt8> {
        if let packed { return packed.image(index) }
        dataset.copyImage(index, into: scratch)
        return UnsafePointer(scratch)
    }
}
