// The Fréchet distance against its closed forms and against pytorch-fid's
// calculate_frechet_distance on the same statistics.
import XCTest
@testable import CQF

final class FrechetDistanceTests: XCTestCase {
    func testAgainstPytorchFid() {
        var real = FeatureMoments(dimension: 64), fake = FeatureMoments(dimension: 64)
        real.add(MetricFixtures.features("real"))
        fake.add(MetricFixtures.features("fake"))
        let fromMoments = assertRelativeError(frechetDistance(real.statistics, fake.statistics), MetricFixtures.scalar("fid"),
                                              below: 1e-6, "FD of our statistics against pytorch-fid")
        let fromNumpy = assertRelativeError(frechetDistance(MetricFixtures.statistics("real"), MetricFixtures.statistics("fake")),
                                            MetricFixtures.scalar("fid"), below: 1e-6, "FD of numpy's statistics against pytorch-fid")
        print("FrechetDistanceTests: against pytorch-fid, relative error \(fromMoments) (our statistics), \(fromNumpy) (numpy's)")
    }

    func testSingularCovariances() {
        var real = FeatureMoments(dimension: 64), fake = FeatureMoments(dimension: 64)
        real.add(MetricFixtures.features("low_real"))
        fake.add(MetricFixtures.features("low_fake"))
        let distance = frechetDistance(real.statistics, fake.statistics)
        let eigen = assertRelativeError(distance, MetricFixtures.scalar("low_fid"), below: 1e-9, "rank-8 FD against numpy's eigenvalues")
        let pytorchFid = assertRelativeError(distance, MetricFixtures.scalar("low_fid_pytorch_fid"), below: 1e-6,
                                             "rank-8 FD against pytorch-fid")
        print("FrechetDistanceTests: rank 8 of 64, relative error \(eigen) (numpy eigenvalues), \(pytorchFid) (pytorch-fid)")
    }

    /// Singular covariances are where round-off could make ranks disagree (see FrechetDistance.swift).
    func testSingularCovariancesOnTwoRanksEqualOne() {
        let real = MetricFixtures.features("low_real"), fake = MetricFixtures.features("low_fake")
        let one = frechetDistance(statistics(fake, over: SingleProcess()), statistics(real, over: SingleProcess()))
        let two = ThreadedWorld(size: 2).run { communicator in
            frechetDistance(self.statistics(fake, over: communicator), self.statistics(real, over: communicator))
        }
        for distance in two {
            let error = assertRelativeError(distance, one, below: 1e-9, "rank-8 FD, 2 ranks against 1")
            print("FrechetDistanceTests: rank 8 of 64, 2 ranks against 1, relative error \(error)")
        }
    }

    /// Statistics of this rank's rows of `features`: the first 131 on rank 0, the rest on rank 1.
    private func statistics(_ features: FeatureSet, over communicator: Communicator) -> FeatureStatistics {
        let rows = communicator.size == 1 ? 0..<features.count : communicator.rank == 0 ? 0..<131 : 131..<features.count
        var moments = FeatureMoments(dimension: features.dimension)
        features.values.withUnsafeBufferPointer { moments.add($0.baseAddress! + rows.lowerBound * features.dimension, rowCount: rows.count) }
        return moments.combined(over: communicator).statistics
    }

    func testDistanceOfASetToItselfIsZero() {
        for key in ["real", "low_real"] {
            var moments = FeatureMoments(dimension: 64)
            moments.add(MetricFixtures.features(key))
            let statistics = moments.statistics
            let trace = (0..<64).reduce(0) { $0 + statistics.covariance[$1 * 64 + $1] }
            let distance = frechetDistance(statistics, statistics)
            XCTAssertTrue(distance.isFinite)
            XCTAssertLessThanOrEqual(abs(distance), 1e-6 * trace, "\(key): FD to itself")
        }
    }

    /// Σ1 = Q diag(a) Qᵀ and Σ2 = Q diag(b) Qᵀ commute: FD = |μ1 - μ2|² + Σ (√a - √b)².
    /// And Σ2 = c² Σ1 for a general Σ1: FD = |μ1 - μ2|² + (1 - c)² tr Σ1.
    func testClosedForms() {
        let n = 48
        let generator = Philox(seed: 3, stream: 99)
        var noise = [Float](repeating: 0, count: n * n + 4 * n)
        generator.fillNormal(&noise, count: noise.count, a: 0, b: 0)
        var symmetric = [Double](repeating: 0, count: n * n)
        for i in 0..<n { for j in 0..<n { symmetric[i * n + j] = Double(noise[i * n + j] + noise[j * n + i]) } }
        let q = SymmetricEigen(symmetric, n: n, vectors: true).vectorRows
        let a = (0..<n).map { Double(noise[n * n + $0]).magnitude + 0.1 }
        let b = (0..<n).map { Double(noise[n * n + n + $0]).magnitude * 3 }
        let mu1 = (0..<n).map { Double(noise[n * n + 2 * n + $0]) }, mu2 = (0..<n).map { Double(noise[n * n + 3 * n + $0]) }
        func rotated(_ diagonal: [Double]) -> [Double] {
            var matrix = [Double](repeating: 0, count: n * n)
            for i in 0..<n { for j in 0..<n { for k in 0..<n { matrix[i * n + j] += q[k * n + i] * diagonal[k] * q[k * n + j] } } }
            return matrix
        }
        let meanTerm = zip(mu1, mu2).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }
        let s1 = rotated(a)
        let commuting = frechetDistance(FeatureStatistics(mean: mu1, covariance: s1, count: nil),
                                        FeatureStatistics(mean: mu2, covariance: rotated(b), count: nil))
        let expected = meanTerm + zip(a, b).reduce(0) { $0 + ($1.0.squareRoot() - $1.1.squareRoot()) * ($1.0.squareRoot() - $1.1.squareRoot()) }
        assertRelativeError(commuting, expected, below: 1e-10, "commuting covariances")

        var general = [Double](repeating: 0, count: n * n)
        for i in 0..<n { for j in 0..<n { for k in 0..<n { general[i * n + j] += symmetric[i * n + k] * symmetric[j * n + k] } } }
        let c = 0.7
        let scaled = frechetDistance(FeatureStatistics(mean: mu1, covariance: general, count: nil),
                                     FeatureStatistics(mean: mu2, covariance: general.map { $0 * c * c }, count: nil))
        let trace = (0..<n).reduce(0) { $0 + general[$1 * n + $1] }
        assertRelativeError(scaled, meanTerm + (1 - c) * (1 - c) * trace, below: 1e-10, "scaled covariance")
    }

    func testNonFiniteStatisticsGiveNaN() {
        let good = MetricFixtures.statistics("real")
        var covariance = good.covariance
        covariance[5] = .nan
        XCTAssertTrue(frechetDistance(good, FeatureStatistics(mean: good.mean, covariance: covariance, count: nil)).isNaN)
    }
}
