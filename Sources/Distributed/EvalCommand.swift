// `Distributed eval`: held-out bits per dimension of a checkpoint, on every rank's share.
import CQF
import Foundation

let evalCommand = Command(
    name: "eval",
    summary: "bits per dimension of a checkpoint on held-out data",
    usage: """
        usage: Distributed eval --checkpoint FILE [--dataset KIND] [--data PATH] [--split test]
                                [--iw-samples K] [--limit N] [--threads N]

          --checkpoint FILE  a checkpoint written by train (its config says the model)
          --dataset, --data  default: the checkpoint's config
          --split            test (default), train, validation or labelled (as the dataset has them);
                             a packed NAME-train.packed is evaluated on NAME-test.packed beside it
          --iw-samples K     importance samples for bpd_iw (default: config field eval_k, 1)
          --limit N          only the first N images

        Prints one JSON object: {"bpd": ELBO bound, "bpd_iw": importance-weighted bound, "images": N}.
        """,
    run: { arguments in
        let path = try arguments.string("checkpoint") ?? { throw UsageError("eval: --checkpoint FILE is required") }()
        let dataset = try arguments.string("dataset")
        let data = try arguments.string("data")
        let split = try arguments.split() ?? .test
        let samples = try arguments.int("iw-samples", range: 1...100_000)
        let limit = try arguments.int("limit", range: 1...Int.max)
        let threads = try arguments.int("threads", range: 1...4096)
        try arguments.finish()
        // The bound of the trained weights: the moving average (ema_decay) is the generator's,
        // and its bound was 0.10-0.46 bits worse on Fashion-MNIST (docs/results.md).
        let (model, _) = try loadModel(checkpoint: path, weights: .trained)
        let config = model.config
        let communicator = try startCommunicator(stallTimeout: config.stall_timeout)
        let settings = ThreadSettings(requested: threads, comm: communicator)
        _ = settings.apply()
        Convolutions.kernels = DNNLConvolution(threads: settings.threads)
        EngineThreads.count = settings.threads
        let images = try openDataset(kind: try DatasetKind.named(dataset ?? config.dataset), path: data ?? config.data, split: split)
        let progress = ProgressLine(total: min(limit ?? images.count, images.count), unit: "images", label: "eval",
                                    enabled: communicator.isRoot)
        let result = try model.evaluate(images, samples: samples ?? config.eval_k, limit: limit, batch: config.batch,
                                        communicator: communicator, progress: progress)
        if communicator.isRoot {
            let encoder = JSONEncoder()
            encoder.outputFormatting = .sortedKeys
            print(String(data: try encoder.encode(result), encoding: .utf8)!)
        }
        finishCommunicator(communicator)
    }
)

/// The model a checkpoint holds: its config from the metadata, then its weights (with
/// `.averaged`, the moving averages where it kept them: config field ema_decay) and batch-norm
/// running averages.
func loadModel(checkpoint path: String, weights: Checkpoint.Weights) throws -> (CQFModel, Checkpoint) {
    let checkpoint = try Checkpoint.load(path: path)
    guard let json = checkpoint.metadata[Checkpoint.Key.config] else {
        throw UsageError("\(path) holds no config in its metadata; was it written by `Distributed train`?")
    }
    let file = NSTemporaryDirectory() + "cqf-config-\(getpid()).json"
    try json.write(toFile: file, atomically: true, encoding: .utf8)
    defer { try? FileManager.default.removeItem(atPath: file) }
    let model = CQFModel(config: try Config.load(path: file, overrides: []))
    try checkpoint.restore(parameterSets: model.networks.map { ($0.name + ".", $0.parameters, nil, nil) },
                           buffers: model.networks.flatMap { $0.parameters.buffers }, weights: weights)
    return (model, checkpoint)
}
