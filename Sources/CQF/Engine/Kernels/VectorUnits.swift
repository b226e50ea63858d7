// Whether this core runs a 512-bit FMA at full width (Zen 5; Intel's cores with two FMA units)
// or as two 256-bit halves (Zen 4): with full width, AVX-512 doubles AVX2's FMA rate, and so do
// oneDNN's direct kernels, while Winograd's transforms, bound by memory, gain far less. Which of
// the two wins a convolution in bf16 turns on it (`DNNLConvolution.Variant.preferred`).
import CPUPeak
import Foundation

public enum VectorUnits {
    /// AVX-512's FMA rate over AVX2's, from the fastest of three short runs of each loop on this
    /// thread's CPU time (about 10 ms in all, once per process): about 2 at full width, 1 in halves.
    public static let fullWidth512: Bool = {
        guard cqf_has_avx512() != 0 else { return false }
        func fastest(_ loop: (Int64) -> Float) -> Double {
            var sink: Float = 0
            let best = (0..<3).map { _ -> Double in
                let start = threadSeconds()
                sink += loop(1_000_000)
                return threadSeconds() - start
            }.min()!
            // The loops' results are used, so the compiler cannot drop them.
            return sink.isNaN ? .infinity : best
        }
        // Per iteration 12 FMAs of 16 lanes against 12 of 8.
        return 2 * fastest(cqf_fma_loop_avx2) / fastest(cqf_fma_loop_avx512) > 1.5
    }()

    private static func threadSeconds() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
    }
}
