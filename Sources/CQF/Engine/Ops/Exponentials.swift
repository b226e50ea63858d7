// e^x and e^x - 1 in plain arithmetic, so that the loops of the elementwise ops vectorise:
// glibc's expf and expm1f are scalar calls, and with them ELU, tanh and exp took 6.9% of a step
// of bench config a at one thread (`bench --ops`: 0.79 of 11.5 s), for a few floating-point
// operations per element.
//
// x = k ln2 + r with |r| <= ln2/2 (Cody and Waite's two-part ln2, so that r is exact), e^r - 1
// by its Taylor polynomial to degree 7 (the remainder is below 2^-26 of it), then
// e^x - 1 = 2^k (e^r - 1) + (2^k - 1). 2^k is made from its exponent bits in two halves, so that
// k from -150 to 128 (denormal results to overflow) needs no special case. Comparisons written
// as selects keep NaN a NaN, where a float-to-integer conversion would trap.

enum Exponentials {
    /// 2^k for the k nearest x / ln2, as two powers of two whose product it is, and r = x - k ln2.
    @inline(__always)
    private static func reduced(_ x: Float) -> (r: Float, half: Float, rest: Float) {
        // Past these bounds e^x is 0 or infinite in Float; the callers select those results.
        let x = x < -104 ? -104 : (x > 89 ? 89 : x)
        // Adding 1.5 * 2^23 rounds to an integer, which lands in the low bits of the sum.
        let shifted = x * 1.442695041 + 12_582_912
        let k = Int32(bitPattern: shifted.bitPattern &- 0x4B40_0000)
        let kFloat = shifted - 12_582_912
        let r = (x - kFloat * 0.693145751953125) - kFloat * 1.428606820e-6
        let power = { (e: Int32) in Float(bitPattern: UInt32(bitPattern: (e &+ 127) &<< 23)) }
        return (r, power(k >> 1), power(k &- (k >> 1)))
    }

    /// e^r - 1 for |r| <= ln2/2.
    @inline(__always)
    private static func polynomial(_ r: Float) -> Float {
        let tail: Float = 1.0 / 2 + r * (1.0 / 6 + r * (1.0 / 24 + r * (1.0 / 120 + r * (1.0 / 720 + r * (1.0 / 5040)))))
        return r + r * r * tail
    }

    @inline(__always)
    static func exp(_ x: Float) -> Float {
        let (r, half, rest) = reduced(x)
        let value = (polynomial(r) + 1) * half * rest
        return x > 88.72284 ? .infinity : (x < -103.97208 ? 0 : value)
    }

    @inline(__always)
    static func expm1(_ x: Float) -> Float {
        let (r, half, rest) = reduced(x)
        let scale = half * rest
        let value = scale * polynomial(r) + (scale - 1)
        return x > 88.72284 ? .infinity : value
    }
}
