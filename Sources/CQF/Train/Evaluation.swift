// Held-out bits per dimension (MODEL.md section 7): the single-sample ELBO bound and the
// importance-weighted bound with K samples, -ln K + logsumexp_k(log p(v|z_k) - KL_k), with the
// flow's batch norm on its running averages and dequantisation noise fixed by a seed.
import Foundation

/// The first `limit` images of a dataset.
struct DatasetPrefix: ImageDataset {
    let base: ImageDataset
    let count: Int
    var shape: ImageShape { base.shape }
    func copyImage(_ index: Int, into destination: UnsafeMutablePointer<UInt8>) { base.copyImage(index, into: destination) }
}

public struct EvaluationResult: Codable {
    public let bpd: Double
    public let bpd_iw: Double
    public let images: Int
}

extension PhiloxStream {
    /// Latents of evaluation sample k: its own stream per k, counter (stage, image index).
    static let evaluationLatents: UInt64 = 96
}

extension CQFModel {
    /// BPD of `dataset` (or its first `limit` images) over every rank's share, with `samples`
    /// importance samples. Identical on every rank. `progress` counts the images of every rank.
    public func evaluate(_ dataset: ImageDataset, samples: Int, limit: Int?, batch: Int,
                         communicator: Communicator, progress: ProgressLine? = nil) throws -> EvaluationResult {
        guard config.objective.usesCoverage else {
            throw ConfigError("objective \(config.objective.rawValue) has no likelihood to evaluate (no encoder)")
        }
        let data = limit.map { DatasetPrefix(base: dataset, count: min($0, dataset.count)) as ImageDataset } ?? dataset
        let batches = try EvaluationBatches(dataset: data, globalBatch: batch, rank: communicator.rank, ranks: communicator.size)
        let perRank = (batch + communicator.size - 1) / communicator.size
        let buffer = Tensor(uninitialized: [perRank, config.channels, config.image_size, config.image_size])
        var sums = [0.0, 0.0, 0.0]  // ELBO nll, IW nll, images
        while let n = batches.next(into: buffer.data) {
            progress?.advance(by: batch)
            guard n > 0 else { continue }
            let first = batches.shard(batch: batches.batch - 1).lowerBound
            let x = Tensor(shape: [n] + buffer.shape.dropFirst(), storage: buffer.storage)
            let (elbo, iw) = Recording.paused { negativeLogLikelihood(x, samples: samples, firstImage: first) }
            sums[0] += elbo
            sums[1] += iw
            sums[2] += Double(n)
        }
        progress?.finish()
        sums.withUnsafeMutableBufferPointer { communicator.allreduceSum($0) }
        let perImage = { (total: Double) in bitsPerDimension(nll: total / sums[2], dimensions: self.config.dimensions) }
        return EvaluationResult(bpd: perImage(sums[0]), bpd_iw: perImage(sums[1]), images: Int(sums[2]))
    }

    /// Summed over the images of x: the NLL from the first sample's ELBO, and from the
    /// importance-weighted bound over `samples` samples.
    func negativeLogLikelihood(_ x: Tensor, samples: Int, firstImage: Int) -> (elbo: Double, importanceWeighted: Double) {
        let weights = (0..<samples).map { k -> (CoverageTerms, Tensor) in
            let noise = StepNoise(seed: 0, step: 0, firstImage: firstImage)
            let latents: LatentNoise = { noise.normal(stream: PhiloxStream.evaluationLatents + UInt64(k * 64 + $0), shape: $1) }
            let terms = coverageTerms(x, latents: latents, flowPass: .evaluation)
            return (terms, (terms.logLikelihood - terms.kl).reshaped(to: [1, x.shape[0]]))
        }
        let first = weights[0].0
        let logWeights = concatRows(weights.map(\.1))
        let bound = logsumexp(logWeights, axis: 0).reshaped(to: [x.shape[0]]) - Float(log(Double(samples)))
        let nll = -(bound + first.flowLogDet + first.logitLogDet)
        return (Double(first.nll.sum().scalar), Double(nll.sum().scalar))
    }
}

/// (1, N) rows stacked into (K, N).
private func concatRows(_ rows: [Tensor]) -> Tensor {
    let n = rows[0].count
    let out = Tensor(uninitialized: [rows.count, n])
    for (k, row) in rows.enumerated() { (out.data + k * n).update(from: row.data, count: n) }
    return out
}
