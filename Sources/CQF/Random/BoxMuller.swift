// Box-Muller's logarithm, cosine and sine in plain arithmetic, so that a loop over pairs of
// words vectorises: with glibc's scalar logf, cosf and sinf, drawing the latent noise took
// 2.2% of a step of bench config b at one thread (perf's samples), 1.1% with these.
//
// Only the arguments Box-Muller makes need handling: u1 = (m + 1) 2^-24 in (0, 1], a positive
// normal float, and an angle given in turns, u2 = m 2^-24 in [0, 1). Both are exact multiples
// of 2^-24, so the reductions below lose nothing:
//   log u1 = e ln2 + log f, with u1 = 2^e f and f in [sqrt(1/2), sqrt(2)), and
//   log f = 2 atanh(s), s = (f - 1) / (f + 1), |s| < 0.172, by its series to s^9;
//   2 pi u2 = (pi / 2) q + 2 pi r, with q the whole quarter turns nearest u2 and |r| <= 1/8 exact,
//   then cos and sin of 2 pi r by their Taylor polynomials (to x^10 and x^9 at |x| <= pi/4)
//   and a rotation by q quarter turns.
// Comparisons written as selects keep the loop free of branches.

enum BoxMuller {
    /// Normals 2p and 2p + 1 from words 2p and 2p + 1 for p < `pairs`, their top 24 bits as
    /// u1 in (0, 1] and u2 in [0, 1): sqrt(-2 log u1) (cos 2 pi u2, sin 2 pi u2). `radii` holds
    /// `pairs` floats of scratch.
    static func normals(from words: UnsafePointer<UInt32>, into output: UnsafeMutablePointer<Float>,
                        pairs: Int, radii: UnsafeMutablePointer<Float>) {
        for p in 0..<pairs {
            radii[p] = -2 * logarithm((Float(words[2 * p] >> 8) + 1) * 0x1p-24)
            (output[2 * p], output[2 * p + 1]) = cosineAndSine(turns: Float(words[2 * p + 1] >> 8) * 0x1p-24)
        }
        // The square roots in a loop of their own: Swift's squareRoot keeps C's errno check, a
        // branch that would stop the loop above from vectorising.
        for p in 0..<pairs {
            let radius = radii[p].squareRoot()
            output[2 * p] *= radius
            output[2 * p + 1] *= radius
        }
    }

    /// log x for a positive normal float x.
    @inline(__always)
    static func logarithm(_ x: Float) -> Float {
        let bits = x.bitPattern
        let unit = Float(bitPattern: (bits & 0x7F_FFFF) | 0x3F80_0000)   // in [1, 2)
        let high = unit > 1.41421356
        let f = high ? unit * 0.5 : unit
        let e = Float(Int32(bitPattern: bits >> 23) - (high ? 126 : 127))
        let s = (f - 1) / (f + 1)
        let s2 = s * s
        let logF = 2 * s + 2 * s * s2 * (1.0 / 3 + s2 * (1.0 / 5 + s2 * (1.0 / 7 + s2 * (1.0 / 9))))
        // ln2 in two parts (Cody and Waite) so that e ln2 is exact to float's precision.
        return e * 0.693145751953125 + (e * 1.428606820e-6 + logF)
    }

    /// cos 2 pi t and sin 2 pi t for t in [0, 1).
    @inline(__always)
    static func cosineAndSine(turns t: Float) -> (Float, Float) {
        // Adding 1.5 * 2^23 rounds 4t to an integer, which lands in the low bits of the sum.
        let shifted = t * 4 + 12_582_912
        let quarter = shifted.bitPattern &- 0x4B40_0000
        let r = t - (shifted - 12_582_912) * 0.25
        let x = r * (2 * Float.pi)
        let x2 = x * x
        let cosine: Float = 1 + x2 * (-1.0 / 2 + x2 * (1.0 / 24 + x2 * (-1.0 / 720 + x2 * (1.0 / 40_320 + x2 * (-1.0 / 3_628_800)))))
        let sine: Float = x + x * x2 * (-1.0 / 6 + x2 * (1.0 / 120 + x2 * (-1.0 / 5_040 + x2 * (1.0 / 362_880))))
        // A quarter turn more maps (cos, sin) to (-sin, cos).
        let odd = quarter & 1 != 0
        let (c, s) = odd ? (sine, cosine) : (cosine, sine)
        let negateCosine = (quarter &+ 1) & 2 != 0   // quarters 1 and 2
        let negateSine = quarter & 2 != 0            // quarters 2 and 3
        return (negateCosine ? -c : c, negateSine ? -s : s)
    }
}
