// The images a feature network judges: a stored set (a dataset, an npz of samples) read in its
// own order, or samples drawn from a model on the fly. Each rank takes a contiguous block of
// whole batches, so every forward pass holds the same images however many ranks share the set:
// the features come out bit for bit the same (a convolution's float sums may depend on its
// batch), and so do the scores. Samples are drawn in the model's fixed chunks, so
// `score --checkpoint` judges exactly the images that `sample` with the same seed writes.
import Foundation

public enum JudgedImages {
    /// Images read in order. Datasets with random access read only this rank's block; streams
    /// (npz, folders, lmdb) are read through and the other ranks' images skipped.
    case stored(ImageSource)
    /// `count` images drawn from the model's priors with noise seed `seed`, never all in memory.
    case generated(CQFModel, count: Int, seed: Int)

    /// How many images the set holds (an upper bound for streams that skip undecodable files).
    public var count: Int {
        switch self {
        case .stored(let source): source.expectedCount
        case .generated(_, let count, _): count
        }
    }

    public var shape: ImageShape {
        switch self {
        case .stored(let source): source.shape
        case .generated(let model, _, _):
            ImageShape(channels: model.config.channels, height: model.config.image_size, width: model.config.image_size)
        }
    }

    /// Rank `rank`'s indices out of `ranks`: the batches [rank B / P, (rank + 1) B / P) of the
    /// set's B batches of `batch` images.
    public func block(rank: Int, ranks: Int, batch: Int) -> Range<Int> {
        let batches = (count + batch - 1) / batch
        return min(count, batches * rank / ranks * batch)..<min(count, batches * (rank + 1) / ranks * batch)
    }

    /// Calls `body` with this rank's images, up to `batch` at a time, as a float tensor
    /// (n, C, H, W) of the uint8 pixels divided by 255, and the set's index of the first of them.
    public func forEachBatch(rank: Int, ranks: Int, batch: Int, warn: (String) -> Void = { _ in },
                             _ body: (_ images: Tensor, _ firstIndex: Int) throws -> Void) throws {
        let mine = block(rank: rank, ranks: ranks, batch: batch)
        let bytes = shape.byteCount
        var pending: [UInt8] = []
        pending.reserveCapacity(batch * bytes)
        var next = mine.lowerBound
        func flush() throws {
            guard !pending.isEmpty else { return }
            let n = pending.count / bytes
            try body(pending.withUnsafeBufferPointer { scaledPixels($0.baseAddress!, shape: [n, shape.channels, shape.height, shape.width]) }, next)
            pending.removeAll(keepingCapacity: true)
            next += n
        }
        switch self {
        case .stored(let dataset as ImageDataset):
            let image = UnsafeMutablePointer<UInt8>.allocate(capacity: bytes)
            defer { image.deallocate() }
            for index in mine {
                dataset.copyImage(index, into: image)
                pending.append(contentsOf: UnsafeBufferPointer(start: image, count: bytes))
                if pending.count == batch * bytes { try flush() }
            }
        case .stored(let source):
            var index = 0
            try source.forEachImage(warn: warn) { image in
                defer { index += 1 }
                guard mine.contains(index) else { return }
                pending.append(contentsOf: UnsafeBufferPointer(start: image, count: bytes))
                if pending.count == batch * bytes { try flush() }
            }
        case .generated(let model, let count, let seed):
            let chunk = CQFModel.sampleChunk
            var index = mine.lowerBound
            while index < mine.upperBound {
                let first = index / chunk * chunk
                let drawn = model.sampleChunk(first: first, count: min(chunk, count - first), seed: seed)
                let end = min(first + chunk, mine.upperBound)
                for i in index..<end {
                    pending.append(contentsOf: drawn[(i - first) * bytes..<(i - first + 1) * bytes])
                    if pending.count == batch * bytes { try flush() }
                }
                index = end
            }
        }
        try flush()
    }
}
