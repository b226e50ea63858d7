// The broadcast loops (merged dimensions, runs cut between threads) against a plain oracle that
// computes every output element from its four indices, on odd sizes, on one and two threads.
import XCTest
@testable import CQF

final class BroadcastingTests: XCTestCase {
    /// Operand shape pairs of every kind the loops distinguish: same shape, per-channel, per-image,
    /// scalar, stretched on either side, and lower rank. Outputs have more than 2 x 2^16 elements,
    /// so two threads do split them.
    let pairs: [([Int], [Int])] = [
        ([3, 5, 67, 131], [3, 5, 67, 131]), ([3, 5, 67, 131], [1, 5, 1, 1]), ([1, 5, 1, 1], [3, 5, 67, 131]),
        ([3, 5, 67, 131], [3, 1, 1, 1]), ([3, 5, 67, 131], []), ([3, 1, 67, 131], [1, 5, 67, 1]),
        ([3, 5, 67, 131], [67, 131]), ([5, 1, 1], [3, 1, 67, 131]),
    ]

    func testBinaryOpsMatchPlainOracle() {
        var random = TestRandom(seed: 5)
        for threads in [1, 2] {
            EngineThreads.count = threads
            defer { EngineThreads.count = 1 }
            for (sa, sb) in pairs {
                let (a, b) = (random.tensor(sa), random.tensor(sb))
                let shape = broadcastShape(sa, sb)
                XCTAssertEqual((a - b).array, oracle(a, b, shape) { $0 - $1 }, "\(sa) - \(sb), \(threads) threads")
                XCTAssertEqual((a * b).array, oracle(a, b, shape) { $0 * $1 }, "\(sa) * \(sb), \(threads) threads")
            }
        }
    }

    func testBroadcastToMatchesPlainOracle() {
        var random = TestRandom(seed: 6)
        for threads in [1, 2] {
            EngineThreads.count = threads
            defer { EngineThreads.count = 1 }
            for (source, target) in [([1, 5, 1, 1], [3, 5, 67, 131]), ([3, 1, 67, 1], [3, 5, 67, 131]), ([131], [3, 5, 67, 131])] {
                let x = random.tensor(source)
                XCTAssertEqual(x.broadcast(to: target).array, oracle(Tensor(0), x, target) { $1 },
                               "\(source) to \(target), \(threads) threads")
            }
        }
    }

    /// Sums over every kind of axis set: the same bits on one and two threads (threads split a
    /// kept dimension, never a sum), and the values of a plain sum in Double.
    func testSumsMatchPlainOracleOnAnyThreadCount() {
        var random = TestRandom(seed: 7)
        let shape = [3, 5, 67, 131]
        let x = random.tensor(shape)
        let values = x.array
        for axes in [[0, 2, 3], [0], [2, 3], [1], [0, 1], [3], [1, 3], [0, 1, 2, 3]] {
            let kept = shape.indices.map { axes.contains($0) ? 1 : shape[$0] }
            var oracle = [Double](repeating: 0, count: kept.reduce(1, *))
            for n in 0..<shape[0] { for c in 0..<shape[1] { for h in 0..<shape[2] { for w in 0..<shape[3] {
                let i = [n, c, h, w]
                let target = (0..<4).reduce(0) { $0 * kept[$1] + (kept[$1] == 1 ? 0 : i[$1]) }
                oracle[target] += Double(values[((n * shape[1] + c) * shape[2] + h) * shape[3] + w])
            } } } }
            let sums = [1, 2].map { threads in
                EngineThreads.count = threads
                defer { EngineThreads.count = 1 }
                return x.sum(alongAxes: axes).array
            }
            XCTAssertEqual(sums[0], sums[1], "sum over \(axes): one and two threads differ")
            for (sum, expected) in zip(sums[1], oracle) {
                XCTAssertEqual(Double(sum), expected, accuracy: 1e-4 * max(1, abs(expected)), "sum over \(axes)")
            }
        }
    }

    /// out[n, c, h, w] = f(a[...], b[...]), each operand indexed with 0 along its stretched dimensions.
    private func oracle(_ a: Tensor, _ b: Tensor, _ shape: [Int], _ f: (Float, Float) -> Float) -> [Float] {
        let o = padded4(shape)
        let (pa, pb) = (padded4(a.shape), padded4(b.shape))
        let (va, vb) = (a.array, b.array)
        func offset(_ i: [Int], _ s: [Int]) -> Int {
            (0..<4).reduce(0) { $0 * s[$1] + (s[$1] == 1 ? 0 : i[$1]) }
        }
        var out: [Float] = []
        for n in 0..<o[0] { for c in 0..<o[1] { for h in 0..<o[2] { for w in 0..<o[3] {
            let i = [n, c, h, w]
            out.append(f(va[offset(i, pa)], vb[offset(i, pb)]))
        } } } }
        return out
    }
}
