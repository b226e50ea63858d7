// Batch normalisation's loops, fused per channel: the statistics and the normalised output in
// three passes over the activation and the closed-form backward pass in two, where the ops
// they replace took seven and nine (`bench --ops` on config a: Real NVP's fifteen batch norms
// spent 0.34 s of a 9.7 s step in their backward pass alone). The arithmetic is the ops',
// operation for operation, and each plane is summed as `sum` sums it (`laneSum`, planes added
// over the batch in Double), so the results are the composite's. Channels are shared among the
// engine's threads; each channel's sums stay on one thread, in one order, so they do not
// depend on the thread count.

/// An (N, C, H, W) tensor as N x C planes of H x W values.
struct ChannelPlanes {
    let batch: Int, channels: Int, plane: Int

    init(_ shape: [Int]) {
        precondition(shape.count == 4, "batch normalisation needs an (N,C,H,W) tensor, got shape \(shape).")
        (batch, channels, plane) = (shape[0], shape[1], shape[2] * shape[3])
    }

    /// Runs `body` for every channel, on the engine's threads when the tensor is large enough.
    @inline(__always)
    func forEachChannel(_ body: (Int) -> Void) {
        forEachBlock(channels, size: batch * plane, body)
    }

    /// The sum over channel c's values, the values at flat indices i..<i+8 given by `eight(i)`
    /// and one at i by `one(i)`.
    @inline(__always)
    func sum(channel c: Int, _ eight: (Int) -> SIMD8<Float>, _ one: (Int) -> Float) -> Float {
        var total = 0.0
        for n in 0..<batch {
            let start = (n * channels + c) * plane
            total += Double(laneSum(plane, eight: { eight(start + $0) }, one: { one(start + $0) }))
        }
        return Float(total)
    }

    /// Calls `body(i)` for every flat index of channel c.
    @inline(__always)
    func forEachIndex(channel c: Int, _ body: (Int) -> Void) {
        for n in 0..<batch {
            let start = (n * channels + c) * plane
            for i in start..<start + plane { body(i) }
        }
    }
}

/// (1, C, 1, 1) values summed over every rank, then divided by `count` as `Tensor / Float` divides.
private func channelValues(_ channels: Int, over count: Float, acrossRanks sum: CrossRankSum, _ value: (Int) -> Float) -> Tensor {
    let out = Tensor(uninitialized: [1, channels, 1, 1])
    for c in 0..<channels { out.data[c] = value(c) }
    sum(UnsafeMutableBufferPointer(start: out.data, count: channels))
    for c in 0..<channels { out.data[c] *= 1 / count }
    return out
}

/// Channel c's normalisation, (x - mean) * scale + shift with scale = gamma / sqrt(variance +
/// epsilon): the forward pass's output, which the backward pass recomputes (for ReLU's sign)
/// from the same arithmetic, so to the same bits.
private struct ChannelNormalisation {
    let mean: Float, scale: Float, shift: Float

    init(_ c: Int, mean: Tensor, variance: Tensor, gamma: Tensor, beta: Tensor, epsilon: Float) {
        (self.mean, scale, shift) = (mean.data[c], gamma.data[c] / (variance.data[c] + epsilon).squareRoot(), beta.data[c])
    }

    @inline(__always) func callAsFunction(_ x: Float) -> Float { (x - mean) * scale + shift }

    @inline(__always) func callAsFunction(_ x: SIMD8<Float>) -> SIMD8<Float> {
        (x - SIMD8(repeating: mean)) * SIMD8(repeating: scale) + SIMD8(repeating: shift)
    }
}

/// `batchStatistics` and `batchNormalized` at once, as constants: the global batch's mean and
/// variance per channel and gamma (x - mean) / sqrt(variance + epsilon) + beta, and with `relu`
/// the ReLU of that, in the same pass.
func batchNormForward(_ x: Tensor, gamma: Tensor, beta: Tensor, epsilon: Float, relu: Bool, acrossRanks sum: CrossRankSum)
    -> (output: Tensor, mean: Tensor, variance: Tensor, count: Int) {
    let planes = ChannelPlanes(x.shape)
    var count = [Float(x.count / planes.channels)]
    count.withUnsafeMutableBufferPointer { sum($0) }
    let px = x.data
    var sums = [Float](repeating: 0, count: planes.channels)
    sums.withUnsafeMutableBufferPointer { s in planes.forEachChannel { c in s[c] = planes.sum(channel: c, { eight(px, $0) }, { px[$0] }) } }
    let mean = channelValues(planes.channels, over: count[0], acrossRanks: sum) { sums[$0] }
    sums.withUnsafeMutableBufferPointer { s in
        planes.forEachChannel { c in
            let m = mean.data[c]
            s[c] = planes.sum(channel: c, { let d = eight(px, $0) - SIMD8(repeating: m); return d * d }, { let d = px[$0] - m; return d * d })
        }
    }
    let variance = channelValues(planes.channels, over: count[0], acrossRanks: sum) { sums[$0] }
    let output = batchNormOutput(x, mean: mean, variance: variance, gamma: gamma, beta: beta, epsilon: epsilon, relu: relu)
    return (output, mean, variance, Int(count[0]))
}

/// `batchNormalized` with the given statistics, and with `relu` the ReLU of it, in one pass.
func batchNormOutput(_ x: Tensor, mean: Tensor, variance: Tensor, gamma: Tensor, beta: Tensor, epsilon: Float, relu: Bool) -> Tensor {
    let planes = ChannelPlanes(x.shape)
    let (px, output) = (x.data, Tensor(uninitialized: x.shape))
    let po = output.data
    let activation = Elementwise.LeakyRelu(slope: relu ? 0 : 1)
    planes.forEachChannel { c in
        let normalised = ChannelNormalisation(c, mean: mean, variance: variance, gamma: gamma, beta: beta, epsilon: epsilon)
        planes.forEachIndex(channel: c) { po[$0] = activation(normalised(px[$0])) }
    }
    return output
}

/// The gradient that reaches batch normalisation's output in channel c: g, or with ReLU after it
/// (slope 0) ReLU's backward pass of g, zero where the output, recomputed from x, was not positive;
/// so the graph need not keep the output.
private struct ChannelGradient {
    let x: UnsafePointer<Float>, g: UnsafePointer<Float>
    let normalised: ChannelNormalisation, slope: Float

    @inline(__always) func eight(_ i: Int) -> SIMD8<Float> {
        let (g, y) = (CQF.eight(self.g, i), normalised(CQF.eight(x, i)))
        return g.replacing(with: g * slope, where: .!(y .> 0))
    }

    @inline(__always) func one(_ i: Int) -> Float { normalised(x[i]) > 0 ? g[i] : slope * g[i] }
}

/// The closed-form backward pass of batch normalisation, from the output's gradient g (through
/// ReLU's backward pass first when the forward pass applied it): dx (when `needsInput`), and
/// gamma's and beta's gradients (when `needsParameters`, and always with batch statistics, whose
/// dx uses them summed over every rank), this rank's sums of g x̂ and of g per channel (x̂ the
/// normalised input).
func batchNormBackward(_ x: Tensor, _ g: Tensor, mean: Tensor, variance: Tensor, gamma: Tensor, beta: Tensor, epsilon: Float,
                       statistics: NormalisationStatistics, relu: Bool, needsInput: Bool, needsParameters: Bool)
    -> (dx: Tensor?, gamma: Tensor?, beta: Tensor?) {
    let planes = ChannelPlanes(x.shape)
    let px = x.data
    let inverseStd = (0..<planes.channels).map { 1 / (variance.data[$0] + epsilon).squareRoot() }
    let gradients = (0..<planes.channels).map { c in
        ChannelGradient(x: px, g: g.data, normalised: ChannelNormalisation(c, mean: mean, variance: variance, gamma: gamma, beta: beta, epsilon: epsilon),
                        slope: relu ? 0 : 1)
    }
    var (localSum, localProducts): (Tensor?, Tensor?) = (nil, nil)
    if needsParameters || statistics.dependOnInput {
        let (sums, products) = (Tensor(uninitialized: mean.shape), Tensor(uninitialized: mean.shape))
        planes.forEachChannel { c in
            let (m, s, g) = (mean.data[c], inverseStd[c], gradients[c])
            sums.data[c] = planes.sum(channel: c, g.eight, g.one)
            products.data[c] = planes.sum(channel: c, { g.eight($0) * ((eight(px, $0) - SIMD8(repeating: m)) * SIMD8(repeating: s)) },
                                          { g.one($0) * ((px[$0] - m) * s) })
        }
        (localSum, localProducts) = (sums, products)
    }
    guard needsInput else { return (nil, localProducts, localSum) }
    let dx = Tensor(uninitialized: x.shape)
    let pd = dx.data
    switch statistics {
    case .batch(let count, let sum):
        let total = channelValues(planes.channels, over: Float(count), acrossRanks: sum) { localSum!.data[$0] }
        let totalProducts = channelValues(planes.channels, over: Float(count), acrossRanks: sum) { localProducts!.data[$0] }
        planes.forEachChannel { c in
            let (m, s, scale, g) = (mean.data[c], inverseStd[c], gamma.data[c] * inverseStd[c], gradients[c])
            let (meanGradient, meanProduct) = (total.data[c], totalProducts.data[c])
            planes.forEachIndex(channel: c) { pd[$0] = scale * ((g.one($0) - meanGradient) - ((px[$0] - m) * s) * meanProduct) }
        }
    case .given:
        planes.forEachChannel { c in
            let g = gradients[c]
            let scale = g.normalised.scale
            planes.forEachIndex(channel: c) { pd[$0] = g.one($0) * scale }
        }
    }
    return (dx, localProducts, localSum)
}
