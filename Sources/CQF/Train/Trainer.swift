// The training loop of `Distributed train`: data, steps, progress, metrics (metrics.jsonl and
// TensorBoard's event file), samples and checkpoints, the same code in a world of one and under
// MPI. Rank 0 alone writes files.
import Foundation

public struct TrainOptions {
    /// The run folder: metrics.jsonl, events.out.tfevents.*, config.json, checkpoints/, samples/.
    public var out: String
    /// Continue from checkpoints/latest.safetensors in `out`.
    public var resume = false
    /// NaN/Inf checks after every op, naming the op and layer.
    public var debug = false
    /// Polled once per step on every rank; true makes the run checkpoint and stop (Slurm preemption).
    public var stopRequested: () -> Bool = { false }

    public init(out: String) { self.out = out }
}

public final class Trainer {
    public let config: Config
    let options: TrainOptions
    let communicator: Communicator
    let model: CQFModel
    let step: TrainingStep
    let loader: BatchLoader
    let metrics: MetricsLog?
    let events: TensorBoardLog?
    let health = TrainingHealth()
    let quality: QualityProbe?
    /// The moving averages of the VAE's weights (config field ema_decay), by network name.
    let averages: [String: WeightAverage]
    /// The step to run next (steps already done).
    public private(set) var nextStep = 0

    public init(config: Config, options: TrainOptions, communicator: Communicator) throws {
        self.config = config
        self.options = options
        self.communicator = communicator
        let dataset = try openDataset(kind: try DatasetKind.named(config.dataset), path: config.data, split: .train)
        let expected = ImageShape(channels: config.channels, height: config.image_size, width: config.image_size)
        guard dataset.shape == expected else {
            throw ConfigError("the data at \(config.data) has images \(dataset.shape), but config fields channels and image_size say \(expected)")
        }
        loader = try BatchLoader(dataset: dataset, globalBatch: config.batch, rank: communicator.rank, ranks: communicator.size,
                                 seed: UInt64(config.seed))
        model = CQFModel(config: config)
        step = TrainingStep(model: model, communicator: communicator)
        // The VAE alone is averaged: f's batch norm keeps running averages of its trained
        // weights' activations, which averaged weights would not match.
        averages = config.ema_decay == 0 ? [:] : Dictionary(uniqueKeysWithValues: model.generatorNetworks
            .filter { $0.name != "f" }.map { ($0.name, WeightAverage(of: $0.parameters, decay: config.ema_decay)) })
        let files = FileManager.default
        if communicator.isRoot {
            for folder in ["", "/checkpoints", "/samples"] {
                try files.createDirectory(atPath: options.out + folder, withIntermediateDirectories: true)
            }
            try config.json.write(toFile: options.out + "/config.json", atomically: true, encoding: .utf8)
            metrics = try MetricsLog(path: options.out + "/metrics.jsonl")
            events = try TensorBoardLog(folder: options.out)
        } else {
            (metrics, events) = (nil, nil)
        }
        quality = try QualityProbe(config: config, communicator: communicator)
        if options.resume { try restore(from: latestCheckpoint) }
        synchroniseStartingState()
    }

    var latestCheckpoint: String { options.out + "/checkpoints/latest.safetensors" }

    /// Each network with its optimizer, by checkpoint prefix.
    private var parameterGroups: [Checkpoint.ParameterGroup] {
        model.networks.map { ($0.name + ".", $0.parameters, step.optimizers[$0.name], averages[$0.name]) }
    }

    private var buffers: [(name: String, tensor: Tensor)] { model.networks.flatMap { $0.parameters.buffers } }

    private func restore(from path: String) throws {
        let checkpoint = try Checkpoint.load(path: path)
        try checkpoint.restore(parameterSets: parameterGroups, buffers: buffers)
        // The position indexes the epoch's shuffled order and keys the noise by epoch x batches
        // + batch: bounded here, so that a damaged file cannot index outside the order or overflow.
        let batches = loader.batchesPerEpoch
        guard let text = checkpoint.metadata[Checkpoint.Key.dataPosition],
              let position = try? JSONDecoder().decode(LoaderPosition.self, from: Data(text.utf8)),
              position.epoch >= 0, (0...batches).contains(position.batch),
              position.epoch < Int.max / max(batches, 1) else {
            throw CheckpointError("Checkpoint \(path) has no readable data position in its metadata: expected "
                + "{\"epoch\": E, \"batch\": B} with E >= 0 and B in 0...\(batches), the batches of an epoch of this data.")
        }
        loader.position = position
        nextStep = checkpoint.step
    }

    /// Rank 0's weights, optimizer state and running averages on every rank.
    private func synchroniseStartingState() {
        guard communicator.size > 1 else { return }
        for (name, set) in model.networks {
            communicator.broadcastValues(of: set)
            communicator.broadcast(step.optimizers[name]!)
            for buffer in set.buffers { communicator.broadcast(buffer.tensor.storage) }
            if let average = averages[name] { communicator.broadcast(average.values) }
        }
    }

    /// Runs `body` (samples, the FD probe) with the averaged weights in the networks that keep them.
    private func withAveragedWeights<T>(_ body: () throws -> T) rethrows -> T {
        try WeightAverage.withAveragedWeights(model.networks.compactMap { name, set in averages[name].map { ($0, set) } }, body)
    }

    /// Trains up to `config.steps`. Returns false when stopped early by `stopRequested` (after
    /// rank 0 wrote a checkpoint), true when the planned steps are done.
    public func run() throws -> Bool {
        FiniteCheck.isOn = options.debug
        let x = Tensor(uninitialized: [loader.localBatch, config.channels, config.image_size, config.image_size])
        var interval = (steps: 0, seconds: 0.0, communication: communicatorSeconds)
        let started = Date()
        let firstStep = nextStep
        if communicator.isRoot { printSettings() }
        while nextStep < config.steps {
            let begin = Date()
            let batch = loader.next(into: x.data)
            let losses = FiniteCheck.within("step \(nextStep)") {
                step.run(x, step: nextStep, firstImage: communicator.rank * loader.localBatch)
            }
            try FiniteCheck.throwIfFailed()
            for (name, set) in model.networks { averages[name]?.update(from: set) }
            nextStep += 1
            interval.steps += 1
            interval.seconds += Date().timeIntervalSince(begin)
            if nextStep % config.checksum_every == 0 {
                for (name, set) in model.networks { communicator.verifyIdentical(set, name: name, step: nextStep) }
            }
            var scored: SampleQuality.Scores?
            if let quality, nextStep % config.score_every == 0 {
                let before = communicatorSeconds
                scored = try withAveragedWeights { try quality.measure(model) }
                // The probe's collectives are not the steps' communication, and its buffers' sizes are not the step's.
                interval.communication += communicatorSeconds - before
                BufferPool.trim()
            }
            var sampleSpread: Double?
            if communicator.isRoot && nextStep % config.sample_every == 0 {
                sampleSpread = try writeSamples()
                // The grid's batch has sizes of its own: their buffers should not stay beside the step's.
                BufferPool.trim()
            }
            // The same decision on every rank: the straggler summary is a collective.
            if nextStep % config.log_every == 0 || nextStep == config.steps || scored != nil || nextStep % config.sample_every == 0 {
                let now = communicatorSeconds
                let spread = communicator.stragglerSummary(stepSeconds: interval.seconds / Double(interval.steps),
                                                           commSeconds: (now - interval.communication) / Double(interval.steps))
                log(losses, quality: scored, sampleSpread: sampleSpread, epoch: batch.epoch, spread: spread,
                    elapsed: Date().timeIntervalSince(started), done: nextStep - firstStep)
                interval = (0, 0, now)
            }
            if options.stopRequested() {
                try saveCheckpoint()
                return false
            }
            if nextStep % config.checkpoint_every == 0 || nextStep == config.steps { try saveCheckpoint() }
        }
        if communicator.isRoot && config.steps % config.sample_every != 0 { try writeSamples() }
        return true
    }

    /// The grid of samples/step-N.png, in the event file too; returns the samples' per-pixel spread.
    @discardableResult
    private func writeSamples() throws -> Double {
        let path = options.out + "/samples/step-\(nextStep).png"
        let grid = try withAveragedWeights { try model.writeSampleGrid(path: path, count: config.sample_grid, seed: config.seed) }
        let png = try Data(contentsOf: URL(fileURLWithPath: path))
        events?.image(tag: "samples", png: Array(png), width: grid.width, height: grid.height, channels: config.channels, step: nextStep)
        return grid.spread
    }

    private var communicatorSeconds: Double { communicator.secondsInCollectives + step.reducer.secondsWaiting }

    /// Rank 0 writes checkpoints/step-N and points latest at it (each atomic); all ranks wait for it.
    func saveCheckpoint() throws {
        if communicator.isRoot {
            let path = options.out + "/checkpoints/step-\(nextStep).safetensors"
            let encoder = JSONEncoder()
            encoder.outputFormatting = .sortedKeys  // the same bytes for the same state
            let position = String(data: try encoder.encode(loader.position), encoding: .utf8)!
            try Checkpoint.save(path: path, step: nextStep, parameterSets: parameterGroups, buffers: buffers, metadata: [
                Checkpoint.Key.config: config.json,
                Checkpoint.Key.dataPosition: position,
                // Every random draw is a function of (seed, step, image): this is the whole state.
                Checkpoint.Key.rngState: "{\"generator\": \"philox4x32-10\", \"seed\": \(config.seed), \"step\": \(nextStep)}",
            ])
            let temporary = latestCheckpoint + ".tmp"
            unlink(temporary)
            guard link(path, temporary) == 0, rename(temporary, latestCheckpoint) == 0 else {
                throw CheckpointError("cannot point \(latestCheckpoint) at \(path): \(String(cString: strerror(errno)))")
            }
        }
        communicator.barrier()
    }

    private func log(_ losses: StepLosses, quality: SampleQuality.Scores?, sampleSpread: Double?,
                     epoch: Int, spread: StragglerSummary, elapsed: Double, done: Int) {
        guard communicator.isRoot else { return }
        let secondsPerStep = spread.stepSeconds.max
        let imagesPerSecond = Double(config.batch) / max(secondsPerStep, 1e-9)
        let bpd = config.objective.usesCoverage ? bitsPerDimension(nll: losses.nll, dimensions: config.dimensions) : .nan
        var fields: [String: Double] = [
            "step": Double(nextStep), "epoch": Double(epoch), "seconds": elapsed, "images_per_s": imagesPerSecond,
            "loss_c": losses.coverage, "loss_q": losses.quality, "loss_d": losses.discriminator, "penalty": losses.penalty,
            "logit_real": losses.realLogit, "logit_fake": losses.fakeLogit, "kl": losses.kl, "bpd": bpd, "skipped": losses.skipped,
        ]
        fields.merge(spread.metrics) { a, _ in a }
        if let quality { fields.merge(["fd": quality.fid, "is": quality.inceptionScore, "is_std": quality.inceptionScoreStandardDeviation]) { a, _ in a } }
        var reading = HealthReading(step: nextStep)
        if config.objective.usesQuality {
            reading.discriminator = (losses.gradientNorm, losses.realLogitSpread, losses.fakeLogitSpread)
            fields.merge(["d_grad_norm": losses.gradientNorm, "d_real_logit_spread": losses.realLogitSpread,
                          "d_fake_logit_spread": losses.fakeLogitSpread]) { a, _ in a }
        }
        reading.stageKL = losses.stageKL
        for (stage, kl) in losses.stageKL.enumerated() { fields["kl_stage\(stage)"] = kl }
        reading.sampleSpread = sampleSpread
        if let sampleSpread { fields["sample_spread"] = sampleSpread }
        reading.fd = quality?.fid
        metrics?.write(fields)
        events?.scalars(fields, step: nextStep)
        let remaining = Double(config.steps - nextStep) * elapsed / Double(max(done, 1))
        var line = "step \(nextStep)/\(config.steps)"
        if config.objective.usesCoverage { line += String(format: " | L_C %.1f bpd %.3f kl %.1f", losses.coverage, bpd, losses.kl) }
        if config.objective.usesQuality {
            line += String(format: " | L_Q %.3f D %.3f gp %.4f dgrad %.3f", losses.quality, losses.discriminator, losses.penalty, losses.gradientNorm)
        }
        if let quality { line += String(format: " | FD %.2f IS %.2f", quality.fid, quality.inceptionScore) }
        line += String(format: " | %.1f img/s | ETA %@", imagesPerSecond, formatDuration(remaining))
        if communicator.size > 1 { line += " | " + spread.progressText }
        Console.error(line)
        health.update(reading).forEach(Console.error)
    }

    private func printSettings() {
        let counts = model.networks.map { "\($0.name) \($0.parameters.count)" }.joined(separator: ", ")
        Console.error("train: \(config.objective.rawValue) on \(config.dataset) \(config.data) (\(loader.dataset.count) images), "
            + "batch \(config.batch) over \(communicator.size) rank(s), steps \(nextStep)..<\(config.steps), out \(options.out)")
        Console.error("train: parameters \(counts)")
    }
}

extension DatasetKind {
    /// The kind called `name` (config field `dataset`, or `--dataset`), or an error listing the kinds.
    public static func named(_ name: String) throws -> DatasetKind {
        guard let kind = DatasetKind(rawValue: name) else {
            throw ConfigError("dataset must be one of \(DatasetKind.allCases.map(\.rawValue).joined(separator: ", ")), got '\(name)'")
        }
        return kind
    }
}
