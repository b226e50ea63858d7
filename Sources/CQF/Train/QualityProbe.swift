// FD and IS while training (config fields score_every, score_images, score_features): every so
// many steps, the same `score_images` prior samples (the noise is the run's seed each time, so
// the curve follows the model, not the draw) are judged against the test split, whose
// statistics are computed once, when the run starts. The work is split over the ranks as in
// `score`; it logs `score`'s FID and IS as `fd` (the Fréchet distance: FID when the features
// are Inception's), `is` and `is_std`.
import Foundation

final class QualityProbe {
    let network: FeatureNetwork
    let reference: FeatureStatistics
    let images: Int
    let seed: Int
    let communicator: Communicator

    /// Images per forward pass (Inception splits them further, 10 at a time).
    static let batch = 100

    /// nil when the config asks for no scoring, or (after a warning on rank 0) when the
    /// feature network's file does not exist, so a fresh clone trains before it has a classifier.
    /// Missing on any rank's node counts as missing on all, so that every rank takes the same path.
    init?(config: Config, communicator: Communicator) throws {
        guard config.score_every > 0 else { return nil }
        guard !communicator.anyRank(!FileManager.default.fileExists(atPath: config.score_features)) else {
            if communicator.isRoot {
                Console.error("warning: train: no FD and IS: config field score_features names \(config.score_features), which is missing here or on another rank's node "
                    + "(make it with `Distributed classifier --dataset \(config.dataset) --out \(config.score_features)`)")
            }
            return nil
        }
        network = try loadFeatureNetwork(path: config.score_features)
        try network.check(ImageShape(channels: config.channels, height: config.image_size, width: config.image_size))
        images = config.score_images
        seed = config.seed
        self.communicator = communicator
        let test = try openDataset(kind: try DatasetKind.named(config.dataset), path: config.data, split: .test)
        guard test.count >= SampleQuality.minimumReferenceImages else {
            throw DataError(file: config.data, "the test split holds \(test.count) images, and the FD probe (config field score_every) "
                + "needs at least \(SampleQuality.minimumReferenceImages): set score_every=0")
        }
        let judged = try network.judge(.stored(test), rank: communicator.rank, ranks: communicator.size, batch: QualityProbe.batch)
        var moments = FeatureMoments(dimension: network.featureCount)
        moments.add(judged.features)
        reference = moments.combined(over: communicator).statistics
        if communicator.isRoot {
            Console.error("train: FD and IS of \(images) samples every \(config.score_every) steps, in the features of "
                + "\(network.name) (\(config.score_features)), against the \(test.count) test images")
        }
    }

    /// FD against the test split (`fid`) and IS of the model's samples now.
    func measure(_ model: CQFModel) throws -> SampleQuality.Scores {
        let samples = JudgedImages.generated(model, count: images, seed: seed)
        let judged = try network.judge(samples, rank: communicator.rank, ranks: communicator.size, batch: QualityProbe.batch)
        return SampleQuality.compute(features: judged.features, logits: judged.logits, reference: .statistics(reference), over: communicator)
    }
}
