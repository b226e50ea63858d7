// The forward-only ops of pytorch-fid's Inception on inputs small enough to read: the values are
// PyTorch's (F.avg_pool2d with count_include_pad=False, F.max_pool2d, F.interpolate bilinear
// with align_corners=False), printed by torch 2.15 for these inputs.
import XCTest
@testable import CQF

final class PoolingTests: XCTestCase {
    let plane = Tensor(shape: [1, 1, 3, 4], [3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8])

    /// Edges and corners divide by the taps inside the image (6 and 4), not by 9.
    func testAveragePoolExcludesPaddingFromTheCount() {
        let expected: [Float] = [4.5, 4, 23.0 / 6, 3.25, 13.0 / 3, 37.0 / 9, 13.0 / 3, 13.0 / 3, 5.5, 29.0 / 6, 5.5, 5.25]
        let pooled = averagePool2dExcludingPadding(plane, kernel: 3, stride: 1, padding: 1)
        XCTAssertEqual(pooled.shape, [1, 1, 3, 4])
        for (value, reference) in zip(pooled.array, expected) { XCTAssertEqual(value, reference, accuracy: 1e-6) }
    }

    func testMaxPoolPaddedAndStrided() {
        XCTAssertEqual(maxPool2d(plane, kernel: 3, stride: 1, padding: 1).array, [9, 9, 9, 6, 9, 9, 9, 8, 9, 9, 9, 8])
        let strided = maxPool2d(plane, kernel: 3, stride: 2)
        XCTAssertEqual(strided.shape, [1, 1, 1, 1])
        XCTAssertEqual(strided.array, [9])
    }

    /// Up on one axis and down on the other: the source index clamps at 0 and at the last pixel.
    func testBilinearResizeFollowsPyTorch() {
        let square = resizedBilinear(Tensor(shape: [1, 1, 2, 2], [0, 1, 2, 3]), height: 3, width: 3)
        XCTAssertEqual(square.array, [0, 0.5, 1, 1, 1.5, 2, 2, 2.5, 3])
        let oblong = resizedBilinear(Tensor(shape: [1, 1, 3, 5], (0..<15).map(Float.init)), height: 4, width: 2)
        XCTAssertEqual(oblong.shape, [1, 1, 4, 2])
        for (value, reference) in zip(oblong.array, [0.75, 3.25, 3.875, 6.375, 7.625, 10.125, 10.75, 13.25] as [Float]) {
            XCTAssertEqual(value, reference, accuracy: 1e-5)
        }
    }
}
