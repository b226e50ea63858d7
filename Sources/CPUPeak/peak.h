// The core's FP32 FMA peak, measured by a register-resident loop: the yardstick for
// the engine's `peak_fraction`. Twelve independent accumulators hide the FMA latency.
#include <immintrin.h>
#include <stdint.h>

/// Runs `iterations` x 12 AVX-512 FMAs (16 lanes each); returns a value that depends on
/// every accumulator so the compiler cannot drop the loop. FLOPs = iterations * 12 * 16 * 2.
__attribute__((target("avx512f,fma")))
static inline float cqf_fma_loop_avx512(int64_t iterations) {
    __m512 a = _mm512_set1_ps(1.0f), b = _mm512_set1_ps(0.999999f);
    __m512 r0 = a, r1 = a, r2 = a, r3 = a, r4 = a, r5 = a, r6 = a, r7 = a, r8 = a, r9 = a, r10 = a, r11 = a;
    for (int64_t i = 0; i < iterations; i++) {
        r0 = _mm512_fmadd_ps(r0, b, a); r1 = _mm512_fmadd_ps(r1, b, a); r2 = _mm512_fmadd_ps(r2, b, a);
        r3 = _mm512_fmadd_ps(r3, b, a); r4 = _mm512_fmadd_ps(r4, b, a); r5 = _mm512_fmadd_ps(r5, b, a);
        r6 = _mm512_fmadd_ps(r6, b, a); r7 = _mm512_fmadd_ps(r7, b, a); r8 = _mm512_fmadd_ps(r8, b, a);
        r9 = _mm512_fmadd_ps(r9, b, a); r10 = _mm512_fmadd_ps(r10, b, a); r11 = _mm512_fmadd_ps(r11, b, a);
    }
    __m512 s = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(r0, r1), _mm512_add_ps(r2, r3)),
                             _mm512_add_ps(_mm512_add_ps(r4, r5), _mm512_add_ps(r6, r7)));
    s = _mm512_add_ps(s, _mm512_add_ps(_mm512_add_ps(r8, r9), _mm512_add_ps(r10, r11)));
    return _mm512_reduce_add_ps(s);
}

/// The same with AVX2 (8 lanes), for CPUs without AVX-512. FLOPs = iterations * 12 * 8 * 2.
__attribute__((target("avx2,fma")))
static inline float cqf_fma_loop_avx2(int64_t iterations) {
    __m256 a = _mm256_set1_ps(1.0f), b = _mm256_set1_ps(0.999999f);
    __m256 r0 = a, r1 = a, r2 = a, r3 = a, r4 = a, r5 = a, r6 = a, r7 = a, r8 = a, r9 = a, r10 = a, r11 = a;
    for (int64_t i = 0; i < iterations; i++) {
        r0 = _mm256_fmadd_ps(r0, b, a); r1 = _mm256_fmadd_ps(r1, b, a); r2 = _mm256_fmadd_ps(r2, b, a);
        r3 = _mm256_fmadd_ps(r3, b, a); r4 = _mm256_fmadd_ps(r4, b, a); r5 = _mm256_fmadd_ps(r5, b, a);
        r6 = _mm256_fmadd_ps(r6, b, a); r7 = _mm256_fmadd_ps(r7, b, a); r8 = _mm256_fmadd_ps(r8, b, a);
        r9 = _mm256_fmadd_ps(r9, b, a); r10 = _mm256_fmadd_ps(r10, b, a); r11 = _mm256_fmadd_ps(r11, b, a);
    }
    __m256 s = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(r0, r1), _mm256_add_ps(r2, r3)),
                             _mm256_add_ps(_mm256_add_ps(r4, r5), _mm256_add_ps(r6, r7)));
    s = _mm256_add_ps(s, _mm256_add_ps(_mm256_add_ps(r8, r9), _mm256_add_ps(r10, r11)));
    float lanes[8];
    _mm256_storeu_ps(lanes, s);
    return lanes[0] + lanes[1] + lanes[2] + lanes[3] + lanes[4] + lanes[5] + lanes[6] + lanes[7];
}

static inline int cqf_has_avx512(void) { return __builtin_cpu_supports("avx512f"); }

/// What Package.swift's `-target-cpu haswell` lets the compiler use in every Swift loop.
static inline int cqf_has_avx2_fma(void) { return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"); }

/// bf16 dot products in hardware (AVX512_BF16): without them oneDNN emulates bf16, slower than float32.
static inline int cqf_has_avx512_bf16(void) { return __builtin_cpu_supports("avx512bf16"); }
