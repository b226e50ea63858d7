// The engine's own e^x and e^x - 1 (Exponentials.swift) against libm in double precision, through
// the ops that use them, over floats of every magnitude: errors in units in the last place of
// the float nearest the exact value, and the values at the edges (0, overflow, NaN, infinities).
import Foundation
import XCTest
@testable import CQF

final class ExponentialsTests: XCTestCase {
    /// Every 1021st float from -110 to 110, both signs and all magnitudes down to denormals.
    let inputs: [Float] = {
        let positive = stride(from: UInt32(1), to: Float(110).bitPattern, by: 1021).map { Float(bitPattern: $0) }
        return positive + positive.map { -$0 }
    }()

    /// The largest error of `op` over `inputs`, in ulps of the float nearest `exact`.
    func largestError(_ op: (Tensor) -> Tensor, _ exact: (Double) -> Double) -> Double {
        let got = op(Tensor(shape: [inputs.count], inputs)).array
        return zip(inputs, got).map { x, y in
            let reference = exact(Double(x))
            let nearest = Float(reference)
            guard nearest.isFinite else { return y == nearest ? 0 : .infinity }
            return Swift.abs(Double(y) - reference) / Double(nearest.ulp)
        }.max()!
    }

    func testWithinTwoAndAHalfUlpsOfLibmEverywhere() {
        let errors = [
            ("exp", largestError(exp, Foundation.exp)),
            ("elu", largestError(elu) { $0 > 0 ? $0 : Foundation.expm1($0) }),
            ("tanh", largestError(tanh, Foundation.tanh)),
            ("sigmoid", largestError(sigmoid) { 1 / (1 + Foundation.exp(-$0)) }),
        ]
        for (name, error) in errors {
            XCTAssertLessThanOrEqual(error, 2.5, name)
        }
    }

    func testEdges() {
        let x = Tensor(shape: [7], [0, 88.7, 88.8, -103, -105, .infinity, -.infinity])
        let (large, small) = (Double(Float(88.7)), -103.0)
        XCTAssertEqual(exp(x).array, [1, Float(Foundation.exp(large)), .infinity, Float(Foundation.exp(small)), 0, .infinity, 0])
        XCTAssertEqual(elu(x).array, [0, 88.7, 88.8, -1, -1, .infinity, -1])
        XCTAssertEqual(tanh(x).array, [0, 1, 1, -1, -1, 1, -1])
        XCTAssertEqual(sigmoid(x).array, [0.5, 1, 1, Float(Foundation.exp(small)), 0, 1, 0])
        for op in [exp, elu, tanh, sigmoid] as [(Tensor) -> Tensor] {
            XCTAssertTrue(op(Tensor(shape: [1], [.nan])).array[0].isNaN)
        }
    }
}
