// NumPy broadcasting for tensors of rank <= 4: shapes are aligned on the right, and a
// dimension of 1 stretches to match. Scalars ([]), per-channel (1,C,1,1) and per-image
// (N,1,1,1) operands are the cases the model uses.

/// `shape` padded on the left with ones to rank 4.
@inline(__always)
func padded4(_ shape: [Int]) -> [Int] {
    precondition(shape.count <= 4, "The engine handles tensors of rank 4 at most, got shape \(shape).")
    return Array(repeating: 1, count: 4 - shape.count) + shape
}

/// The shape two operands broadcast to, or a precondition failure naming both.
func broadcastShape(_ a: [Int], _ b: [Int]) -> [Int] {
    if a == b { return a }
    let rank = max(a.count, b.count)
    let (pa, pb) = (Array(repeating: 1, count: rank - a.count) + a, Array(repeating: 1, count: rank - b.count) + b)
    return zip(pa, pb).map { x, y in
        precondition(x == y || x == 1 || y == 1, "Shapes \(a) and \(b) do not broadcast.")
        return max(x, y)
    }
}

/// Element strides of a tensor of `shape` read as the rank-4 `output` shape: 0 along stretched dims.
func broadcastStrides(_ shape: [Int], to output: [Int]) -> [Int] {
    let (s, o) = (padded4(shape), padded4(output))
    var strides = [0, 0, 0, 0]
    var step = 1
    for d in (0..<4).reversed() {
        strides[d] = (s[d] == 1 && o[d] != 1) ? 0 : step
        step *= s[d]
    }
    return strides
}

/// The broadcast iteration in as few dimensions as possible: adjacent dimensions merge when
/// both operands step through them the same way (contiguously, or not at all), so that a
/// per-channel operand over (N, C, H, W) becomes (N*C) planes of H*W values with one scalar.
struct BroadcastLoops {
    var sizes: [Int] = []
    var stridesA: [Int] = []
    var stridesB: [Int] = []

    init(_ a: [Int], _ b: [Int], output: [Int]) {
        let o = padded4(output)
        let (sa, sb) = (broadcastStrides(a, to: output), broadcastStrides(b, to: output))
        for d in 0..<4 where o[d] > 1 {
            if let last = sizes.indices.last,
               stridesA[last] == sa[d] * o[d], stridesB[last] == sb[d] * o[d] {
                sizes[last] *= o[d]
                stridesA[last] = sa[d]
                stridesB[last] = sb[d]
            } else {
                sizes.append(o[d])
                stridesA.append(sa[d])
                stridesB.append(sb[d])
            }
        }
        while sizes.count < 2 { sizes.insert(1, at: 0); stridesA.insert(0, at: 0); stridesB.insert(0, at: 0) }
    }

    /// Moves `index` over the outer dimensions (all but the innermost) to the next run, like an
    /// odometer, keeping the two operands' offsets in step.
    @inline(__always)
    func advance(_ index: inout [Int], _ offsetA: inout Int, _ offsetB: inout Int) {
        var d = sizes.count - 2
        while d >= 0 {
            index[d] += 1
            offsetA += stridesA[d]
            offsetB += stridesB[d]
            if index[d] < sizes[d] { return }
            offsetA -= stridesA[d] * sizes[d]
            offsetB -= stridesB[d] * sizes[d]
            index[d] = 0
            d -= 1
        }
    }
}

/// out[i] = f(a[i'], b[i'']) over the shape both operands broadcast to, or over `target` when
/// given (a shape they both stretch to). The innermost run is one of three contiguous forms
/// (both, a only, b only), each a plain loop the compiler vectorises. The output's elements are
/// shared among the engine's threads in contiguous ranges, cutting runs where needed:
/// same-shape operands merge into a single run.
func broadcastMap<F: BinaryFunction>(_ a: Tensor, _ b: Tensor, _ f: F, to target: [Int]? = nil) -> Tensor {
    var shape = broadcastShape(a.shape, b.shape)
    if let target {
        precondition(broadcastShape(shape, target) == target, "Shapes \(a.shape) and \(b.shape) do not broadcast to \(target).")
        shape = target
    }
    let out = Tensor(uninitialized: shape)
    let loops = BroadcastLoops(a.shape, b.shape, output: shape)
    let inner = loops.sizes.count - 1
    let (n, ia, ib) = (loops.sizes[inner], loops.stridesA[inner], loops.stridesB[inner])
    let (pa0, pb0, po0) = (a.data, b.data, out.data)
    forEachChunk(out.count) { range in
        // Where the range starts: in run `run`, at `start` within it; the run's digits over
        // the outer dimensions give its offsets in a and b.
        var (start, rest) = (range.lowerBound % n, range.lowerBound / n)
        var index = [Int](repeating: 0, count: inner)
        var (offsetA, offsetB) = (0, 0)
        for d in (0..<inner).reversed() {
            index[d] = rest % loops.sizes[d]
            rest /= loops.sizes[d]
            offsetA += index[d] * loops.stridesA[d]
            offsetB += index[d] * loops.stridesB[d]
        }
        var (po, remaining) = (po0 + range.lowerBound, range.count)
        while remaining > 0 {
            let length = min(n - start, remaining)
            let (pa, pb) = (pa0 + offsetA + start * ia, pb0 + offsetB + start * ib)
            if ia == 1 && ib == 1 {
                for i in 0..<length { po[i] = f(pa[i], pb[i]) }
            } else if ib == 0 {
                let v = pb[0]
                for i in 0..<length { po[i] = f(pa[i * ia], v) }
            } else if ia == 0 {
                let v = pa[0]
                for i in 0..<length { po[i] = f(v, pb[i * ib]) }
            } else {
                for i in 0..<length { po[i] = f(pa[i * ia], pb[i * ib]) }
            }
            po += length
            remaining -= length
            start = 0
            loops.advance(&index, &offsetA, &offsetB)
        }
    }
    return out
}
