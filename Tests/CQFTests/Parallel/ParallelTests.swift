// The parallel layer's pieces that need no MPI: the parameter checksum, the spread over ranks,
// and the collectives' single-process behaviour (multi-rank runs are in launch/ci).
import XCTest
@testable import CQF

final class ParallelTests: XCTestCase {
    func testChecksumSeesSwapsAndLastBits() {
        let values: [Float] = (0..<1001).map { Float($0) * 0.37 }
        var swapped = values
        swapped.swapAt(3, 700)
        var nudged = values
        nudged[1000] = nudged[1000].nextUp
        let checksum = { (v: [Float]) in v.withUnsafeBufferPointer(parameterChecksum) }
        XCTAssertEqual(checksum(values), checksum(values))
        XCTAssertNotEqual(checksum(values), checksum(swapped))
        XCTAssertNotEqual(checksum(values), checksum(nudged))
        XCTAssertLessThan(checksum(values), 0x1p52, "the checksum must fit a double's mantissa")
    }

    func testSpreadOverRanks() {
        let spread = RankSpread([0.3, 0.1, 0.9, 0.2])
        XCTAssertEqual(spread.min, 0.1)
        XCTAssertEqual(spread.median, 0.25, accuracy: 1e-12)
        XCTAssertEqual(spread.max, 0.9)
        XCTAssertEqual(spread.maxRank, 2)
    }

    func testSingleProcessCollectives() {
        let world = SingleProcess()
        XCTAssertEqual(world.gathered([1, 2]), [[1, 2]])
        XCTAssertTrue(world.anyRank(true))
        XCTAssertFalse(world.anyRank(false))
        let set = ParameterSet()
        _ = set.declare("w", shape: [3], values: [1, 2, 3])
        set.build()
        set.gradients.pointer.update(repeating: 0.5, count: 3)
        GradientReducer(world).reduce(set)
        XCTAssertEqual(Array(UnsafeBufferPointer(start: set.gradients.pointer, count: 3)), [0.5, 0.5, 0.5])
        world.verifyIdentical(set, name: "w", step: 0)
        let summary = world.stragglerSummary(stepSeconds: 0.5, commSeconds: 0.1)
        XCTAssertEqual(summary.stepSeconds.median, 0.5)
        XCTAssertEqual(summary.metrics["comm_s_max"], 0.1)
    }
}
