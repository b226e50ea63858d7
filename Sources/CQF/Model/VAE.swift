// The hierarchical VAE of MODEL.md section 3 (the ResNet VAE of Kingma et al. 2016 with
// bidirectional inference): a bottom-up encoder q(z|v) and a top-down decoder p(v|z), which
// is also the generator. Stage i runs at H / 2^i pixels with width W[i] and z latent channels.
import Foundation

/// residual: ELU(conv3x3(ELU(conv3x3_s(x))) + skip(x)); basic: ELU(conv3x3_s(x)).
/// The skip is the identity, or a 1x1 conv (same stride) when width or resolution change.
final class Block {
    let conv1: Conv2D
    let conv2: Conv2D?
    let skip: Conv2D?

    init(_ p: ParameterSet, _ name: String, _ initializer: ParameterInitializer, in cin: Int, out cout: Int,
         down: Bool, shape: VAEShape, forceSkip: Bool = false) {
        let (stride, norm, gain) = (down ? 2 : 1, shape.weightNorm, shape.weightGain)
        conv1 = Conv2D(p, "\(name).conv1", initializer, in: cin, out: cout, kernel: 3, stride: stride, weightNorm: norm, weightGain: gain)
        conv2 = shape.residual
            ? Conv2D(p, "\(name).conv2", initializer, in: cout, out: cout, kernel: 3, weightNorm: norm, weightGain: gain) : nil
        skip = shape.residual && (cin != cout || down || forceSkip)
            ? Conv2D(p, "\(name).skip", initializer, in: cin, out: cout, kernel: 1, stride: stride, weightNorm: norm, weightGain: gain)
            : nil
    }

    /// x and the result in `layout` (`VAEShape.layout`).
    func callAsFunction(_ x: Tensor, layout: ActivationLayout) -> Tensor {
        guard let conv2 else { return elu(conv1(x, outputLayout: layout)) }
        return elu(conv2(elu(conv1(x, feedsConvolution: true)), outputLayout: layout) + (skip.map { $0(x, outputLayout: layout) } ?? x))
    }
}

/// The stage widths, latent size, block kind and priors shared by encoder and decoder.
struct VAEShape {
    let channels: Int, imageSize: Int, widths: [Int], z: Int, first: Int, residual: Bool, maxLogScale: Float, iaf: Bool
    /// Whether the model infers latents (every objective but gan).
    let hasEncoder: Bool
    /// The stages whose prior is N(0, I) rather than learned: the top one with `top_prior:
    /// standard`; every one in gan, where no KL term would hold learned priors in place (the
    /// paper's GAN draws from N(0, I)).
    let standardPriors: Set<Int>
    /// How the decoder starts, so that z reaches its output. With an encoder, the encoder makes
    /// the decoder use z: PyTorch's default weights, and each stage adds a tenth of its block,
    /// as the ResNet VAE. gan's generator has only z: under those its samples start uniform grey
    /// (a pixel spread of 1.9 of 255) and the adversarial loss moves them all alike into one
    /// image. It starts with He's weights (bound sqrt(6 / fan_in), which keep the variance
    /// through ELU layers) and adds whole blocks; with either alone its samples still collapsed
    /// within 300 steps, with both they did not (docs/results.md).
    var weightGain: Float { hasEncoder ? 1 : Float(6).squareRoot() }
    var residualScale: Float { hasEncoder ? 0.1 : 1 }

    init(_ config: Config) {
        channels = config.channels
        imageSize = config.image_size
        widths = config.stageWidths
        z = config.z
        first = config.first
        residual = config.residual
        maxLogScale = config.max_logscale
        iaf = config.iaf
        hasEncoder = config.objective.usesCoverage
        standardPriors = !hasEncoder ? Set(widths.indices) : config.top_prior == "standard" ? [widths.count - 1] : []
    }

    /// The VAE's convs are weight-normalised with the IAF step, as the paper's ("only weight
    /// normalization in IAF").
    var weightNorm: Bool { iaf }

    /// The layout of the encoder's and the decoder's activations and latents: nChw16c
    /// where z and every width fill its blocks, so that no convolution reorders its input or
    /// output (the decoder's slices, concatenations and upsampling run on the blocks as they
    /// are); NCHW otherwise, and with the IAF step, whose masked convolutions order channels.
    var layout: ActivationLayout {
        let channels = [first, z] + widths
        return !iaf && channels.allSatisfy({ ActivationLayout.betweenConvolutions(channels: $0) == .nChw16c }) ? .nChw16c : .nchw
    }

    var topSize: Int { imageSize >> (widths.count - 1) }
    /// The (N, z, h, w) shape of stage i's latents.
    func latentShape(stage i: Int, batch: Int) -> [Int] { [batch, z, imageSize >> i, imageSize >> i] }
}

/// The encoder's part of stage i's posterior, each (N, z, h, w), and with the IAF step its
/// bottom-up context c_up (N, W[i], h, w).
struct PosteriorPart {
    let mean: Tensor
    let logScale: Tensor
    let context: Tensor?
}

/// Bottom-up: h = conv3x3(v, first); per stage h = Block(h, W[i], down = i > 0), then the
/// posterior's bottom-up part (qm_i, qls_i[, c_up_i]) = conv3x3(h, 2z [+ W[i]]).
public final class Encoder {
    public let parameters = ParameterSet(name: "encoder")
    let first: Conv2D
    let blocks: [Block]
    let heads: [Conv2D]
    let shape: VAEShape

    init(_ shape: VAEShape, initializer: ParameterInitializer) {
        let (p, w, norm) = (parameters, shape.widths, shape.weightNorm)
        first = Conv2D(p, "first", initializer, in: shape.channels, out: shape.first, kernel: 3, weightNorm: norm)
        let inputs = [shape.first] + w.dropLast()
        blocks = w.indices.map { Block(p, "stage\($0).block", initializer, in: inputs[$0], out: w[$0], down: $0 > 0, shape: shape) }
        heads = w.indices.map {
            Conv2D(p, "stage\($0).head", initializer, in: w[$0], out: 2 * shape.z + (shape.iaf ? w[$0] : 0), kernel: 3, weightNorm: norm)
        }
        self.shape = shape
        p.build()
    }

    /// Per stage, bottom (full resolution) first, in `VAEShape.layout`.
    func callAsFunction(_ v: Tensor) -> [PosteriorPart] {
        let (z, layout) = (shape.z, shape.layout)
        var h = first(v, outputLayout: layout)
        return blocks.indices.map { i in
            h = blocks[i](h, layout: layout)
            let q = heads[i](h, outputLayout: layout)
            let context = shape.iaf ? q.channels(2 * z..<2 * z + shape.widths[i], in: layout) : nil
            return PosteriorPart(mean: q.channels(0..<z, in: layout), logScale: q.channels(z..<2 * z, in: layout), context: context)
        }
    }
}

/// Where latent noise comes from: standard normals of the given shape for stage i.
typealias LatentNoise = (_ stage: Int, _ shape: [Int]) -> Tensor

/// Top-down, from the top stage to the bottom, starting from a learned constant d.
public final class Decoder {
    public let parameters = ParameterSet(name: "decoder")
    let shape: VAEShape
    let start: Parameter          // (1, W[-1], top, top), zeros
    /// conv3x3(d): the prior (pm, pls) unless it is N(0, I), then with an encoder the
    /// posterior's residual (rm, rls) and with IAF the top-down context c_down (W[i] channels);
    /// nil when there is nothing to emit (gan).
    let priors: [Conv2D?]
    let blocks: [Block]           // d = d + residualScale * Block(concat(d, z_i)), 1x1 skip
    let ups: [Conv2D?]            // nearest x2, then conv3x3 to the next stage's width
    let flows: [IAFStep?]         // the optional IAF step on each stage's posterior sample
    let output: Conv2D            // mean = conv3x3(d, C)
    let logSigma: Parameter       // one learned scalar

    init(_ shape: VAEShape, initializer: ParameterInitializer) {
        let (p, w, z, norm) = (parameters, shape.widths, shape.z, shape.weightNorm)
        self.shape = shape
        start = p.declare("start", shape: [1, w.last!, shape.topSize, shape.topSize], values: Array(repeating: 0, count: w.last! * shape.topSize * shape.topSize))
        priors = w.indices.map { i in
            let prior = shape.standardPriors.contains(i) ? 0 : 2 * z
            let posterior = shape.hasEncoder ? 2 * z + (shape.iaf ? w[i] : 0) : 0
            return prior + posterior == 0 ? nil
                : Conv2D(p, "stage\(i).prior", initializer, in: w[i], out: prior + posterior, kernel: 3, weightNorm: norm)
        }
        blocks = w.indices.map {
            Block(p, "stage\($0).block", initializer, in: w[$0] + z, out: w[$0], down: false, shape: shape, forceSkip: true)
        }
        ups = w.indices.map {
            $0 == 0 ? nil
                : Conv2D(p, "stage\($0).up", initializer, in: w[$0], out: w[$0 - 1], kernel: 3, weightNorm: norm, weightGain: shape.weightGain)
        }
        flows = w.indices.map { shape.iaf && shape.hasEncoder ? IAFStep(p, "stage\($0).iaf", initializer, z: z, width: w[$0]) : nil }
        output = Conv2D(p, "output", initializer, in: w[0], out: shape.channels, kernel: 3, weightNorm: norm, weightGain: shape.weightGain)
        logSigma = p.declare("logsigma", shape: [], values: [0])
        p.build()
    }

    /// ls -> M tanh(ls / M): keeps scales finite under the quality loss (MODEL.md).
    private func bounded(_ logScale: Tensor) -> Tensor { softClamp(logScale, bound: shape.maxLogScale) }

    /// The decoder's mean (N, C, H, W) and, given the encoder's outputs (in `VAEShape.layout`),
    /// the single-sample KL map of each stage (N, z, h, w), bottom stage first. Without them it
    /// samples the priors.
    func callAsFunction(batch: Int, posterior: [PosteriorPart]?, noise: LatentNoise) -> (mean: Tensor, kl: [Tensor]) {
        let layout = shape.layout
        var d = start.tensor.broadcast(to: [batch] + start.shape.dropFirst()).inLayout(layout, channels: shape.widths.last!)
        var kl: [Tensor?] = Array(repeating: nil, count: blocks.count)
        let (z, halfLog2Pi) = (shape.z, Float(0.5 * log(2 * Double.pi)))
        for i in blocks.indices.reversed() {
            let emitted = priors[i].map { $0(d, outputLayout: layout) }
            var next = 0
            /// The prior conv's next `count` channels, in the order of `priors`.
            func take(_ count: Int) -> Tensor {
                defer { next += count }
                return emitted!.channels(next..<next + count, in: layout)
            }
            let prior: (mean: Tensor, logScale: Tensor)? = shape.standardPriors.contains(i) ? nil : (take(z), bounded(take(z)))
            let eps = noise(i, shape.latentShape(stage: i, batch: batch)).inLayout(layout, channels: z)
            let sample: Tensor
            if let q = posterior?[i] {
                let mean = (prior.map { $0.mean + q.mean } ?? q.mean) + take(z)
                let ls = bounded((prior.map { $0.logScale + q.logScale } ?? q.logScale) + take(z))
                var logQ = -0.5 * square(eps) - ls - halfLog2Pi
                if let flow = flows[i] {
                    let (transformed, logScale) = flow(mean + exp(ls) * eps, context: q.context! + take(shape.widths[i]))
                    (sample, logQ) = (transformed, logQ + logScale)
                } else {
                    sample = mean + exp(ls) * eps
                }
                let standardised = prior.map { (sample - $0.mean) * exp(-$0.logScale) } ?? sample
                let logP = prior.map { -0.5 * square(standardised) - $0.logScale - halfLog2Pi } ?? -0.5 * square(standardised) - halfLog2Pi
                kl[i] = (logQ - logP).inLayout(.nchw, channels: z)
            } else {
                sample = prior.map { $0.mean + exp($0.logScale) * eps } ?? eps
            }
            d = d + shape.residualScale * blocks[i](concatChannels([d, sample]), layout: layout)
            if let up = ups[i] { d = up(upsample2x(d, layout: layout), outputLayout: layout) }
        }
        return (output(d), posterior == nil ? [] : kl.map { $0! })
    }
}
