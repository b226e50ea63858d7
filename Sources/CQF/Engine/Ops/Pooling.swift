// Windowed pooling over each (H, W) plane of an (N, C, H, W) tensor, forward only, for
// pytorch-fid's Inception: max pooling (3x3 stride 2 between its stages, 3x3 stride 1 padded by 1
// in its last block) and average pooling that divides by the taps inside the image (TensorFlow's
// rule, PyTorch's `count_include_pad=False`, 3x3 stride 1 padded by 1 in its other blocks).
// Neither has a backward rule: an input that requires gradients is refused, so that no gradient
// is ever silently cut off at them.

/// (N, C, H, W) -> (N, C, P, Q), each output the largest value in its `kernel` x `kernel` window;
/// padding taps are skipped (as PyTorch's implicit -inf padding does). P = (H + 2 pad - kernel) / stride + 1.
public func maxPool2d(_ x: Tensor, kernel: Int, stride: Int, padding: Int = 0) -> Tensor {
    pooled(x, "maxPool2d", kernel: kernel, stride: stride, padding: padding) { plane, width, rows, columns in
        var largest = -Float.infinity
        for i in rows { for j in columns { largest = max(largest, plane[i * width + j]) } }
        return largest
    }
}

/// (N, C, H, W) -> (N, C, P, Q), each output the mean of the taps of its window that fall inside
/// the image: a corner of a 3x3 window padded by 1 averages 4 values, not 9 with 5 zeros.
public func averagePool2dExcludingPadding(_ x: Tensor, kernel: Int, stride: Int, padding: Int) -> Tensor {
    pooled(x, "averagePool2dExcludingPadding", kernel: kernel, stride: stride, padding: padding) { plane, width, rows, columns in
        var sum: Float = 0
        for i in rows { for j in columns { sum += plane[i * width + j] } }
        return sum / Float(rows.count * columns.count)
    }
}

/// Runs `reduce(plane, width, rows, columns)` over the in-image part of every window.
@inline(__always)
private func pooled(_ x: Tensor, _ op: String, kernel: Int, stride: Int, padding: Int,
                    _ reduce: (UnsafePointer<Float>, Int, Range<Int>, Range<Int>) -> Float) -> Tensor {
    precondition(!x.requiresGrad, "\(op) is forward only (it has no backward rule), but its input requires gradients: pass it a tensor that does not (e.g. `.detached`).")
    precondition(x.rank == 4 && kernel >= 1 && stride >= 1 && padding >= 0 && padding < kernel,
                 "\(op) needs an (N, C, H, W) input, kernel >= 1, stride >= 1 and 0 <= padding < kernel; got \(x.shape), kernel \(kernel), stride \(stride), padding \(padding).")
    let (h, w) = (x.shape[2], x.shape[3])
    let (p, q) = ((h + 2 * padding - kernel) / stride + 1, (w + 2 * padding - kernel) / stride + 1)
    precondition(h + 2 * padding >= kernel && w + 2 * padding >= kernel,
                 "\(op): a \(kernel)x\(kernel) window does not fit a \(h)x\(w) input padded by \(padding).")
    let out = Tensor(uninitialized: [x.shape[0], x.shape[1], p, q])
    func window(_ index: Int, _ size: Int) -> Range<Int> {
        max(0, index * stride - padding)..<min(size, index * stride - padding + kernel)
    }
    forEachChunk(x.shape[0] * x.shape[1], minimum: max(1, (1 << 16) / (p * q))) { planes in
        for plane in planes {
            let (source, destination) = (UnsafePointer(x.data + plane * h * w), out.data + plane * p * q)
            for i in 0..<p {
                let rows = window(i, h)
                for j in 0..<q { destination[i * q + j] = reduce(source, w, rows, window(j, w)) }
            }
        }
    }
    return record(out, op, [x], uses: [[]]) { _ in preconditionFailure("\(op) has no backward rule.") }
}
