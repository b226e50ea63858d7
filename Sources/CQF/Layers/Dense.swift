// A fully connected layer: (N, in) -> (N, out), y = x W^T + b, PyTorch's default initialisation.

public final class Dense {
    let name: String
    let weight: Parameter      // (out, in)
    let bias: Parameter        // (out)

    public init(_ parameters: ParameterSet, _ name: String, _ initializer: ParameterInitializer, in inputs: Int, out outputs: Int) {
        let bound = 1 / Float(inputs).squareRoot()
        weight = parameters.declare("\(name).weight", shape: [outputs, inputs], values: initializer.uniform(count: outputs * inputs, bound: bound))
        bias = parameters.declare("\(name).bias", shape: [outputs], values: initializer.uniform(count: outputs, bound: bound))
        self.name = layerName(of: bias)
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        FiniteCheck.within(name) { matmul(x, weight.tensor, transposeB: true) + bias.tensor.reshaped(to: [1, bias.count]) }
    }
}
