// Every op's gradient against central finite differences, at two or more shapes with odd
// sizes, and second order for the ops the gradient penalty differentiates twice.
import XCTest
@testable import CQF

final class OpGradientTests: XCTestCase {
    let oddShapes: [[Int]] = [[2, 3, 5, 7], [3, 1, 4, 3]]

    func testArithmeticWithBroadcasting() {
        for s in oddShapes {
            let channel = [1, s[1], 1, 1], image = [s[0], 1, 1, 1]
            assertGradientsMatchFiniteDifferences([s, s]) { $0[0] + $0[1] }
            assertGradientsMatchFiniteDifferences([s, channel]) { $0[0] - $0[1] }
            assertGradientsMatchFiniteDifferences([s, image]) { $0[0] * $0[1] }
            assertGradientsMatchFiniteDifferences([s, []]) { $0[0] * $0[1] }
            assertGradientsMatchFiniteDifferences([s, channel], in: 0.5...2) { $0[0] / $0[1] }
            assertGradientsMatchFiniteDifferences([s]) { -$0[0] * 3 + 1 }
            assertGradientsMatchFiniteDifferences([s, s], step: 1e-3) { maximum($0[0], $0[1]) }
        }
    }

    func testUnaryFunctions() {
        for s in oddShapes {
            assertGradientsMatchFiniteDifferences([s]) { exp($0[0]) }
            assertGradientsMatchFiniteDifferences([s], in: 0.2...3) { log($0[0]) }
            assertGradientsMatchFiniteDifferences([s]) { tanh($0[0]) }
            assertGradientsMatchFiniteDifferences([s], in: -4...4) { softClamp($0[0], bound: 1.5) }
            assertGradientsMatchFiniteDifferences([s], in: -4...4) { sigmoid($0[0]) }
            assertGradientsMatchFiniteDifferences([s], in: -4...4) { softplus($0[0]) }
            assertGradientsMatchFiniteDifferences([s], step: 1e-3) { elu($0[0]) }
            assertGradientsMatchFiniteDifferences([s], step: 1e-3) { relu($0[0]) }
            assertGradientsMatchFiniteDifferences([s], step: 1e-3) { leakyRelu($0[0]) }
            assertGradientsMatchFiniteDifferences([s]) { square($0[0]) }
            assertGradientsMatchFiniteDifferences([s], in: 0.2...3) { sqrt($0[0]) }
            assertGradientsMatchFiniteDifferences([s], step: 1e-3) { abs($0[0]) }
        }
    }

    /// The fused op gives the values of the three ops it replaces to the bit, and their gradient
    /// within float32's rounding of y / m: the decoder's numbers hardly move with it.
    func testSoftClampIsTanhOfAQuotientTimesTheBound() {
        var random = TestRandom(seed: 5)
        let x = random.tensor([3, 4, 5, 7], in: -12...12).requiringGrad()
        let projection = random.tensor(x.shape)
        for m: Float in [4, 1.5] {
            let (fused, composite) = (softClamp(x, bound: m), tanh(x / m) * m)
            XCTAssertEqual(fused.array, composite.array)
            let (g, expected) = (grad(of: (fused * projection).sum(), wrt: [x])[0].array,
                                 grad(of: (composite * projection).sum(), wrt: [x])[0].array)
            XCTAssertLessThan(largestDifference(g, expected).value, 1e-6 * largestMagnitude(expected))
        }
    }

    func testReductions() {
        for s in oddShapes {
            assertGradientsMatchFiniteDifferences([s]) { $0[0].sum(alongAxes: [0, 2, 3], keepingDims: true) }
            assertGradientsMatchFiniteDifferences([s]) { $0[0].sum(alongAxes: [1]) }
            assertGradientsMatchFiniteDifferences([s]) { $0[0].mean(alongAxes: [2, 3]) }
            assertGradientsMatchFiniteDifferences([s]) { $0[0].mean() }
            assertGradientsMatchFiniteDifferences([s], in: -3...3) { logsumexp($0[0], axis: 1) }
            assertGradientsMatchFiniteDifferences([s]) { globalAveragePool($0[0]) }
            assertGradientsMatchFiniteDifferences([[1, s[1], 1, 1]]) { $0[0].broadcast(to: s) }
        }
    }

    func testShapeOps() {
        assertGradientsMatchFiniteDifferences([[2, 3, 4, 6]]) { squeeze2x2($0[0]) }
        assertGradientsMatchFiniteDifferences([[3, 8, 3, 5]]) { unsqueeze2x2($0[0]) }
        assertGradientsMatchFiniteDifferences([[2, 3, 3, 5]]) { upsample2x($0[0]) }
        assertGradientsMatchFiniteDifferences([[2, 3, 4, 6]]) { sumPool2x2($0[0]) }
        assertGradientsMatchFiniteDifferences([[2, 32, 2, 3]]) { $0[0].inLayout(.nChw16c, channels: 32) }
        assertGradientsMatchFiniteDifferences([[2, 2, 3, 2 * 16]]) { upsample2x($0[0], layout: .nChw16c) }
        assertGradientsMatchFiniteDifferences([[2, 2, 4, 2 * 2 * 16]]) { sumPool2x2($0[0], layout: .nChw16c) }
        assertGradientsMatchFiniteDifferences([[2, 3, 4, 6]]) { meanPool2x2($0[0]) }
        assertGradientsMatchFiniteDifferences([[2, 3, 4, 6]]) { maxPool2x2($0[0]) }
        XCTAssertEqual(maxPool2x2(Tensor(shape: [1, 1, 2, 4], [1, 5, 2, 0, 3, -1, -7, -8])).array, [5, 2])
        assertGradientsMatchFiniteDifferences([[2, 5, 3, 3]]) { $0[0].channels(1..<4) }
        assertGradientsMatchFiniteDifferences([[2, 5, 3, 3], [2, 2, 3, 3]]) { concatChannels([$0[0], $0[1]]) }
        assertGradientsMatchFiniteDifferences([[3, 2, 3, 5]]) { $0[0].flattened() }
    }

    func testSqueezeIsInvertibleAndMatchesTheTwinsOrder() {
        let x = Tensor(shape: [1, 1, 2, 2], [1, 2, 3, 4])
        XCTAssertEqual(squeeze2x2(x).array, [1, 2, 3, 4])  // channel 2*di + dj
        let y = TestRandom(seed: 3).tensorCopy([2, 3, 4, 6])
        XCTAssertEqual(unsqueeze2x2(squeeze2x2(y)).array, y.array)
    }

    func testConvolutionAndItsGradientOps() {
        let cases: [(x: [Int], w: [Int], stride: Int, padding: (height: Int, width: Int))] = [
            ([2, 3, 5, 7], [4, 3, 3, 3], 1, (1, 1)), ([3, 2, 7, 5], [3, 2, 3, 3], 2, (1, 1)),
            ([2, 3, 6, 6], [2, 3, 4, 4], 2, (1, 1)), ([1, 4, 3, 5], [5, 4, 1, 1], 1, (0, 0)),
            // One-axis kernels padded on one axis only (Inception's 1x3 and 3x1).
            ([2, 3, 5, 6], [2, 3, 1, 3], 1, (0, 1)), ([1, 2, 6, 5], [3, 2, 3, 1], 2, (1, 0)),
        ]
        for c in cases {
            assertGradientsMatchFiniteDifferences([c.x, c.w]) { conv2d($0[0], $0[1], stride: c.stride, padding: c.padding) }
            assertGradientsMatchFiniteDifferences([c.x, c.w, [c.w[0]]]) { conv2d($0[0], $0[1], bias: $0[2], stride: c.stride, padding: c.padding) }
            let g = convGeometry(input: c.x, weight: c.w, stride: c.stride, padding: c.padding)
            let y = [g.batch, g.outChannels, g.outHeight, g.outWidth]
            assertGradientsMatchFiniteDifferences([y, c.w]) { conv2dInputGradient($0[0], $0[1], geometry: g) }
            assertGradientsMatchFiniteDifferences([c.x, y]) { conv2dWeightGradient($0[0], $0[1], geometry: g) }
        }
    }

    func testMatrixMultiplyWithTransposes() {
        for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
            let a = ta ? [5, 3] : [3, 5], b = tb ? [4, 5] : [5, 4]
            assertGradientsMatchFiniteDifferences([a, b]) { matmul($0[0], $0[1], transposeA: ta, transposeB: tb) }
            assertSecondOrderGradientsMatchFiniteDifferences([a, b]) { square(matmul($0[0], $0[1], transposeA: ta, transposeB: tb)) }
        }
    }

    func testNormalisation() {
        let world: CrossRankSum = { _ in }
        for s in oddShapes {
            let channel = [1, s[1], 1, 1]
            assertGradientsMatchFiniteDifferences([s, channel, channel], tolerance: 2e-2) { x in
                let (mean, variance, _) = batchStatistics(x[0], acrossRanks: world)
                return batchNormalized(x[0], mean: mean, variance: variance, gamma: x[1], beta: x[2], epsilon: 1e-4)
            }
        }
        for s in oddShapes {
            let channel = [1, s[1], 1, 1]
            assertGradientsMatchFiniteDifferences([s, channel, channel], tolerance: 2e-2) { x in
                batchNormalizedWithBatchStatistics(x[0], gamma: x[1], beta: x[2], epsilon: 1e-4, relu: false, acrossRanks: world).output
            }
            assertSecondOrderGradientsMatchFiniteDifferences([s, channel, channel], tolerance: 3e-2) { x in
                batchNormalizedWithBatchStatistics(x[0], gamma: x[1], beta: x[2], epsilon: 1e-4, relu: false, acrossRanks: world).output
            }
        }
        var random = TestRandom(seed: 25)
        for s in oddShapes {
            let channel = [1, s[1], 1, 1]
            let (mean, variance) = (random.tensor(channel), random.tensor(channel, in: 0.5...2))
            assertGradientsMatchFiniteDifferences([s, channel, channel], tolerance: 2e-2) { x in
                batchNormalized(x[0], mean: mean, variance: variance, gamma: x[1], beta: x[2], epsilon: 1e-4, relu: false)
            }
            assertSecondOrderGradientsMatchFiniteDifferences([s, channel, channel], tolerance: 3e-2) { x in
                batchNormalized(x[0], mean: mean, variance: variance, gamma: x[1], beta: x[2], epsilon: 1e-4, relu: false)
            }
        }
        assertGradientsMatchFiniteDifferences([[4, 3, 3, 3], [4]]) { weightNormalized($0[0], g: $0[1]) }
        assertGradientsMatchFiniteDifferences([[3, 2, 4, 5]]) { $0[0].euclideanNorm(alongAxes: [1, 2, 3]) }
        assertSecondOrderGradientsMatchFiniteDifferences([[3, 2, 4, 5]]) { square($0[0].euclideanNorm(alongAxes: [1, 2, 3]) - 1) }
    }

    /// An image whose gradient is all zeros gives a zero norm: its gradient is 0 there, not NaN,
    /// and the other images' gradients are x / norm.
    func testEuclideanNormOfZerosHasZeroGradient() {
        let x = Tensor(shape: [2, 1, 1, 2], [0, 0, 3, 4]).requiringGrad()
        let norm = x.euclideanNorm(alongAxes: [1, 2, 3])
        XCTAssertEqual(norm.array, [0, 5])
        XCTAssertEqual(grad(of: norm.sum(), wrt: [x])[0].array, [0, 0, 0.6, 0.8])
    }

    func testSecondOrderThroughTheOpsOfTheGradientPenalty() {
        let s = [2, 3, 5, 7]
        assertSecondOrderGradientsMatchFiniteDifferences([s]) { relu($0[0]) * $0[0] }
        assertSecondOrderGradientsMatchFiniteDifferences([s]) { leakyRelu($0[0]) * $0[0] }
        assertSecondOrderGradientsMatchFiniteDifferences([s]) { elu($0[0]) }
        assertSecondOrderGradientsMatchFiniteDifferences([s]) { elu($0[0]) * $0[0] }
        assertSecondOrderGradientsMatchFiniteDifferences([s]) { tanh($0[0]) }
        assertSecondOrderGradientsMatchFiniteDifferences([s], in: -4...4) { softClamp($0[0], bound: 1.5) }
        assertSecondOrderGradientsMatchFiniteDifferences([s], in: -3...3) { softplus($0[0]) }
        assertSecondOrderGradientsMatchFiniteDifferences([s], in: 0.2...3) { sqrt($0[0]) }
        assertSecondOrderGradientsMatchFiniteDifferences([[2, 3, 4, 6]]) { square(meanPool2x2($0[0])) }
        assertSecondOrderGradientsMatchFiniteDifferences([[2, 3, 4, 6]]) { square(maxPool2x2($0[0])) }
        assertSecondOrderGradientsMatchFiniteDifferences([[2, 3, 5, 5], [4, 3, 3, 3]]) {
            square(conv2d($0[0], $0[1], stride: 1, padding: 1))
        }
        assertSecondOrderGradientsMatchFiniteDifferences([[2, 3, 6, 6], [4, 3, 3, 3]]) {
            tanh(conv2d($0[0], $0[1], stride: 2, padding: 1))
        }
    }

    func testSecondDerivativeOfCubeIsSixX() {
        let x = Tensor(shape: [5], [-2, -0.5, 0, 1, 3]).requiringGrad()
        let dy = grad(of: (x * x * x).sum(), wrt: [x], createGraph: true)[0]
        XCTAssertEqual(dy.array, x.array.map { 3 * $0 * $0 })
        let d2y = grad(of: dy.sum(), wrt: [x])[0]
        XCTAssertEqual(d2y.array, x.array.map { 6 * $0 })
    }

    func testGradientWithoutCreateGraphRecordsNothing() {
        let x = Tensor(shape: [3], [1, 2, 3]).requiringGrad()
        let g = grad(of: exp(x).sum(), wrt: [x])[0]
        XCTAssertFalse(g.requiresGrad)
        XCTAssertNil(g.node)
    }

    /// A tensor sliced several ways (channel ranges overlapping, in both layouts) and used whole:
    /// its gradient, with the slices added straight into it, is the rules' (createGraph runs
    /// them), whichever order the uses come in; and a gradient that another tensor shares (add
    /// gives both inputs its own) is added into a copy, never in place.
    func testSlicesAddIntoTheGradientOfTheWhole() {
        var random = TestRandom(seed: 26)
        for layout in [ActivationLayout.nchw, .nChw16c] {
            let x = random.tensor([2, 48, 3, 5]).inLayout(layout, channels: 48).detached.requiringGrad()
            let w = random.tensor(x.shape).requiringGrad()
            let ranges = [0..<16, 16..<48, 0..<32, 32..<48]
            let weights = ranges.map { random.tensor(x.channels($0, in: layout).shape) }
            let whole = random.tensor(x.shape)
            for wholeFirst in [false, true] {
                func loss() -> Tensor {
                    let slices = zip(ranges, weights).map { (x.channels($0, in: layout) * $1).sum() }
                    let shared = ((x + w) * whole).sum()
                    return slices.dropFirst().reduce(wholeFirst ? shared + slices[0] : slices[0] + shared, +)
                }
                let ruled = grad(of: loss(), wrt: [x, w], createGraph: true).map(\.array)
                let added = grad(of: loss(), wrt: [x, w]).map(\.array)
                XCTAssertEqual(added[0], ruled[0], "x, \(layout), whole first \(wholeFirst)")
                XCTAssertEqual(added[1], whole.array, "w, \(layout), whole first \(wholeFirst)")
            }
        }
    }

    func testUnusedInputGetsZeros() {
        let (x, z) = (Tensor(shape: [2], [1, 2]).requiringGrad(), Tensor(shape: [2], [3, 4]).requiringGrad())
        XCTAssertEqual(grad(of: square(x).sum(), wrt: [x, z])[1].array, [0, 0])
    }
}

extension TestRandom {
    func tensorCopy(_ shape: [Int]) -> Tensor { var r = self; return r.tensor(shape) }
}

final class EngineThreadsTests: XCTestCase {
    /// Elementwise ops on several threads give the very same bits as on one.
    func testElementwiseOpsAreIdenticalOnTwoThreads() {
        var random = TestRandom(seed: 11)
        let (x, channel, y) = (random.tensor([4, 8, 67, 65]), random.tensor([1, 8, 1, 1]), random.tensor([4, 8, 67, 65]))
        func ops() -> [[Float]] {
            [(x * channel + y).array, elu(x).array, (x - y.mean(alongAxes: [0], keepingDims: true)).array, tanh(x / channel).array]
        }
        let one = ops()
        EngineThreads.count = 2
        defer { EngineThreads.count = 1 }
        XCTAssertEqual(ops(), one)
    }
}
