// Batch normalisation over (N, H, W) per channel followed by ReLU, as every batch norm of Real
// NVP's coupling networks is, of an activation in either layout (`ActivationLayout`). Training
// uses the statistics of the global batch (summed across ranks through the engine's hook) and
// moves the running averages; evaluation and generation use the running averages. Either way
// the batch norm and its ReLU run as one fused op.

public final class BatchNormReLU {
    let name: String
    let gamma: Parameter, beta: Parameter
    let runningMean: Tensor, runningVariance: Tensor
    let epsilon: Float, momentum: Float

    public init(_ parameters: ParameterSet, _ name: String, channels: Int, epsilon: Float, momentum: Float) {
        gamma = parameters.declare("\(name).weight", shape: [channels], values: Array(repeating: 1, count: channels))
        beta = parameters.declare("\(name).bias", shape: [channels], values: Array(repeating: 0, count: channels))
        self.name = layerName(of: beta)
        runningMean = parameters.declareBuffer("\(name).running_mean", shape: [1, channels, 1, 1], value: 0)
        runningVariance = parameters.declareBuffer("\(name).running_var", shape: [1, channels, 1, 1], value: 1)
        self.epsilon = epsilon
        self.momentum = momentum
    }

    public func callAsFunction(_ x: Tensor, _ pass: FlowPass) -> Tensor {
        FiniteCheck.within(name) { apply(x, pass) }
    }

    private func apply(_ x: Tensor, _ pass: FlowPass) -> Tensor {
        let c = gamma.count
        // Per-channel values broadcast over (N, C, H, W) as (1, C, 1, 1), over nChw16c's
        // (N, C/16, H*W, 16) view as (1, C/16, 1, 16).
        let (layout, n, h, w) = ActivationLayout.of(x.shape, channels: c)
        let (view, channelShape) = layout == .nchw
            ? (x, [1, c, 1, 1])
            : (x.reshaped(to: [n, c / ActivationLayout.block, h * w, ActivationLayout.block]), [1, c / ActivationLayout.block, 1, ActivationLayout.block])
        let (g, b) = pass.frozen ? (gamma.tensor.detached, beta.tensor.detached) : (gamma.tensor!, beta.tensor!)
        let (scale, shift) = (g.reshaped(to: channelShape), b.reshaped(to: channelShape))
        guard case .batch(let crossRankSum) = pass.statistics else {
            return batchNormalized(view, mean: runningMean.reshaped(to: channelShape), variance: runningVariance.reshaped(to: channelShape),
                                   gamma: scale, beta: shift, epsilon: epsilon, relu: true).reshaped(to: x.shape)
        }
        let (output, mean, variance, count) = batchNormalizedWithBatchStatistics(view, gamma: scale, beta: shift, epsilon: epsilon,
                                                                                 relu: true, acrossRanks: crossRankSum)
        // The running variance is the unbiased one, as in PyTorch.
        let unbiasing = count > 1 ? Float(count) / Float(count - 1) : 1
        for i in 0..<c {
            runningMean.data[i] = momentum * runningMean.data[i] + (1 - momentum) * mean.data[i]
            runningVariance.data[i] = momentum * runningVariance.data[i] + (1 - momentum) * variance.data[i] * unbiasing
        }
        return output.reshaped(to: x.shape)
    }
}

/// How one pass through the flow treats batch norm and parameters.
public struct FlowPass {
    public enum Statistics {
        /// Training: the global batch's statistics, combined across ranks by the hook.
        case batch(CrossRankSum)
        /// Evaluation and generation: the running averages.
        case running
    }
    public var statistics: Statistics
    /// Parameters enter as constants: gradients pass through the flow but never reach them.
    public var frozen: Bool

    public static func training(_ crossRankSum: @escaping CrossRankSum) -> FlowPass { FlowPass(statistics: .batch(crossRankSum), frozen: false) }
    public static let evaluation = FlowPass(statistics: .running, frozen: false)
    /// Generated images pass through f^-1 with running averages and f's parameters held constant.
    public static let generation = FlowPass(statistics: .running, frozen: true)
}
