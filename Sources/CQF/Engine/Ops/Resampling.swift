// Nearest-neighbour x2 upsampling (the VAE's top-down path), its adjoint the 2x2 sum pool
// (which, scaled by 1/4, is the discriminator's mean pool), the classifier's 2x2 max pool, and
// global average pooling.

/// (N, C, H, W) -> (N, C, 2H, 2W), each pixel repeated into a 2x2 block. In nChw16c a pixel is
/// the 16 values of a channel block, side by side.
public func upsample2x(_ x: Tensor, layout: ActivationLayout = .nchw) -> Tensor {
    let out = Tensor(uninitialized: [x.shape[0], x.shape[1], 2 * x.shape[2], 2 * x.shape[3]])
    switch layout {
    case .nchw: upsample2x(x, into: out, pixel: Float.self)
    case .nChw16c: upsample2x(x, into: out, pixel: SIMD16<Float>.self)
    }
    return record(out, "upsample2x", [x], uses: [[]]) { c in [sumPool2x2(c.gradient, layout: layout)] }
}

/// (N, C, H, W) -> (N, C, H/2, W/2), each output the sum of a 2x2 block (of pixels of 16 values
/// in nChw16c).
public func sumPool2x2(_ x: Tensor, layout: ActivationLayout = .nchw) -> Tensor {
    precondition(x.rank == 4 && x.shape[2] % 2 == 0 && x.shape[3] % (2 * (layout == .nchw ? 1 : ActivationLayout.block)) == 0,
                 "2x2 pooling needs even H and W, got \(x.shape).")
    let out = Tensor(uninitialized: [x.shape[0], x.shape[1], x.shape[2] / 2, x.shape[3] / 2])
    switch layout {
    case .nchw: sumPool2x2(x, into: out, pixel: Float.self)
    case .nChw16c: sumPool2x2(x, into: out, pixel: SIMD16<Float>.self)
    }
    return record(out, "sumPool2x2", [x], uses: [[]]) { c in [upsample2x(c.gradient, layout: layout)] }
}

/// A pixel: one float in NCHW, the 16 floats of a channel block in nChw16c.
private protocol Pixel { static func + (a: Self, b: Self) -> Self }
extension Float: Pixel {}
extension SIMD16: Pixel where Scalar == Float {}

private func upsample2x<P: Pixel>(_ x: Tensor, into out: Tensor, pixel: P.Type) {
    let values = MemoryLayout<P>.size / MemoryLayout<Float>.size
    let (planes, h, w) = (x.shape[0] * x.shape[1], x.shape[2], x.shape[3] / values)
    forEachBlock(planes, size: 4 * h * w * values) { p in
        let src = UnsafeRawPointer(x.data + p * h * w * values).assumingMemoryBound(to: P.self)
        let dst = UnsafeMutableRawPointer(out.data + p * 4 * h * w * values).assumingMemoryBound(to: P.self)
        for i in 0..<h { for j in 0..<w {
            let v = src[i * w + j]
            dst[(2 * i) * 2 * w + 2 * j] = v
            dst[(2 * i) * 2 * w + 2 * j + 1] = v
            dst[(2 * i + 1) * 2 * w + 2 * j] = v
            dst[(2 * i + 1) * 2 * w + 2 * j + 1] = v
        } }
    }
}

private func sumPool2x2<P: Pixel>(_ x: Tensor, into out: Tensor, pixel: P.Type) {
    let values = MemoryLayout<P>.size / MemoryLayout<Float>.size
    let (planes, h, w) = (x.shape[0] * x.shape[1], x.shape[2] / 2, x.shape[3] / (2 * values))
    forEachBlock(planes, size: 4 * h * w * values) { p in
        let src = UnsafeRawPointer(x.data + p * 4 * h * w * values).assumingMemoryBound(to: P.self)
        let dst = UnsafeMutableRawPointer(out.data + p * h * w * values).assumingMemoryBound(to: P.self)
        for i in 0..<h { for j in 0..<w {
            dst[i * w + j] = src[(2 * i) * 2 * w + 2 * j] + src[(2 * i) * 2 * w + 2 * j + 1]
                + src[(2 * i + 1) * 2 * w + 2 * j] + src[(2 * i + 1) * 2 * w + 2 * j + 1]
        } }
    }
}

/// (N, C, H, W) -> (N, C, H/2, W/2), each output the largest of a 2x2 block (the classifier's
/// pooling). The gradient goes to the first largest pixel of each block, through a constant 0/1
/// mask, so the rule is linear in the gradient and differentiable again.
public func maxPool2x2(_ x: Tensor) -> Tensor {
    precondition(x.rank == 4 && x.shape[2] % 2 == 0 && x.shape[3] % 2 == 0, "2x2 pooling needs even H and W, got \(x.shape).")
    let (nc, h, w) = (x.shape[0] * x.shape[1], x.shape[2] / 2, x.shape[3] / 2)
    let out = Tensor(uninitialized: [x.shape[0], x.shape[1], h, w])
    let mask = Tensor(shape: x.shape, repeating: 0)
    for p in 0..<nc {
        let (src, dst, chosen) = (x.data + p * 4 * h * w, out.data + p * h * w, mask.data + p * 4 * h * w)
        for i in 0..<h { for j in 0..<w {
            let top = (2 * i) * 2 * w + 2 * j
            var largest = top
            for k in [top + 1, top + 2 * w, top + 2 * w + 1] where src[k] > src[largest] { largest = k }
            dst[i * w + j] = src[largest]
            chosen[largest] = 1
        } }
    }
    return record(out, "maxPool2x2", [x], uses: [[]]) { c in [upsample2x(c.gradient) * mask] }
}

/// The 2x2 mean pool of the discriminator's residual blocks.
public func meanPool2x2(_ x: Tensor) -> Tensor { sumPool2x2(x) * 0.25 }

/// (N, C, H, W) -> (N, C): the mean of each channel's plane.
public func globalAveragePool(_ x: Tensor) -> Tensor { x.mean(alongAxes: [2, 3]) }

/// (N, C, H, W) -> (N, C, height, width) by bilinear interpolation, exactly as PyTorch's
/// `F.interpolate(x, size=(height, width), mode='bilinear', align_corners=False)` computes it
/// (pytorch-fid resizes every image to 299x299 so): on each axis, output index d reads the input
/// at s = max(0, (in / out) * (d + 0.5) - 0.5), all in float32, between i0 = floor(s) and
/// i1 = min(i0 + 1, in - 1) with weights 1 - (s - i0) and s - i0; an axis whose size does not
/// change is copied. Forward only: an input that requires gradients is refused.
public func resizedBilinear(_ x: Tensor, height: Int, width: Int) -> Tensor {
    precondition(!x.requiresGrad, "resizedBilinear is forward only (it has no backward rule), but its input requires gradients: pass it a tensor that does not (e.g. `.detached`).")
    precondition(x.rank == 4 && height >= 1 && width >= 1, "resizedBilinear needs an (N, C, H, W) input and a size of at least 1x1, got \(x.shape) to \(height)x\(width).")
    let (h, w) = (x.shape[2], x.shape[3])
    let (rows, columns) = (BilinearTaps(from: h, to: height), BilinearTaps(from: w, to: width))
    let out = Tensor(uninitialized: [x.shape[0], x.shape[1], height, width])
    forEachBlock(x.shape[0] * x.shape[1], size: height * width) { plane in
        let (source, destination) = (x.data + plane * h * w, out.data + plane * height * width)
        for i in 0..<height {
            let (top, bottom) = (source + rows.first[i] * w, source + rows.second[i] * w)
            let (topWeight, bottomWeight) = (rows.firstWeight[i], rows.secondWeight[i])
            for j in 0..<width {
                let (left, right) = (columns.first[j], columns.second[j])
                let (leftWeight, rightWeight) = (columns.firstWeight[j], columns.secondWeight[j])
                destination[i * width + j] = topWeight * (leftWeight * top[left] + rightWeight * top[right])
                    + bottomWeight * (leftWeight * bottom[left] + rightWeight * bottom[right])
            }
        }
    }
    return record(out, "resizedBilinear", [x], uses: [[]]) { _ in preconditionFailure("resizedBilinear has no backward rule.") }
}

/// The two input indices and their weights for every output index of one axis, by PyTorch's
/// `area_pixel_compute_source_index` and `compute_source_index_and_lambda` (align_corners=False).
private struct BilinearTaps {
    var first: [Int] = [], second: [Int] = []
    var firstWeight: [Float] = [], secondWeight: [Float] = []

    init(from input: Int, to output: Int) {
        let scale = Float(input) / Float(output)
        for d in 0..<output {
            guard input != output else {
                first.append(d); second.append(d); firstWeight.append(1); secondWeight.append(0)
                continue
            }
            let source = max(scale * (Float(d) + 0.5) - 0.5, 0)
            let lower = Int(source)
            let lambda = min(max(source - Float(lower), 0), 1)
            first.append(lower)
            second.append(lower < input - 1 ? lower + 1 : lower)
            firstWeight.append(1 - lambda)
            secondWeight.append(lambda)
        }
    }
}
