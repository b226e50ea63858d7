// Feature statistics against numpy (np.mean, np.cov as pytorch-fid calls them), accumulated in
// batches and over ranks, and the statistics file in pytorch-fid's npz format both ways.
import XCTest
@testable import CQF

final class FeatureStatisticsTests: XCTestCase {
    func testMomentsGiveNumpysMeanAndCovariance() {
        for key in ["real", "fake"] {
            let features = MetricFixtures.features(key)
            var moments = FeatureMoments(dimension: 64)
            // Uneven batches, to cross the boundaries of the float64 conversion.
            features.values.withUnsafeBufferPointer { rows in
                var start = 0
                for batch in [1, 37, 256, 6] where start < features.count {
                    let count = min(batch, features.count - start)
                    moments.add(rows.baseAddress! + start * 64, rowCount: count)
                    start += count
                }
                moments.add(rows.baseAddress! + start * 64, rowCount: features.count - start)
            }
            let ours = moments.statistics, numpy = MetricFixtures.statistics(key)
            XCTAssertEqual(ours.count, features.count)
            let meanError = relativeMaxError(ours.mean, numpy.mean)
            let covarianceError = relativeMaxError(ours.covariance, numpy.covariance)
            XCTAssertLessThanOrEqual(meanError, 1e-12, "\(key): mean")
            XCTAssertLessThanOrEqual(covarianceError, 1e-12, "\(key): covariance")
            print("FeatureStatisticsTests: \(key) against numpy: mean \(meanError), covariance \(covarianceError) (relative to the largest entry)")
        }
    }

    func testMomentsOfTwoRanksEqualOnes() {
        let features = MetricFixtures.features("real")
        var whole = FeatureMoments(dimension: 64)
        whole.add(features)
        let one = whole.statistics
        let twoRanks = ThreadedWorld(size: 2).run { communicator -> FeatureStatistics in
            var part = FeatureMoments(dimension: 64)
            let rows = communicator.rank == 0 ? 0..<113 : 113..<300
            features.values.withUnsafeBufferPointer { part.add($0.baseAddress! + rows.lowerBound * 64, rowCount: rows.count) }
            return part.combined(over: communicator).statistics
        }
        for statistics in twoRanks {
            XCTAssertEqual(statistics.count, 300)
            XCTAssertLessThanOrEqual(relativeMaxError(statistics.mean, one.mean), 1e-12)
            XCTAssertLessThanOrEqual(relativeMaxError(statistics.covariance, one.covariance), 1e-12)
        }
        XCTAssertEqual(twoRanks[0].covariance, twoRanks[1].covariance, "every rank must get the same bits")
    }

    func testReadsPytorchFidsCompressedStatistics() throws {
        let read = try FeatureStatistics(contentsOf: MetricFixtures.path("fid_stats.npz"))
        let expected = MetricFixtures.statistics("real")
        XCTAssertNil(read.count)
        XCTAssertEqual(read.mean, expected.mean)
        XCTAssertEqual(read.covariance, expected.covariance)
    }

    func testWrittenStatisticsReadBackExactly() throws {
        let statistics = MetricFixtures.statistics("fake")
        let path = temporaryPath("stats.npz")
        try statistics.write(to: path)
        let archive = try ZipArchive(path: path)
        XCTAssertEqual(Set(archive.members.map(\.name)), ["mu.npy", "sigma.npy"])
        let sigma = try archive.floatArray("sigma", expected: "sigma") { _ in true }
        XCTAssertEqual(sigma.shape, [64, 64])
        let read = try FeatureStatistics(contentsOf: path)
        XCTAssertEqual(read.mean, statistics.mean)
        XCTAssertEqual(read.covariance, statistics.covariance)
    }

    func testBadStatisticsFilesAreOneSentenceNamingTheKey() throws {
        let path = temporaryPath("bad.npz")
        let cases: [([NPZArray], String)] = [
            ([NPZArray(name: "sigma", shape: [2, 2], values: [1, 0, 0, 1])], "has no key mu"),
            ([NPZArray(name: "mu", shape: [2], bytes: [1, 2]), NPZArray(name: "sigma", shape: [2, 2], values: [1, 0, 0, 1])],
             "key mu holds dtype |u1"),
            ([NPZArray(name: "mu", shape: [3], values: [1, 2, 3]), NPZArray(name: "sigma", shape: [2, 2], values: [1, 0, 0, 1])],
             "key sigma holds dtype <f8, shape [2, 2]"),
            ([NPZArray(name: "mu", shape: [1, 3], values: [1, 2, 3])], "key mu holds dtype <f8, shape [1, 3]"),
        ]
        for (arrays, expected) in cases {
            try writeNPZ(path: path, arrays: arrays)
            XCTAssertThrowsError(try FeatureStatistics(contentsOf: path)) { error in
                let message = "\(error)"
                XCTAssertTrue(message.hasPrefix(path) && message.contains(expected) && !message.contains("\n"),
                              "expected one line naming \(path) and saying \"\(expected)\", got \(message)")
            }
        }
    }

    /// Headers that claim more data than the member holds, or a shape whose size overflows, are
    /// refused before anything is allocated.
    func testLyingHeadersAreRefusedBeforeAllocating() throws {
        let path = MetricFixtures.path("lying_stats.npz")
        XCTAssertThrowsError(try FeatureStatistics(contentsOf: path)) { error in
            XCTAssertTrue("\(error)".contains("key mu holds dtype <f8, shape [16384], 8 bytes of data"), "\(error)")
        }
        XCTAssertThrowsError(try ZipArchive(path: path).floatArray("sigma", expected: "anything") { _ in true }) { error in
            XCTAssertTrue("\(error)".contains("(sigma.npy): has a .npy shape of more elements than any file holds: (4611686018427387904, 8)"), "\(error)")
        }
    }

    /// A fresh file name in a folder removed when the test ends.
    private func temporaryPath(_ name: String) -> String {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("metrics-\(getpid())-\(name)")
        try! FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: directory) }
        return directory.appendingPathComponent(name).path
    }
}
