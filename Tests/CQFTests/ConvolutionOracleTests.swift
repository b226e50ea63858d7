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
