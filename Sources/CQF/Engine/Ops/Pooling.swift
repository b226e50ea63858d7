// Windowed pooling over each (H, W) plane of an (N, C, H, W) tensor, forward only, for
// pytorch-fid's Inception: max pooling (3x3 stride 2 between its stages, 3x3 stride 1 padded by 1
// in its last block) and average pooling that divides by the taps inside the image (TensorFlow's
// rule, PyTorch's `count_include_pad=False`, 3x3 stride 1 padded by 1 in its other blocks).
// A window is reduced along its rows first, then along its columns (separable: 2k instead of
// k^2 operations per output). Neither op has a backward rule: an input that requires gradients is
// refused, so that no gradient is ever silently cut off at them.

/// (N, C, H, W) -> (N, C, P, Q), each output the largest value in its `kernel` x `kernel` window;
/// padding taps are skipped (as PyTorch's implicit -inf padding does). P = (H + 2 pad - kernel) / stride + 1.
public func maxPool2d(_ x: Tensor, kernel: Int, stride: Int, padding: Int = 0) -> Tensor {
    pooled(x, "maxPool2d", PoolWindow(kernel: kernel, stride: stride, padding: padding), MaximumReduction.self)
}

/// (N, C, H, W) -> (N, C, P, Q), each output the mean of the taps of its window that fall inside
/// the image: a corner of a 3x3 window padded by 1 averages 4 values, not 9 with 5 zeros.
public func averagePool2dExcludingPadding(_ x: Tensor, kernel: Int, stride: Int, padding: Int) -> Tensor {
    pooled(x, "averagePool2dExcludingPadding", PoolWindow(kernel: kernel, stride: stride, padding: padding), MeanReduction.self)
}

/// A square window, its stride and the padding on every side (taps that fall there are skipped, not read as zeros).
private struct PoolWindow {
    let kernel: Int, stride: Int, padding: Int

    func outputSize(_ size: Int) -> Int { (size + 2 * padding - kernel) / stride + 1 }

    /// The input indices of output `index`'s window that lie inside an axis of `size`.
    func taps(_ index: Int, _ size: Int) -> Range<Int> {
        max(0, index * stride - padding)..<min(size, index * stride - padding + kernel)
    }
}

/// How a window's values combine: `combine` over the taps of a row, then over those of a column,
/// and `finish` with the number of taps.
private protocol PoolReduction {
    static func combine(_ a: Float, _ b: Float) -> Float
    static func finish(_ value: Float, taps: Int) -> Float
}

private enum MaximumReduction: PoolReduction {
    static func combine(_ a: Float, _ b: Float) -> Float { max(a, b) }
    static func finish(_ value: Float, taps: Int) -> Float { value }
}

private enum MeanReduction: PoolReduction {
    static func combine(_ a: Float, _ b: Float) -> Float { a + b }
    static func finish(_ value: Float, taps: Int) -> Float { value / Float(taps) }
}

private func pooled<R: PoolReduction>(_ x: Tensor, _ op: String, _ window: PoolWindow, _: R.Type) -> Tensor {
    precondition(!x.requiresGrad, "\(op) is forward only (it has no backward rule), but its input requires gradients: pass it a tensor that does not (e.g. `.detached`).")
    let (kernel, stride, padding) = (window.kernel, window.stride, window.padding)
    precondition(x.rank == 4 && kernel >= 1 && stride >= 1 && padding >= 0 && padding < kernel,
                 "\(op) needs an (N, C, H, W) input, kernel >= 1, stride >= 1 and 0 <= padding < kernel; got \(x.shape), kernel \(kernel), stride \(stride), padding \(padding).")
    let (h, w) = (x.shape[2], x.shape[3])
    precondition(h + 2 * padding >= kernel && w + 2 * padding >= kernel,
                 "\(op): a \(kernel)x\(kernel) window does not fit a \(h)x\(w) input padded by \(padding).")
    let (p, q) = (window.outputSize(h), window.outputSize(w))
    let rowTaps = (0..<p).map { window.taps($0, h) }, columnTaps = (0..<q).map { window.taps($0, w) }
    let out = Tensor(uninitialized: [x.shape[0], x.shape[1], p, q])
    forEachChunk(x.shape[0] * x.shape[1], minimum: max(1, (1 << 16) / (p * q))) { planes in
        // One plane's rows, each reduced over its column windows: (H, Q).
        let rows = UnsafeMutablePointer<Float>.allocate(capacity: h * q)
        defer { rows.deallocate() }
        for plane in planes {
            let (source, destination) = (x.data + plane * h * w, out.data + plane * p * q)
            for i in 0..<h {
                let (line, reduced) = (source + i * w, rows + i * q)
                for j in 0..<q {
                    let taps = columnTaps[j]
                    var value = line[taps.lowerBound]
                    for t in taps.dropFirst() { value = R.combine(value, line[t]) }
                    reduced[j] = value
                }
            }
            for i in 0..<p {
                let taps = rowTaps[i]
                let output = destination + i * q
                output.update(from: rows + taps.lowerBound * q, count: q)
                for t in taps.dropFirst() {
                    let line = rows + t * q
                    for j in 0..<q { output[j] = R.combine(output[j], line[j]) }
                }
                for j in 0..<q { output[j] = R.finish(output[j], taps: taps.count * columnTaps[j].count) }
            }
        }
    }
    return record(out, op, [x], uses: [[]]) { _ in preconditionFailure("\(op) has no backward rule.") }
}
