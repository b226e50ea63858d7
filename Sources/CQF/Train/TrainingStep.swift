// One training step of MODEL.md section 5 on one rank: one discriminator step on detached
// fakes (with the gradient penalty), then one generator-side step on L_C + lambda_Q L_Q with
// the same fakes scored by the updated discriminator. Gradients are summed over ranks; each
// rank then takes the same Adamax step.
//
// Order, chosen so communication hides behind compute: across nodes the discriminator's
// gradients travel while L_C (which does not involve D) is differentiated; L_Q, which needs the
// updated D, comes after. On one node they are summed before L_C instead: through shared memory
// the sum is the cores' own work, which cores busy with L_C cannot hide, and L_C's batch-norm sums
// queued behind its buckets (2 ranks on 2 cores, config b: 25 ms a step in those sums, against 1).

/// The step's losses, averaged over the global batch (identical on every rank).
public struct StepLosses {
    public var coverage = 0.0, quality = 0.0, discriminator = 0.0, penalty = 0.0
    public var realLogit = 0.0, fakeLogit = 0.0, nll = 0.0, kl = 0.0
    /// Networks whose update was skipped because their summed gradient was not finite.
    public var skipped = 0.0
    /// D's input-gradient norm where the penalty takes it, averaged over the batch.
    public var gradientNorm = 0.0
    /// The standard deviations of D's logits over the batch's real images and over its
    /// generated ones: near 0 on the generated images, L_Q gives the generator nothing.
    public var realLogitSpread = 0.0, fakeLogitSpread = 0.0
    /// The KL of each stage of the decoder (bottom first), nats per image.
    public var stageKL: [Double] = []
}

public final class TrainingStep {
    public let model: CQFModel
    public let communicator: Communicator
    public let reducer: GradientReducer
    /// One optimizer per network, by the network's name.
    public let optimizers: [String: Adamax]

    public init(model: CQFModel, communicator: Communicator) {
        self.model = model
        self.communicator = communicator
        reducer = GradientReducer(communicator)
        let c = model.config
        let generatorOptimizers = model.generatorNetworks.map {
            ($0.name, Adamax(count: $0.parameters.count, learningRate: c.lr, beta1: c.beta1, beta2: c.beta2, epsilon: c.eps))
        }
        let discriminatorOptimizer = model.discriminator.map {
            ("discriminator", Adamax(count: $0.parameters.count, learningRate: c.d_lr, beta1: c.d_beta1, beta2: c.d_beta2, epsilon: c.eps))
        }
        optimizers = Dictionary(uniqueKeysWithValues: generatorOptimizers + (discriminatorOptimizer.map { [$0] } ?? []))
    }

    /// Trains on this rank's images x (n, C, H, W), dequantised into [0, 1], the images
    /// `firstImage ..< firstImage + n` of the global batch of step `step`.
    public func run(_ x: Tensor, step: Int, firstImage: Int) -> StepLosses {
        let (config, globalBatch) = (model.config, model.config.batch)
        let noise = StepNoise(seed: config.seed, step: step, firstImage: firstImage)
        // coverage, quality, D, penalty, logits real and fake, nll, kl, D's input-gradient norm,
        // its logits' mean and mean square on the real and on the generated images, then the KL
        // of each stage.
        var losses = [Double](repeating: 0, count: 13)
        var skipped = 0.0
        let generator = model.generatorNetworks.map(\.parameters)
        var fake: Tensor?
        if let discriminator = model.discriminator {
            let generated = model.generate(batch: x.shape[0], noise: noise)
            let d = model.discriminatorLoss(real: x, fake: generated.detached, noise: noise, globalBatch: globalBatch)
            discriminator.parameters.storeGradients(grad(of: d.total, wrt: discriminator.parameters.tensors))
            reducer.start(discriminator.parameters)
            if communicator.ranksShareOneNode { waitForGradients() }
            losses[2...5] = [d.adversarial, d.penalty, d.realLogit, d.fakeLogit].map { Double($0.scalar) }[...]
            losses[8...12] = [Double(d.gradientNorm.scalar), d.realLogitMoments.mean, d.realLogitMoments.square,
                              d.fakeLogitMoments.mean, d.fakeLogitMoments.square][...]
            fake = generated
        }
        var gradients: [Tensor]?
        if config.objective.usesCoverage {
            let terms = model.coverageTerms(x, noise: noise, flowPass: .training(communicator.crossRankSum))
            let coverage = model.coverageLoss(terms, globalBatch: globalBatch, ranks: communicator.size, crossRankSum: communicator.crossRankSum)
            gradients = grad(of: coverage, wrt: generator.flatMap(\.tensors))
            losses[0] = Double(coverage.scalar)
            losses[6] = Double(terms.nll.sum().scalar) / Double(globalBatch)
            losses[7] = Double(terms.kl.sum().scalar) / Double(globalBatch)
            losses += terms.klMaps.map { Double($0.sum().scalar) / Double(globalBatch) }
        }
        if let discriminator = model.discriminator, let fake {
            waitForGradients()
            skipped += applyUpdate(discriminator.parameters, "discriminator") ? 0 : 1
            let quality = model.qualityLoss(fake: fake, globalBatch: globalBatch)
            let qualityGradients = grad(of: model.qualityWeight * quality, wrt: generator.flatMap(\.tensors))
            gradients = gradients.map { zip($0, qualityGradients).map(+) } ?? qualityGradients
            losses[1] = Double(quality.scalar)
        }
        var start = 0
        for set in generator {
            set.storeGradients(Array(gradients![start..<start + set.parameters.count]))
            start += set.parameters.count
            reducer.start(set)
        }
        waitForGradients()
        for (name, set) in model.generatorNetworks { skipped += applyUpdate(set, name) ? 0 : 1 }
        // Each rank holds its share of every loss: the global values are the sums.
        losses.withUnsafeMutableBufferPointer { communicator.allreduceSum($0) }
        let spread = { (mean: Double, square: Double) in max(square - mean * mean, 0).squareRoot() }
        return StepLosses(coverage: losses[0], quality: losses[1], discriminator: losses[2], penalty: losses[3],
                          realLogit: losses[4], fakeLogit: losses[5], nll: losses[6], kl: losses[7], skipped: skipped,
                          gradientNorm: losses[8], realLogitSpread: spread(losses[9], losses[10]),
                          fakeLogitSpread: spread(losses[11], losses[12]), stageKL: Array(losses[13...]))
    }

    /// One Adamax step from the summed gradients, unless they are not finite (then the network
    /// stays as it is on every rank, since the sums are the same everywhere).
    private func applyUpdate(_ set: ParameterSet, _ name: String) -> Bool {
        OpTimes.within("optimizer", before: "step") {
            guard UnsafeBufferPointer(start: set.gradients.pointer, count: set.count).allSatisfy({ $0.isFinite }) else { return false }
            optimizers[name]!.update(set)
            return true
        }
    }

    private func waitForGradients() {
        OpTimes.within("communication (waiting for gradients)", before: "step") { _ = reducer.wait() }
    }
}
