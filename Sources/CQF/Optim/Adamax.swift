// Adamax (Kingma & Ba 2015, Algorithm 2), one loop over a network's flat buffers:
//   m = b1 m + (1 - b1) g,   u = max(b2 u, |g|),   p -= lr / (1 - b1^t) * m / (u + eps)
// Every rank runs it on the same averaged gradients, so parameters stay identical; each element
// is updated alike on any number of the engine's threads.
import Foundation

public final class Adamax {
    public var learningRate: Float
    public let beta1: Float, beta2: Float, epsilon: Float
    /// The moments, laid out like the parameters (saved in checkpoints).
    public let firstMoment: Storage
    public let infinityNorm: Storage
    public private(set) var step = 0

    public init(count: Int, learningRate: Float = 0.002, beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-8) {
        self.learningRate = learningRate
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        firstMoment = Storage(count: count)
        infinityNorm = Storage(count: count)
        firstMoment.pointer.update(repeating: 0, count: count)
        infinityNorm.pointer.update(repeating: 0, count: count)
    }

    /// One update of `parameters` from the gradients in its flat gradient buffer.
    public func update(_ parameters: ParameterSet) {
        precondition(parameters.count == firstMoment.count, "Adamax was made for \(firstMoment.count) parameters, not \(parameters.count).")
        step += 1
        let rate = learningRate / (1 - pow(beta1, Float(step)))
        let (p, g, m, u) = (parameters.values.pointer, parameters.gradients.pointer, firstMoment.pointer, infinityNorm.pointer)
        let (beta1, beta2, epsilon) = (beta1, beta2, epsilon)
        forEachChunk(parameters.count) { range in
            for i in range {
                m[i] = beta1 * m[i] + (1 - beta1) * g[i]
                u[i] = max(beta2 * u[i], Swift.abs(g[i]))
                p[i] -= rate * m[i] / (u[i] + epsilon)
            }
        }
    }

    /// Restores the step count from a checkpoint (the moments are restored into their storages).
    public func restore(step: Int) { self.step = step }
}
