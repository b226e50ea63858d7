// The invertible map f: y -> v of MODEL.md section 2 (Real NVP, Dinh et al. 2017): affine
// couplings with checkerboard and channel masks over one to four scales. v keeps the shape
// of the image: the halves factored out at each scale are put back.

/// The coupling's network: conv3x3 (C -> F), blocks x ResBlock(F), BN, ReLU, conv3x3 (F -> 2C).
/// Its convolutions stay float32 under `precision=bf16`, so that f^-1 undoes f (`ConvGeometry.float32Only`).
/// Its hidden activations stay in oneDNN's nChw16c layout from the first convolution to the last
/// when F is a multiple of 16: batch norm, ReLU and the residual sums run on them as they are,
/// and the convolutions between skip their reorders.
final class CouplingNetwork {
    let input: Conv2D
    let blocks: [(BatchNormReLU, Conv2D, BatchNormReLU, Conv2D)]
    let norm: BatchNormReLU
    let output: Conv2D

    init(_ p: ParameterSet, _ name: String, _ initializer: ParameterInitializer, channels: Int, config: NVPConfig) {
        let f = config.filters
        func bn(_ suffix: String) -> BatchNormReLU {
            BatchNormReLU(p, "\(name).\(suffix)", channels: f, epsilon: config.bn_eps, momentum: config.bn_momentum)
        }
        func conv(_ suffix: String, in inChannels: Int, out outChannels: Int, zeroInitialised: Bool = false) -> Conv2D {
            Conv2D(p, "\(name).\(suffix)", initializer, in: inChannels, out: outChannels, kernel: 3, weightNorm: true,
                   zeroInitialised: zeroInitialised, float32Only: true)
        }
        input = conv("input", in: channels, out: f)
        blocks = (0..<config.blocks).map { i in
            (bn("block\(i).bn1"), conv("block\(i).conv1", in: f, out: f), bn("block\(i).bn2"), conv("block\(i).conv2", in: f, out: f))
        }
        norm = bn("bn")
        // Zero start: every coupling begins as the identity.
        output = conv("output", in: f, out: 2 * channels, zeroInitialised: true)
    }

    func callAsFunction(_ x: Tensor, _ pass: FlowPass) -> Tensor {
        var h = input(x, frozen: pass.frozen, feedsConvolution: true)
        for (bn1, conv1, bn2, conv2) in blocks {
            let r = conv1(bn1(h, pass), frozen: pass.frozen, feedsConvolution: true)
            h = h + conv2(bn2(r, pass), frozen: pass.frozen, feedsConvolution: true)
        }
        return output(norm(h, pass), frozen: pass.frozen)
    }
}

/// v = b*y + (1-b) * (y * exp(ls) + t), ls = scale * tanh(raw_ls), (raw_ls, t) = NN(b*y).
final class Coupling {
    enum Mask { case checkerboard(parity: Int), channels(parity: Int) }
    let mask: Mask
    let network: CouplingNetwork
    let scale: Parameter

    init(_ p: ParameterSet, _ name: String, _ initializer: ParameterInitializer, channels: Int, mask: Mask, config: NVPConfig) {
        self.mask = mask
        network = CouplingNetwork(p, "\(name).nn", initializer, channels: channels, config: config)
        scale = p.declare("\(name).scale", shape: [channels], values: Array(repeating: 1, count: channels))
    }

    /// b: 1 where values pass unchanged. Checkerboard parity 0 keeps even (i + j); channel parity
    /// 0 keeps the first half of the channels.
    func maskTensor(for shape: [Int]) -> Tensor {
        let (c, h, w) = (shape[1], shape[2], shape[3])
        switch mask {
        case .checkerboard(let parity):
            return Tensor(shape: [1, 1, h, w], (0..<h * w).map { Float(($0 / w + $0 % w) % 2 == parity ? 1 : 0) })
        case .channels(let parity):
            return Tensor(shape: [1, c, 1, 1], (0..<c).map { Float(($0 < c / 2) == (parity == 0) ? 1 : 0) })
        }
    }

    private func shiftAndLogScale(_ kept: Tensor, _ pass: FlowPass) -> (logScale: Tensor, shift: Tensor) {
        let out = network(kept, pass)
        let c = kept.shape[1]
        let s = pass.frozen ? scale.tensor.detached : scale.tensor!
        return (s.reshaped(to: [1, c, 1, 1]) * tanh(out.channels(0..<c)), out.channels(c..<2 * c))
    }

    /// (v, per-image log-det (N)).
    func forward(_ y: Tensor, _ pass: FlowPass) -> (Tensor, Tensor) {
        let b = maskTensor(for: y.shape)
        let (ls, t) = shiftAndLogScale(b * y, pass)
        let free = 1 - b
        let v = b * y + free * (y * exp(ls) + t)
        return (v, (free * ls).sum(alongAxes: [1, 2, 3]))
    }

    func inverse(_ v: Tensor, _ pass: FlowPass) -> Tensor {
        let b = maskTensor(for: v.shape)
        let (ls, t) = shiftAndLogScale(b * v, pass)
        return b * v + (1 - b) * (v - t) * exp(-ls)
    }
}

public final class RealNVP {
    public let parameters = ParameterSet(name: "f")
    /// Per scale: its checkerboard couplings, then (all scales but the last) its channel couplings.
    let checkerboard: [[Coupling]]
    let channelwise: [[Coupling]]

    public init(channels: Int, config: NVPConfig, initializer: ParameterInitializer) {
        let parameters = self.parameters
        var (c, checks, chans) = (channels, [[Coupling]](), [[Coupling]]())
        for s in 0..<config.scales {
            let last = s == config.scales - 1
            let n = last && config.scales > 1 ? 4 : 3
            checks.append((0..<n).map {
                Coupling(parameters, "scale\(s).checker\($0)", initializer, channels: c, mask: .checkerboard(parity: $0 % 2), config: config)
            })
            if !last {
                chans.append((0..<3).map {
                    Coupling(parameters, "scale\(s).channel\($0)", initializer, channels: 4 * c, mask: .channels(parity: $0 % 2), config: config)
                })
                c *= 2
            }
        }
        checkerboard = checks
        channelwise = chans
        parameters.build()
    }

    /// v = f(y) and log|det df/dy| per image.
    public func forward(_ y: Tensor, _ pass: FlowPass) -> (v: Tensor, logDet: Tensor) {
        forward(y, scale: 0, pass)
    }

    private func forward(_ y: Tensor, scale s: Int, _ pass: FlowPass) -> (v: Tensor, logDet: Tensor) {
        var (x, logDet) = (y, Tensor(shape: [y.shape[0]], repeating: 0))
        for coupling in checkerboard[s] {
            let (out, ld) = coupling.forward(x, pass)
            (x, logDet) = (out, logDet + ld)
        }
        guard s < channelwise.count else { return (x, logDet) }
        x = squeeze2x2(x)
        for coupling in channelwise[s] {
            let (out, ld) = coupling.forward(x, pass)
            (x, logDet) = (out, logDet + ld)
        }
        let half = x.shape[1] / 2
        let (inner, innerLogDet) = forward(x.channels(0..<half), scale: s + 1, pass)
        return (unsqueeze2x2(concatChannels([inner, x.channels(half..<2 * half)])), logDet + innerLogDet)
    }

    /// y = f^-1(v).
    public func inverse(_ v: Tensor, _ pass: FlowPass) -> Tensor { inverse(v, scale: 0, pass) }

    private func inverse(_ v: Tensor, scale s: Int, _ pass: FlowPass) -> Tensor {
        var y = v
        if s < channelwise.count {
            var x = squeeze2x2(v)
            let half = x.shape[1] / 2
            x = concatChannels([inverse(x.channels(0..<half), scale: s + 1, pass), x.channels(half..<2 * half)])
            for coupling in channelwise[s].reversed() { x = coupling.inverse(x, pass) }
            y = unsqueeze2x2(x)
        }
        for coupling in checkerboard[s].reversed() { y = coupling.inverse(y, pass) }
        return y
    }
}
