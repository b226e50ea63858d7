// The Gaussian that FID fits to a set of features: its mean and covariance in float64, as
// computed from `FeatureMoments` or read from a statistics file in pytorch-fid's format (an
// `.npz` with `mu` (d) and `sigma` (d, d), float64; pytorch-fid saves it compressed, and
// published statistics such as TTUR's are the same), so that published statistics drop in.
import Foundation

/// Mean (d) and covariance (d, d) of a set's features.
public struct FeatureStatistics {
    /// μ, (dimension).
    public let mean: [Double]
    /// Σ, (dimension, dimension) row-major.
    public let covariance: [Double]
    /// Images behind the statistics; nil when they were read from a file, which does not say.
    public let count: Int?

    /// Largest dimension a statistics file may declare: Σ then takes 2 GiB.
    static let largestDimension = 16384

    public init(mean: [Double], covariance: [Double], count: Int?) {
        precondition(covariance.count == mean.count * mean.count,
                     "FeatureStatistics: a mean of \(mean.count) needs a covariance of \(mean.count * mean.count) values, got \(covariance.count).")
        self.mean = mean
        self.covariance = covariance
        self.count = count
    }

    public var dimension: Int { mean.count }

    /// Reads `mu` and `sigma` from the `.npz` at `path` (stored or deflated members, float64 or
    /// float32, C order); a missing key or a wrong dtype or shape is a `DataError` naming the
    /// file, the key and what was expected.
    public init(contentsOf path: String) throws {
        let archive = try ZipArchive(path: path)
        let largest = Self.largestDimension
        let mean = try archive.floatArray("mu", expected: "mu, a vector (d) with 1 <= d <= \(largest), as pytorch-fid writes it") { shape in
            shape.count == 1 && (1...largest).contains(shape[0])
        }.values
        let d = mean.count
        let covariance = try archive.floatArray("sigma", expected: "sigma, a matrix (\(d), \(d)) matching mu, as pytorch-fid writes it") { shape in
            shape == [d, d]
        }.values
        self.init(mean: mean, covariance: covariance, count: nil)
    }

    /// Writes `mu` and `sigma` as float64 members of an `.npz` at `path`, which
    /// `numpy.load(path)` and pytorch-fid read.
    public func write(to path: String) throws {
        try writeNPZ(path: path, arrays: [NPZArray(name: "mu", shape: [dimension], values: mean),
                                          NPZArray(name: "sigma", shape: [dimension, dimension], values: covariance)])
    }
}
