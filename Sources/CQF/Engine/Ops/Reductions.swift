// Sums, means and Euclidean norms over chosen axes, their adjoint (broadcasting back), and logsumexp.
// Sums accumulate in Double: a batch-norm mean over 64x32x32 values must not drift.
import Foundation

extension Tensor {
    /// The sum over `axes`, keeping them as dimensions of size 1 when `keepingDims`.
    public func sum(alongAxes axes: [Int], keepingDims: Bool = false) -> Tensor {
        let axes = axes.map { $0 < 0 ? $0 + rank : $0 }
        precondition(axes.allSatisfy { (0..<rank).contains($0) }, "Axes \(axes) are out of range for shape \(shape).")
        let kept = shape.enumerated().map { axes.contains($0.offset) ? 1 : $0.element }
        let result = sumKeepingDims(to: kept)
        let finalShape = keepingDims ? kept : shape.enumerated().filter { !axes.contains($0.offset) }.map(\.element)
        return result.reshaped(to: finalShape)
    }

    public func sum() -> Tensor { reshaped(to: [count]).sum(alongAxes: [0]) }

    public func mean(alongAxes axes: [Int], keepingDims: Bool = false) -> Tensor {
        let n = axes.map { shape[$0 < 0 ? $0 + rank : $0] }.reduce(1, *)
        return sum(alongAxes: axes, keepingDims: keepingDims) / Float(n)
    }

    public func mean() -> Tensor { sum() / Float(count) }

    /// The Euclidean norm over `axes`, kept as dimensions of size 1. Its gradient x / norm is 0
    /// where the norm is 0, as PyTorch's norm takes it, where sqrt of a sum of squares would give
    /// 0 x inf = NaN: a ReLU discriminator can have a zero input gradient for one image, and
    /// that must not poison the gradient penalty's gradient (seen: a discriminator whose every
    /// later update was skipped as non-finite).
    public func euclideanNorm(alongAxes axes: [Int]) -> Tensor {
        let norm = Recording.paused { sqrt(square(self).sum(alongAxes: axes, keepingDims: true)) }
        return record(norm, "euclideanNorm", [self], uses: [[.input(0), .output]]) { c in
            let nonzero = c.output.mapped(Elementwise.IsPositive())
            return [c.input(0) * (c.gradient * nonzero / (c.output + (1 - nonzero)))]
        }
    }

    /// The gradient of a broadcast operand: this tensor summed down to `target` (a shape it broadcast from).
    func summed(to target: [Int]) -> Tensor {
        if shape == target { return self }
        let kept = padded4(target)
        let rank4 = padded4(shape)
        precondition(zip(kept, rank4).allSatisfy { $0 == $1 || $0 == 1 }, "Shape \(shape) does not reduce to \(target).")
        return reshaped(to: rank4).sumKeepingDims(to: kept).reshaped(to: target)
    }

    /// This tensor repeated along its dimensions of size 1 to `target` (the adjoint of `summed(to:)`).
    public func broadcast(to target: [Int]) -> Tensor {
        if shape == target { return self }
        let out = broadcastMap(Tensor(0), self, Elementwise.Second(), to: target)
        return record(out, "broadcast", [self], uses: [[]]) { c in [c.gradient.summed(to: c.shapes[0])] }
    }

    /// Sum to `kept` (same rank, 1 on the summed dimensions). Runs along a summed innermost
    /// dimension are added in float lanes of 8 (the sum of at most a plane), everything else
    /// accumulates in Double. The engine's threads take disjoint ranges of the longest kept
    /// dimension, so each output is summed by one thread in the same order as on one thread:
    /// the result does not depend on the thread count. (A sum to a scalar stays on one thread.)
    private func sumKeepingDims(to kept: [Int]) -> Tensor {
        let out = Tensor(uninitialized: kept)
        let loops = BroadcastLoops(shape, kept, output: shape)
        let accumulator = UnsafeMutablePointer<Double>.allocate(capacity: out.count)
        defer { accumulator.deallocate() }
        accumulator.initialize(repeating: 0, count: out.count)
        let source = UnsafePointer(data)
        if let split = loops.sizes.indices.filter({ loops.stridesB[$0] != 0 }).max(by: { loops.sizes[$0] < loops.sizes[$1] }) {
            let length = loops.sizes[split]
            forEachChunk(length, minimum: max(1, (1 << 16) * length / count)) { range in
                var part = loops
                part.sizes[split] = range.count
                addRuns(part, source + range.lowerBound * loops.stridesA[split], into: accumulator + range.lowerBound * loops.stridesB[split])
            }
        } else {
            addRuns(loops, source, into: accumulator)
        }
        for i in 0..<out.count { out.data[i] = Float(accumulator[i]) }
        return record(out, "sum", [self], uses: [[]]) { c in [c.gradient.broadcast(to: c.shapes[0])] }
    }
}

/// Adds every run of `loops` (contiguous in the source, its operand A) into the accumulator of
/// its output (operand B): a run along a summed innermost dimension as one sum, otherwise element
/// by element.
private func addRuns(_ loops: BroadcastLoops, _ source: UnsafePointer<Float>, into accumulator: UnsafeMutablePointer<Double>) {
    let inner = loops.sizes.count - 1
    let (n, reducing) = (loops.sizes[inner], loops.stridesB[inner] == 0)
    var index = [Int](repeating: 0, count: inner)
    var (from, to) = (0, 0)
    for _ in 0..<loops.sizes[..<inner].reduce(1, *) {
        if reducing {
            accumulator[to] += Double(contiguousSum(source + from, n))
        } else {
            for i in 0..<n { accumulator[to + i] += Double(source[from + i]) }
        }
        loops.advance(&index, &from, &to)
    }
}

/// The sum of n contiguous floats, in eight lanes.
@inline(__always)
private func contiguousSum(_ p: UnsafePointer<Float>, _ n: Int) -> Float {
    laneSum(n, eight: { eight(p, $0) }, one: { p[$0] })
}

/// The floats at p[i..<i+8].
@inline(__always)
func eight(_ p: UnsafePointer<Float>, _ i: Int) -> SIMD8<Float> {
    UnsafeRawPointer(p + i).loadUnaligned(as: SIMD8<Float>.self)
}

/// The sum of n values, the ones at i..<i+8 given by `eight(i)` and the rest by `one(i)`: in
/// eight lanes, then the lanes' sum, then the remainder in order. Every sum of a plane adds in
/// this order, so fused loops (batch normalisation's) give the ops' results to the bit.
@inline(__always)
func laneSum(_ n: Int, eight: (Int) -> SIMD8<Float>, one: (Int) -> Float) -> Float {
    var lanes = SIMD8<Float>()
    var i = 0
    while i + 8 <= n {
        lanes += eight(i)
        i += 8
    }
    var total = lanes.sum()
    while i < n { total += one(i); i += 1 }
    return total
}

/// log sum exp over `axis` (kept as size 1), shifted by the maximum so it cannot overflow.
public func logsumexp(_ x: Tensor, axis: Int) -> Tensor {
    let shift = Recording.paused { x.maxKeepingDims(axis: axis) }
    let result = log(exp(x - shift).sum(alongAxes: [axis], keepingDims: true)) + shift
    return result
}

extension Tensor {
    /// The maximum over one axis, kept as size 1; a constant (used only as a numerical shift).
    func maxKeepingDims(axis: Int) -> Tensor {
        let axis = axis < 0 ? axis + rank : axis
        let outer = shape[..<axis].reduce(1, *), length = shape[axis], inner = shape[(axis + 1)...].reduce(1, *)
        var kept = shape
        kept[axis] = 1
        let out = Tensor(shape: kept, repeating: -.infinity)
        for o in 0..<outer { for l in 0..<length { for i in 0..<inner {
            out.data[o * inner + i] = Swift.max(out.data[o * inner + i], data[(o * length + l) * inner + i])
        } } }
        return out
    }
}
