// The ops that share images or planes among the engine's threads (forEachBlock): channel
// concatenation, slices and their adjoint padding, upsampling and sum pooling, against values
// computed index by index, on one and two threads (shapes large enough that two threads split).
import XCTest
@testable import CQF

final class BlockOpsTests: XCTestCase {
    let (n, h, w) = (8, 67, 131)

    private func onThreads(_ body: () -> Void) {
        for threads in [1, 2] {
            EngineThreads.count = threads
            defer { EngineThreads.count = 1 }
            body()
        }
    }

    /// Value (image, channel, row, column) of an (N, C, H, W) tensor's values.
    private func at(_ values: [Float], _ shape: [Int], _ i: Int, _ c: Int, _ y: Int, _ x: Int) -> Float {
        values[((i * shape[1] + c) * shape[2] + y) * shape[3] + x]
    }

    func testConcatSliceAndPaddingMoveEveryValue() {
        var random = TestRandom(seed: 11)
        let (a, b) = (random.tensor([n, 3, h, w]), random.tensor([n, 5, h, w]))
        let (va, vb) = (a.array, b.array)
        onThreads {
            let joined = concatChannels([a, b])
            let slice = joined.channels(2..<6)
            let padded = a.paddingChannels(before: 2, after: 4)
            let (vj, vs, vp) = (joined.array, slice.array, padded.array)
            for i in 0..<n { for c in 0..<9 { for y in stride(from: 0, to: h, by: 7) { for x in stride(from: 0, to: w, by: 5) {
                if c < 8 {
                    XCTAssertEqual(at(vj, joined.shape, i, c, y, x), c < 3 ? at(va, a.shape, i, c, y, x) : at(vb, b.shape, i, c - 3, y, x))
                }
                if c < 4 { XCTAssertEqual(at(vs, slice.shape, i, c, y, x), at(vj, joined.shape, i, c + 2, y, x)) }
                XCTAssertEqual(at(vp, padded.shape, i, c, y, x), (2..<5).contains(c) ? at(va, a.shape, i, c - 2, y, x) : 0)
            } } } }
        }
    }

    func testUpsampleRepeatsAndSumPoolAddsEachBlock() {
        var random = TestRandom(seed: 12)
        let x = random.tensor([n, 6, h, w])
        let values = x.array
        onThreads {
            let up = upsample2x(x)
            let pooled = sumPool2x2(up)
            let (vu, vp) = (up.array, pooled.array)
            for i in 0..<n { for c in 0..<6 { for y in 0..<2 * h { for col in stride(from: 0, to: 2 * w, by: 3) {
                XCTAssertEqual(at(vu, up.shape, i, c, y, col), at(values, x.shape, i, c, y / 2, col / 2))
            } } } }
            XCTAssertEqual(vp, values.map { $0 + $0 + $0 + $0 })
        }
    }
}
