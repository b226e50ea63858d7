// Batch normalisation and weight normalisation, composed of differentiable ops so that
// their gradients come for free. Batch statistics pass through `summedAcrossRanks`, the hook
// that makes P ranks compute what one process with the global batch would.

/// Sums a buffer over every rank in place (the MPI allreduce); a world of one leaves it as is.
public typealias CrossRankSum = (UnsafeMutableBufferPointer<Float>) -> Void

/// The elementwise sum of `x` over all ranks. Its gradient is the sum over ranks of the
/// gradients, because every rank's loss depends on the sum.
public func summedAcrossRanks(_ x: Tensor, _ sum: @escaping CrossRankSum) -> Tensor {
    let out = Tensor(uninitialized: x.shape)
    out.data.update(from: x.data, count: x.count)
    sum(UnsafeMutableBufferPointer(start: out.data, count: out.count))
    return record(out, "summedAcrossRanks", [x], uses: [[]]) { c in [summedAcrossRanks(c.gradient, sum)] }
}

/// The batch mean and (biased) variance per channel over the global batch (mean first, then the
/// mean squared deviation), each of `channelShape`, and how many values per channel that batch
/// holds. The input is (N, C, H, W) with statistics (1, C, 1, 1), the default, or in nChw16c seen
/// as (N, C/16, H*W, 16) with statistics (1, C/16, 1, 16).
public func batchStatistics(_ x: Tensor, channelShape: [Int]? = nil, acrossRanks sum: @escaping CrossRankSum)
    -> (mean: Tensor, variance: Tensor, count: Int) {
    let channelShape = channelShape ?? [1, x.shape[1], 1, 1]
    let axes = channelShape.indices.filter { channelShape[$0] == 1 }
    var count = [Float(x.count / channelShape.reduce(1, *))]
    count.withUnsafeMutableBufferPointer { sum($0) }
    let mean = summedAcrossRanks(x.sum(alongAxes: axes, keepingDims: true), sum) / count[0]
    let deviation = x - mean
    let variance = summedAcrossRanks(square(deviation).sum(alongAxes: axes, keepingDims: true), sum) / count[0]
    return (mean, variance, Int(count[0]))
}

/// gamma * (x - mean) / sqrt(variance + eps) + beta, statistics and parameters (1, C, 1, 1).
public func batchNormalized(_ x: Tensor, mean: Tensor, variance: Tensor, gamma: Tensor, beta: Tensor, epsilon: Float) -> Tensor {
    (x - mean) * (gamma / sqrt(variance + epsilon)) + beta
}

/// Where the mean and variance that batch normalisation divides by come from, which decides its
/// backward pass.
enum NormalisationStatistics {
    /// The global batch's, of `count` values per channel: they depend on x, and dx carries their
    /// gradient through sums over every rank.
    case batch(count: Int, acrossRanks: CrossRankSum)
    /// Constants (the running averages): the normalisation is an affine map of x.
    case given

    var dependOnInput: Bool { if case .batch = self { true } else { false } }
}

/// `batchNormalized` with given statistics, constants (the running averages), as one op, with
/// `relu` followed by ReLU in the same pass; shapes as `batchNormalizedWithBatchStatistics`'s.
/// The output and dx are the composite's to the bit. One pass over the activation each way, where
/// the composite takes four forward and two backward, and the graph keeps the input alone, where
/// the composite keeps x - mean and ReLU its output (for generated images through f^-1: fifteen
/// batch norms at 32x32). Under createGraph the backward pass differentiates the composite instead.
public func batchNormalized(_ x: Tensor, mean: Tensor, variance: Tensor, gamma: Tensor, beta: Tensor, epsilon: Float, relu: Bool) -> Tensor {
    precondition(!mean.requiresGrad && !variance.requiresGrad, "batchNormalized(relu:) takes its statistics as constants.")
    let blocked = gamma.shape[3] == ActivationLayout.block
    // Copies: the running averages move in place with every training pass, before this one's backward pass.
    let (mean, variance) = (Tensor(shape: mean.shape, mean.array), Tensor(shape: variance.shape, variance.array))
    let output = (blocked ? blockedBatchNormOutput : batchNormOutput)(x, mean, variance, gamma, beta, epsilon, relu)
    return recordBatchNorm(output, x, gamma: gamma, beta: beta, mean: mean, variance: variance, epsilon: epsilon, relu: relu,
                           statistics: .given)
}

/// Batch normalisation with the global batch's statistics as one op, gamma and beta (1, C, 1, 1)
/// (or (1, C/16, 1, 16) for an input in nChw16c seen as (N, C/16, H*W, 16)), with `relu` followed
/// by ReLU in the same passes. The graph keeps its input alone, where the composite above keeps
/// four activations (x - mean, its square, the scaled and the shifted) and ReLU its output; for
/// Real NVP's fifteen batch norms at 32x32 that is hundreds of megabytes. Both passes run fused
/// (BatchNormLoops.swift), ReLU's backward pass recomputing where the output was positive from
/// the input; the backward pass is the closed form, with its two sums taken over all ranks;
/// under createGraph it differentiates the composite instead, so higher derivatives stay exact.
/// Returns the statistics too (constants, for the running averages).
public func batchNormalizedWithBatchStatistics(_ x: Tensor, gamma: Tensor, beta: Tensor, epsilon: Float, relu: Bool,
                                               acrossRanks sum: @escaping CrossRankSum)
    -> (output: Tensor, mean: Tensor, variance: Tensor, count: Int) {
    let blocked = gamma.shape[3] == ActivationLayout.block
    let (output, mean, variance, count) = blocked
        ? blockedBatchNormForward(x, gamma: gamma, beta: beta, epsilon: epsilon, relu: relu, acrossRanks: sum)
        : batchNormForward(x, gamma: gamma, beta: beta, epsilon: epsilon, relu: relu, acrossRanks: sum)
    let recorded = recordBatchNorm(output, x, gamma: gamma, beta: beta, mean: mean, variance: variance, epsilon: epsilon, relu: relu,
                                   statistics: .batch(count: count, acrossRanks: sum))
    return (recorded, mean, variance, count)
}

/// Records a fused batch norm (with `relu`, and its ReLU) whose forward pass gave `output` from x,
/// gamma and beta with `mean` and `variance` from `statistics`. Its backward pass is the closed
/// form; under createGraph, autodiff through the composite, with batch statistics recomputed
/// from x, so that higher derivatives stay exact.
private func recordBatchNorm(_ output: Tensor, _ x: Tensor, gamma: Tensor, beta: Tensor, mean: Tensor, variance: Tensor,
                             epsilon: Float, relu: Bool, statistics: NormalisationStatistics) -> Tensor {
    let blocked = gamma.shape[3] == ActivationLayout.block
    let name = (relu ? "batchNorm+relu" : "batchNorm") + (statistics.dependOnInput ? "" : ", given statistics")
    let all: [Saved] = [.input(0), .input(1), .input(2)]
    return record(output, name, [x, gamma, beta], uses: [all, all, all]) { c in
        let (x, gamma, beta, g) = (c.input(0), c.input(1), c.input(2), c.gradient)
        if Recording.isOn {
            var (m, v) = (mean, variance)
            if case .batch(_, let sum) = statistics { (m, v, _) = batchStatistics(x, channelShape: gamma.shape, acrossRanks: sum) }
            let y = batchNormalized(x, mean: m, variance: v, gamma: gamma, beta: beta, epsilon: epsilon)
            return grad(of: ((relu ? CQF.relu(y) : y) * g).sum(), wrt: [x, gamma, beta], createGraph: true)
                .enumerated().map { c.needs[$0.offset] ? $0.element : nil }
        }
        let gradients = (blocked ? blockedBatchNormBackward : batchNormBackward)(x, g, mean, variance, gamma, beta, epsilon, statistics,
                                                                                relu, c.needs[0], c.needs[1] || c.needs[2])
        return [gradients.dx, c.needs[1] ? gradients.gamma : nil, c.needs[2] ? gradients.beta : nil]
    }
}

/// w = g * v / ||v||, the norm taken per output channel over (C, R, S): v (K,C,R,S), g (K).
public func weightNormalized(_ v: Tensor, g: Tensor) -> Tensor {
    v * (g.reshaped(to: [g.count, 1, 1, 1]) / v.euclideanNorm(alongAxes: [1, 2, 3]))
}
