// The antialiasing resize: an exact copy at scale 1, constants stay constant, and a 2:1
// reduction of a linear ramp lands on the ramp's value at each output pixel's center.
import XCTest
@testable import CQF

final class CenterCropResizeTests: XCTestCase {
    private func resize(_ input: [UInt8], side: Int, crop: Int, to size: Int, left: Int = 0, top: Int = 0) -> [UInt8] {
        var output = [UInt8](repeating: 0, count: size * size)
        input.withUnsafeBufferPointer { input in
            output.withUnsafeMutableBufferPointer { output in
                CenterCropResizer(outputSize: size).resize(input.baseAddress!, channels: 1, rowStride: side, pixelStride: 1,
                                                           channelStride: side * side, left: left, top: top, side: crop,
                                                           into: output.baseAddress!)
            }
        }
        return output
    }

    func testSameSizeIsAnExactCopyOfTheCrop() {
        let input = (0..<(20 * 20)).map { UInt8(($0 * 37) % 256) }
        let output = resize(input, side: 20, crop: 12, to: 12, left: 4, top: 3)
        for y in 0..<12 { for x in 0..<12 { XCTAssertEqual(output[y * 12 + x], input[(y + 3) * 20 + x + 4]) } }
    }

    func testConstantStaysConstant() {
        for (crop, size) in [(178, 96), (256, 64), (30, 7), (10, 25)] {
            let output = resize([UInt8](repeating: 77, count: crop * crop), side: crop, crop: crop, to: size)
            XCTAssertTrue(output.allSatisfy { $0 == 77 }, "\(crop) -> \(size)")
        }
    }

    func testHalvingARampSamplesItsCenters() {
        let input: [UInt8] = (0..<(64 * 64)).map { (i: Int) -> UInt8 in UInt8(2 * (i % 64) + i / 64) }
        let output = resize(input, side: 64, crop: 64, to: 32)
        for y in 1..<31 {
            for x in 1..<31 {
                // Output (y, x) covers input rows and columns 2y..2y+1: the ramp there averages 4x + 2y + 1.5.
                XCTAssertEqual(Double(output[y * 32 + x]), Double(4 * x + 2 * y) + 1.5, accuracy: 0.51)
            }
        }
    }
}
