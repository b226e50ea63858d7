// The oneDNN kernels against the im2col oracle: every pass, in each layout and algorithm the
// kernel class can be told to use, on shapes chosen to break layout assumptions (channel counts
// that are not multiples of 16, odd spatial sizes, strides that do not divide, batch 1 and 3).
import XCTest
@testable import CQF

final class DNNLConvolutionTests: XCTestCase {
    /// Max-norm relative error allowed: |fast - oracle|_inf <= tolerance * |oracle|_inf. The two
    /// sum up to C*R*S (forward), K*R*S (input gradient) or N*P*Q (weight gradient) products in
    /// different orders. Measured worst on these shapes: 6e-7 for the direct kernels, 2e-6 for
    /// Winograd (whose transforms lose a few bits, worst on the C=128 shape); 2e-5 leaves a
    /// tenfold margin over both and still catches any indexing error, which shows at order 1.
    static let tolerance: Float = 2e-5

    static let shapes: [ConvGeometry] = [
        ConvGeometry(batch: 3, inChannels: 5, outChannels: 7, height: 5, width: 7,
                     kernelHeight: 3, kernelWidth: 3, stride: 1, padding: 1),
        ConvGeometry(batch: 1, inChannels: 3, outChannels: 16, height: 5, width: 7,
                     kernelHeight: 3, kernelWidth: 3, stride: 2, padding: 1),
        ConvGeometry(batch: 3, inChannels: 17, outChannels: 33, height: 9, width: 6,
                     kernelHeight: 1, kernelWidth: 1),
        ConvGeometry(batch: 1, inChannels: 24, outChannels: 40, height: 7, width: 5,
                     kernelHeight: 1, kernelWidth: 1, stride: 2),
        ConvGeometry(batch: 3, inChannels: 6, outChannels: 10, height: 9, width: 8,
                     kernelHeight: 4, kernelWidth: 4, stride: 2, padding: 1),
        ConvGeometry(batch: 1, inChannels: 32, outChannels: 64, height: 8, width: 8,
                     kernelHeight: 3, kernelWidth: 3, stride: 2, padding: 1),
        ConvGeometry(batch: 3, inChannels: 48, outChannels: 32, height: 6, width: 6,
                     kernelHeight: 3, kernelWidth: 3, stride: 1, padding: 1),
        ConvGeometry(batch: 2, inChannels: 3, outChannels: 6, height: 5, width: 5,
                     kernelHeight: 3, kernelWidth: 3, stride: 1, padding: 0),
        // Long sums (C*R*S = 1152): where Winograd's rounding would show.
        ConvGeometry(batch: 2, inChannels: 128, outChannels: 32, height: 8, width: 8,
                     kernelHeight: 3, kernelWidth: 3, stride: 1, padding: 1),
    ] + ConvolutionOracleAllPassesTests.oneAxisKernels

    func testBlockedDirectMatchesOracle() {
        checkAllPasses(DNNLConvolution { _, _ in .init(.blocked, .direct) })
    }

    func testPlainDirectMatchesOracle() {
        checkAllPasses(DNNLConvolution { _, _ in .init(.plain, .direct) })
    }

    /// Winograd only serves 3x3 stride-1 shapes; elsewhere the kernel falls back to direct,
    /// which must be just as correct.
    func testWinogradMatchesOracle() {
        checkAllPasses(DNNLConvolution { _, _ in .init(.blocked, .winograd) })
    }

    func testAutoMatchesOracle() {
        checkAllPasses(DNNLConvolution { _, _ in .init(.blocked, .auto) })
    }

    func testDefaultChoiceMatchesOracle() {
        checkAllPasses(DNNLConvolution())
    }

    /// The default choice takes Winograd where it pays and only there, with a bias or without.
    func testDefaultChoiceUsesWinogradOnWide3x3Only() {
        let kernels = DNNLConvolution()
        for g in Self.shapes {
            let wide3x3 = g.kernelHeight == 3 && g.kernelWidth == 3 && g.stride == 1 && min(g.inChannels, g.outChannels) >= 16
            for pass in DNNLConvolution.Pass.allCases {
                for bias in pass == .forward ? [false, true] : [false] {
                    let backend = kernels.backend(g, pass, bias: bias)
                    XCTAssertEqual(backend.contains("wino"), wide3x3, "\(g) \(pass), bias \(bias): \(backend)")
                }
            }
        }
    }

    /// Cached plans are reused with other buffers; each call must overwrite its output
    /// (no accumulation into stale values) and see the new inputs.
    func testRepeatedCallsOverwriteOutputs() {
        let g = Self.shapes[6]
        let kernels = DNNLConvolution()
        for seed in [7, 8] as [UInt64] {
            var random = ConvolutionTestRandom(seed: seed)
            let x = random.floats(g.inputCount), w = random.floats(g.weightCount)
            var y = [Float](repeating: 1e6, count: g.outputCount)
            var reference = [Float](repeating: 0, count: g.outputCount)
            kernels.forward(g, input: x, weight: w, output: &y)
            Im2colConvolution().forward(g, input: x, weight: w, output: &reference)
            let backend = kernels.backend(g, .forward)
            assertConvolutionClose(y, reference, tolerance: Self.tolerance, "forward, seed \(seed) via \(backend)")
        }
    }

    /// All cached passes stage their blocked operands in the same buffers: a small shape run
    /// again after a larger one (which grew the buffers) must still be right.
    func testPlansShareStagingBuffers() {
        let small = Self.shapes[6], large = Self.shapes[8]
        let kernels = DNNLConvolution { _, _ in .init(.blocked, .direct) }
        var random = ConvolutionTestRandom(seed: 9)
        let x = random.floats(small.inputCount), w = random.floats(small.weightCount)
        let xLarge = random.floats(large.inputCount), wLarge = random.floats(large.weightCount)
        var y = [Float](repeating: 0, count: small.outputCount), reference = y
        var yLarge = [Float](repeating: 0, count: large.outputCount)
        kernels.forward(small, input: x, weight: w, output: &y)
        kernels.forward(large, input: xLarge, weight: wLarge, output: &yLarge)
        kernels.forward(small, input: x, weight: w, output: &y)
        Im2colConvolution().forward(small, input: x, weight: w, output: &reference)
        assertConvolutionClose(y, reference, tolerance: Self.tolerance, "forward \(small) after \(large)")
    }

    func testSeveralThreadsMatchOracle() {
        checkAllPasses(DNNLConvolution(threads: 2))
    }

    /// bf16 rounds each pass's two inputs to bfloat16 and sums in float32: it must equal the
    /// oracle on inputs rounded the same way (round to nearest, ties to even) up to the order of
    /// the float32 sums, and so differ from the oracle on the unrounded inputs. A geometry marked
    /// `float32Only` keeps float32.
    func testBFloat16RoundsTheInputsAndSumsInFloat32() {
        let oracle = Im2colConvolution()
        let chosen = DNNLConvolution(threads: 1, precision: .bf16)
        for layout in [DNNLConvolution.Layout.blocked, .plain] {
            let kernels = DNNLConvolution { _, _ in .init(layout, .direct, .bf16) }
            for (index, g) in Self.shapes.enumerated() {
                var random = ConvolutionTestRandom(seed: UInt64(index + 1))
                let operands = (x: random.floats(g.inputCount), w: random.floats(g.weightCount), dy: random.floats(g.outputCount))
                let rounded = (x: operands.x.map(roundedToBFloat16), w: operands.w.map(roundedToBFloat16),
                               dy: operands.dy.map(roundedToBFloat16))
                var float32Only = g
                float32Only.float32Only = true
                for pass in DNNLConvolution.Pass.allCases {
                    let backend = kernels.backend(g, pass)
                    XCTAssertTrue(backend.contains("/bf16 "), "\(g) \(pass) fell back to \(backend)")
                    if pass == .forward {
                        let withBias = kernels.backend(g, pass, bias: true)
                        XCTAssertTrue(withBias.contains("/bf16 "), "\(g) forward with a bias fell back to \(withBias)")
                    }
                    XCTAssertFalse(chosen.backend(float32Only, pass).contains("bf16"), "\(g) \(pass), float32Only")
                    let result = run(kernels, g, pass, operands)
                    assertConvolutionClose(result, run(oracle, g, pass, rounded), tolerance: Self.tolerance, "\(pass) \(g) via \(backend)")
                    let exact = run(oracle, g, pass, operands)
                    let difference = zip(result, exact).map { abs($0 - $1) }.max()!
                    XCTAssertGreaterThan(difference, Self.tolerance * exact.map(abs).max()!, "\(pass) \(g) via \(backend) did not round")
                    assertConvolutionClose(run(chosen, float32Only, pass, operands), exact, tolerance: Self.tolerance,
                                           "\(pass) \(g), float32Only")
                }
            }
        }
    }

    /// One pass of `kernels` on the operands it reads: (x, w) forward, (dy, w) input gradient, (x, dy) weight gradient.
    private func run(_ kernels: ConvolutionKernels, _ g: ConvGeometry, _ pass: DNNLConvolution.Pass,
                     _ operands: (x: [Float], w: [Float], dy: [Float])) -> [Float] {
        switch pass {
        case .forward:
            var y = [Float](repeating: .nan, count: g.outputCount)
            kernels.forward(g, input: operands.x, weight: operands.w, output: &y)
            return y
        case .inputGradient:
            var dx = [Float](repeating: .nan, count: g.inputCount)
            kernels.inputGradient(g, outputGradient: operands.dy, weight: operands.w, inputGradient: &dx)
            return dx
        case .weightGradient:
            var dw = [Float](repeating: .nan, count: g.weightCount)
            kernels.weightGradient(g, input: operands.x, outputGradient: operands.dy, weightGradient: &dw)
            return dw
        }
    }

    /// Every pass of every shape against the oracle, the forward pass both without and with a bias.
    private func checkAllPasses(_ kernels: DNNLConvolution, file: StaticString = #filePath, line: UInt = #line) {
        let oracle = Im2colConvolution()
        for (index, g) in Self.shapes.enumerated() {
            var random = ConvolutionTestRandom(seed: UInt64(index + 1))
            let x = random.floats(g.inputCount), w = random.floats(g.weightCount), dy = random.floats(g.outputCount)
            let b = random.floats(g.outChannels)
            for bias in [nil, b] {
                var y = [Float](repeating: .nan, count: g.outputCount), yRef = y
                kernels.forward(g, input: x, weight: w, bias: bias, output: &y)
                oracle.forward(g, input: x, weight: w, bias: bias, output: &yRef)
                assertConvolutionClose(y, yRef, tolerance: Self.tolerance,
                                       "forward \(g) via \(kernels.backend(g, .forward, bias: bias != nil))",
                                       file: file, line: line)
            }

            var dx = [Float](repeating: .nan, count: g.inputCount), dxRef = dx
            kernels.inputGradient(g, outputGradient: dy, weight: w, inputGradient: &dx)
            oracle.inputGradient(g, outputGradient: dy, weight: w, inputGradient: &dxRef)
            assertConvolutionClose(dx, dxRef, tolerance: Self.tolerance,
                                   "input gradient \(g) via \(kernels.backend(g, .inputGradient))", file: file, line: line)

            var dw = [Float](repeating: .nan, count: g.weightCount), dwRef = dw
            kernels.weightGradient(g, input: x, outputGradient: dy, weightGradient: &dw)
            oracle.weightGradient(g, input: x, outputGradient: dy, weightGradient: &dwRef)
            assertConvolutionClose(dw, dwRef, tolerance: Self.tolerance,
                                   "weight gradient \(g) via \(kernels.backend(g, .weightGradient))", file: file, line: line)
        }
    }
}

/// |actual - expected|_inf <= tolerance * |expected|_inf, with the worst element in the message.
func assertConvolutionClose(_ actual: [Float], _ expected: [Float], tolerance: Float, _ what: String,
                            file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(actual.count, expected.count, what, file: file, line: line)
    let scale = expected.map(abs).max() ?? 0
    var worst = (index: 0, error: Float(0))
    for i in expected.indices {
        let error = abs(actual[i] - expected[i])
        if !(error <= worst.error) { worst = (i, error) }
    }
    XCTAssertTrue(worst.error <= tolerance * scale,
                  "\(what): element \(worst.index) is \(actual[worst.index]), expected \(expected[worst.index]) "
                      + "(error \(worst.error), allowed \(tolerance) x \(scale))", file: file, line: line)
}

/// The bfloat16 nearest to x (ties to even), as a Float: the top 16 bits of its pattern.
func roundedToBFloat16(_ x: Float) -> Float {
    let bits = x.bitPattern
    return Float(bitPattern: (bits &+ 0x7FFF &+ ((bits >> 16) & 1)) & 0xFFFF_0000)
}

/// A small seeded generator (SplitMix64) so that failures replay.
struct ConvolutionTestRandom {
    private var state: UInt64
    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [-1, 1).
    mutating func floats(_ count: Int) -> [Float] {
        (0..<count).map { _ in Float(next() >> 40) / Float(1 << 23) - 1 }
    }
}
