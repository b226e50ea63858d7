// `Distributed score`: FID, IS, KID and precision/recall of a set of images against a reference,
// in the features of pytorch-fid's Inception or of a classifier of ours, with the images split
// over the ranks under mpirun.
import CQF
import Foundation

let scoreCommand = Command(
    name: "score",
    summary: "FID, IS, KID and precision/recall of samples against a reference",
    usage: """
        usage: Distributed score (--samples FILE.npz | --checkpoint FILE --count N [--seed N])
                                 (--reference FILE.npz | --dataset KIND [--data PATH] [--split S])
                                 --features FILE.safetensors [--stats-out FILE.npz] [--batch N] [--threads N]

          --samples FILE.npz    the images to score: arr_0, uint8 (N, H, W, C), as `sample` writes
          --checkpoint FILE     or --count N images (10 to 1,000,000) drawn from a checkpoint's
          --count N             priors with noise --seed N (default 1: the images `sample --seed 1`
          --seed N              writes), never all in memory
          --reference FILE.npz  images (arr_0 as above) or statistics (mu and sigma in pytorch-fid's
                                format, published ones included: FID and IS only)
          --dataset KIND        or a dataset's split as the reference (--split default test; a
                                packed NAME-train.packed gives NAME-test.packed beside it);
          --data PATH           --data may be left out for fashion-mnist, installed by Debian
          --features FILE       pytorch-fid's Inception v3 in safetensors (launch/convert-inception.py)
                                or a network written by `Distributed classifier`
          --stats-out FILE.npz  also write the scored set's mu and sigma (float64), pytorch-fid's format
          --batch N             images per forward pass (default 50, at most 1000)
          --threads N           compute threads per rank (default: cores / ranks on this node)

        Prints one JSON object: {"fid", "is", "is_std", "kid", "kid_std", "precision", "recall",
        "images", "reference_images", "features", "seconds"}; against statistics, kid, kid_std,
        precision, recall and reference_images are null. IS takes 10 images at least, and
        precision/recall a reference of 4 (k = 3 neighbours). The features of every image are
        gathered on every rank: 8 KB per image for Inception's 2048.
        """,
    run: { arguments in
        let started = Date()
        let samples = try arguments.string("samples")
        let checkpoint = try arguments.string("checkpoint")
        let count = try arguments.int("count", range: SampleQuality.minimumImages...1_000_000)
        let seed = try arguments.int("seed")
        let referenceFile = try arguments.string("reference")
        let kind = try arguments.string("dataset").map(DatasetKind.named)
        let data = try kind.map { try arguments.dataPath(for: $0) }
        let requestedSplit = try arguments.split()
        let featuresFile = try arguments.string("features") ?? { throw UsageError("score: --features FILE.safetensors is required") }()
        let statsOut = try arguments.string("stats-out")
        let batch = try arguments.int("batch", range: 1...1000) ?? 50
        let threads = try arguments.int("threads", range: 1...4096)
        try arguments.finish()
        guard (samples == nil) != (checkpoint == nil) else { throw UsageError("score: give either --samples FILE.npz or --checkpoint FILE --count N") }
        guard checkpoint == nil || count != nil else { throw UsageError("score: --checkpoint needs --count N, the number of images to draw") }
        guard samples == nil || (count == nil && seed == nil) else { throw UsageError("score: --count and --seed go with --checkpoint, not --samples") }
        guard (referenceFile == nil) != (kind == nil) else { throw UsageError("score: give either --reference FILE.npz or --dataset KIND") }
        guard referenceFile == nil || requestedSplit == nil else { throw UsageError("score: --split goes with --dataset, not --reference") }
        let split = requestedSplit ?? .test
        if let statsOut {
            guard statsOut.hasSuffix(".npz") else { throw UsageError("score: --stats-out must name a .npz file, got '\(statsOut)'") }
            let folder = (statsOut as NSString).deletingLastPathComponent
            guard FileManager.default.isWritableFile(atPath: folder.isEmpty ? "." : folder) else {
                throw UsageError("score: --stats-out \(statsOut): the folder \(folder) does not exist or is not writable")
            }
        }

        // Every input is opened before the first collective, so bad input is one line and exit 2 on every rank.
        let network = try loadFeatureNetwork(path: featuresFile)
        let scored: JudgedImages = try samples.map { .stored(try NPZImages(path: $0)) }
            ?? { let (model, _) = try loadModel(checkpoint: checkpoint!, weights: .averaged); return .generated(model, count: count!, seed: seed ?? 1) }()
        let reference: ScoreReference
        if let referenceFile {
            reference = try ScoreReference(file: referenceFile)
        } else {
            reference = .images(.stored(try openImageSource(kind: kind!, path: data!, split: split)))
        }
        try network.check(scored.shape)
        switch reference {
        case .images(let images): try network.check(images.shape)
        case .statistics(let statistics):
            guard statistics.dimension == network.featureCount else {
                throw UsageError("score: \(referenceFile!) holds statistics of \(statistics.dimension) features, but \(featuresFile) gives \(network.featureCount)")
            }
        }

        let communicator = try startCommunicator(stallTimeout: 300)
        let settings = ThreadSettings(requested: threads, comm: communicator)
        _ = settings.apply()
        Convolutions.kernels = DNNLConvolution(threads: settings.threads)
        EngineThreads.count = settings.threads
        if communicator.isRoot {
            let what = samples ?? "\(count!) samples of \(checkpoint!) (seed \(seed ?? 1))"
            let against: String
            switch reference {
            case .statistics: against = "the statistics in \(referenceFile!)"
            case .images(let images): against = "\(referenceFile ?? "\(kind!.rawValue) \(data!) (\(split.rawValue))"), \(images.count) images"
            }
            Console.error("score: \(what) against \(against), in the features of \(network.name) (\(featuresFile)), "
                + "batch \(batch), \(communicator.size) rank(s) x \(settings.threads) thread(s)")
        }
        do {
            let (rank, ranks) = (communicator.rank, communicator.size)
            func judge(_ images: JudgedImages, _ label: String) throws -> (features: FeatureSet, logits: FeatureSet) {
                let progress = ProgressLine(total: images.block(rank: rank, ranks: ranks, batch: batch).count, unit: "images",
                                            label: "score: \(label)\(ranks > 1 ? " (rank 0's share)" : "")", enabled: communicator.isRoot)
                let judged = try network.judge(images, rank: rank, ranks: ranks, batch: batch, progress: progress,
                                               warn: { if communicator.isRoot { progress.interject("warning: " + $0) } })
                // Streams know only an upper bound of their count beforehand; every rank gets the same total.
                let total = communicator.gathered([Double(judged.features.count)]).reduce(0) { $0 + Int($1[0]) }
                let least = label == "samples" ? SampleQuality.minimumImages : SampleQuality.minimumReferenceImages
                guard total >= least else { throw UsageError("score: the \(label) hold \(total) images; at least \(least) are needed") }
                return judged
            }
            let judged = try judge(scored, "samples")
            let against: SampleQuality.Reference
            switch reference {
            case .statistics(let statistics): against = .statistics(statistics)
            case .images(let images): against = .features(try judge(images, "reference").features)
            }
            let scores = SampleQuality.compute(features: judged.features, logits: judged.logits, reference: against, over: communicator)
            if communicator.isRoot {
                try statsOut.map { try scores.statistics.write(to: $0) }
                print(scoreLine(scores, features: network.name, seconds: Date().timeIntervalSince(started)))
            }
        } catch {
            // One rank's failure ends the job at once, never a hang of the others.
            if communicator.size > 1 { communicator.abort("\(error)", code: 2) }
            throw error
        }
        finishCommunicator(communicator)
    }
)

/// What `score` compares with: images, judged like the scored set, or statistics from a file.
enum ScoreReference {
    case images(JudgedImages)
    case statistics(FeatureStatistics)

    /// An npz of statistics (members mu and sigma) or of images (arr_0).
    init(file path: String) throws {
        let members = try ZipArchive(path: path).members.map(\.name)
        self = members.contains("mu.npy") ? .statistics(try FeatureStatistics(contentsOf: path)) : .images(.stored(try NPZImages(path: path)))
    }
}

/// The JSON line of `score`, in the order CLI.md gives; a measure that was not computed (or is
/// not finite) is null.
func scoreLine(_ scores: SampleQuality.Scores, features: String, seconds: Double) -> String {
    func number(_ value: Double?) -> String { value.map { $0.isFinite ? "\($0)" : "null" } ?? "null" }
    // The name may come from a file's metadata: quoted and escaped as JSON.
    let name = String(decoding: (try? JSONSerialization.data(withJSONObject: features, options: .fragmentsAllowed)) ?? Data("null".utf8), as: UTF8.self)
    let fields: [(String, String)] = [
        ("fid", number(scores.fid)), ("is", number(scores.inceptionScore)), ("is_std", number(scores.inceptionScoreStandardDeviation)),
        ("kid", number(scores.kid)), ("kid_std", number(scores.kidStandardDeviation)),
        ("precision", number(scores.precision)), ("recall", number(scores.recall)),
        ("images", "\(scores.images)"), ("reference_images", scores.referenceImages.map { "\($0)" } ?? "null"),
        ("features", name), ("seconds", String(format: "%.2f", seconds)),
    ]
    return "{" + fields.map { "\"\($0.0)\": \($0.1)" }.joined(separator: ", ") + "}"
}
