// Real NVP f and the logit transform (MODEL.md sections 1 and 2): f^-1(f(y)) = y, and every
// log-det equals log|det J| of the full Jacobian, built row by row by reverse-mode autodiff
// (f) or column by column by central differences (the logit transform, which is data and not
// recorded), reduced by an LU decomposition written here. The parameters are random first:
// at its zero start every coupling is the identity, and so would pass any of these tests.
import XCTest
@testable import CQF

final class FlowTests: XCTestCase {
    // MARK: f^-1(f(y)) = y

    func testInverseUndoesForwardInEvaluationAndTraining() {
        assertInverseUndoesForward()
    }

    /// Under bf16 kernels the couplings' convolutions stay float32 (`ConvGeometry.float32Only`):
    /// in bf16, the inner scales' float32 rounding, fed back into an outer coupling's kept half,
    /// flipped bf16 roundings there, and f^-1(f(y)) was off by up to 1.3e-2 at 3 and 4 scales.
    func testInverseUndoesForwardWithBFloat16Convolutions() {
        Convolutions.kernels = DNNLConvolution(threads: 1, precision: .bf16)
        defer { Convolutions.kernels = DNNLConvolution() }
        assertInverseUndoesForward()
    }

    private func assertInverseUndoesForward() {
        for scales in 1...4 {
            for blocks in 1...2 {
                let flow = Self.randomFlow(channels: 3, scales: scales, blocks: blocks, seed: UInt64(10 * scales + blocks))
                var random = TestRandom(seed: 5)
                // Three squeezes for four scales: 16 x 16 images end at 2 x 2.
                let y = random.tensor([2, 3, 16, 16], in: -3...3)
                for (name, pass) in [("evaluation", FlowPass.evaluation), ("training", FlowPass.training { _ in })] {
                    let (v, _) = flow.forward(y, pass)
                    let back = flow.inverse(v, pass)
                    let moved = largestDifference(v.array, y.array).value
                    let error = largestDifference(back.array, y.array).value
                    XCTAssertGreaterThan(moved, 0.1, "scales \(scales), blocks \(blocks), \(name): f is nearly the identity")
                    XCTAssertLessThanOrEqual(error, 1e-5, "scales \(scales), blocks \(blocks), \(name): |f^-1(f(y)) - y|")
                }
            }
        }
    }

    // MARK: log-dets against log|det J|

    /// One checkerboard coupling of each parity, on one and three channels.
    func testCheckerboardCouplingLogDetIsLogAbsDetOfItsJacobian() {
        for channels in [1, 3] {
            for parity in 0...1 {
                let coupling = Self.randomCoupling(channels: channels, mask: .checkerboard(parity: parity), seed: UInt64(channels * 2 + parity))
                assertLogDetMatchesJacobian(shape: [2, channels, 4, 4], "checkerboard parity \(parity), \(channels) channels") {
                    coupling.forward($0, .evaluation)
                }
            }
        }
    }

    /// One channel coupling of each parity, on the squeezed shapes of one and three channels.
    func testChannelCouplingLogDetIsLogAbsDetOfItsJacobian() {
        for channels in [4, 12] {
            for parity in 0...1 {
                let coupling = Self.randomCoupling(channels: channels, mask: .channels(parity: parity), seed: UInt64(channels * 2 + parity))
                assertLogDetMatchesJacobian(shape: [2, channels, 2, 2], "channel parity \(parity), \(channels) channels") {
                    coupling.forward($0, .evaluation)
                }
            }
        }
    }

    func testOneScaleFlowLogDetIsLogAbsDetOfItsJacobian() {
        for channels in [1, 3] {
            let flow = Self.randomFlow(channels: channels, scales: 1, blocks: 2, seed: UInt64(channels))
            assertLogDetMatchesJacobian(shape: [2, channels, 4, 4], "1 scale, \(channels) channels") { flow.forward($0, .evaluation) }
        }
    }

    /// Two scales: checkerboard couplings, squeeze, channel couplings, half factored out, four
    /// checkerboard couplings on the rest, all put back.
    func testTwoScaleFlowLogDetIsLogAbsDetOfItsJacobian() {
        for channels in [1, 2] {
            let flow = Self.randomFlow(channels: channels, scales: 2, blocks: 1, seed: UInt64(20 + channels))
            assertLogDetMatchesJacobian(shape: [2, channels, 4, 4], "2 scales, \(channels) channels") { flow.forward($0, .evaluation) }
        }
    }

    /// Four scales (Table 3b's last row), three squeezes: 8 x 8 images end at 1 x 1.
    func testFourScaleFlowLogDetIsLogAbsDetOfItsJacobian() {
        let flow = Self.randomFlow(channels: 1, scales: 4, blocks: 1, seed: 40)
        assertLogDetMatchesJacobian(shape: [2, 1, 8, 8], "4 scales") { flow.forward($0, .evaluation) }
    }

    /// log|det dy/dx| of y = logit(alpha + (1 - 2 alpha) x) on images of one and three channels.
    func testLogitTransformLogDetIsLogAbsDetOfItsJacobian() {
        for channels in [1, 3] {
            var random = TestRandom(seed: UInt64(channels))
            let x = random.tensor([2, channels, 4, 4], in: 0.02...0.98)
            let (_, logDet) = logitTransform(x, alpha: 0.05)
            let d = x.count / 2
            for n in 0..<2 {
                // Column j by central differences; the step is what float32 actually moved x by.
                var jacobian = [[Double]](repeating: [Double](repeating: 0, count: d), count: d)
                for j in 0..<d {
                    func shifted(_ delta: Float) -> (y: [Float], x: Double) {
                        var values = x.array
                        values[n * d + j] += delta
                        return (logitTransform(Tensor(shape: x.shape, values), alpha: 0.05).y.array, Double(values[n * d + j]))
                    }
                    let (up, down) = (shifted(1e-3), shifted(-1e-3))
                    for i in 0..<d {
                        jacobian[i][j] = (Double(up.y[n * d + i]) - Double(down.y[n * d + i])) / (up.x - down.x)
                    }
                }
                let bruteForce = logAbsDeterminant(jacobian)
                // Tolerance: float32 y over a step of 2e-3 leaves ~3e-5 relative error per
                // diagonal entry, so 1e-3 over 48 of them; a missing log(1 - 2 alpha) term is 0.1 per dimension.
                XCTAssertEqual(Double(logDet.data[n]), bruteForce, accuracy: 2e-3, "\(channels) channels, image \(n)")
            }
        }
    }

    /// Compares the per-image log-det of `map` with log|det J| of each image's block of the
    /// Jacobian. Evaluation passes only: with batch statistics the images of a batch would be coupled.
    func assertLogDetMatchesJacobian(shape: [Int], _ what: String, _ map: (Tensor) -> (Tensor, Tensor),
                                     file: StaticString = #filePath, line: UInt = #line) {
        var random = TestRandom(seed: 3)
        let y = random.tensor(shape, in: -2...2)
        let (_, logDet) = Recording.paused { map(y) }
        let (n, d) = (shape[0], y.count / shape[0])
        for image in 0..<n {
            let jacobian = (0..<d).map { i -> [Double] in
                // A fresh graph for every row: a backward pass may take its graph apart.
                let leaf = Tensor(shape: y.shape, y.array).requiringGrad()
                let (v, _) = map(leaf)
                var selector = [Float](repeating: 0, count: v.count)
                selector[image * d + i] = 1
                let row = grad(of: (v * Tensor(shape: v.shape, selector)).sum(), wrt: [leaf])[0]
                return (0..<d).map { Double(row.data[image * d + $0]) }
            }
            let (ours, bruteForce) = (Double(logDet.data[image]), logAbsDeterminant(jacobian))
            // A wrong sign or a missing coupling's share moves the log-det by its size: make it count.
            XCTAssertGreaterThan(Swift.abs(bruteForce), 0.2, "\(what): log|det J| is too small to tell a wrong sign", file: file, line: line)
            // Tolerance: float32 Jacobian entries (relative 1e-6) over up to 48 dimensions.
            XCTAssertEqual(ours, bruteForce, accuracy: 1e-4 * max(1, Swift.abs(bruteForce)), "\(what), image \(image)", file: file, line: line)
        }
    }

    // MARK: helpers

    /// log|det A| by LU decomposition with partial pivoting: the sum of log|u_ii| (-infinity when singular).
    func logAbsDeterminant(_ matrix: [[Double]]) -> Double {
        var a = matrix
        let n = a.count
        var sum = 0.0
        for k in 0..<n {
            let pivot = (k..<n).max { Swift.abs(a[$0][k]) < Swift.abs(a[$1][k]) }!
            a.swapAt(k, pivot)
            guard a[k][k] != 0 else { return -.infinity }
            sum += Foundation.log(Swift.abs(a[k][k]))
            for i in k + 1..<n {
                let factor = a[i][k] / a[k][k]
                for j in k..<n { a[i][j] -= factor * a[k][j] }
            }
        }
        return sum
    }

    func testLogAbsDeterminantOfKnownMatrices() {
        // det [[0, 2], [3, 1]] = -6 (needs a pivot); a triangular 3x3 has det 2 * -4 * 0.5.
        XCTAssertEqual(logAbsDeterminant([[0, 2], [3, 1]]), Foundation.log(6), accuracy: 1e-12)
        XCTAssertEqual(logAbsDeterminant([[2, 7, 1], [0, -4, 3], [0, 0, 0.5]]), Foundation.log(4), accuracy: 1e-12)
    }

    static func nvpConfig(_ scales: Int, _ blocks: Int) -> NVPConfig {
        var config = NVPConfig()
        (config.scales, config.blocks, config.filters) = (scales, blocks, 4)
        return config
    }

    static func randomFlow(channels: Int, scales: Int, blocks: Int, seed: UInt64) -> RealNVP {
        let flow = RealNVP(channels: channels, config: nvpConfig(scales, blocks), initializer: ParameterInitializer(seed: 1))
        randomise(flow.parameters, seed: seed)
        return flow
    }

    static func randomCoupling(channels: Int, mask: Coupling.Mask, seed: UInt64) -> Coupling {
        let parameters = ParameterSet(name: "f")
        let coupling = Coupling(parameters, "coupling", ParameterInitializer(seed: 1), channels: channels, mask: mask, config: nvpConfig(1, 2))
        parameters.build()
        randomise(parameters, seed: seed)
        return coupling
    }

    /// Every parameter uniform in [-1, 1), through its view of the flat buffer; running means
    /// in [-0.5, 0.5) and running variances in [0.5, 1.5), so evaluation's batch norm is not the identity.
    static func randomise(_ parameters: ParameterSet, seed: UInt64) {
        var random = TestRandom(seed: seed)
        for parameter in parameters.parameters {
            for i in 0..<parameter.count { parameter.tensor.data[i] = 2 * random.uniform() - 1 }
        }
        for (name, buffer) in parameters.buffers {
            let low: Float = name.hasSuffix("running_var") ? 0.5 : -0.5
            for i in 0..<buffer.count { buffer.data[i] = low + random.uniform() }
        }
    }
}
