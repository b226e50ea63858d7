// Batch normalisation's fused loops (BatchNormLoops.swift) against the ops they replace: the
// forward pass to the bit, the closed-form backward pass against autodiff through the
// composite, with batch statistics and with given ones, and the same bits on two threads as on one.
import XCTest
@testable import CQF

final class BatchNormLoopsTests: XCTestCase {
    let world: CrossRankSum = { _ in }
    /// A plane of 67 x 65 values (not a multiple of the eight lanes) and a small odd one.
    let shapes = [[3, 5, 67, 65], [2, 3, 5, 7]]

    func testForwardEqualsTheCompositeToTheBit() {
        var random = TestRandom(seed: 21)
        for shape in shapes {
            let channel = [1, shape[1], 1, 1]
            let (x, gamma, beta) = (random.tensor(shape, in: -2...3), random.tensor(channel), random.tensor(channel))
            let (mean, variance, count) = batchStatistics(x, acrossRanks: world)
            let normalized = batchNormalized(x, mean: mean, variance: variance, gamma: gamma, beta: beta, epsilon: 1e-4)
            for relu in [false, true] {
                let fused = batchNormForward(x, gamma: gamma, beta: beta, epsilon: 1e-4, relu: relu, acrossRanks: world)
                XCTAssertEqual(fused.mean.array, mean.array, "\(shape)")
                XCTAssertEqual(fused.variance.array, variance.array, "\(shape)")
                XCTAssertEqual(fused.count, count)
                XCTAssertEqual(fused.output.array, (relu ? CQF.relu(normalized) : normalized).array, "\(shape), relu \(relu)")
            }
        }
    }

    func testBackwardMatchesAutodiffThroughTheComposite() {
        var random = TestRandom(seed: 22)
        for shape in shapes {
            let channel = [1, shape[1], 1, 1]
            let (x, gamma, beta) = (random.tensor(shape).requiringGrad(), random.tensor(channel).requiringGrad(), random.tensor(channel).requiringGrad())
            let g = random.tensor(shape)
            for relu in [false, true] {
                let fused = grad(of: (batchNormalizedWithBatchStatistics(x, gamma: gamma, beta: beta, epsilon: 1e-4, relu: relu, acrossRanks: world).output * g).sum(),
                                 wrt: [x, gamma, beta])
                let (mean, variance, _) = batchStatistics(x, acrossRanks: world)
                let normalized = batchNormalized(x, mean: mean, variance: variance, gamma: gamma, beta: beta, epsilon: 1e-4)
                let composite = grad(of: ((relu ? CQF.relu(normalized) : normalized) * g).sum(), wrt: [x, gamma, beta])
                for (name, (a, b)) in zip(["x", "gamma", "beta"], zip(fused, composite)) {
                    let scale = max(largestMagnitude(b.array), 1)
                    XCTAssertLessThan(largestDifference(a.array, b.array).value / scale, 2e-5, "\(name) of \(shape), relu \(relu)")
                }
            }
        }
    }

    /// With given statistics (the running averages) the output and dx are the composite's to the
    /// bit, gamma's and beta's gradients to rounding, and moving the statistics in place after the
    /// forward pass (as a training pass moves the running averages) leaves its gradients alone.
    func testGivenStatisticsMatchTheComposite() {
        var random = TestRandom(seed: 24)
        for shape in shapes {
            let channel = [1, shape[1], 1, 1]
            let (x, gamma, beta) = (random.tensor(shape, in: -2...3).requiringGrad(), random.tensor(channel).requiringGrad(),
                                    random.tensor(channel).requiringGrad())
            let (mean, variance, g) = (random.tensor(channel), random.tensor(channel, in: 0.5...2), random.tensor(shape))
            for relu in [false, true] {
                let normalized = batchNormalized(x, mean: mean, variance: variance, gamma: gamma, beta: beta, epsilon: 1e-4)
                let composite = relu ? CQF.relu(normalized) : normalized
                let compositeGradients = grad(of: (composite * g).sum(), wrt: [x, gamma, beta])
                let (movingMean, movingVariance) = (Tensor(shape: channel, mean.array), Tensor(shape: channel, variance.array))
                let fused = batchNormalized(x, mean: movingMean, variance: movingVariance, gamma: gamma, beta: beta, epsilon: 1e-4, relu: relu)
                for c in 0..<shape[1] { (movingMean.data[c], movingVariance.data[c]) = (0, 1) }
                let fusedGradients = grad(of: (fused * g).sum(), wrt: [x, gamma, beta])
                XCTAssertEqual(fused.array, composite.array, "\(shape), relu \(relu)")
                XCTAssertEqual(fusedGradients[0].array, compositeGradients[0].array, "dx of \(shape), relu \(relu)")
                for (name, (a, b)) in zip(["gamma", "beta"], zip(fusedGradients[1...], compositeGradients[1...])) {
                    XCTAssertLessThan(largestDifference(a.array, b.array).value / max(largestMagnitude(b.array), 1), 2e-6,
                                      "\(name) of \(shape), relu \(relu)")
                }
            }
        }
    }

    func testTwoThreadsGiveTheBitsOfOne() {
        var random = TestRandom(seed: 23)
        // Six channels of 4 x 67 x 65 values: large enough to be shared among two threads.
        let (shape, channel) = ([4, 6, 67, 65], [1, 6, 1, 1])
        let (x, gamma, beta, g) = (random.tensor(shape), random.tensor(channel), random.tensor(channel), random.tensor(shape))
        for relu in [false, true] {
            assertSameBitsOnTwoThreads(batchNormForward, batchNormBackward, x, g, gamma: gamma, beta: beta, relu: relu)
        }
    }
}

/// The forward pass of a batch norm's fused loops (`batchNormForward` or its blocked twin) and the
/// backward passes with batch and with given statistics give the same bits on two threads as on one.
func assertSameBitsOnTwoThreads(
    _ forward: (Tensor, Tensor, Tensor, Float, Bool, CrossRankSum) -> (output: Tensor, mean: Tensor, variance: Tensor, count: Int),
    _ backward: (Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Float, NormalisationStatistics, Bool, Bool, Bool)
        -> (dx: Tensor?, gamma: Tensor?, beta: Tensor?),
    _ x: Tensor, _ g: Tensor, gamma: Tensor, beta: Tensor, relu: Bool, file: StaticString = #filePath, line: UInt = #line
) {
    let world: CrossRankSum = { _ in }
    func passes() -> [[Float]] {
        let f = forward(x, gamma, beta, 1e-4, relu, world)
        let batch = backward(x, g, f.mean, f.variance, gamma, beta, 1e-4, .batch(count: f.count, acrossRanks: world), relu, true, true)
        let given = backward(x, g, f.mean, f.variance, gamma, beta, 1e-4, .given, relu, true, true)
        return [f.output, f.mean, f.variance, batch.dx!, batch.gamma!, batch.beta!, given.dx!, given.gamma!, given.beta!].map(\.array)
    }
    let one = passes()
    EngineThreads.count = 2
    defer { EngineThreads.count = 1 }
    XCTAssertEqual(passes(), one, "relu \(relu)", file: file, line: line)
}
