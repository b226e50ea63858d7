import XCTest
@testable import CQF

final class ConvolutionOracleTests: XCTestCase {
    /// The im2col oracle against a direct 7-loop convolution on an odd-sized input.
    func testIm2colMatchesDirectLoops() {
        let g = ConvGeometry(batch: 2, inChannels: 3, outChannels: 4, height: 7, width: 5,
                             kernelHeight: 3, kernelWidth: 3, stride: 2, padding: 1)
        var x = (0..<g.inputCount).map { Float(($0 * 37) % 11) - 5 }
        var w = (0..<g.weightCount).map { Float(($0 * 13) % 7) - 3 }
        var y = [Float](repeating: .nan, count: g.outputCount)
        Im2colConvolution().forward(g, input: &x, weight: &w, output: &y)
        for n in 0..<g.batch { for k in 0..<g.outChannels { for p in 0..<g.outHeight { for q in 0..<g.outWidth {
            var sum: Float = 0
            for c in 0..<g.inChannels { for r in 0..<3 { for s in 0..<3 {
                let (i, j) = (p * 2 + r - 1, q * 2 + s - 1)
                guard i >= 0, i < g.height, j >= 0, j < g.width else { continue }
                sum += x[((n * 3 + c) * g.height + i) * g.width + j] * w[((k * 3 + c) * 3 + r) * 3 + s]
            } } }
            XCTAssertEqual(y[((n * 4 + k) * g.outHeight + p) * g.outWidth + q], sum, accuracy: 1e-4)
        } } } }
    }
}

/// All three passes of the oracle against direct loops over the convolution's definition
/// y[n,k,p,q] = b[k] + sum_{c,r,s} x[n,c,p*stride+r-pad,q*stride+s-pad] w[k,c,r,s], at shapes where
/// im2col's index arithmetic could go wrong: strides that do not divide, non-square kernels,
/// 1x1 kernels, padding wider than the stride, padding that differs between the axes.
final class ConvolutionOracleAllPassesTests: XCTestCase {
    static let shapes: [ConvGeometry] = [
        ConvGeometry(batch: 3, inChannels: 2, outChannels: 3, height: 5, width: 7,
                     kernelHeight: 3, kernelWidth: 3, stride: 1, padding: 1),
        ConvGeometry(batch: 1, inChannels: 3, outChannels: 2, height: 9, width: 8,
                     kernelHeight: 4, kernelWidth: 4, stride: 2, padding: 1),
        ConvGeometry(batch: 2, inChannels: 5, outChannels: 4, height: 7, width: 5,
                     kernelHeight: 1, kernelWidth: 1, stride: 2),
        ConvGeometry(batch: 2, inChannels: 2, outChannels: 3, height: 6, width: 7,
                     kernelHeight: 2, kernelWidth: 3, stride: 3, padding: 2),
    ] + oneAxisKernels

    /// Inception's one-axis kernels (1x7, 7x1, 1x3, 3x1), each padded on its long axis only, and
    /// a stride-2 one whose two paddings differ; wide enough in channels for oneDNN's blocked
    /// kernels, which DNNLConvolutionTests runs on them too.
    static let oneAxisKernels: [ConvGeometry] = [
        ConvGeometry(batch: 2, inChannels: 20, outChannels: 24, height: 9, width: 11,
                     kernelHeight: 1, kernelWidth: 7, stride: 1, padding: (0, 3)),
        ConvGeometry(batch: 1, inChannels: 24, outChannels: 18, height: 11, width: 9,
                     kernelHeight: 7, kernelWidth: 1, stride: 1, padding: (3, 0)),
        ConvGeometry(batch: 3, inChannels: 16, outChannels: 32, height: 8, width: 7,
                     kernelHeight: 1, kernelWidth: 3, stride: 1, padding: (0, 1)),
        ConvGeometry(batch: 2, inChannels: 32, outChannels: 16, height: 7, width: 8,
                     kernelHeight: 3, kernelWidth: 1, stride: 1, padding: (1, 0)),
        ConvGeometry(batch: 2, inChannels: 5, outChannels: 9, height: 10, width: 9,
                     kernelHeight: 5, kernelWidth: 3, stride: 2, padding: (2, 0)),
    ]

    func testAllPassesMatchDirectLoops() {
        for (index, g) in Self.shapes.enumerated() {
            var random = ConvolutionTestRandom(seed: UInt64(100 + index))
            let x = random.floats(g.inputCount), w = random.floats(g.weightCount), dy = random.floats(g.outputCount)
            let b = random.floats(g.outChannels)
            let plane = g.outHeight * g.outWidth
            var y = (0..<g.outputCount).map { b[$0 / plane % g.outChannels] }
            var dx = [Float](repeating: 0, count: g.inputCount)
            var dw = [Float](repeating: 0, count: g.weightCount)
            // Each direct pass visits every (output, input, weight) triple the convolution links.
            forEachTap(g) { o, i, k in
                y[o] += x[i] * w[k]
                dx[i] += dy[o] * w[k]
                dw[k] += dy[o] * x[i]
            }
            var yOracle = [Float](repeating: .nan, count: g.outputCount)
            var dxOracle = [Float](repeating: .nan, count: g.inputCount)
            var dwOracle = [Float](repeating: .nan, count: g.weightCount)
            let oracle = Im2colConvolution()
            oracle.forward(g, input: x, weight: w, bias: b, output: &yOracle)
            oracle.inputGradient(g, outputGradient: dy, weight: w, inputGradient: &dxOracle)
            oracle.weightGradient(g, input: x, outputGradient: dy, weightGradient: &dwOracle)
            assertConvolutionClose(yOracle, y, tolerance: 1e-5, "forward \(g)")
            assertConvolutionClose(dxOracle, dx, tolerance: 1e-5, "input gradient \(g)")
            assertConvolutionClose(dwOracle, dw, tolerance: 1e-5, "weight gradient \(g)")
        }
    }

    /// Calls `body(output index, input index, weight index)` for every tap inside the image.
    private func forEachTap(_ g: ConvGeometry, _ body: (Int, Int, Int) -> Void) {
        for n in 0..<g.batch { for k in 0..<g.outChannels { for p in 0..<g.outHeight { for q in 0..<g.outWidth {
            let o = ((n * g.outChannels + k) * g.outHeight + p) * g.outWidth + q
            for c in 0..<g.inChannels { for r in 0..<g.kernelHeight { for s in 0..<g.kernelWidth {
                let (i, j) = (p * g.stride + r - g.paddingHeight, q * g.stride + s - g.paddingWidth)
                guard i >= 0, i < g.height, j >= 0, j < g.width else { continue }
                body(o, ((n * g.inChannels + c) * g.height + i) * g.width + j,
                     ((k * g.inChannels + c) * g.kernelHeight + r) * g.kernelWidth + s)
            } } }
        } } } }
    }
}
