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

/// out[i] = f(a[i'], b[i'']) over the broadcast shape.
@inline(__always)
func broadcastMap(_ a: Tensor, _ b: Tensor, _ f: (Float, Float) -> Float) -> Tensor {
    let shape = broadcastShape(a.shape, b.shape)
    let out = Tensor(uninitialized: shape)
    let (pa, pb, po) = (a.data, b.data, out.data)
    if a.shape == b.shape {
        for i in 0..<out.count { po[i] = f(pa[i], pb[i]) }
    } else if b.count == 1 {
        let v = pb[0]
        for i in 0..<out.count { po[i] = f(pa[i], v) }
    } else if a.count == 1 {
        let v = pa[0]
        for i in 0..<out.count { po[i] = f(v, pb[i]) }
    } else {
        let o = padded4(shape)
        let (sa, sb) = (broadcastStrides(a.shape, to: shape), broadcastStrides(b.shape, to: shape))
        var k = 0
        for i0 in 0..<o[0] { for i1 in 0..<o[1] { for i2 in 0..<o[2] {
            let ba = i0 * sa[0] + i1 * sa[1] + i2 * sa[2]
            let bb = i0 * sb[0] + i1 * sb[1] + i2 * sb[2]
            let (ia, ib) = (sa[3], sb[3])
            for i3 in 0..<o[3] {
                po[k] = f(pa[ba + i3 * ia], pb[bb + i3 * ib])
                k += 1
            }
        } } }
    }
    return out
}
