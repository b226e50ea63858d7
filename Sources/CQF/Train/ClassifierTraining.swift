// Training and testing of the classifier (Sources/CQF/Features/Classifier.swift) on a labelled
// dataset, data-parallel like the model: every rank starts from the same weights (they follow
// from the seed alone), takes its B/P images of each global batch from the same loader as
// `train`, and the gradient sums are added over the ranks before one Adamax step on each.
//
// The loss is the cross-entropy logsumexp(logits) - logit[label], averaged over the global
// batch. The images are the published pixels / 255, with no dequantisation noise, exactly as
// `evaluate` will see them in `score`. Adamax (the model's optimizer, MODEL.md section 5) at
// 0.005, which did better than 0.002 and 0.01 in runs of 2000 steps on Fashion-MNIST, falling
// linearly to 0 over the run, so that a short run ends settled rather than at its full step size.
import Foundation

extension Classifier {
    /// Trains for `steps` global batches of `batch` images of `dataset` and returns each step's
    /// loss (the mean cross-entropy of its global batch, the same on every rank). Progress, with
    /// the smoothed loss, goes to `progress`.
    public func train(on dataset: ImageDataset, steps: Int, batch: Int, seed: Int, learningRate: Float = 0.005,
                      communicator: Communicator, progress: ProgressLine? = nil) throws -> [Float] {
        let labels = try checkedLabels(of: dataset)
        let loader = try BatchLoader(dataset: dataset, globalBatch: batch, rank: communicator.rank, ranks: communicator.size,
                                     seed: UInt64(seed))
        let pixels = UnsafeMutablePointer<UInt8>.allocate(capacity: loader.localBatchCount)
        defer { pixels.deallocate() }
        let optimizer = Adamax(count: parameters.count, learningRate: learningRate)
        let shape = [loader.localBatch, imageShape.channels, imageShape.height, imageShape.width]
        var losses: [Float] = []
        var smoothed: Float = 0
        for step in 0..<steps {
            let info = loader.next(raw: pixels)
            let batchLabels = loader.shard(epoch: info.epoch, batch: info.batch).map { labels[Int($0)] }
            let loss = crossEntropy(forward(scaledPixels(pixels, shape: shape)).logits, labels: batchLabels) / Float(batch)
            parameters.storeGradients(grad(of: loss, wrt: parameters.tensors))
            var sums = [loss.scalar]
            sums.withUnsafeMutableBufferPointer { communicator.allreduceSum($0) }
            communicator.allreduceSum(UnsafeMutableBufferPointer(start: parameters.gradients.pointer, count: parameters.count))
            optimizer.learningRate = learningRate * (1 - Float(step) / Float(steps))
            optimizer.update(parameters)
            losses.append(sums[0])
            smoothed = step == 0 ? sums[0] : 0.95 * smoothed + 0.05 * sums[0]
            progress?.advance(status: String(format: "loss %.3f", smoothed))
        }
        progress?.finish()
        self.steps += steps
        return losses
    }

    /// The fraction of `dataset` whose most likely class is its label, over every rank's share.
    public func accuracy(on dataset: ImageDataset, batch: Int, communicator: Communicator,
                         progress: ProgressLine? = nil) throws -> Double {
        let labels = try checkedLabels(of: dataset)
        let batches = try EvaluationBatches(dataset: dataset, globalBatch: batch, rank: communicator.rank, ranks: communicator.size)
        let perRank = (batch + communicator.size - 1) / communicator.size
        let pixels = UnsafeMutablePointer<UInt8>.allocate(capacity: perRank * imageShape.byteCount)
        defer { pixels.deallocate() }
        var counts = [0.0, 0.0]  // right, seen
        while let n = batches.next(raw: pixels) {
            progress?.advance(by: batch)
            guard n > 0 else { continue }
            let indices = batches.shard(batch: batches.batch - 1)
            let logits = evaluate(scaledPixels(pixels, shape: [n, imageShape.channels, imageShape.height, imageShape.width])).logits
            for (row, index) in indices.enumerated() where mostLikelyClass(logits, row: row) == labels[index] {
                counts[0] += 1
            }
            counts[1] += Double(n)
        }
        progress?.finish()
        counts.withUnsafeMutableBufferPointer { communicator.allreduceSum($0) }
        return counts[0] / counts[1]
    }

    /// The dataset's labels, each a class of this network; or an error naming the dataset file.
    private func checkedLabels(of dataset: ImageDataset) throws -> [Int] {
        let source = (dataset as? IdxDataset)?.imagePath ?? "\(type(of: dataset))"
        guard let labels = dataset.labels else {
            throw DataError(file: source, "carries no labels, which the classifier needs (fashion-mnist, mnist and cifar10 do)")
        }
        guard dataset.shape == imageShape else {
            throw DataError(file: source, "has images of \(dataset.shape), but the classifier was made for \(imageShape)")
        }
        if let bad = labels.first(where: { !(0..<classCount).contains($0) }) {
            throw DataError(file: source, "has the label \(bad), outside the classifier's classes 0..<\(classCount)")
        }
        return labels
    }
}

/// The summed cross-entropy of `logits` (N, classes) against `labels`: sum of
/// logsumexp(logits) - logit[label], which is -log softmax[label] without overflow.
func crossEntropy(_ logits: Tensor, labels: [Int]) -> Tensor {
    let classes = logits.shape[1]
    let oneHot = Tensor(shape: logits.shape, repeating: 0)
    for (row, label) in labels.enumerated() { oneHot.data[row * classes + label] = 1 }
    return (logsumexp(logits, axis: 1) - (logits * oneHot).sum(alongAxes: [1], keepingDims: true)).sum()
}

/// The index of the largest logit of row `row` of (N, classes).
func mostLikelyClass(_ logits: Tensor, row: Int) -> Int {
    let classes = logits.shape[1]
    let values = UnsafeBufferPointer(start: logits.data + row * classes, count: classes)
    return values.indices.max { values[$0] < values[$1] }!
}

/// uint8 pixels (count of `shape`) as floats / 255, as torchvision's ToTensor gives them.
func scaledPixels(_ pixels: UnsafePointer<UInt8>, shape: [Int]) -> Tensor {
    let out = Tensor(uninitialized: shape)
    for i in 0..<out.count { out.data[i] = Float(pixels[i]) / 255 }
    return out
}
