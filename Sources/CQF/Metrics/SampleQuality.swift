// Every sample-quality measure of one scored set at once, from the rows each rank evaluated:
// what `score` calls. FID from statistics combined over the ranks as sums; IS from the logits in
// image order; KID and precision/recall (which need every feature, not only sums) when the
// reference is a set of features rather than published statistics.

/// The entry point of the sample-quality metrics.
public enum SampleQuality {
    /// The fewest images a scored set may hold: the Inception Score cuts it into 10 splits.
    public static let minimumImages = 10
    /// The fewest reference images: precision and recall take each one's third nearest other one.
    public static let minimumReferenceImages = 4

    /// What the scored set is compared with.
    public enum Reference {
        /// This rank's rows of the reference images' features (indices within the reference set).
        case features(FeatureSet)
        /// Statistics read from a file (`FeatureStatistics(contentsOf:)`): FID only.
        case statistics(FeatureStatistics)
    }

    public struct Scores {
        public let fid: Double
        public let inceptionScore: Double
        public let inceptionScoreStandardDeviation: Double
        /// nil when the reference is statistics.
        public let kid: Double?
        public let kidStandardDeviation: Double?
        public let precision: Double?
        public let recall: Double?
        /// Images scored, over all ranks.
        public let images: Int
        /// Reference images over all ranks; nil when the reference is statistics.
        public let referenceImages: Int?
        /// The scored set's mean and covariance: what `--stats-out` writes.
        public let statistics: FeatureStatistics
    }

    /// The scores of the set whose features and logits this rank holds rows of (the same image
    /// indices in both), against `reference`. Collective: every rank calls it and gets the same
    /// scores, whatever the number of ranks.
    public static func compute(features: FeatureSet, logits: FeatureSet, reference: Reference,
                               kid: KernelInceptionDistance = KernelInceptionDistance(),
                               over communicator: Communicator = SingleProcess()) -> Scores {
        precondition(features.indices == logits.indices,
                     "SampleQuality.compute: the features and the logits must be rows of the same images in the same order.")
        let statistics = combinedStatistics(features, over: communicator)
        let inception = inceptionScore(logits: logits.gathered(over: communicator))
        switch reference {
        case .statistics(let referenceStatistics):
            return Scores(fid: frechetDistance(statistics, referenceStatistics),
                          inceptionScore: inception.mean, inceptionScoreStandardDeviation: inception.standardDeviation,
                          kid: nil, kidStandardDeviation: nil, precision: nil, recall: nil,
                          images: statistics.count!, referenceImages: nil, statistics: statistics)
        case .features(let referenceFeatures):
            let referenceStatistics = combinedStatistics(referenceFeatures, over: communicator)
            let fake = features.gathered(over: communicator), real = referenceFeatures.gathered(over: communicator)
            let kernel = kid(real: real, fake: fake, over: communicator)
            let manifold = precisionAndRecall(real: real, fake: fake, over: communicator)
            return Scores(fid: frechetDistance(statistics, referenceStatistics),
                          inceptionScore: inception.mean, inceptionScoreStandardDeviation: inception.standardDeviation,
                          kid: kernel.mean, kidStandardDeviation: kernel.standardDeviation,
                          precision: manifold.precision, recall: manifold.recall,
                          images: statistics.count!, referenceImages: referenceStatistics.count!, statistics: statistics)
        }
    }

    /// Mean and covariance of the rows held by all ranks: moments summed over the ranks.
    private static func combinedStatistics(_ features: FeatureSet, over communicator: Communicator) -> FeatureStatistics {
        var moments = FeatureMoments(dimension: features.dimension)
        moments.add(features)
        return moments.combined(over: communicator).statistics
    }
}
