// A 2-D convolution layer with bias, plain (the VAE and the discriminator) or weight-normalised
// (Real NVP's coupling networks: w = g * v / ||v||).
import Foundation

public final class Conv2D {
    /// The layer's full name ("encoder.stage0.block.conv1"), for --debug's messages.
    public let name: String
    public let stride: Int, padding: Int
    let weight: Parameter      // (K, C, R, S): w itself, or v under weight norm
    let gain: Parameter?       // (K): g under weight norm
    let bias: Parameter        // (K)
    /// A constant (K, C, R, S) 0/1 mask on the weight (the IAF step's autoregressive convolutions).
    let mask: Tensor?
    /// In float32 whatever precision the kernels use (`ConvGeometry.float32Only`).
    let float32Only: Bool

    /// PyTorch's default initialisation, its weights scaled by `weightGain`; with `weightNorm`, g
    /// starts at ||v|| (so w = v), and `zeroInitialised` starts g and the bias at 0 (the last conv
    /// of a coupling: identity start).
    public init(_ parameters: ParameterSet, _ name: String, _ initializer: ParameterInitializer,
                in inChannels: Int, out outChannels: Int, kernel: Int, stride: Int = 1, padding: Int? = nil,
                weightNorm: Bool = false, zeroInitialised: Bool = false, mask: Tensor? = nil, weightGain: Float = 1,
                float32Only: Bool = false) {
        self.stride = stride
        self.mask = mask
        self.float32Only = float32Only
        self.padding = padding ?? kernel / 2
        let bound = 1 / Float(inChannels * kernel * kernel).squareRoot()
        let v = initializer.uniform(count: outChannels * inChannels * kernel * kernel, bound: weightGain * bound)
        let b = initializer.uniform(count: outChannels, bound: bound)
        weight = parameters.declare("\(name).\(weightNorm ? "v" : "weight")", shape: [outChannels, inChannels, kernel, kernel], values: v)
        if weightNorm {
            let perOutput = inChannels * kernel * kernel
            let norms = (0..<outChannels).map { k in
                v[k * perOutput..<(k + 1) * perOutput].reduce(0) { $0 + $1 * $1 }.squareRoot()
            }
            gain = parameters.declare("\(name).g", shape: [outChannels], values: zeroInitialised ? Array(repeating: 0, count: outChannels) : norms)
        } else {
            gain = nil
        }
        bias = parameters.declare("\(name).bias", shape: [outChannels], values: zeroInitialised ? Array(repeating: 0, count: outChannels) : b)
        self.name = layerName(of: bias)
    }

    /// y = conv(x, w) + bias, x in either layout. y is NCHW, or with `feedsConvolution` (y goes on
    /// to another convolution through elementwise ops and batch norm only) the layout
    /// `ActivationLayout.betweenConvolutions` gives. `frozen` uses the parameters' values only, so
    /// no gradient reaches them.
    public func callAsFunction(_ x: Tensor, frozen: Bool = false, feedsConvolution: Bool = false) -> Tensor {
        let outputLayout = feedsConvolution ? ActivationLayout.betweenConvolutions(channels: bias.count) : .nchw
        return FiniteCheck.within(name) { apply(x, frozen: frozen, outputLayout: outputLayout) }
    }

    /// y = conv(x, w) + bias, x in either layout and y in `outputLayout` (the VAE's, which keeps
    /// its activations in one layout through slices, concatenations and upsampling too).
    func callAsFunction(_ x: Tensor, outputLayout: ActivationLayout) -> Tensor {
        FiniteCheck.within(name) { apply(x, frozen: false, outputLayout: outputLayout) }
    }

    private func apply(_ x: Tensor, frozen: Bool, outputLayout: ActivationLayout) -> Tensor {
        let (v, b) = frozen ? (weight.tensor.detached, bias.tensor.detached) : (weight.tensor!, bias.tensor!)
        let w = gain.map { weightNormalized(v, g: frozen ? $0.tensor.detached : $0.tensor) } ?? v
        return conv2d(x, mask.map { w * $0 } ?? w, bias: b, stride: stride, padding: padding, float32Only: float32Only,
                      outputLayout: outputLayout)
    }
}

/// A layer's full name: its parameters' names without the last part ("decoder.output.bias" -> "decoder.output").
func layerName(of parameter: Parameter) -> String {
    parameter.name.split(separator: ".").dropLast().joined(separator: ".")
}
