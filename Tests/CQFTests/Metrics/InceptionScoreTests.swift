// The Inception Score at its two ends (uniform predictions 1, balanced one-hot predictions the
// number of classes) and against Salimans et al.'s code on random logits.
import XCTest
@testable import CQF

final class InceptionScoreTests: XCTestCase {
    func testUniformPredictionsScoreOne() {
        let score = inceptionScore(logits: FeatureSet(dimension: 7, values: [Float](repeating: 2.5, count: 100 * 7)))
        XCTAssertTrue(score.mean.isFinite && score.standardDeviation.isFinite)
        XCTAssertLessThanOrEqual(abs(score.mean - 1), 1e-12)
        XCTAssertLessThanOrEqual(score.standardDeviation, 1e-12)
    }

    /// Logits 0 for one class and -1e4 for the others: probabilities exactly 1 and 0 in float64.
    func testBalancedOneHotPredictionsScoreTheNumberOfClasses() {
        let classes = 10
        var logits = [Float](repeating: -1e4, count: 200 * classes)
        for row in 0..<200 { logits[row * classes + row % classes] = 0 }
        let score = inceptionScore(logits: FeatureSet(dimension: classes, values: logits))
        XCTAssertTrue(score.mean.isFinite && score.standardDeviation.isFinite)
        XCTAssertLessThanOrEqual(abs(score.mean - Double(classes)), 1e-9)
        XCTAssertLessThanOrEqual(score.standardDeviation, 1e-9)
    }

    func testAgainstSalimansCode() {
        let score = inceptionScore(logits: MetricFixtures.features("logits"))
        let mean = assertRelativeError(score.mean, MetricFixtures.scalar("is_mean"), below: 1e-10, "IS mean")
        let deviation = assertRelativeError(score.standardDeviation, MetricFixtures.scalar("is_std"), below: 1e-8, "IS std")
        print("InceptionScoreTests: against Salimans et al.'s code, relative error \(mean) (mean), \(deviation) (std)")
    }
}
