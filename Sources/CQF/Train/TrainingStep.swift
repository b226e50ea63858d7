// One training step of MODEL.md section 5 on one rank: one discriminator step on detached
// fakes (with the gradient penalty), then one generator-side step on L_C + lambda_Q L_Q with
// the same fakes scored by the updated discriminator. Gradients are summed over ranks; each
// rank then takes the same Adamax step.

/// The step's losses, averaged over the global batch (identical on every rank).
public struct StepLosses: Codable {
    public var coverage = 0.0, quality = 0.0, discriminator = 0.0, penalty = 0.0
    public var realLogit = 0.0, fakeLogit = 0.0, nll = 0.0, kl = 0.0
    /// 1 when the generator's gradient was not finite and its update was skipped.
    public var skipped = 0.0
}

public final class TrainingStep {
    public let model: CQFModel
    public let communicator: Communicator
    /// One optimizer per network, by the network's name.
    public let optimizers: [String: Adamax]

    public init(model: CQFModel, communicator: Communicator) {
        self.model = model
        self.communicator = communicator
        let c = model.config
        optimizers = Dictionary(uniqueKeysWithValues: model.networks.map {
            ($0.name, Adamax(count: $0.parameters.count, learningRate: c.lr, beta1: c.beta1, beta2: c.beta2, epsilon: c.eps))
        })
    }

    /// Trains on this rank's images x (n, C, H, W), dequantised into [0, 1], the images
    /// `firstImage ..< firstImage + n` of the global batch of step `step`.
    public func run(_ x: Tensor, step: Int, firstImage: Int) -> StepLosses {
        let (config, globalBatch) = (model.config, model.config.batch)
        let noise = StepNoise(seed: config.seed, step: step, firstImage: firstImage)
        var losses = [Double](repeating: 0, count: 9)
        var fake: Tensor?
        if let discriminator = model.discriminator {
            let generated = model.generate(batch: x.shape[0], noise: noise)
            let d = model.discriminatorLoss(real: x, fake: generated.detached, noise: noise, globalBatch: globalBatch)
            update([("discriminator", discriminator.parameters)], loss: d.total)
            losses[2...5] = [d.adversarial.scalar, d.penalty.scalar, d.realLogit.scalar, d.fakeLogit.scalar].map(Double.init)[...]
            fake = generated
        }
        var loss = Tensor(0)
        if config.objective.usesCoverage {
            let terms = model.coverageTerms(x, noise: noise, flowPass: .training(communicator.crossRankSum))
            let coverage = model.coverageLoss(terms, globalBatch: globalBatch, ranks: communicator.size, crossRankSum: communicator.crossRankSum)
            loss = loss + coverage
            losses[0] = Double(coverage.scalar)
            losses[6] = Double(terms.nll.sum().scalar) / Double(globalBatch)
            losses[7] = Double(terms.kl.sum().scalar) / Double(globalBatch)
        }
        if let fake {
            let quality = model.qualityLoss(fake: fake, globalBatch: globalBatch)
            loss = loss + model.qualityWeight * quality
            losses[1] = Double(quality.scalar)
        }
        // Each rank holds its share of every loss: the global values are the sums.
        losses.withUnsafeMutableBufferPointer { communicator.allreduceSum(UnsafeMutableBufferPointer(rebasing: $0[0..<8])) }
        losses[8] = update(model.generatorNetworks, loss: loss) ? 0 : 1
        return StepLosses(coverage: losses[0], quality: losses[1], discriminator: losses[2], penalty: losses[3],
                          realLogit: losses[4], fakeLogit: losses[5], nll: losses[6], kl: losses[7], skipped: losses[8])
    }

    /// Differentiates `loss` for the parameters of `networks`, sums the gradients over ranks
    /// and takes one Adamax step, unless a gradient is not finite (then no network moves, on
    /// any rank: the summed gradients are the same everywhere). Returns whether it stepped.
    @discardableResult
    private func update(_ networks: [(name: String, parameters: ParameterSet)], loss: Tensor) -> Bool {
        let gradients = grad(of: loss, wrt: networks.flatMap { $0.parameters.tensors })
        var start = 0
        var finite = true
        for (_, set) in networks {
            set.storeGradients(Array(gradients[start..<start + set.parameters.count]))
            start += set.parameters.count
            let buffer = UnsafeMutableBufferPointer(start: set.gradients.pointer, count: set.count)
            communicator.allreduceSum(buffer)
            finite = finite && buffer.allSatisfy { $0.isFinite }
        }
        guard finite else { return false }
        for (name, set) in networks { optimizers[name]!.update(set) }
        return true
    }
}
