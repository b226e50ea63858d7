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
         down: Bool, residual: Bool, forceSkip: Bool = false) {
        let stride = down ? 2 : 1
        conv1 = Conv2D(p, "\(name).conv1", initializer, in: cin, out: cout, kernel: 3, stride: stride)
        conv2 = residual ? Conv2D(p, "\(name).conv2", initializer, in: cout, out: cout, kernel: 3) : nil
        skip = residual && (cin != cout || down || forceSkip)
            ? Conv2D(p, "\(name).skip", initializer, in: cin, out: cout, kernel: 1, stride: stride) : nil
    }

    func callAsFunction(_ x: Tensor) -> Tensor {
        guard let conv2 else { return elu(conv1(x)) }
        return elu(conv2(elu(conv1(x))) + (skip.map { $0(x) } ?? x))
    }
}

/// The stage widths, latent size and block kind shared by encoder and decoder.
struct VAEShape {
    let channels: Int, imageSize: Int, widths: [Int], z: Int, first: Int, residual: Bool, maxLogScale: Float, iaf: Bool

    init(_ config: Config) {
        channels = config.channels
        imageSize = config.image_size
        widths = config.stageWidths
        z = config.z
        first = config.first
        residual = config.residual
        maxLogScale = config.max_logscale
        iaf = config.iaf
    }

    var topSize: Int { imageSize >> (widths.count - 1) }
    /// The (N, z, h, w) shape of stage i's latents.
    func latentShape(stage i: Int, batch: Int) -> [Int] { [batch, z, imageSize >> i, imageSize >> i] }
}

/// Bottom-up: h = conv3x3(v, first); per stage h = Block(h, W[i], down = i > 0), then the
/// posterior's bottom-up part (qm_i, qls_i) = conv3x3(h, 2z).
public final class Encoder {
    public let parameters = ParameterSet(name: "encoder")
    let first: Conv2D
    let blocks: [Block]
    let heads: [Conv2D]
    let z: Int

    init(_ shape: VAEShape, initializer: ParameterInitializer) {
        let p = parameters
        first = Conv2D(p, "first", initializer, in: shape.channels, out: shape.first, kernel: 3)
        let inputs = [shape.first] + shape.widths.dropLast()
        blocks = shape.widths.indices.map {
            Block(p, "stage\($0).block", initializer, in: inputs[$0], out: shape.widths[$0], down: $0 > 0, residual: shape.residual)
        }
        heads = shape.widths.indices.map { Conv2D(p, "stage\($0).head", initializer, in: shape.widths[$0], out: 2 * shape.z, kernel: 3) }
        z = shape.z
        p.build()
    }

    /// Per stage, bottom (full resolution) first: (qm, qls), each (N, z, h, w).
    func callAsFunction(_ v: Tensor) -> [(mean: Tensor, logScale: Tensor)] {
        var h = first(v)
        return zip(blocks, heads).map { block, head in
            h = block(h)
            let q = head(h)
            return (q.channels(0..<z), q.channels(z..<2 * z))
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
    let priors: [Conv2D]          // (pm, pls, rm, rls) = conv3x3(d, 4z)
    let blocks: [Block]           // d = d + 0.1 * Block(concat(d, z_i)), 1x1 skip
    let ups: [Conv2D?]            // nearest x2, then conv3x3 to the next stage's width
    let flows: [IAFStep?]         // the optional IAF step on each stage's posterior sample
    let output: Conv2D            // mean = conv3x3(d, C)
    let logSigma: Parameter       // one learned scalar

    init(_ shape: VAEShape, initializer: ParameterInitializer) {
        let (p, w) = (parameters, shape.widths)
        self.shape = shape
        start = p.declare("start", shape: [1, w.last!, shape.topSize, shape.topSize], values: Array(repeating: 0, count: w.last! * shape.topSize * shape.topSize))
        priors = w.indices.map { Conv2D(p, "stage\($0).prior", initializer, in: w[$0], out: 4 * shape.z, kernel: 3) }
        blocks = w.indices.map {
            Block(p, "stage\($0).block", initializer, in: w[$0] + shape.z, out: w[$0], down: false, residual: shape.residual, forceSkip: true)
        }
        ups = w.indices.map { $0 == 0 ? nil : Conv2D(p, "stage\($0).up", initializer, in: w[$0], out: w[$0 - 1], kernel: 3) }
        flows = w.indices.map { shape.iaf ? IAFStep(p, "stage\($0).iaf", initializer, z: shape.z, width: w[$0]) : nil }
        output = Conv2D(p, "output", initializer, in: w[0], out: shape.channels, kernel: 3)
        logSigma = p.declare("logsigma", shape: [], values: [0])
        p.build()
    }

    /// ls -> M tanh(ls / M): keeps scales finite under the quality loss (MODEL.md).
    private func bounded(_ logScale: Tensor) -> Tensor {
        let m = shape.maxLogScale
        return tanh(logScale / m) * m
    }

    /// The decoder's mean (N, C, H, W) and, given the encoder's outputs, the single-sample KL
    /// map of each stage (N, z, h, w), bottom stage first. Without them it samples the priors.
    func callAsFunction(batch: Int, posterior: [(mean: Tensor, logScale: Tensor)]?, noise: LatentNoise) -> (mean: Tensor, kl: [Tensor]) {
        var d = start.tensor.broadcast(to: [batch] + start.shape.dropFirst())
        var kl: [Tensor?] = Array(repeating: nil, count: blocks.count)
        let (z, halfLog2Pi) = (shape.z, Float(0.5 * log(2 * Double.pi)))
        for i in blocks.indices.reversed() {
            let p = priors[i](d)
            let (pm, pls) = (p.channels(0..<z), bounded(p.channels(z..<2 * z)))
            let eps = noise(i, shape.latentShape(stage: i, batch: batch))
            let sample: Tensor
            if let q = posterior?[i] {
                let mean = pm + q.mean + p.channels(2 * z..<3 * z)
                let ls = bounded(pls + q.logScale + p.channels(3 * z..<4 * z))
                var logQ = -0.5 * square(eps) - ls - halfLog2Pi
                if let flow = flows[i] {
                    let (transformed, logScale) = flow(mean + exp(ls) * eps, context: d)
                    (sample, logQ) = (transformed, logQ + logScale)
                } else {
                    sample = mean + exp(ls) * eps
                }
                let standardised = (sample - pm) * exp(-pls)
                let logP = -0.5 * square(standardised) - pls - halfLog2Pi
                kl[i] = logQ - logP
            } else {
                sample = pm + exp(pls) * eps
            }
            d = d + 0.1 * blocks[i](concatChannels([d, sample]))
            if let up = ups[i] { d = up(upsample2x(d)) }
        }
        return (output(d), posterior == nil ? [] : kl.map { $0! })
    }
}
