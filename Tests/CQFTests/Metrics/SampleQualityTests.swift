// The entry point `score` calls, on one rank and on two in-process ranks whose rows interleave
// as EvaluationBatches deals them (a harder layout than the contiguous blocks `score` gives each
// rank): the same scores within 1e-9, and against the fixtures.
import XCTest
@testable import CQF

final class SampleQualityTests: XCTestCase {
    func testOneAndTwoRanksAgree() {
        let real = MetricFixtures.features("real"), fake = MetricFixtures.features("fake")
        let logits = MetricFixtures.features("logits")
        var kid = KernelInceptionDistance()
        kid.subsets = 7
        kid.subsetSize = 100
        let one = SampleQuality.compute(features: fake, logits: logits, reference: .features(real), kid: kid)
        assertRelativeError(one.fid, MetricFixtures.scalar("fid"), below: 1e-6, "FID against pytorch-fid")
        assertRelativeError(one.inceptionScore, MetricFixtures.scalar("is_mean"), below: 1e-10, "IS against Salimans et al.")
        XCTAssertEqual(one.precision, MetricFixtures.scalar("precision"))
        XCTAssertEqual(one.recall, MetricFixtures.scalar("recall"))
        XCTAssertEqual(one.images, 250)
        XCTAssertEqual(one.referenceImages, 300)

        let two = ThreadedWorld(size: 2).run { communicator in
            SampleQuality.compute(features: Self.share(fake, communicator), logits: Self.share(logits, communicator),
                                  reference: .features(Self.share(real, communicator)), kid: kid, over: communicator)
        }
        for scores in two {
            assertRelativeError(scores.fid, one.fid, below: 1e-9, "FID, 2 ranks against 1")
            assertRelativeError(scores.inceptionScore, one.inceptionScore, below: 1e-9, "IS, 2 ranks against 1")
            assertRelativeError(scores.inceptionScoreStandardDeviation, one.inceptionScoreStandardDeviation, below: 1e-9, "IS std")
            assertRelativeError(scores.kid!, one.kid!, below: 1e-9, "KID, 2 ranks against 1")
            assertRelativeError(scores.kidStandardDeviation!, one.kidStandardDeviation!, below: 1e-9, "KID std")
            XCTAssertEqual(scores.precision, one.precision)
            XCTAssertEqual(scores.recall, one.recall)
            XCTAssertEqual(scores.images, 250)
            XCTAssertEqual(scores.referenceImages, 300)
            XCTAssertLessThanOrEqual(relativeMaxError(scores.statistics.covariance, one.statistics.covariance), 1e-12)
        }
        XCTAssertEqual(two[0].fid, two[1].fid, "every rank must get the same bits")
    }

    /// EvaluationBatches may leave a rank with no images at all.
    func testARankWithoutImages() {
        let real = MetricFixtures.features("real"), fake = MetricFixtures.features("fake")
        let logits = MetricFixtures.features("logits")
        let one = SampleQuality.compute(features: fake, logits: logits, reference: .features(real))
        let two = ThreadedWorld(size: 2).run { communicator in
            let mine = { (set: FeatureSet) in communicator.rank == 0 ? set : FeatureSet(dimension: set.dimension) }
            return SampleQuality.compute(features: mine(fake), logits: mine(logits), reference: .features(mine(real)), over: communicator)
        }
        for scores in two {
            XCTAssertEqual(scores.images, 250)
            assertRelativeError(scores.fid, one.fid, below: 1e-12, "FID with an idle rank")
            assertRelativeError(scores.kid!, one.kid!, below: 1e-12, "KID with an idle rank")
            assertRelativeError(scores.inceptionScore, one.inceptionScore, below: 1e-12, "IS with an idle rank")
            XCTAssertEqual(scores.precision, one.precision)
            XCTAssertEqual(scores.recall, one.recall)
        }
    }

    func testPublishedStatisticsGiveFIDOnly() throws {
        let reference = try FeatureStatistics(contentsOf: MetricFixtures.path("fid_stats.npz"))
        let scores = SampleQuality.compute(features: MetricFixtures.features("fake"), logits: MetricFixtures.features("logits"),
                                           reference: .statistics(reference))
        assertRelativeError(scores.fid, MetricFixtures.scalar("fid"), below: 1e-6, "FID against pytorch-fid's statistics file")
        XCTAssertNil(scores.kid)
        XCTAssertNil(scores.precision)
        XCTAssertNil(scores.referenceImages)
    }

    /// This rank's rows of `set` as EvaluationBatches deals them: batches of 32, each cut into
    /// one contiguous part per rank.
    private static func share(_ set: FeatureSet, _ communicator: Communicator) -> FeatureSet {
        var rows = FeatureSet(dimension: set.dimension)
        for start in stride(from: 0, to: set.count, by: 32) {
            let size = min(32, set.count - start)
            let part = start + communicator.rank * size / communicator.size..<start + (communicator.rank + 1) * size / communicator.size
            let values = Array(set.values[part.lowerBound * set.dimension..<part.upperBound * set.dimension])
            rows.append(Tensor(shape: [part.count, set.dimension], values), firstIndex: part.lowerBound)
        }
        return rows
    }
}
