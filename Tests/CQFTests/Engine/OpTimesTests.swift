// `bench --ops`'s timer: each op's time goes to its own name once per call, and a backward rule
// is timed whole, the ops inside it counting for the rule rather than for themselves.
import XCTest
@testable import CQF

final class OpTimesTests: XCTestCase {
    func testEachOpAndEachBackwardRuleIsTimedOnceUnderItsName() {
        var random = TestRandom(seed: 3)
        let x = random.tensor([2, 3, 5, 5]).requiringGrad()
        OpTimes.reset()
        OpTimes.isOn = true
        defer { OpTimes.isOn = false }
        // elu's rule multiplies and adds; those calls must count for "backward of elu".
        _ = grad(of: (elu(x) * 2).sum(), wrt: [x])
        let calls = OpTimes.totals.mapValues(\.calls)
        for op in ["elu", "multiply", "sum", "backward of sum", "backward of multiply", "backward of elu"] {
            XCTAssertEqual(calls[op], 1, op)
        }
        XCTAssertNil(calls["add"])
        XCTAssertTrue(OpTimes.totals.values.allSatisfy { $0.seconds >= 0 })
    }

    func testNothingIsTimedWhenOff() {
        OpTimes.reset()
        _ = grad(of: elu(Tensor(shape: [3], [1, -2, 3]).requiringGrad()).sum(), wrt: [Tensor(shape: [3], repeating: 0)])
        XCTAssertTrue(OpTimes.totals.isEmpty)
    }
}
