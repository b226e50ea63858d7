// `Distributed bench`: speed measurements. `--engine` times the convolution kernels alone
// (EngineBench.swift), `--data` the data path (DataBench.swift), `--inception` pytorch-fid's
// Inception forward pass (InceptionBench.swift); otherwise whole training steps
// of a config (ModelBench.swift), alone or on every rank under mpirun.
import CQF

let benchCommand = Command(
    name: "bench",
    summary: "measure speed: the engine's convolutions (--engine), the data path (--data), Inception (--inception)",
    usage: """
        usage: Distributed bench [--config FILE] [--batch N] [--steps N] [--threads N] [--ops | --alternate N] [KEY=VALUE ...]
               Distributed bench --engine [--threads N] [--precision f32|bf16] [--variants]
               Distributed bench --data [--record FILE]
               Distributed bench --inception --weights FILE [--batch N] [--size N] [--steps N] [--threads N]

        With a config (configs/bench-a.json ... bench-d.json), times whole training steps (one
        discriminator step with the gradient penalty plus one generator-side step) on images of
        uniform noise: one JSON line per timed step, then the summary {"images_per_s", "step_s"
        (median of --steps timed steps, default 10, after 2 warm-up steps), "gflops" (counted
        convolution FLOPs / step_s), "peak_fraction", "peak_rss_mb", "ranks", "threads"}. Under
        mpirun the batch is split over the ranks, the slowest rank times each step, and
        peak_rss_mb adds up the ranks' peak resident sizes. --ops adds, before the summary, rank
        0's time per engine op over the timed steps, one line each, longest first: {"op",
        "ms_per_step", "calls_per_step", "share"} (backward rules are timed whole, as "backward
        of OP"; "optimizer", "communication (waiting for gradients)" and "step" are the rest).
        --alternate N runs a step at N threads before each step at --threads threads, prints a
        summary for each count (N first), then {"speedup" (the median over the --steps rounds of
        each round's step_s at N over step_s at --threads), "ratio_of_medians", "lowest",
        "highest", ...}: a speed-up from steps seconds apart, which a shared machine's drift
        between separate runs does not reach.

        --engine times forward, input-gradient and weight-gradient convolutions of every
        distinct convolution shape of the default CIFAR-10 config (cqf, batch 64) and prints one
        JSON object per line: the FMA peak, cblas_sgemm on 1024^3, one line per shape and pass
        (op, shape, backend, gflops, peak_fraction, ...), then a summary line.

          --engine       time the convolution kernels alone
          --threads N    threads per kernel call (default 1; the peak is scaled by N)
          --precision P  with --engine: f32 (default) or bf16, the kernels `precision=bf16` picks
          --variants     also time each layout/algorithm/precision oneDNN offers, one line per variant
          --data         time the packed loader and `prepare` of a JPEG folder and of an
                         LSUN-style lmdb of WebP images, on one core; under mpirun -n P,
                         `prepare` shared out over the P ranks
          --record FILE  with --data: rewrite the "## Data" section of FILE (docs/performance.md)
          --inception    time pytorch-fid's Inception v3 forward pass (2048 pool features and 1008
                         logits) on --batch N (default 50) uniform-noise RGB images of --size N
                         pixels square (default 32; resized to 299 as pytorch-fid does), median of
                         --steps N passes (default 5) after one warm-up, wall clock; prints
                         {"images_per_s", "batch_s", "fastest_batch_s", "peak_rss_mb", ...}
          --weights FILE with --inception: pytorch-fid's state dict as safetensors (any weights:
                         launch/compare-inception.sh makes a random one)
        """,
    run: { arguments in
        let engine = arguments.flag("engine")
        let data = arguments.flag("data")
        let threads = try arguments.int("threads", range: 1...1024) ?? 1
        if arguments.flag("inception") {
            guard let weights = try arguments.string("weights") else {
                throw UsageError("bench --inception needs --weights FILE (pytorch-fid's Inception as safetensors)")
            }
            let batch = try arguments.int("batch", range: 1...100_000) ?? 50
            let size = try arguments.int("size", range: 1...4096) ?? 32
            let steps = try arguments.int("steps", range: 1...100_000) ?? 5
            try arguments.finish()
            _ = ThreadSettings(requested: threads, comm: SingleProcess()).apply()
            EngineThreads.count = threads
            Convolutions.kernels = DNNLConvolution(threads: threads)
            try runInceptionBench(weights: weights, batch: batch, size: size, steps: steps, threads: threads)
            return
        }
        let variants = arguments.flag("variants")
        let record = try arguments.string("record")
        guard engine || data else {
            let steps = try arguments.int("steps", range: 1...100_000) ?? 10
            let ops = arguments.flag("ops")
            let alternate = try arguments.int("alternate", range: 1...1024)
            let config = try arguments.config()
            try arguments.finish()
            guard !(ops && alternate != nil) else { throw UsageError("bench: --ops and --alternate do not go together") }
            let communicator = try startCommunicator(stallTimeout: config.stall_timeout)
            exitUnlessBatchSplits(config.batch, command: "bench", communicator: communicator)
            _ = ThreadSettings(requested: threads, comm: communicator).apply()
            EngineThreads.count = threads
            runModelBench(config: config, steps: steps, warmup: 2, threads: threads, alternate: alternate, timingOps: ops,
                          communicator: communicator)
            finishCommunicator(communicator)
            return
        }
        let precisionName = try arguments.string("precision")
        try arguments.finish()
        guard record == nil || data else { throw UsageError("bench: --record goes with --data") }
        guard precisionName == nil || engine else { throw UsageError("bench: --precision goes with --engine") }
        guard let precision = DNNLConvolution.Precision(rawValue: precisionName ?? "f32") else {
            throw UsageError("bench --precision must be f32 or bf16, got '\(precisionName!)'")
        }
        if engine { try runEngineBench(threads: threads, precision: precision, compareVariants: variants) }
        if data { try runDataBench(recordPath: record) }
    }
)
