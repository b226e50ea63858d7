// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC 2011):
// the counter-based random generator the whole project draws from.
//
// A counter-based generator has no state to carry: the random numbers for (key, counter)
// are a pure function of both. That is what lets a run be replayed exactly and lets a
// rank's noise depend on (seed, step, image index) rather than on how many ranks there are.
//
// How callers use it:
//   - the 64-bit key comes from (seed, stream): `Philox(seed: 7, stream: PhiloxStream.dequantisation)`;
//     use a different stream for every purpose (dequantisation, shuffling, latent noise, ...);
//   - the 128-bit counter is built from two numbers the caller names, `a` (e.g. the step) and
//     `b` (e.g. the image index or the rank), plus the index of the element in the buffer:
//       counter = (element / 4, b, low 32 bits of a, high 32 bits of a)
//     so `b` and the number of elements in one fill must each stay below 2^32.
//   - `fillUniform` writes U[0,1) floats, `fillNormal` standard normals (Box-Muller).
// Element i of a fill is the same whatever the length of the fill, so a buffer can be filled
// in pieces by passing `firstElement`.
// This is not a cryptographic generator.

/// The keyed Philox4x32-10 bijection and the fills built on it.
public struct Philox: Sendable {
    /// The two 32-bit key words.
    public let key: (UInt32, UInt32)

    /// A generator with the key given word by word (as in Random123's known-answer vectors).
    public init(key: (UInt32, UInt32)) {
        self.key = key
    }

    /// A generator whose 64-bit key mixes `seed` and `stream` (SplitMix64's finaliser), so
    /// nearby seeds and streams give unrelated keys.
    public init(seed: UInt64, stream: UInt64) {
        let mixed = Philox.splitMix64(Philox.splitMix64(seed) ^ stream)
        key = (UInt32(truncatingIfNeeded: mixed), UInt32(truncatingIfNeeded: mixed >> 32))
    }

    /// Ten Philox rounds over one 128-bit counter: four independent uniform 32-bit words.
    @inline(__always)
    public func block(_ counter: (UInt32, UInt32, UInt32, UInt32)) -> (UInt32, UInt32, UInt32, UInt32) {
        var c = counter
        var k0 = key.0, k1 = key.1
        for round in 0..<10 {
            if round > 0 {
                k0 &+= 0x9E37_79B9
                k1 &+= 0xBB67_AE85
            }
            let p0 = UInt64(0xD251_1F53) &* UInt64(c.0)
            let p1 = UInt64(0xCD9E_8D57) &* UInt64(c.2)
            c = (UInt32(truncatingIfNeeded: p1 >> 32) ^ c.1 ^ k0, UInt32(truncatingIfNeeded: p1),
                 UInt32(truncatingIfNeeded: p0 >> 32) ^ c.3 ^ k1, UInt32(truncatingIfNeeded: p0))
        }
        return c
    }

    /// The four words for element block `blockIndex` of the fill keyed by (`a`, `b`).
    @inline(__always)
    public func block(a: UInt64, b: UInt64, blockIndex: Int) -> (UInt32, UInt32, UInt32, UInt32) {
        block((UInt32(truncatingIfNeeded: blockIndex), UInt32(truncatingIfNeeded: b),
               UInt32(truncatingIfNeeded: a), UInt32(truncatingIfNeeded: a >> 32)))
    }

    /// A uniform float in [0, 1) from the top 24 bits of a word: every value is exactly a
    /// multiple of 2^-24, so 1 is never reached.
    @inline(__always)
    public static func unitFloat(_ word: UInt32) -> Float {
        Float(word >> 8) * 0x1p-24
    }

    /// Writes `count` U[0,1) floats: element i (counting from `firstElement`) comes from word
    /// i % 4 of counter (i / 4, b, a).
    public func fillUniform(_ output: UnsafeMutablePointer<Float>, count: Int,
                            a: UInt64, b: UInt64, firstElement: Int = 0) {
        fill(output, count: count, a: a, b: b, firstElement: firstElement, "fillUniform") { w in
            (Philox.unitFloat(w.0), Philox.unitFloat(w.1), Philox.unitFloat(w.2), Philox.unitFloat(w.3))
        }
    }

    /// Writes `count` standard normal floats by Box-Muller: each block's four words give two
    /// pairs (u1, u2) and each pair two normals, so element i comes from counter (i / 4, b, a).
    /// u1 is taken in (0, 1] so that log(u1) is finite.
    public func fillNormal(_ output: UnsafeMutablePointer<Float>, count: Int,
                           a: UInt64, b: UInt64, firstElement: Int = 0) {
        checkCounters(count: count, b: b, firstElement: firstElement, "fillNormal")
        // The words of 16 blocks at a time, then Box-Muller over them in loops that vectorise
        // (BoxMuller.swift); a chunk the fill starts or ends inside is copied in part.
        let chunk = 64
        withUnsafeTemporaryAllocation(of: UInt32.self, capacity: chunk) { words in
            withUnsafeTemporaryAllocation(of: Float.self, capacity: chunk + chunk / 2) { floats in
                let (normals, radii) = (floats.baseAddress!, floats.baseAddress! + chunk)
                var i = 0
                while i < count {
                    let start = (firstElement + i) / chunk * chunk
                    for block in 0..<chunk / 4 {
                        let w = self.block(a: a, b: b, blockIndex: start / 4 + block)
                        (words[4 * block], words[4 * block + 1], words[4 * block + 2], words[4 * block + 3]) = w
                    }
                    BoxMuller.normals(from: words.baseAddress!, into: normals, pairs: chunk / 2, radii: radii)
                    let offset = firstElement + i - start
                    let taken = min(chunk - offset, count - i)
                    (output + i).update(from: normals + offset, count: taken)
                    i += taken
                }
            }
        }
    }

    /// Element i (counting from `firstElement`) is value i % 4 of `values` applied to the block
    /// of counter (i / 4, b, a), so a fill may start anywhere within a block.
    @inline(__always)
    private func fill(_ output: UnsafeMutablePointer<Float>, count: Int, a: UInt64, b: UInt64, firstElement: Int,
                      _ name: String, _ values: ((UInt32, UInt32, UInt32, UInt32)) -> (Float, Float, Float, Float)) {
        checkCounters(count: count, b: b, firstElement: firstElement, name)
        var i = 0
        while i < count {
            let element = firstElement + i
            let block = values(block(a: a, b: b, blockIndex: element / 4))
            var lane = element % 4
            while lane < 4 && i < count {
                output[i] = Philox.lane(block, lane)
                lane += 1
                i += 1
            }
        }
    }

    /// The counter's words hold b and every block index of the fill.
    private func checkCounters(count: Int, b: UInt64, firstElement: Int, _ name: String) {
        precondition(b <= UInt64(UInt32.max), "Philox.\(name): b = \(b) must fit in 32 bits.")
        precondition((firstElement + count) / 4 <= Int(UInt32.max), "Philox.\(name): \(firstElement + count) elements exceed 2^34.")
    }

    /// Word `index` (0...3) of a block.
    @inline(__always)
    public static func lane<T>(_ words: (T, T, T, T), _ index: Int) -> T {
        switch index {
        case 0: return words.0
        case 1: return words.1
        case 2: return words.2
        default: return words.3
        }
    }

    static func splitMix64(_ x: UInt64) -> UInt64 {
        var z = x &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// The streams the project's generators are keyed by: one per use, so that no two uses of
/// the same seed ever draw the same numbers.
public enum PhiloxStream {
    /// Dequantisation noise u in x = (x_int + u) / 256, counter (step, image index).
    public static let dequantisation: UInt64 = 1
    /// The shuffle of an epoch, counter (epoch, 0).
    public static let epochShuffle: UInt64 = 2
    /// Fixed dequantisation noise for evaluation, counter (0, image index).
    public static let evaluationDequantisation: UInt64 = 3
    /// The subsets over which KID averages, counter (subset, 0 for the real set or 1 for the fake).
    public static let kidSubsets: UInt64 = 4
}
