// The Inception Score (Salimans et al. 2016, "Improved techniques for training GANs"), computed
// as their code does: the class probabilities p(y|x) = softmax(logits) of the images, cut in
// order into 10 splits (sizes differing by at most one); in each split
// IS = exp(mean_x KL(p(y|x) || p(y))) with p(y) the split's mean prediction; reported as the mean
// and the (population) standard deviation of the splits' scores.
//
// Since p(y) is the split's mean of p(y|x), mean_x KL = mean_x Σ_y p log p - Σ_y p(y) log p(y):
// one pass over the rows, in float64, with log p taken from the log-softmax so that a
// probability that underflows to 0 contributes 0 log 0 = 0 rather than NaN.
import Foundation

/// IS of the images whose class logits (count, classes) are the rows of `logits`, in image
/// order, over `splits` splits: split i takes rows i N / S ..< (i + 1) N / S, as in Salimans et
/// al.'s code, so every image counts and split sizes differ by at most one.
public func inceptionScore(logits: FeatureSet, splits: Int = 10) -> (mean: Double, standardDeviation: Double) {
    precondition(splits >= 1 && logits.count >= splits,
                 "inceptionScore: \(logits.count) images cannot be cut into \(splits) splits.")
    let classes = logits.dimension
    var scores: [Double] = []
    logits.values.withUnsafeBufferPointer { values in
        for split in 0..<splits {
            let rows = split * logits.count / splits..<(split + 1) * logits.count / splits
            var meanProbability = [Double](repeating: 0, count: classes)
            var negativeEntropy = 0.0
            for row in rows {
                let z = values.baseAddress! + row * classes
                var largest = -Double.infinity
                for y in 0..<classes { largest = max(largest, Double(z[y])) }
                var total = 0.0
                for y in 0..<classes { total += exp(Double(z[y]) - largest) }
                let logTotal = largest + log(total)
                for y in 0..<classes {
                    let logP = Double(z[y]) - logTotal
                    let p = exp(logP)
                    meanProbability[y] += p
                    if p > 0 { negativeEntropy += p * logP }
                }
            }
            let n = Double(rows.count)
            var crossTerm = 0.0
            for y in 0..<classes where meanProbability[y] > 0 {
                let p = meanProbability[y] / n
                crossTerm += p * log(p)
            }
            scores.append(exp(negativeEntropy / n - crossTerm))
        }
    }
    let mean = scores.reduce(0, +) / Double(splits)
    let variance = scores.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(splits)
    return (mean, variance.squareRoot())
}
