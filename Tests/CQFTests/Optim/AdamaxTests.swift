// Adamax against its definition computed in Double (Kingma & Ba 2015, Algorithm 2), over enough
// parameters that the engine's threads share the update, and the same bits on one and two threads.
import XCTest
@testable import CQF

final class AdamaxTests: XCTestCase {
    func testThreeStepsFollowTheDefinitionOnAnyThreadCount() {
        let count = 150_001
        var random = TestRandom(seed: 21)
        let start = random.tensor([count]).array
        let gradients = (0..<3).map { _ in random.tensor([count], in: -2...2).array }

        // The definition, in Double.
        var (p, m, u) = (start.map(Double.init), [Double](repeating: 0, count: count), [Double](repeating: 0, count: count))
        for (t, g) in gradients.enumerated() {
            let rate = 0.002 / (1 - pow(0.9, Double(t + 1)))
            for i in 0..<count {
                m[i] = 0.9 * m[i] + 0.1 * Double(g[i])
                u[i] = max(0.999 * u[i], abs(Double(g[i])))
                p[i] -= rate * m[i] / (u[i] + 1e-8)
            }
        }

        let results = [1, 2].map { threads in
            EngineThreads.count = threads
            defer { EngineThreads.count = 1 }
            let parameters = ParameterSet()
            _ = parameters.declare("w", shape: [count], values: start)
            parameters.build()
            let adamax = Adamax(count: count)
            for g in gradients {
                parameters.gradients.pointer.update(from: g, count: count)
                adamax.update(parameters)
            }
            return Array(UnsafeBufferPointer(start: parameters.values.pointer, count: count))
        }
        XCTAssertEqual(results[0], results[1], "one and two threads differ")
        let worst = zip(results[1], p).map { abs(Double($0) - $1) }.max()!
        XCTAssertLessThan(worst, 1e-6, "largest difference from the definition")
    }
}
