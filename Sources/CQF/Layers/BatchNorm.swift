// Batch normalisation over (N, H, W) per channel, for Real NVP's coupling networks. Training
// uses the statistics of the global batch (summed across ranks through the engine's hook)
// and moves the running averages; evaluation and generation use the running averages.

public final class BatchNorm {
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
        let (g, b) = pass.frozen ? (gamma.tensor.detached, beta.tensor.detached) : (gamma.tensor!, beta.tensor!)
        let (scale, shift) = (g.reshaped(to: [1, c, 1, 1]), b.reshaped(to: [1, c, 1, 1]))
        guard case .batch(let crossRankSum) = pass.statistics else {
            return batchNormalized(x, mean: runningMean, variance: runningVariance, gamma: scale, beta: shift, epsilon: epsilon)
        }
        let (output, mean, variance, count) = batchNormalizedWithBatchStatistics(x, gamma: scale, beta: shift, epsilon: epsilon,
                                                                                 acrossRanks: crossRankSum)
        // The running variance is the unbiased one, as in PyTorch.
        let unbiasing = count > 1 ? Float(count) / Float(count - 1) : 1
        for i in 0..<c {
            runningMean.data[i] = momentum * runningMean.data[i] + (1 - momentum) * mean.data[i]
            runningVariance.data[i] = momentum * runningVariance.data[i] + (1 - momentum) * variance.data[i] * unbiasing
        }
        return output
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
