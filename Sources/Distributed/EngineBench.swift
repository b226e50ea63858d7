// `Distributed bench --engine`: the speed of the engine's convolutions alone, on every distinct
// convolution shape of MODEL.md's default CIFAR-10 config at batch 64, against the core's FP32
// FMA peak measured in the same run. It times kernels, not the model: the training step's
// rate is the model-level `bench`.
import CBLAS
import CPUPeak
import CQF
import Foundation

/// One distinct convolution of the default config (32x32x3, `cqf`, residual VAE 16/32/64/128/256
/// with z = 32, Real NVP F = 32, residual discriminator 16..256): (C -> K) at H x H, and where
/// the model uses it. Each name is one place; a shape used in several places lists them all.
private let defaultConfigShapes: [(geometry: ConvGeometry, uses: String)] = {
    func conv(_ c: Int, _ k: Int, _ size: Int, kernel: Int = 3, stride: Int = 1, _ uses: String)
        -> (ConvGeometry, String) {
        (ConvGeometry(batch: 64, inChannels: c, outChannels: k, height: size, width: size,
                      kernelHeight: kernel, kernelWidth: kernel, stride: stride, padding: kernel == 3 ? 1 : 0), uses)
    }
    return [
        // 3x3, stride 1, 32x32
        conv(3, 16, 32, "vae input conv; D input conv"),
        conv(3, 32, 32, "nvp coupling input conv"),
        conv(16, 32, 32, "vae stage 0 block conv 1; D block 32 conv 1"),
        conv(32, 32, 32, "nvp resblock convs; vae stage 0 block conv 2, top-down block conv 2; D block 32 conv 2"),
        conv(32, 6, 32, "nvp coupling output conv"),
        conv(32, 3, 32, "vae output mean conv"),
        conv(32, 64, 32, "vae stage 0 posterior conv (2z); D block-down 64 conv 1"),
        conv(32, 128, 32, "vae stage 0 prior conv (4z)"),
        conv(64, 32, 32, "vae top-down stage 0 block conv 1 (concat d,z), upsample 16->32 conv"),
        conv(64, 64, 32, "D block-down 64 conv 2"),
        // 3x3, stride 1, 16x16
        conv(64, 64, 16, "vae stage 1 block conv 2, posterior conv (2z), top-down block conv 2"),
        conv(64, 128, 16, "vae stage 1 prior conv (4z); D block-down 128 conv 1"),
        conv(96, 64, 16, "vae top-down stage 1 block conv 1 (concat d,z)"),
        conv(128, 64, 16, "vae upsample 8->16 conv"),
        conv(128, 128, 16, "D block-down 128 conv 2"),
        // 3x3, stride 1, 8x8
        conv(128, 64, 8, "vae stage 2 posterior conv (2z)"),
        conv(128, 128, 8, "vae stage 2 block conv 2, prior conv (4z), top-down block conv 2"),
        conv(160, 128, 8, "vae top-down stage 2 block conv 1 (concat d,z)"),
        conv(256, 128, 8, "vae upsample 4->8 conv"),
        conv(128, 256, 8, "D block-down 256 conv 1"),
        conv(256, 256, 8, "D block-down 256 conv 2"),
        // 3x3, stride 1, 4x4
        conv(256, 64, 4, "vae stage 3 posterior conv (2z)"),
        conv(256, 128, 4, "vae stage 3 prior conv (4z)"),
        conv(256, 256, 4, "vae stage 3 block conv 2, top-down block conv 2"),
        conv(288, 256, 4, "vae top-down stage 3 block conv 1 (concat d,z)"),
        // 3x3, stride 2 (down-sampling block's first conv)
        conv(32, 64, 32, stride: 2, "vae stage 1 block conv 1"),
        conv(64, 128, 16, stride: 2, "vae stage 2 block conv 1"),
        conv(128, 256, 8, stride: 2, "vae stage 3 block conv 1"),
        // 1x1 skips
        conv(16, 32, 32, kernel: 1, "vae stage 0 block skip; D block 32 shortcut"),
        conv(64, 32, 32, kernel: 1, "vae top-down stage 0 block skip"),
        conv(32, 64, 16, kernel: 1, "D block-down 64 shortcut (after mean-pool)"),
        conv(96, 64, 16, kernel: 1, "vae top-down stage 1 block skip"),
        conv(64, 128, 8, kernel: 1, "D block-down 128 shortcut (after mean-pool)"),
        conv(160, 128, 8, kernel: 1, "vae top-down stage 2 block skip"),
        conv(128, 256, 4, kernel: 1, "D block-down 256 shortcut (after mean-pool)"),
        conv(288, 256, 4, kernel: 1, "vae top-down stage 3 block skip"),
        conv(32, 64, 32, kernel: 1, stride: 2, "vae stage 1 block skip"),
        conv(64, 128, 16, kernel: 1, stride: 2, "vae stage 2 block skip"),
        conv(128, 256, 8, kernel: 1, stride: 2, "vae stage 3 block skip"),
    ]
}()

/// Multiply-adds times two, counting only the taps that land inside the image: padding taps
/// are skipped by oneDNN, and counting them (as `ConvGeometry.flops` does) would credit a 3x3
/// convolution at 4x4 with 44% more work than it does, and rates above the FMA peak.
private func usefulFlops(_ g: ConvGeometry) -> Double {
    func taps(_ size: Int, _ outSize: Int, _ kernel: Int, _ padding: Int) -> Int {
        (0..<outSize).reduce(0) { sum, p in
            sum + (0..<kernel).filter { (0..<size).contains(p * g.stride + $0 - padding) }.count
        }
    }
    return 2 * Double(g.batch * g.outChannels * g.inChannels)
        * Double(taps(g.height, g.outHeight, g.kernelHeight, g.paddingHeight) * taps(g.width, g.outWidth, g.kernelWidth, g.paddingWidth))
}

/// Times every pass of every shape with the default kernels of a precision (`DNNLConvolution`)
/// and prints one JSON line each, then a summary. With `compareVariants`, also times each
/// layout/algorithm/precision the kernel class offers, one line per variant, so the default
/// choice can be checked.
func runEngineBench(threads: Int, precision: DNNLConvolution.Precision, compareVariants: Bool = false) throws {
    openblas_set_num_threads(Int32(threads))
    let stopwatch = Stopwatch(threadCPUTime: threads == 1)
    let peak = measureFMAPeak(stopwatch) * Double(threads)
    printJSON([("op", "fma_peak"), ("isa", cqf_has_avx512() != 0 ? "avx512" : "avx2"), ("threads", threads),
               ("gflops", peak), ("clock", threads == 1 ? "thread_cpu_time" : "wall"),
               ("full_width_512", VectorUnits.fullWidth512)])
    let sgemm = measureSgemm(size: 1024, stopwatch)
    printJSON([("op", "sgemm"), ("shape", "1024x1024x1024"), ("backend", "openblas"), ("threads", threads),
               ("gflops", sgemm), ("peak_fraction", sgemm / peak)])

    let kernels = DNNLConvolution(threads: threads, precision: precision)
    var totals: [String: (flops: Double, seconds: Double)] = [:]
    for (g, uses) in defaultConfigShapes {
        let buffers = ConvBuffers(g)
        let flops = usefulFlops(g)
        for pass in DNNLConvolution.Pass.allCases {
            let seconds = stopwatch.median { buffers.run(kernels, pass) }
            let withoutReorders = stopwatch.median { kernels.executeSkippingReorders(g, pass) }
            let gflops = flops / seconds / 1e9
            printJSON([("op", opName(pass)), ("shape", g.description), ("backend", kernels.backend(g, pass)),
                       ("gflops", gflops), ("peak_fraction", gflops / peak), ("ms", seconds * 1e3),
                       ("gflops_without_reorders", flops / withoutReorders / 1e9),
                       ("reorder_fraction", max(0, 1 - withoutReorders / seconds)), ("uses", uses)])
            var kinds = ["all", "\(g.kernelHeight)x\(g.kernelWidth)_\(opName(pass).dropFirst(5))"]
            if g.kernelHeight == 3 { kinds.append("3x3") }
            for kind in kinds {
                totals[kind, default: (0, 0)].flops += flops
                totals[kind, default: (0, 0)].seconds += seconds
            }
            if compareVariants { compare(g, pass, buffers, threads: threads, peak: peak, stopwatch) }
        }
    }
    // Flop-weighted: total FLOPs over total time, i.e. the rate the model's mix of shapes gets
    // if every shape ran once.
    var summary: [(String, Any)] = [("op", "summary"), ("threads", threads), ("precision", precision.rawValue),
                                    ("fma_peak_gflops", peak),
                                    ("sgemm_gflops", sgemm)]
    for kind in totals.keys.sorted() {
        let rate = totals[kind]!.flops / totals[kind]!.seconds / 1e9
        summary += [("gflops_\(kind)", rate), ("peak_fraction_\(kind)", rate / peak)]
    }
    printJSON(summary)
}

private func compare(_ g: ConvGeometry, _ pass: DNNLConvolution.Pass, _ buffers: ConvBuffers, threads: Int,
                     peak: Double, _ stopwatch: Stopwatch) {
    var variants: [DNNLConvolution.Variant] = [.init(.blocked, .direct), .init(.plain, .direct), .init(.blocked, .auto),
                                               .init(.blocked, .direct, .bf16), .init(.plain, .direct, .bf16)]
    if g.kernelHeight == 3 && g.stride == 1 { variants.append(.init(.blocked, .winograd)) }
    for variant in variants {
        let kernels = DNNLConvolution(threads: threads) { _, _ in variant }
        let backend = kernels.backend(g, pass)
        // A request that fell back (Winograd to direct, bf16 to f32) is not a variant of its own.
        guard backend.hasPrefix("\(variant) ") else { continue }
        let seconds = stopwatch.median { buffers.run(kernels, pass) }
        let gflops = usefulFlops(g) / seconds / 1e9
        printJSON([("op", opName(pass)), ("shape", g.description), ("variant", variant.description),
                   ("backend", backend), ("gflops", gflops), ("peak_fraction", gflops / peak)])
    }
}

private func opName(_ pass: DNNLConvolution.Pass) -> String {
    switch pass {
    case .forward: return "conv_forward"
    case .inputGradient: return "conv_input_grad"
    case .weightGradient: return "conv_weight_grad"
    }
}

/// Random operands for one shape, and a place for each pass to write.
private final class ConvBuffers {
    let g: ConvGeometry
    let input, weight, outputGradient, output, inputGradient, weightGradient: UnsafeMutablePointer<Float>

    init(_ g: ConvGeometry) {
        self.g = g
        // A seeded generator: the system one costs a system call per number.
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func filled(_ count: Int) -> UnsafeMutablePointer<Float> {
            let buffer = UnsafeMutablePointer<Float>.allocate(capacity: count)
            for i in 0..<count {
                state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                buffer[i] = Float(state >> 40) / Float(1 << 23) - 1
            }
            return buffer
        }
        input = filled(g.inputCount)
        weight = filled(g.weightCount)
        outputGradient = filled(g.outputCount)
        output = filled(g.outputCount)
        inputGradient = filled(g.inputCount)
        weightGradient = filled(g.weightCount)
    }

    deinit {
        for buffer in [input, weight, outputGradient, output, inputGradient, weightGradient] { buffer.deallocate() }
    }

    func run(_ kernels: ConvolutionKernels, _ pass: DNNLConvolution.Pass) {
        switch pass {
        case .forward: kernels.forward(g, input: input, weight: weight, output: output)
        case .inputGradient:
            kernels.inputGradient(g, outputGradient: outputGradient, weight: weight, inputGradient: inputGradient)
        case .weightGradient:
            kernels.weightGradient(g, input: input, outputGradient: outputGradient, weightGradient: weightGradient)
        }
    }
}

/// Times repeated runs of a body. On one thread it reads the thread's CPU time rather than the
/// wall clock: the cores are shared with other work, and time spent descheduled is not the
/// kernel's; a thread's CPU time is the time it held a core, the same footing as the FMA peak.
/// With several threads (oneDNN's OpenMP team) only the wall clock tells the whole story.
struct Stopwatch {
    let threadCPUTime: Bool

    func now() -> Double {
        var time = timespec()
        clock_gettime(threadCPUTime ? CLOCK_THREAD_CPUTIME_ID : CLOCK_MONOTONIC, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
    }

    /// The median of the runs: a mean would carry every interruption.
    func median(_ body: () -> Void) -> Double {
        let times = runs(body)
        return times[times.count / 2]
    }

    /// One untimed warm-up (which also builds any cached plan), then at least 5 runs and at least
    /// 0.2 s in all, at most 50; sorted, fastest first.
    func runs(_ body: () -> Void) -> [Double] {
        body()
        var times: [Double] = []
        var total = 0.0
        while times.count < 5 || (total < 0.2 && times.count < 50) {
            let start = now()
            body()
            let seconds = now() - start
            times.append(seconds)
            total += seconds
        }
        return times.sorted()
    }
}

/// GFLOP/s of one core's register-resident FMA loop, at the widest vector width the CPU has.
/// The fastest run, not the median: the peak is a ceiling that interruptions only lower, and a
/// lowered peak would flatter every `peak_fraction`.
func measureFMAPeak(_ stopwatch: Stopwatch) -> Double {
    let avx512 = cqf_has_avx512() != 0
    let iterations: Int64 = 20_000_000
    let flopsPerIteration = 12.0 * (avx512 ? 16 : 8) * 2
    var sink: Float = 0
    let seconds = stopwatch.runs {
        sink += avx512 ? cqf_fma_loop_avx512(iterations) : cqf_fma_loop_avx2(iterations)
    }[0]
    // The loop's result is used, so the compiler cannot drop it.
    if sink.isNaN { print("") }
    return Double(iterations) * flopsPerIteration / seconds / 1e9
}

/// GFLOP/s of `cblas_sgemm` on one size x size x size product.
private func measureSgemm(size: Int, _ stopwatch: Stopwatch) -> Double {
    let a = [Float](repeating: 0.5, count: size * size), b = a
    var c = [Float](repeating: 0, count: size * size)
    let n = Int32(size)
    let seconds = stopwatch.median {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1, a, n, b, n, 0, &c, n)
    }
    return 2 * pow(Double(size), 3) / seconds / 1e9
}

/// One JSON object on one line, keys in the order given; numbers rounded for reading.
func printJSON(_ fields: [(String, Any)]) {
    let body = fields.map { key, value -> String in
        let text: String
        switch value {
        case let number as Double: text = String(format: number < 10 ? "%.4f" : "%.1f", number)
        case let number as Int: text = String(number)
        case let flag as Bool: text = flag ? "true" : "false"
        default:
            let escaped = "\(value)".replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            text = "\"\(escaped)\""
        }
        return "\"\(key)\": \(text)"
    }
    print("{" + body.joined(separator: ", ") + "}")
    fflush(stdout)
}
