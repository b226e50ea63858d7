// `Distributed classifier`: a small CNN trained with our own engine on a labelled dataset, whose
// features and softmax `score` uses when no Inception weights can be downloaded. Alone or
// data-parallel under mpirun, like `train`; rank 0 alone writes the file.
import CQF
import Foundation

let classifierCommand = Command(
    name: "classifier",
    summary: "train the feature network of `score` on a labelled dataset",
    usage: """
        usage: Distributed classifier [--dataset KIND] [--data PATH] --out FILE.safetensors
                                      [--steps N] [--batch N] [--seed N] [--threads N]

          --dataset KIND       fashion-mnist (default), mnist or cifar10: a dataset with labels
          --data PATH          the dataset's folder (default for fashion-mnist:
                               /usr/share/datasets/fashion-mnist)
          --out FILE           the weights, as safetensors, with metadata kind, dataset,
                               image_shape, classes, steps and test_accuracy
          --steps N            training steps (default \(ClassifierDefaults.steps))
          --batch N            the global batch, split over the ranks (default \(ClassifierDefaults.batch))
          --seed N             weights and shuffling (default 0)
          --threads N          compute threads per rank (default: cores / ranks on this node)

        Trains on the train split, then measures the accuracy on the test split. Progress goes
        to standard error; one JSON object to standard output:
        {"test_accuracy": ..., "steps": N, "seconds": wall time, "cpu_seconds": CPU time of all
        ranks, "out": FILE}.
        """,
    run: { arguments in
        let kind = try DatasetKind.named(try arguments.string("dataset") ?? DatasetKind.fashionMNIST.rawValue)
        guard [.fashionMNIST, .mnist, .cifar10].contains(kind) else {
            throw UsageError("classifier: --dataset \(kind.rawValue) has no labels our readers give; expected fashion-mnist, mnist or cifar10")
        }
        let data = try arguments.dataPath(for: kind)
        let out = try arguments.string("out") ?? { throw UsageError("classifier: --out FILE.safetensors is required") }()
        let steps = try arguments.int("steps", range: 1...10_000_000) ?? ClassifierDefaults.steps
        let batch = try arguments.int("batch", range: 1...1_000_000) ?? ClassifierDefaults.batch
        let seed = try arguments.int("seed") ?? 0
        let threads = try arguments.int("threads", range: 1...4096)
        try arguments.finish()
        guard out.hasSuffix(".safetensors") else { throw UsageError("classifier: --out must name a .safetensors file, got '\(out)'") }
        let folder = (out as NSString).deletingLastPathComponent.isEmpty ? "." : (out as NSString).deletingLastPathComponent
        guard FileManager.default.isWritableFile(atPath: folder) else {
            throw UsageError("classifier: --out \(out): the folder \(folder) does not exist or is not writable")
        }

        let started = Date()
        let communicator = try startCommunicator(stallTimeout: Config().stall_timeout)
        exitUnlessBatchSplits(batch, command: "classifier", communicator: communicator)
        let settings = ThreadSettings(requested: threads, comm: communicator)
        let warnings = settings.apply()
        let root = communicator.isRoot
        if root { warnings.forEach { Console.error("warning: " + $0) } }
        Convolutions.kernels = DNNLConvolution(threads: settings.threads)
        EngineThreads.count = settings.threads
        do {
            let trainImages = try openDataset(kind: kind, path: data, split: .train)
            let testImages = try openDataset(kind: kind, path: data, split: .test)
            let classifier = Classifier(dataset: kind.rawValue, imageShape: trainImages.shape, classCount: (trainImages.labels?.max() ?? 0) + 1,
                                        seed: seed)
            if root {
                Console.error("classifier: \(kind.rawValue) from \(data) (\(trainImages.count) train, \(testImages.count) test images of "
                    + "\(trainImages.shape)), \(classifier.parameters.count) parameters, \(steps) steps of batch \(batch) over "
                    + "\(communicator.size) rank(s) x \(settings.threads) thread(s), out \(out)")
            }
            _ = try classifier.train(on: trainImages, steps: steps, batch: batch, seed: seed, communicator: communicator,
                                     progress: ProgressLine(total: steps, unit: "steps", label: "classifier: train", enabled: root))
            let accuracy = try classifier.accuracy(on: testImages, batch: 500, communicator: communicator,
                                                   progress: ProgressLine(total: testImages.count, unit: "images", label: "classifier: test", enabled: root))
            classifier.testAccuracy = accuracy
            var cpuSeconds = [processCPUSeconds()]
            cpuSeconds.withUnsafeMutableBufferPointer { communicator.allreduceSum($0) }
            if root {
                try classifier.save(path: out)
                printJSON([("test_accuracy", accuracy), ("steps", steps), ("seconds", Date().timeIntervalSince(started)),
                           ("cpu_seconds", cpuSeconds[0]), ("out", out)])
            }
        } catch {
            // Every rank fails alike on bad data; one message and a clean end, never a hang.
            if communicator.size > 1 { communicator.abort("\(error)", code: 2) }
            throw error
        }
        finishCommunicator(communicator)
    }
)

/// What `classifier` does without options: 91.8% test accuracy on Fashion-MNIST, in about 3
/// minutes on two idle cores (docs/results.md).
enum ClassifierDefaults {
    static let steps = 3000
    static let batch = 128
}

/// User plus system CPU time of this process so far.
private func processCPUSeconds() -> Double {
    var usage = rusage()
    getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
    let seconds = { (t: timeval) in Double(t.tv_sec) + Double(t.tv_usec) / 1e6 }
    return seconds(usage.ru_utime) + seconds(usage.ru_stime)
}
