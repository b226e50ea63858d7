// Batch normalisation's fused loops for activations in oneDNN's nChw16c layout (Real NVP's
// coupling networks keep theirs in it between convolutions; `ActivationLayout`), seen as
// (N, C/16, H*W, 16) with gamma, beta and the statistics (1, C/16, 1, 16): the same passes
// as BatchNormLoops.swift, each over a block's 16 channels at once. A pass's sums are taken
// per (image, block) in parallel, then over the images in Double in one order, so the bits do
// not depend on the thread count; they round differently from the composite's sums, to within
// float32 rounding.

/// An (N, C/16, P, 16) tensor as rows of P x 16 values, one per image and block of channels.
struct ChannelBlocks {
    let batch: Int, blocks: Int, plane: Int

    init(_ shape: [Int]) {
        precondition(shape.count == 4 && shape[3] == ActivationLayout.block,
                     "blocked batch normalisation needs an (N, C/16, H*W, 16) tensor, got shape \(shape).")
        (batch, blocks, plane) = (shape[0], shape[1], shape[2])
    }

    var rows: Int { batch * blocks }
    var row: Int { plane * 16 }

    /// The sum per channel of `value(block, p)`, p the offset of a pixel's 16 values: per row in
    /// four interleaved accumulators, then over the images in Double. One SIMD16 per block.
    @inline(__always)
    func sums(_ value: (Int, Int) -> SIMD16<Float>) -> [SIMD16<Float>] {
        var partial = [SIMD16<Float>](repeating: .zero, count: rows)
        partial.withUnsafeMutableBufferPointer { partial in
            forEachBlock(rows, size: row) { r in
                var lanes = (SIMD16<Float>.zero, SIMD16<Float>.zero, SIMD16<Float>.zero, SIMD16<Float>.zero)
                let (b, start) = (r % blocks, r * row)
                var i = 0
                while i + 4 <= plane {
                    lanes.0 += value(b, start + i * 16)
                    lanes.1 += value(b, start + (i + 1) * 16)
                    lanes.2 += value(b, start + (i + 2) * 16)
                    lanes.3 += value(b, start + (i + 3) * 16)
                    i += 4
                }
                while i < plane { lanes.0 += value(b, start + i * 16); i += 1 }
                partial[r] = (lanes.0 + lanes.1) + (lanes.2 + lanes.3)
            }
        }
        return (0..<blocks).map { b in
            var total = SIMD16<Double>.zero
            for n in 0..<batch {
                let p = partial[n * blocks + b]
                for l in 0..<16 { total[l] += Double(p[l]) }
            }
            var single = SIMD16<Float>.zero
            for l in 0..<16 { single[l] = Float(total[l]) }
            return single
        }
    }

    /// Calls `body(block, p)` for every pixel offset p, on the engine's threads.
    @inline(__always)
    func forEachPixel(_ body: (Int, Int) -> Void) {
        forEachBlock(rows, size: row) { r in
            let block = r % blocks
            for p in stride(from: r * row, to: (r + 1) * row, by: 16) { body(block, p) }
        }
    }
}

@inline(__always)
private func sixteen(_ p: UnsafePointer<Float>, _ i: Int) -> SIMD16<Float> {
    UnsafeRawPointer(p + i).loadUnaligned(as: SIMD16<Float>.self)
}

@inline(__always)
private func store(_ value: SIMD16<Float>, _ p: UnsafeMutablePointer<Float>, _ i: Int) {
    UnsafeMutableRawPointer(p + i).storeBytes(of: value, as: SIMD16<Float>.self)
}

/// Per-channel sums (one SIMD16 per block) as a (1, C/16, 1, 16) tensor, summed over every rank
/// and divided by `count`.
private func blockValues(_ sums: [SIMD16<Float>], over count: Float, acrossRanks sum: CrossRankSum) -> Tensor {
    let out = Tensor(uninitialized: [1, sums.count, 1, 16])
    for (b, value) in sums.enumerated() { store(value, out.data, b * 16) }
    sum(UnsafeMutableBufferPointer(start: out.data, count: out.count))
    for c in 0..<out.count { out.data[c] *= 1 / count }
    return out
}

/// The 16 values per block of a (1, C/16, 1, 16) tensor.
private func perBlock(_ t: Tensor) -> [SIMD16<Float>] {
    (0..<t.count / 16).map { sixteen(t.data, $0 * 16) }
}

/// Each block's normalisation, (x - mean) * scale + shift with scale = gamma / sqrt(variance +
/// epsilon): the forward pass's output, which the backward pass recomputes (for ReLU's sign)
/// from the same arithmetic, so to the same bits.
private struct BlockNormalisation {
    let mean: [SIMD16<Float>], scale: [SIMD16<Float>], shift: [SIMD16<Float>]

    init(mean: Tensor, variance: Tensor, gamma: Tensor, beta: Tensor, epsilon: Float) {
        self.mean = perBlock(mean)
        scale = zip(perBlock(gamma), perBlock(variance)).map { $0 / ($1 + SIMD16(repeating: epsilon)).squareRoot() }
        shift = perBlock(beta)
    }

    @inline(__always) func callAsFunction(_ x: SIMD16<Float>, block b: Int) -> SIMD16<Float> { (x - mean[b]) * scale[b] + shift[b] }
}

/// `batchNormForward` of an (N, C/16, P, 16) tensor.
func blockedBatchNormForward(_ x: Tensor, gamma: Tensor, beta: Tensor, epsilon: Float, relu: Bool, acrossRanks sum: CrossRankSum)
    -> (output: Tensor, mean: Tensor, variance: Tensor, count: Int) {
    let blocks = ChannelBlocks(x.shape)
    var count = [Float(blocks.batch * blocks.plane)]
    count.withUnsafeMutableBufferPointer { sum($0) }
    let px = x.data
    let mean = blockValues(blocks.sums { sixteen(px, $1) }, over: count[0], acrossRanks: sum)
    let m = perBlock(mean)
    let variance = blockValues(blocks.sums { let d = sixteen(px, $1) - m[$0]; return d * d },
                               over: count[0], acrossRanks: sum)
    let output = blockedBatchNormOutput(x, mean: mean, variance: variance, gamma: gamma, beta: beta, epsilon: epsilon, relu: relu)
    return (output, mean, variance, Int(count[0]))
}

/// `batchNormOutput` of an (N, C/16, P, 16) tensor.
func blockedBatchNormOutput(_ x: Tensor, mean: Tensor, variance: Tensor, gamma: Tensor, beta: Tensor, epsilon: Float, relu: Bool) -> Tensor {
    let blocks = ChannelBlocks(x.shape)
    let normalised = BlockNormalisation(mean: mean, variance: variance, gamma: gamma, beta: beta, epsilon: epsilon)
    let slope: Float = relu ? 0 : 1
    let (px, output) = (x.data, Tensor(uninitialized: x.shape))
    let po = output.data
    blocks.forEachPixel { b, p in
        let y = normalised(sixteen(px, p), block: b)
        store(y.replacing(with: y * slope, where: .!(y .> 0)), po, p)
    }
    return output
}

/// `batchNormBackward` of an (N, C/16, P, 16) tensor.
func blockedBatchNormBackward(_ x: Tensor, _ g: Tensor, mean: Tensor, variance: Tensor, gamma: Tensor, beta: Tensor, epsilon: Float,
                              statistics: NormalisationStatistics, relu: Bool, needsInput: Bool, needsParameters: Bool)
    -> (dx: Tensor?, gamma: Tensor?, beta: Tensor?) {
    let blocks = ChannelBlocks(x.shape)
    let (px, pg) = (x.data, g.data)
    let normalised = BlockNormalisation(mean: mean, variance: variance, gamma: gamma, beta: beta, epsilon: epsilon)
    let slope: Float = relu ? 0 : 1
    let m = normalised.mean
    let inverseStd = perBlock(variance).map { 1 / ($0 + SIMD16(repeating: epsilon)).squareRoot() }
    // The gradient at the output, through ReLU's backward pass with `relu`: zero where the output,
    // recomputed from x, was not positive.
    let gradient = { (b: Int, p: Int) -> SIMD16<Float> in
        let (g, y) = (sixteen(pg, p), normalised(sixteen(px, p), block: b))
        return g.replacing(with: g * slope, where: .!(y .> 0))
    }
    var local: (sum: [SIMD16<Float>], products: [SIMD16<Float>])?
    var (gammaGradient, betaGradient): (Tensor?, Tensor?) = (nil, nil)
    if needsParameters || statistics.dependOnInput {
        let sums = (sum: blocks.sums(gradient), products: blocks.sums { b, p in gradient(b, p) * ((sixteen(px, p) - m[b]) * inverseStd[b]) })
        let noRanks: CrossRankSum = { _ in }
        (gammaGradient, betaGradient) = (blockValues(sums.products, over: 1, acrossRanks: noRanks),
                                         blockValues(sums.sum, over: 1, acrossRanks: noRanks))
        local = sums
    }
    guard needsInput else { return (nil, gammaGradient, betaGradient) }
    let dx = Tensor(uninitialized: x.shape)
    let pd = dx.data
    switch statistics {
    case .batch(let count, let sum):
        let meanGradient = perBlock(blockValues(local!.sum, over: Float(count), acrossRanks: sum))
        let meanProduct = perBlock(blockValues(local!.products, over: Float(count), acrossRanks: sum))
        let scale = zip(perBlock(gamma), inverseStd).map { $0 * $1 }
        blocks.forEachPixel { b, p in
            store(scale[b] * ((gradient(b, p) - meanGradient[b]) - ((sixteen(px, p) - m[b]) * inverseStd[b]) * meanProduct[b]), pd, p)
        }
    case .given:
        blocks.forEachPixel { b, p in store(gradient(b, p) * normalised.scale[b], pd, p) }
    }
    return (dx, gammaGradient, betaGradient)
}
