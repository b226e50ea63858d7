// KID against a numpy oracle of torch-fidelity's unbiased MMD² over the same subsets, and the
// subsets our generator draws. The oracle is float64 throughout; our Gram matrices are float32
// (as torch-fidelity's), which leaves errors near 1e-7 of MMD² here: the tolerance is 1e-5,
// a hundred times below the spread of MMD² over subsets.
import XCTest
@testable import CQF

final class KernelInceptionDistanceTests: XCTestCase {
    func testSubsetsAgainstOracle() {
        let real = MetricFixtures.features("real"), fake = MetricFixtures.features("fake")
        let realRows = MetricFixtures.array("kid_real_rows").values.map { Int($0) }
        let fakeRows = MetricFixtures.array("kid_fake_rows").values.map { Int($0) }
        let expected = MetricFixtures.array("kid_mmd").values
        var worst = 0.0
        for subset in 0..<expected.count {
            let rows = subset * 100..<(subset + 1) * 100
            let estimate = KernelInceptionDistance().mmdSquared(real, rows: Array(realRows[rows]), fake, rows: Array(fakeRows[rows]))
            worst = max(worst, assertRelativeError(estimate, expected[subset], below: 1e-5, "MMD² of subset \(subset)"))
        }
        print("KernelInceptionDistanceTests: per-subset MMD² against the oracle, worst relative error \(worst)")
    }

    /// One subset as large as both sets is the whole sets, whatever order it draws them in.
    func testOneWholeSubsetAgainstOracle() {
        let real = MetricFixtures.features("real"), fake = MetricFixtures.features("fake")
        let first250 = FeatureSet(dimension: 64, values: Array(real.values[..<(250 * 64)]))
        var kid = KernelInceptionDistance()
        kid.subsets = 1
        kid.subsetSize = 250
        let result = kid(real: first250, fake: fake)
        let error = assertRelativeError(result.mean, MetricFixtures.scalar("kid_full"), below: 1e-5, "KID of the whole sets")
        XCTAssertEqual(result.standardDeviation, 0)
        print("KernelInceptionDistanceTests: whole sets against the oracle, relative error \(error)")
    }

    func testSubsetsAreDistinctDeterministicAndShrinkToTheSmallerSet() {
        let kid = KernelInceptionDistance()
        let rows = kid.subsetRows(3, of: 300, size: 100, side: 0)
        XCTAssertEqual(rows.count, 100)
        XCTAssertEqual(Set(rows).count, 100)
        XCTAssertTrue(rows.allSatisfy { (0..<300).contains($0) })
        XCTAssertEqual(rows, kid.subsetRows(3, of: 300, size: 100, side: 0))
        XCTAssertNotEqual(rows, kid.subsetRows(4, of: 300, size: 100, side: 0))
        XCTAssertNotEqual(rows, kid.subsetRows(3, of: 300, size: 100, side: 1))
        XCTAssertEqual(Set(kid.subsetRows(0, of: 50, size: 50, side: 0)), Set(0..<50))

        let real = MetricFixtures.features("real"), fake = MetricFixtures.features("fake")
        var small = KernelInceptionDistance(), large = KernelInceptionDistance()
        small.subsets = 3
        large.subsets = 3
        small.subsetSize = 250
        let shrunk = large(real: real, fake: fake), direct = small(real: real, fake: fake)
        XCTAssertTrue(shrunk.mean.isFinite && shrunk.standardDeviation > 0)
        XCTAssertEqual(shrunk.mean, direct.mean, "subsets of 1000 from 300 and 250 features are subsets of 250")
        XCTAssertEqual(shrunk.standardDeviation, direct.standardDeviation)
    }
}
