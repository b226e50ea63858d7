/// The sizes of one 2-D convolution: input (N, C, H, W), weight (K, C, R, S) in OIHW, output
/// (N, K, P, Q), each activation (and its gradient) in a layout of its own, square stride, zero
/// padding of its own size on each axis (the same above and below, left and right): Inception's
/// 1x7 and 7x1 kernels pad (0, 3) and (3, 0).
public struct ConvGeometry: Hashable, CustomStringConvertible, Sendable {
    public var batch: Int
    public var inChannels: Int
    public var outChannels: Int
    public var height: Int
    public var width: Int
    public var kernelHeight: Int
    public var kernelWidth: Int
    public var stride: Int
    /// Zero rows added above and below the input.
    public var paddingHeight: Int
    /// Zero columns added left and right of the input.
    public var paddingWidth: Int
    /// Runs in float32 whatever precision the kernels are told to use (Real NVP's couplings: f^-1
    /// must undo f, and bf16's rounding of a coupling's kept half would turn float32 rounding
    /// differences between the two directions into differences of bf16's size).
    public var float32Only = false
    /// How the input and its gradient hold their channels.
    public var inputLayout = ActivationLayout.nchw
    /// How the output and its gradient hold their channels.
    public var outputLayout = ActivationLayout.nchw

    /// The same padding on both axes.
    public init(batch: Int, inChannels: Int, outChannels: Int, height: Int, width: Int,
                kernelHeight: Int, kernelWidth: Int, stride: Int = 1, padding: Int = 0) {
        self.init(batch: batch, inChannels: inChannels, outChannels: outChannels, height: height, width: width,
                  kernelHeight: kernelHeight, kernelWidth: kernelWidth, stride: stride, padding: (padding, padding))
    }

    public init(batch: Int, inChannels: Int, outChannels: Int, height: Int, width: Int,
                kernelHeight: Int, kernelWidth: Int, stride: Int = 1, padding: (height: Int, width: Int)) {
        precondition(stride >= 1 && padding.height >= 0 && padding.width >= 0,
                     "A convolution needs stride >= 1 and padding >= 0, got stride \(stride) and padding \(padding).")
        self.batch = batch
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.height = height
        self.width = width
        self.kernelHeight = kernelHeight
        self.kernelWidth = kernelWidth
        self.stride = stride
        paddingHeight = padding.height
        paddingWidth = padding.width
        precondition(outHeight >= 1 && outWidth >= 1,
                     "A \(kernelHeight)x\(kernelWidth) kernel does not fit a \(height)x\(width) input padded by \(paddingHeight)x\(paddingWidth).")
    }

    public var outHeight: Int { (height + 2 * paddingHeight - kernelHeight) / stride + 1 }
    public var outWidth: Int { (width + 2 * paddingWidth - kernelWidth) / stride + 1 }
    /// (height, width), as `conv2d` takes it.
    public var padding: (height: Int, width: Int) { (paddingHeight, paddingWidth) }
    /// The input's tensor shape in its layout.
    public var inputShape: [Int] { inputLayout.shape(batch: batch, channels: inChannels, height: height, width: width) }
    /// The output's tensor shape in its layout.
    public var outputShape: [Int] { outputLayout.shape(batch: batch, channels: outChannels, height: outHeight, width: outWidth) }
    public var inputCount: Int { batch * inChannels * height * width }
    public var outputCount: Int { batch * outChannels * outHeight * outWidth }
    public var weightCount: Int { outChannels * inChannels * kernelHeight * kernelWidth }

    /// Multiply-adds times two: the FLOPs of the forward pass, and of each backward pass.
    public var flops: Double {
        2 * Double(batch) * Double(outChannels * outHeight * outWidth) * Double(inChannels * kernelHeight * kernelWidth)
    }

    public var description: String {
        "N\(batch) C\(inChannels)->K\(outChannels) \(height)x\(width) k\(kernelHeight)x\(kernelWidth) s\(stride) p\(paddingHeight == paddingWidth ? "\(paddingHeight)" : "\(paddingHeight)x\(paddingWidth)")"
            + (inputLayout == .nchw && outputLayout == .nchw ? "" : " \(inputLayout.rawValue)->\(outputLayout.rawValue)")
    }
}

/// The three kernels of a convolution over raw buffers, each activation in the geometry's layout
/// for it and the weight in OIHW. Each overwrites its output. The forward pass adds a bias, where
/// there is one, as it writes y, so that it takes no pass of its own.
public protocol ConvolutionKernels {
    /// y (N,K,P,Q) = conv(x (N,C,H,W), w (K,C,R,S)) + bias (K) per output channel, if any
    func forward(_ g: ConvGeometry, input: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                 bias: UnsafePointer<Float>?, output: UnsafeMutablePointer<Float>)
    /// dx (N,C,H,W) = conv_transpose(dy (N,K,P,Q), w (K,C,R,S))
    func inputGradient(_ g: ConvGeometry, outputGradient: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                       inputGradient: UnsafeMutablePointer<Float>)
    /// dw (K,C,R,S) = sum over n, p, q of dy (N,K,P,Q) x patches of x (N,C,H,W)
    func weightGradient(_ g: ConvGeometry, input: UnsafePointer<Float>, outputGradient: UnsafePointer<Float>,
                        weightGradient: UnsafeMutablePointer<Float>)
}

extension ConvolutionKernels {
    /// The forward pass without a bias.
    public func forward(_ g: ConvGeometry, input: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                        output: UnsafeMutablePointer<Float>) {
        forward(g, input: input, weight: weight, bias: nil, output: output)
    }
}
