// `Distributed bench --config FILE`: the speed of whole training steps (one discriminator step
// with the gradient penalty plus one generator-side step, MODEL.md section 5) on images of
// uniform noise, so no dataset is needed. FLOPs are counted, not estimated: every convolution
// the step runs reports its multiply-adds (x2) as it is called.
import CBLAS
import CQF
import Foundation

/// Counts the FLOPs of the convolutions that pass through it.
final class CountingConvolution: ConvolutionKernels {
    let kernels: ConvolutionKernels
    private(set) var flops = 0.0

    init(_ kernels: ConvolutionKernels) { self.kernels = kernels }

    func forward(_ g: ConvGeometry, input: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                 output: UnsafeMutablePointer<Float>) {
        flops += g.flops
        kernels.forward(g, input: input, weight: weight, bias: bias, output: output)
    }

    func inputGradient(_ g: ConvGeometry, outputGradient: UnsafePointer<Float>, weight: UnsafePointer<Float>, inputGradient: UnsafeMutablePointer<Float>) {
        flops += g.flops
        kernels.inputGradient(g, outputGradient: outputGradient, weight: weight, inputGradient: inputGradient)
    }

    func weightGradient(_ g: ConvGeometry, input: UnsafePointer<Float>, outputGradient: UnsafePointer<Float>, weightGradient: UnsafeMutablePointer<Float>) {
        flops += g.flops
        kernels.weightGradient(g, input: input, outputGradient: outputGradient, weightGradient: weightGradient)
    }
}

/// Runs `warmup` + `steps` training steps and prints one JSON line per timed step (rank 0), then
/// the summary: images/s and seconds per step from the median step, GFLOP/s, peak memory. With
/// `timingOps`, rank 0's time per op over the timed steps comes before the summary. With
/// `alternate`, every step at `threads` threads follows one at `alternate` threads, each count
/// gets a summary of its own, and a last line gives the speed-up from `alternate` to `threads`:
/// adjacent steps see the machine in the same seconds, where separate runs minutes apart see its
/// speed drift by 10-20% on a shared machine (docs/performance.md).
func runModelBench(config: Config, steps: Int, warmup: Int, threads: Int, alternate: Int?, timingOps: Bool,
                   communicator: Communicator) {
    let peakGflops = measureFMAPeak(Stopwatch(threadCPUTime: true))
    let kernels = DNNLConvolution(threads: threads, precision: config.convolutionPrecision)
    let counter = CountingConvolution(kernels)
    Convolutions.kernels = counter
    let model = CQFModel(config: config)
    let step = TrainingStep(model: model, communicator: communicator)
    let local = config.batch / communicator.size
    let x = Tensor(shape: [local, config.channels, config.image_size, config.image_size], repeating: 0)
    Philox(seed: 1, stream: 9).fillUniform(x.data, count: x.count, a: UInt64(communicator.rank), b: 0)
    let counts = (alternate.map { [$0] } ?? []) + [threads]
    var seconds = [[Double]](repeating: [], count: counts.count)
    var flops = 0.0
    for round in 0..<warmup + steps {
        for (k, count) in counts.enumerated() {
            useThreads(count, kernels)
            let before = counter.flops
            communicator.barrier()
            OpTimes.isOn = timingOps && round >= warmup
            OpTimes.skip()
            let start = Date()
            _ = step.run(x, step: round * counts.count + k, firstImage: communicator.rank * local)
            OpTimes.lap("step")
            // The slowest rank sets the pace of a data-parallel step.
            let elapsed = communicator.gathered([Date().timeIntervalSince(start)]).map { $0[0] }.max()!
            guard round >= warmup else { continue }
            seconds[k].append(elapsed)
            flops = (counter.flops - before) * Double(communicator.size)
            if communicator.isRoot {
                printJSON([("step", round - warmup), ("threads", count), ("step_s", elapsed),
                           ("images_per_s", Double(config.batch) / elapsed)])
            }
        }
    }
    var usage = rusage()
    getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
    // The memory the job takes on its machines: every rank's peak resident size, added up.
    let rss = communicator.gathered([Double(usage.ru_maxrss) / 1024]).map { $0[0] }.reduce(0, +)
    guard communicator.isRoot else { return }
    if timingOps {
        let total = OpTimes.totals.values.map(\.seconds).reduce(0, +)
        for (op, time) in OpTimes.totals.sorted(by: { $0.value.seconds > $1.value.seconds }) {
            printJSON([("op", op), ("ms_per_step", time.seconds * 1000 / Double(steps)),
                       ("calls_per_step", Double(time.calls) / Double(steps)), ("share", time.seconds / total)])
        }
    }
    for (count, times) in zip(counts, seconds) {
        let median = times.median
        let gflops = flops / median / 1e9
        let peakFraction = gflops / (peakGflops * Double(count * communicator.size))
        let tensors = Double(Storage.liveBytes.peak) / 1_048_576
        printJSON([("images_per_s", Double(config.batch) / median), ("step_s", median), ("gflops", gflops),
                   ("peak_fraction", peakFraction), ("step_gflop", flops / 1e9), ("peak_rss_mb", rss),
                   ("peak_tensor_mb", tensors), ("batch", config.batch), ("ranks", communicator.size),
                   ("threads", count), ("precision", config.precision), ("steps", steps)])
    }
    if let alternate {
        // Each round's ratio is taken within seconds; their median is the speed-up.
        let ratios = zip(seconds[0], seconds[1]).map { $0 / $1 }
        printJSON([("speedup", ratios.median), ("ratio_of_medians", seconds[0].median / seconds[1].median),
                   ("from_threads", alternate), ("to_threads", threads), ("rounds", steps),
                   ("lowest", ratios.min()!), ("highest", ratios.max()!)])
    }
}

/// Sets how many threads the step's kernels use: oneDNN's, the engine's own loops, OpenBLAS.
private func useThreads(_ count: Int, _ kernels: DNNLConvolution) {
    kernels.threads = count
    EngineThreads.count = count
    openblas_set_num_threads(Int32(count))
}

private extension Array where Element == Double {
    /// The middle value (the upper one of an even count), as the summaries have always taken it.
    var median: Double { sorted()[count / 2] }
}
