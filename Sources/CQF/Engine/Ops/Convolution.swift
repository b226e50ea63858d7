// 2-D convolution as three differentiable ops. The forward pass, the input gradient and the
// weight gradient are bilinear and adjoint to one another, so each one's gradient is made
// of the other two: that closes the set under differentiation, to any order.

/// Which kernels run the convolutions: oneDNN by default; tests swap in the im2col oracle.
public enum Convolutions {
    nonisolated(unsafe) public static var kernels: ConvolutionKernels = DNNLConvolution()
}

func convGeometry(input: [Int], weight: [Int], stride: Int, padding: (height: Int, width: Int),
                  float32Only: Bool = false, outputLayout: ActivationLayout = .nchw) -> ConvGeometry {
    precondition(weight.count == 4, "conv2d needs a (K,C,R,S) weight, got \(weight).")
    let (inputLayout, batch, height, width) = ActivationLayout.of(input, channels: weight[1])
    var g = ConvGeometry(batch: batch, inChannels: weight[1], outChannels: weight[0], height: height, width: width,
                         kernelHeight: weight[2], kernelWidth: weight[3], stride: stride, padding: padding)
    g.float32Only = float32Only
    (g.inputLayout, g.outputLayout) = (inputLayout, outputLayout)
    return g
}

/// y (N,K,P,Q) = x (N,C,H,W) convolved with w (K,C,R,S): cross-correlation, zero padding. x may
/// be in either layout (`ActivationLayout`); y and the functions without `outputLayout` are NCHW.
public func conv2d(_ x: Tensor, _ w: Tensor, stride: Int = 1, padding: Int = 0) -> Tensor {
    conv2d(x, w, stride: stride, padding: (padding, padding))
}

/// conv2d with its own zero padding on each axis: `padding.height` rows above and below,
/// `padding.width` columns left and right.
public func conv2d(_ x: Tensor, _ w: Tensor, stride: Int = 1, padding: (height: Int, width: Int)) -> Tensor {
    conv2d(x, w, geometry: convGeometry(input: x.shape, weight: w.shape, stride: stride, padding: padding))
}

/// conv2d of a geometry already made: the backward rules' own, which keep its `float32Only`.
func conv2d(_ x: Tensor, _ w: Tensor, geometry g: ConvGeometry) -> Tensor {
    let out = Tensor(uninitialized: g.outputShape)
    Convolutions.kernels.forward(g, input: x.data, weight: w.data, output: out.data)
    return record(out, "conv2d", [x, w], uses: [[.input(1)], [.input(0)]]) { c in
        [c.needs[0] ? conv2dInputGradient(c.gradient, c.input(1), geometry: g) : nil,
         c.needs[1] ? conv2dWeightGradient(c.input(0), c.gradient, geometry: g) : nil]
    }
}

/// conv2d(x, w) + bias (K) per output channel, in one op: the kernel adds the bias as it writes
/// its output, so the graph keeps one activation per layer instead of two.
/// `float32Only`: in float32 whatever precision the kernels use (`ConvGeometry.float32Only`);
/// `outputLayout`: the layout of the result (and of the gradient it will be given).
public func conv2d(_ x: Tensor, _ w: Tensor, bias: Tensor, stride: Int = 1, padding: Int = 0,
                   float32Only: Bool = false, outputLayout: ActivationLayout = .nchw) -> Tensor {
    conv2d(x, w, bias: bias, stride: stride, padding: (padding, padding), float32Only: float32Only, outputLayout: outputLayout)
}

/// conv2d(x, w) + bias with its own zero padding on each axis.
public func conv2d(_ x: Tensor, _ w: Tensor, bias: Tensor, stride: Int = 1, padding: (height: Int, width: Int),
                   float32Only: Bool = false, outputLayout: ActivationLayout = .nchw) -> Tensor {
    let g = convGeometry(input: x.shape, weight: w.shape, stride: stride, padding: padding, float32Only: float32Only,
                         outputLayout: outputLayout)
    let out = convolvedAddingBias(x, w, bias, g, relu: false)
    return record(out, "conv2d+bias", [x, w, bias], uses: [[.input(1)], [.input(0)], []]) { c in
        [c.needs[0] ? conv2dInputGradient(c.gradient, c.input(1), geometry: g) : nil,
         c.needs[1] ? conv2dWeightGradient(c.input(0), c.gradient, geometry: g) : nil,
         c.needs[2] ? biasGradient(c.gradient, g).reshaped(to: c.shapes[2]) : nil]
    }
}

/// relu(conv2d(x, w) + bias), forward only (inference: pytorch-fid's Inception, whose batch
/// norms are folded into w and bias): the bias and the ReLU take one pass over the convolution's
/// output instead of two. It has no backward rule, so tensors that require gradients are refused.
public func conv2dReLU(_ x: Tensor, _ w: Tensor, bias: Tensor, stride: Int = 1, padding: (height: Int, width: Int)) -> Tensor {
    precondition(!x.requiresGrad && !w.requiresGrad && !bias.requiresGrad,
                 "conv2dReLU is forward only (it has no backward rule), but an operand requires gradients: use conv2d(_:_:bias:) and relu, or pass tensors that do not.")
    let g = convGeometry(input: x.shape, weight: w.shape, stride: stride, padding: padding)
    return record(convolvedAddingBias(x, w, bias, g, relu: true), "conv2dReLU", [], uses: []) { _ in [] }
}

/// conv(x, w) + bias (K) per output channel, then max(., 0) if `relu`. The kernel adds the bias as
/// it writes the output, bar 1x1 kernels: oneDNN's (jit_1x1) add it less accurately, enough to
/// move the twin fixture's decoder gradients from 2e-6 to 7e-5 of the float64 twin's
/// (docs/performance.md), so for them a pass of our own adds it, on the way to the ReLU if any.
private func convolvedAddingBias(_ x: Tensor, _ w: Tensor, _ bias: Tensor, _ g: ConvGeometry, relu: Bool) -> Tensor {
    precondition(bias.count == g.outChannels, "conv2d: a bias of \(bias.count) values for \(g.outChannels) output channels.")
    let out = Tensor(uninitialized: g.outputShape)
    let kernelAddsBias = g.kernelHeight > 1 || g.kernelWidth > 1
    Convolutions.kernels.forward(g, input: x.data, weight: w.data, bias: kernelAddsBias ? bias.data : nil, output: out.data)
    guard relu || !kernelAddsBias else { return out }
    let (rows, row) = (out.shape[0] * out.shape[1], out.shape[2] * out.shape[3])
    forEachBlock(rows, size: row) { r in
        let values = out.data + r * row
        switch g.outputLayout {
        case .nchw:
            // A row is one channel's plane.
            let b = kernelAddsBias ? 0 : bias.data[r % g.outChannels]
            if relu {
                for i in 0..<row { values[i] = max(values[i] + b, 0) }
            } else {
                for i in 0..<row { values[i] += b }
            }
        case .nChw16c:
            // A row is a block's 16 channels at every pixel.
            let b = kernelAddsBias ? .zero : UnsafeRawPointer(bias.data + (r % out.shape[1]) * 16).loadUnaligned(as: SIMD16<Float>.self)
            for i in stride(from: 0, to: row, by: 16) {
                let p = UnsafeMutableRawPointer(values + i)
                let sum = p.loadUnaligned(as: SIMD16<Float>.self) + b
                p.storeBytes(of: relu ? pointwiseMax(sum, .zero) : sum, as: SIMD16<Float>.self)
            }
        }
    }
    return out
}

/// The bias's gradient from the output's: dy summed over everything but the channel.
private func biasGradient(_ dy: Tensor, _ g: ConvGeometry) -> Tensor {
    switch g.outputLayout {
    case .nchw: return dy.sum(alongAxes: [0, 2, 3])
    case .nChw16c: return blockedChannelSum(dy, g)
    }
}

/// dy (nChw16c) summed per channel by blocked batch norm's sums (`ChannelBlocks.sums`: each
/// image's plane in float vectors of a block's 16 channels, the images in Double), where `Tensor.sum`
/// would add a blocked tensor element by element in Double.
private func blockedChannelSum(_ dy: Tensor, _ g: ConvGeometry) -> Tensor {
    let blocked = [g.batch, g.outChannels / 16, g.outHeight * g.outWidth, 16]
    let sums = ChannelBlocks(blocked).sums { _, p in UnsafeRawPointer(dy.data + p).loadUnaligned(as: SIMD16<Float>.self) }
    let out = Tensor(uninitialized: [g.outChannels])
    for (b, sum) in sums.enumerated() { UnsafeMutableRawPointer(out.data + b * 16).storeBytes(of: sum, as: SIMD16<Float>.self) }
    return record(out, "sum", [dy], uses: [[]]) { c in
        [c.gradient.reshaped(to: [1, blocked[1], 1, 16]).broadcast(to: blocked).reshaped(to: c.shapes[0])]
    }
}

/// dx (N,C,H,W) from dy (N,K,P,Q) and w: the transposed convolution.
public func conv2dInputGradient(_ dy: Tensor, _ w: Tensor, geometry g: ConvGeometry) -> Tensor {
    let out = Tensor(uninitialized: g.inputShape)
    Convolutions.kernels.inputGradient(g, outputGradient: dy.data, weight: w.data, inputGradient: out.data)
    // <h, T(dy, w)> = <dy, conv(h, w)>
    return record(out, "conv2dInputGradient", [dy, w], uses: [[.input(1)], [.input(0)]]) { c in
        [c.needs[0] ? conv2d(c.gradient, c.input(1), geometry: g) : nil,
         c.needs[1] ? conv2dWeightGradient(c.gradient, c.input(0), geometry: g) : nil]
    }
}

/// dw (K,C,R,S) from x and dy, summed over the batch.
public func conv2dWeightGradient(_ x: Tensor, _ dy: Tensor, geometry g: ConvGeometry) -> Tensor {
    let out = Tensor(uninitialized: [g.outChannels, g.inChannels, g.kernelHeight, g.kernelWidth])
    Convolutions.kernels.weightGradient(g, input: x.data, outputGradient: dy.data, weightGradient: out.data)
    // <k, W(x, dy)> = <dy, conv(x, k)>
    return record(out, "conv2dWeightGradient", [x, dy], uses: [[.input(1)], [.input(0)]]) { c in
        [c.needs[0] ? conv2dInputGradient(c.input(1), c.gradient, geometry: g) : nil,
         c.needs[1] ? conv2d(c.input(0), c.gradient, geometry: g) : nil]
    }
}
