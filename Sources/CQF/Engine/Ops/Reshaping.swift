// Ops that move values without arithmetic: reshape (a view), channel concat and slice,
// and Real NVP's squeeze (space-to-depth) with its inverse. Each one's gradient is its adjoint.

extension Tensor {
    /// The same values read with another shape (a view of the same storage).
    public func reshaped(to newShape: [Int]) -> Tensor {
        precondition(newShape.reduce(1, *) == count, "Cannot reshape \(shape) to \(newShape).")
        if newShape == shape { return self }
        let view = Tensor(shape: newShape, storage: storage, offset: offset)
        return record(view, "reshape", [self], uses: [[]]) { c in [c.gradient.reshaped(to: c.shapes[0])] }
    }

    /// (N, C, ...) -> (N, C*...)
    public func flattened() -> Tensor { reshaped(to: [shape[0], count / shape[0]]) }

    /// Channels `range` of an (N, C, H, W) tensor.
    public func channels(_ range: Range<Int>) -> Tensor {
        precondition(rank == 4 && range.lowerBound >= 0 && range.upperBound <= shape[1],
                     "Channels \(range) are out of range for shape \(shape).")
        let (n, c, plane) = (shape[0], shape[1], shape[2] * shape[3])
        let out = Tensor(uninitialized: [n, range.count, shape[2], shape[3]])
        forEachBlock(n, size: range.count * plane) { i in
            (out.data + i * range.count * plane).update(from: data + (i * c + range.lowerBound) * plane, count: range.count * plane)
        }
        let sliced = record(out, "channels", [self], uses: [[]]) { ctx in
            [ctx.gradient.paddingChannels(before: range.lowerBound, after: c - range.upperBound)]
        }
        sliced.node?.channelSlice = range
        return sliced
    }

    /// `existing + paddingChannels(...)` for this gradient of channels `range` of a tensor of
    /// `shape` whose gradient so far is `existing` (nil: none yet), touching those channels alone:
    /// added into `existing` itself when `inPlace` (a tensor nothing else holds), else into a copy.
    /// The same additions, so the same bits (but for a zero's sign outside the range).
    func addedToChannels(_ range: Range<Int>, of existing: Tensor?, shape: [Int], inPlace: Bool) -> Tensor {
        let (n, c, plane) = (shape[0], shape[1], shape[2] * shape[3])
        guard let existing else { return paddingChannels(before: range.lowerBound, after: c - range.upperBound) }
        precondition(existing.shape == shape && self.shape == [n, range.count, shape[2], shape[3]],
                     "Channels \(range) of shape \(self.shape) do not fit a gradient of shape \(existing.shape).")
        let sum = inPlace ? existing : Tensor(uninitialized: shape)
        if !inPlace { sum.data.update(from: existing.data, count: existing.count) }
        let width = range.count * plane
        forEachBlock(n, size: width) { i in
            let (into, from) = (sum.data + (i * c + range.lowerBound) * plane, data + i * width)
            for j in 0..<width { into[j] += from[j] }
        }
        return sum
    }

    /// Zero channels added before and after (the adjoint of `channels(_:)`).
    func paddingChannels(before: Int, after: Int) -> Tensor {
        let (n, c, plane) = (shape[0], shape[1], shape[2] * shape[3])
        let total = before + c + after
        let out = Tensor(uninitialized: [n, total, shape[2], shape[3]])
        forEachBlock(n, size: total * plane) { i in
            let image = out.data + i * total * plane
            image.initialize(repeating: 0, count: before * plane)
            (image + before * plane).update(from: data + i * c * plane, count: c * plane)
            (image + (before + c) * plane).initialize(repeating: 0, count: after * plane)
        }
        return record(out, "paddingChannels", [self], uses: [[]]) { ctx in [ctx.gradient.channels(before..<before + c)] }
    }
}

/// The tensors joined along the channel axis (N, C1 + C2 + ..., H, W).
public func concatChannels(_ parts: [Tensor]) -> Tensor {
    let first = parts[0]
    precondition(parts.allSatisfy { $0.rank == 4 && $0.shape[0] == first.shape[0] && $0.shape[2...] == first.shape[2...] },
                 "Channel concat needs equal N, H, W; got \(parts.map(\.shape)).")
    let (n, plane) = (first.shape[0], first.shape[2] * first.shape[3])
    let widths = parts.map { $0.shape[1] }
    let total = widths.reduce(0, +)
    let out = Tensor(uninitialized: [n, total, first.shape[2], first.shape[3]])
    forEachBlock(n, size: total * plane) { i in
        var start = 0
        for (part, width) in zip(parts, widths) {
            (out.data + (i * total + start) * plane).update(from: part.data + i * width * plane, count: width * plane)
            start += width
        }
    }
    return record(out, "concatChannels", parts, uses: parts.map { _ in [] }) { c in
        var begin = 0
        return widths.enumerated().map { i, width in
            defer { begin += width }
            return c.needs[i] ? c.gradient.channels(begin..<begin + width) : nil
        }
    }
}

/// Space-to-depth: (N, C, H, W) -> (N, 4C, H/2, W/2); channel c*4 + 2*di + dj holds pixel (2i+di, 2j+dj) of channel c.
public func squeeze2x2(_ x: Tensor) -> Tensor {
    precondition(x.rank == 4 && x.shape[2] % 2 == 0 && x.shape[3] % 2 == 0, "squeeze needs even H and W, got \(x.shape).")
    let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let out = Tensor(uninitialized: [n, 4 * c, h / 2, w / 2])
    permuteSqueeze(big: x.data, small: out.data, n: n, c: c, h: h, w: w, toSmall: true)
    return record(out, "squeeze2x2", [x], uses: [[]]) { ctx in [unsqueeze2x2(ctx.gradient)] }
}

/// Depth-to-space, the inverse of `squeeze2x2`: (N, 4C, H, W) -> (N, C, 2H, 2W).
public func unsqueeze2x2(_ x: Tensor) -> Tensor {
    precondition(x.rank == 4 && x.shape[1] % 4 == 0, "unsqueeze needs channels divisible by 4, got \(x.shape).")
    let (n, c, h, w) = (x.shape[0], x.shape[1] / 4, x.shape[2] * 2, x.shape[3] * 2)
    let out = Tensor(uninitialized: [n, c, h, w])
    permuteSqueeze(big: out.data, small: x.data, n: n, c: c, h: h, w: w, toSmall: false)
    return record(out, "unsqueeze2x2", [x], uses: [[]]) { ctx in [squeeze2x2(ctx.gradient)] }
}

/// Copies between the (N, C, H, W) and (N, 4C, H/2, W/2) arrangements, in the direction asked.
private func permuteSqueeze(big: UnsafeMutablePointer<Float>, small: UnsafeMutablePointer<Float>,
                            n: Int, c: Int, h: Int, w: Int, toSmall: Bool) {
    let (h2, w2) = (h / 2, w / 2)
    for b in 0..<n { for ch in 0..<c { for di in 0..<2 { for dj in 0..<2 {
        let plane = small + ((b * c + ch) * 4 + di * 2 + dj) * h2 * w2
        let source = big + (b * c + ch) * h * w
        for i in 0..<h2 { for j in 0..<w2 {
            if toSmall { plane[i * w2 + j] = source[(2 * i + di) * w + 2 * j + dj] }
            else { source[(2 * i + di) * w + 2 * j + dj] = plane[i * w2 + j] }
        } }
    } } } }
}
