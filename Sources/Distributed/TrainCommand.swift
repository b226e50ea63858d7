// `Distributed train`: the same code alone (a world of one), under mpirun and under srun.
import CPUPeak
import CQF
import Foundation

let trainCommand = Command(
    name: "train",
    summary: "train a model (alone, or on every rank under mpirun / srun)",
    usage: """
        usage: Distributed train [--config FILE] [--dataset KIND] [--data PATH] [--out DIR]
                                 [--steps N] [--batch N] [--seed N] [--threads N]
                                 [--resume] [--debug] [KEY=VALUE ...]

          --config FILE   JSON settings (configs/ has one per experiment); default: the
                          built-in defaults, Fashion-MNIST from /usr/share/datasets/fashion-mnist
          --dataset KIND  fashion-mnist, mnist, cifar10, stl10 or packed (imagenet64, lsun and
                          folder go through `Distributed prepare` first)
          --data PATH     the dataset's folder or packed file
          --out DIR       the run folder (default runs/<timestamp>): metrics.jsonl, config.json,
                          checkpoints/step-N.safetensors, checkpoints/latest.safetensors,
                          samples/step-N.png
          --steps N       the step at which training ends; a resumed run continues up to N
          --batch N       the global batch, split over the ranks (must divide by them)
          --seed N        weights, shuffling and noise all follow from it (default 0)
          --threads N     compute threads per rank (default: cores / ranks on this node)
          --resume        continue from DIR/checkpoints/latest.safetensors with DIR/config.json
          --debug         a small model, NaN/Inf checks naming the op and layer, and a
                          gradient check before training
          KEY=VALUE       any config field by its dotted name: objective=vae nvp.scales=2 lambda_q=10

        Exit status: 0 when the planned steps are done; 75 when SIGTERM or SIGUSR1 stopped the
        run after a checkpoint (resume it with --resume); 2 for bad input; 70 when the job
        failed across ranks (a lost rank, a stalled collective, diverged parameters).
        """,
    run: { arguments in
        let debug = arguments.flag("debug")
        let resume = arguments.flag("resume")
        let out = try arguments.string("out") ?? "runs/" + ISO8601DateFormatter().string(from: Date()).replacingOccurrences(of: ":", with: "-")
        let threads = try arguments.int("threads", range: 1...4096)
        let base = out + "/config.json"
        let latest = out + "/checkpoints/latest.safetensors"
        if resume && !FileManager.default.fileExists(atPath: latest) {
            throw UsageError("train --resume: \(latest) does not exist; start without --resume or pass the run's --out")
        }
        // A new run never overwrites an old one's checkpoints.
        if !resume && FileManager.default.fileExists(atPath: latest) {
            throw UsageError("train: \(out) already holds a run (\(latest)); pass --resume to continue it, or another --out")
        }
        let config = try arguments.config(base: resume ? base : nil, extra: debug ? debugOverrides : [])
        try arguments.finish()

        ShutdownSignals.install()
        let communicator = try startCommunicator(stallTimeout: config.stall_timeout)
        exitUnlessBatchSplits(config.batch, command: "train", communicator: communicator)
        let settings = ThreadSettings(requested: threads, comm: communicator)
        let warnings = settings.apply()
        if communicator.isRoot { warnings.forEach { Console.error("warning: " + $0) } }
        if communicator.isRoot && config.convolutionPrecision == .bf16 && cqf_has_avx512_bf16() == 0 {
            Console.error("warning: precision=bf16 on a CPU without AVX512_BF16: oneDNN emulates bf16, slower than f32")
        }
        Convolutions.kernels = DNNLConvolution(threads: settings.threads, precision: config.convolutionPrecision)
        EngineThreads.count = settings.threads
        var finished = false
        do {
            var options = TrainOptions(out: out)
            options.resume = resume
            options.debug = debug
            options.stopRequested = { stopRequested(comm: communicator) }
            let trainer = try Trainer(config: config, options: options, communicator: communicator)
            if debug && communicator.isRoot { try checkGradientsBeforeTraining(config) }
            finished = try trainer.run()
        } catch {
            // One rank's failure ends the job at once, never a hang of the others.
            if communicator.size > 1 { communicator.abort("\(error)", code: 2) }
            throw error
        }
        finishCommunicator(communicator)
        if !finished { exit(preemptedExitStatus) }
    }
)

/// --debug: the gradient check of every loss, before the first step.
private func checkGradientsBeforeTraining(_ config: Config) throws {
    let report = GradientCheck(config: config).run()
    Console.error("debug: gradient check, worst relative error \(String(format: "%.2e", report.worstError)) (\(report.worstLoss))")
    guard report.passed else { throw UsageError("debug: the gradient check failed: \(report.worstLoss) is off by \(report.worstError)") }
}
