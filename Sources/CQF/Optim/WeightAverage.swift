// An exponential moving average of a network's weights (Polyak averaging), kept beside the
// trained weights and used in their place to generate: a GAN-trained generator's samples swing
// from step to step (cqf's FD moved by up to 180 between checkpoints 200 steps apart,
// docs/results.md), and the average over steps smooths the swing without touching training.
//   average = d_t average + (1 - d_t) weights,   d_t = min(decay, (1 + t) / (10 + t))
// The warm-up d_t (as TensorFlow's ExponentialMovingAverage with num_updates) lets the first
// steps move the average fast, so that the initial weights do not linger in it.

public final class WeightAverage {
    public let decay: Float
    /// The averaged values, laid out like the network's flat parameter buffer (saved in checkpoints).
    public let values: Storage
    /// Updates taken so far.
    public private(set) var updates = 0

    /// Starts the average at the network's current weights.
    public init(of parameters: ParameterSet, decay: Float) {
        precondition(decay >= 0 && decay < 1, "WeightAverage: decay \(decay) outside [0, 1).")
        self.decay = decay
        values = Storage(count: parameters.count)
        values.pointer.update(from: parameters.values.pointer, count: parameters.count)
    }

    /// Moves the average toward the network's weights after an optimizer step.
    public func update(from parameters: ParameterSet) {
        precondition(parameters.count == values.count, "WeightAverage was made for \(values.count) parameters, not \(parameters.count).")
        updates += 1
        let t = Float(updates)
        let keep = min(decay, (1 + t) / (10 + t))
        let (a, w) = (values.pointer, parameters.values.pointer)
        forEachChunk(values.count) { range in for i in range { a[i] += (1 - keep) * (w[i] - a[i]) } }
    }

    /// Restores the update count from a checkpoint (the values are restored into their storage).
    public func restore(updates: Int) { self.updates = updates }

    /// Runs `body` with each network's averaged values in its parameters, then puts the trained
    /// ones back (the buffers are swapped, so nothing is allocated).
    public static func withAveragedWeights<T>(_ averaged: [(average: WeightAverage, parameters: ParameterSet)], _ body: () throws -> T) rethrows -> T {
        for (average, parameters) in averaged { average.swapValues(with: parameters) }
        defer { for (average, parameters) in averaged { average.swapValues(with: parameters) } }
        return try body()
    }

    private func swapValues(with parameters: ParameterSet) {
        let (a, w) = (values.pointer, parameters.values.pointer)
        for i in 0..<values.count { swap(&a[i], &w[i]) }
    }
}
