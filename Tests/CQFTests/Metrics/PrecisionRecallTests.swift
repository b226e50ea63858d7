// Precision and recall (k = 3) against a numpy oracle of Kynkäänniemi et al.'s rule.
import XCTest
@testable import CQF

final class PrecisionRecallTests: XCTestCase {
    func testAgainstOracle() {
        let result = precisionAndRecall(real: MetricFixtures.features("real"), fake: MetricFixtures.features("fake"))
        XCTAssertEqual(result.precision, MetricFixtures.scalar("precision"))
        XCTAssertEqual(result.recall, MetricFixtures.scalar("recall"))
        XCTAssertTrue(result.precision > 0.1 && result.precision < 0.9 && result.recall > 0.1 && result.recall < 0.9,
                      "the fixture should not sit at an end: \(result)")
    }

    func testASetAgainstItselfIsWhole() {
        let real = MetricFixtures.features("real")
        let result = precisionAndRecall(real: real, fake: real)
        XCTAssertEqual(result.precision, 1)
        XCTAssertEqual(result.recall, 1)
    }

    /// Fake features far from every real one: nothing inside the other set's balls.
    func testDisjointSetsScoreZero() {
        let real = MetricFixtures.features("real")
        let far = FeatureSet(dimension: 64, values: real.values.map { $0 + 1000 })
        let result = precisionAndRecall(real: real, fake: far)
        XCTAssertEqual(result.precision, 0)
        XCTAssertEqual(result.recall, 0)
    }
}
