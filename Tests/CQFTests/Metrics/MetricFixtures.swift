// What the metric tests share: the arrays `Tests/make_metric_fixtures.py` wrote with numpy
// (pytorch-fid's FID, numpy oracles of KID, precision/recall and IS), read by our own npz
// reader, and a relative-error assertion that no NaN passes.
import XCTest
@testable import CQF

enum MetricFixtures {
    static func path(_ name: String) -> String {
        Bundle.module.resourceURL!.appendingPathComponent("Fixtures/\(name)").path
    }

    static let archive = try! ZipArchive(path: path("metrics.npz"))

    static func array(_ key: String) -> (shape: [Int], values: [Double]) {
        try! archive.floatArray(key, expected: "the fixture's \(key)") { _ in true }
    }

    static func scalar(_ key: String) -> Double {
        let (shape, values) = array(key)
        precondition(shape.isEmpty, "fixture \(key) is not a scalar")
        return values[0]
    }

    /// A fixture's (N, d) array as the float32 features it was rounded from.
    static func features(_ key: String) -> FeatureSet {
        let (shape, values) = array(key)
        return FeatureSet(dimension: shape[1], values: values.map { Float($0) })
    }

    /// The fixture's statistics of features `key` (mu_<key>, sigma_<key>).
    static func statistics(_ key: String) -> FeatureStatistics {
        FeatureStatistics(mean: array("mu_\(key)").values, covariance: array("sigma_\(key)").values, count: nil)
    }
}

/// |actual - expected| / |expected| <= tolerance, both finite; returns the relative error.
@discardableResult
func assertRelativeError(_ actual: Double, _ expected: Double, below tolerance: Double, _ what: String,
                         file: StaticString = #filePath, line: UInt = #line) -> Double {
    XCTAssertTrue(actual.isFinite && expected.isFinite, "\(what): \(actual) or \(expected) is not finite", file: file, line: line)
    let error = abs(actual - expected) / abs(expected)
    XCTAssertLessThanOrEqual(error, tolerance, "\(what): \(actual) against \(expected)", file: file, line: line)
    return error
}

/// The largest |a_i - b_i| over the largest |b_i|: the error of a vector or matrix relative to
/// its scale; infinite when a value is not finite.
func relativeMaxError(_ a: [Double], _ b: [Double]) -> Double {
    let difference = largestDifference(a, b).value
    return difference.isFinite ? difference / largestMagnitude(b) : .infinity
}
