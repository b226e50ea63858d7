// The whole model of MODEL.md: Real NVP f (cqf, mle), the VAE's encoder and decoder, and the
// discriminator (gan, cq, cqf), with the losses of section 5. Each loss is returned as this
// rank's share of the global-batch loss (its images' terms divided by the global batch), so
// that summing gradients over ranks gives exactly the gradient of the global loss.
import Foundation

/// The per-image terms of the coverage loss, each (N), nats.
public struct CoverageTerms {
    /// -(log N(f(y); mean, sigma) - KL + logdet f + logdet logit): the negative ELBO of x.
    public let nll: Tensor
    public let logLikelihood: Tensor
    public let kl: Tensor
    public let flowLogDet: Tensor
    public let logitLogDet: Tensor
    /// Per stage (bottom first), the single-sample KL map (N, z, h, w).
    let klMaps: [Tensor]
}

public final class CQFModel {
    public let config: Config
    public let flow: RealNVP?
    public let encoder: Encoder?
    public let decoder: Decoder
    public let discriminator: Discriminator?

    /// The networks, made from the config's seed in a fixed order (rank 0 and a single process agree).
    public init(config: Config) {
        let initializer = ParameterInitializer(seed: config.seed)
        let shape = VAEShape(config)
        self.config = config
        flow = config.objective.usesFlow ? RealNVP(channels: config.channels, config: config.nvp, initializer: initializer) : nil
        encoder = config.objective.usesCoverage ? Encoder(shape, initializer: initializer) : nil
        decoder = Decoder(shape, initializer: initializer)
        discriminator = config.objective.usesQuality
            ? Discriminator(kind: config.disc, channels: config.channels, imageSize: config.image_size, large: config.large_d,
                            width: config.disc_width, initializer: initializer)
            : nil
    }

    /// The generator side (trained by L_C + lambda_Q L_Q), by checkpoint name.
    public var generatorNetworks: [(name: String, parameters: ParameterSet)] {
        [("f", flow?.parameters), ("encoder", encoder?.parameters), ("decoder", decoder.parameters)]
            .compactMap { name, set in set.map { (name, $0) } }
    }

    /// Every network, by checkpoint name.
    public var networks: [(name: String, parameters: ParameterSet)] {
        generatorNetworks + (discriminator.map { [("discriminator", $0.parameters)] } ?? [])
    }

    // MARK: coverage

    /// The coverage terms of dequantised images x (N, C, H, W) in [0, 1].
    public func coverageTerms(_ x: Tensor, noise: StepNoise, flowPass: FlowPass) -> CoverageTerms {
        coverageTerms(x, latents: noise.posteriorLatents(), flowPass: flowPass)
    }

    func coverageTerms(_ x: Tensor, latents: LatentNoise, flowPass: FlowPass) -> CoverageTerms {
        guard let encoder else { preconditionFailure("objective \(config.objective) has no coverage loss") }
        let (y, logitLogDet) = logitTransform(x, alpha: config.alpha)
        let (v, flowLogDet) = flow.map { $0.forward(y, flowPass) } ?? (y, Tensor(shape: [x.shape[0]], repeating: 0))
        let (mean, klMaps) = decoder(batch: x.shape[0], posterior: encoder(v), noise: latents)
        let logSigma = decoder.logSigma.tensor!
        let r = (v - mean) * exp(-logSigma)
        let logLikelihood = (-0.5 * square(r) - logSigma - Float(0.5 * log(2 * Double.pi))).sum(alongAxes: [1, 2, 3])
        let kl = klMaps.map { $0.sum(alongAxes: [1, 2, 3]) }.reduce(Tensor(shape: [x.shape[0]], repeating: 0), +)
        let nll = -(logLikelihood - kl + flowLogDet + logitLogDet)
        return CoverageTerms(nll: nll, logLikelihood: logLikelihood, kl: kl, flowLogDet: flowLogDet,
                             logitLogDet: logitLogDet, klMaps: klMaps)
    }

    /// This rank's share of L_C. With free bits, the KL of each stage and channel, averaged over
    /// the global batch, counts as at least `free_bits` nats (training only).
    public func coverageLoss(_ terms: CoverageTerms, globalBatch: Int, ranks: Int, crossRankSum: @escaping CrossRankSum) -> Tensor {
        guard config.free_bits > 0 else { return terms.nll.sum() / Float(globalBatch) }
        let reconstruction = -(terms.logLikelihood + terms.flowLogDet + terms.logitLogDet).sum() / Float(globalBatch)
        let freeBitsKL = terms.klMaps.map { map in
            let perChannel = summedAcrossRanks(map.sum(alongAxes: [0, 2, 3]), crossRankSum) / Float(globalBatch)
            return maximum(perChannel, config.free_bits).sum()
        }.reduce(Tensor(0), +)
        // Every rank holds the whole free-bits term; each contributes 1/P of it.
        return reconstruction + freeBitsKL / Float(ranks)
    }

    // MARK: generation

    /// G(z) = f^-1(decoder mean) with z from the priors, as images in [0, 1] (recorded, so L_Q
    /// reaches the decoder; f's parameters are held constant and its batch norm uses running averages).
    public func generate(batch: Int, noise: StepNoise) -> Tensor {
        generate(batch: batch, latents: noise.priorLatents())
    }

    func generate(batch: Int, latents: LatentNoise) -> Tensor {
        let (mean, _) = decoder(batch: batch, posterior: nil, noise: latents)
        let y = flow.map { $0.inverse(mean, .generation) } ?? mean
        return imagesFromLogits(y, alpha: config.alpha)
    }

    // MARK: adversarial

    /// This rank's share of the discriminator's loss, softplus(-l(real)) + softplus(l(fake)) +
    /// lambda_GP * penalty, and its parts. Images in [0, 1]; D sees 2x - 1. Beside them, for the
    /// training's health (not differentiated): the mean norm of D's input gradient where the
    /// penalty takes it, and the mean and mean square of the logits on the real and on the
    /// generated images, whose spreads say whether D still tells one image from another.
    public func discriminatorLoss(real: Tensor, fake: Tensor, noise: StepNoise, globalBatch: Int)
        -> (total: Tensor, adversarial: Tensor, penalty: Tensor, realLogit: Tensor, fakeLogit: Tensor,
            gradientNorm: Tensor, realLogitMoments: (mean: Double, square: Double), fakeLogitMoments: (mean: Double, square: Double)) {
        guard let discriminator else { preconditionFailure("objective \(config.objective) has no discriminator") }
        let b = Float(globalBatch)
        let (realIn, fakeIn) = (real.detached * 2 - 1, fake.detached * 2 - 1)
        let penalty: Tensor
        let realLogit: Tensor
        let norms: Tensor
        if config.penalty == "r1" {
            // mean ||grad_x l(x_real)||^2
            let leaf = Tensor(shape: realIn.shape, storage: realIn.storage, offset: realIn.offset).requiringGrad()
            realLogit = discriminator(leaf)
            let g = grad(of: realLogit.sum(), wrt: [leaf], createGraph: true)[0]
            penalty = square(g).sum() / b
            norms = Recording.paused { g.euclideanNorm(alongAxes: [1, 2, 3]) }
        } else {
            // WGAN-GP: mean (||grad l(xhat)|| - 1)^2 at xhat = real + a (fake - real), a ~ U[0,1) per image.
            realLogit = discriminator(realIn)
            let a = noise.uniform(stream: PhiloxStream.penaltyInterpolation, shape: [real.shape[0], 1, 1, 1])
            let interpolated = Recording.paused { realIn + a * (fakeIn - realIn) }.requiringGrad()
            let g = grad(of: discriminator(interpolated).sum(), wrt: [interpolated], createGraph: true)[0]
            norms = g.euclideanNorm(alongAxes: [1, 2, 3])
            penalty = square(norms - 1).sum() / b
        }
        let fakeLogit = discriminator(fakeIn)
        let adversarial = (softplus(-realLogit).sum() + softplus(fakeLogit).sum()) / b
        let gradientNorm = Recording.paused { norms.sum() / b }
        // In float64: a spread near 0 must not drown in the rounding of the logits' squares.
        func moments(_ logits: Tensor) -> (mean: Double, square: Double) {
            let values = logits.array.map(Double.init)
            return (values.reduce(0, +) / Double(b), values.reduce(0) { $0 + $1 * $1 } / Double(b))
        }
        return (adversarial + config.lambda_gp * penalty, adversarial, penalty, realLogit.sum() / b, fakeLogit.sum() / b,
                gradientNorm, moments(realLogit), moments(fakeLogit))
    }

    /// This rank's share of L_Q = -mean l(G(z)), for generated images in [0, 1].
    public func qualityLoss(fake: Tensor, globalBatch: Int) -> Tensor {
        guard let discriminator else { preconditionFailure("objective \(config.objective) has no quality loss") }
        return -discriminator(fake * 2 - 1).sum() / Float(globalBatch)
    }

    /// The weight of L_Q in the generator's loss: lambda_Q, or 1 for the plain GAN.
    public var qualityWeight: Float { config.objective == .gan ? 1 : config.lambda_q }
}
