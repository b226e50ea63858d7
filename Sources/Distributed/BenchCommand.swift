// `Distributed bench`: speed measurements. `--engine` times the convolution kernels alone
// (EngineBench.swift), `--data` the data path (DataBench.swift); the model-level bench
// (training steps, images/s) is not written yet.
let benchCommand = Command(
    name: "bench",
    summary: "measure speed: the engine's convolutions (--engine), the data path (--data)",
    usage: """
        usage: Distributed bench --engine [--threads N] [--variants]
               Distributed bench --data [--record FILE]

        --engine times forward, input-gradient and weight-gradient convolutions of every
        distinct convolution shape of the default CIFAR-10 config (cqf, batch 64) and prints one
        JSON object per line: the FMA peak, cblas_sgemm on 1024^3, one line per shape and pass
        (op, shape, backend, gflops, peak_fraction, ...), then a summary line.

          --engine       time the convolution kernels alone
          --threads N    threads per kernel call (default 1; the peak is scaled by N)
          --variants     also time each layout/algorithm oneDNN offers, one line per variant
          --data         time the packed loader and `prepare` of a JPEG folder, on one core
          --record FILE  with --data: rewrite the "## Data" section of FILE (docs/performance.md)

        The model-level bench (training steps, images/s) comes later.
        """,
    run: { arguments in
        let engine = arguments.flag("engine")
        let data = arguments.flag("data")
        let threads = try arguments.int("threads", range: 1...1024) ?? 1
        let variants = arguments.flag("variants")
        let record = try arguments.string("record")
        try arguments.finish()
        guard engine || data else { throw UsageError("bench: only --engine and --data are available yet") }
        guard record == nil || data else { throw UsageError("bench: --record goes with --data") }
        if engine { try runEngineBench(threads: threads, compareVariants: variants) }
        if data { try runDataBench(recordPath: record) }
    }
)
