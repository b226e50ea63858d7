// Elementwise functions. Each backward rule is written with differentiable ops (or constant
// masks where the derivative is piecewise constant), so it can be differentiated again.
import Foundation

public func exp(_ x: Tensor) -> Tensor {
    record(x.mapped(Elementwise.Exp()), "exp", [x], uses: [[.output]]) { c in [c.gradient * c.output] }
}

public func log(_ x: Tensor) -> Tensor {
    record(x.mapped(Elementwise.Log()), "log", [x], uses: [[.input(0)]]) { c in [c.gradient / c.input(0)] }
}

public func tanh(_ x: Tensor) -> Tensor {
    record(x.mapped(Elementwise.Tanh()), "tanh", [x], uses: [[.output]]) { c in [c.gradient * (1 - square(c.output))] }
}

public func sigmoid(_ x: Tensor) -> Tensor {
    record(x.mapped(Elementwise.Sigmoid()), "sigmoid", [x], uses: [[.output]]) { c in [c.gradient * c.output * (1 - c.output)] }
}

/// log(1 + e^x), computed as max(x, 0) + log1p(e^-|x|) so that large |x| neither overflows nor rounds to 0.
public func softplus(_ x: Tensor) -> Tensor {
    record(x.mapped(Elementwise.Softplus()), "softplus", [x], uses: [[.input(0)]]) { c in
        [c.gradient * sigmoid(c.input(0))]
    }
}

/// x for x > 0, e^x - 1 otherwise; its derivative there is elu(x) + 1. The rule reads the output
/// alone (it is positive where x is), so the input can be freed.
public func elu(_ x: Tensor) -> Tensor {
    record(x.mapped(Elementwise.Elu()), "elu", [x], uses: [[.output]]) { c in [eluGradient(c.gradient, output: c.output)] }
}

/// g where y > 0, g (y + 1) elsewhere, y being elu's output: elu's backward pass in one pass
/// over memory, where the same written with masks took six. Its derivative in y is g where
/// y <= 0, else 0.
func eluGradient(_ g: Tensor, output y: Tensor) -> Tensor {
    precondition(g.shape == y.shape, "eluGradient: gradient \(g.shape) for output \(y.shape).")
    let out = Tensor(uninitialized: y.shape)
    let (pg, py, po) = (g.data, y.data, out.data)
    forEachChunk(y.count) { range in for i in range { po[i] = py[i] > 0 ? pg[i] : pg[i] * (py[i] + 1) } }
    return record(out, "eluGradient", [g, y], uses: [[.input(1)], [.input(0), .input(1)]]) { c in
        [c.needs[0] ? eluGradient(c.gradient, output: c.input(1)) : nil,
         c.needs[1] ? c.gradient * c.input(0) * (1 - c.input(1).mapped(Elementwise.IsPositive())) : nil]
    }
}

/// m tanh(x / m), which squashes x smoothly into (-m, m): in one pass, where `tanh(x / m) * m`
/// took three (and its backward five), to the bit the same values. The rule reads the output.
public func softClamp(_ x: Tensor, bound m: Float) -> Tensor {
    record(x.mapped(Elementwise.SoftClamp(bound: m)), "softClamp", [x], uses: [[.output]]) { c in [softClampGradient(c.gradient, output: c.output, bound: m)] }
}

/// g (1 - (y / m)^2), y being softClamp's output: its backward pass in one pass. Its derivative
/// in y is -2 g y / m^2.
func softClampGradient(_ g: Tensor, output y: Tensor, bound m: Float) -> Tensor {
    precondition(g.shape == y.shape, "softClampGradient: gradient \(g.shape) for output \(y.shape).")
    let out = Tensor(uninitialized: y.shape)
    let (pg, py, po, inverse) = (g.data, y.data, out.data, 1 / m)
    forEachChunk(y.count) { range in
        for i in range {
            let t = py[i] * inverse
            po[i] = pg[i] * (1 - t * t)
        }
    }
    return record(out, "softClampGradient", [g, y], uses: [[.input(1)], [.input(0), .input(1)]]) { c in
        [c.needs[0] ? softClampGradient(c.gradient, output: c.input(1), bound: m) : nil,
         c.needs[1] ? c.gradient * c.input(0) * c.input(1) * (-2 / (m * m)) : nil]
    }
}

public func relu(_ x: Tensor) -> Tensor { leakyRelu(x, slope: 0) }

/// The rule reads the output, which is positive where x is: the next convolution keeps it anyway,
/// and the input can be freed.
public func leakyRelu(_ x: Tensor, slope: Float = 0.2) -> Tensor {
    record(x.mapped(Elementwise.LeakyRelu(slope: slope)), slope == 0 ? "relu" : "leakyRelu", [x], uses: [[.output]]) { c in
        [leakyReluGradient(c.gradient, signOf: c.output, slope: slope)]
    }
}

/// g where x > 0, slope * g elsewhere, x being the activation's input or its output (they have
/// the same sign): the backward pass of (leaky) ReLU as one op, so that a recorded backward pass
/// (the gradient penalty's) keeps no mask tensor per activation. Linear in g; its derivative in
/// x is zero almost everywhere.
func leakyReluGradient(_ g: Tensor, signOf x: Tensor, slope: Float) -> Tensor {
    precondition(g.shape == x.shape, "leakyReluGradient: gradient \(g.shape) for input \(x.shape).")
    let out = Tensor(uninitialized: x.shape)
    let (pg, px, po) = (g.data, x.data, out.data)
    forEachChunk(x.count) { range in for i in range { po[i] = px[i] > 0 ? pg[i] : slope * pg[i] } }
    return record(out, "leakyReluGradient", [g, x], uses: [[.input(1)], []]) { c in
        [c.needs[0] ? leakyReluGradient(c.gradient, signOf: c.input(1), slope: slope) : nil, nil]
    }
}

public func square(_ x: Tensor) -> Tensor {
    record(x.mapped(Elementwise.Square()), "square", [x], uses: [[.input(0)]]) { c in [c.gradient * c.input(0) * 2] }
}

public func sqrt(_ x: Tensor) -> Tensor {
    record(x.mapped(Elementwise.Sqrt()), "sqrt", [x], uses: [[.output]]) { c in [c.gradient / (c.output * 2)] }
}

public func abs(_ x: Tensor) -> Tensor {
    record(x.mapped(Elementwise.Abs()), "abs", [x], uses: [[.input(0)]]) { c in
        [c.gradient * c.input(0).mapped(Elementwise.Sign())]
    }
}
