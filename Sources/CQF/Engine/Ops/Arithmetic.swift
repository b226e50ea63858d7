// Elementwise arithmetic with broadcasting: +, -, *, /, maximum. Gradients of a broadcast
// operand are summed back to its own shape.

public func + (a: Tensor, b: Tensor) -> Tensor {
    record(broadcastMap(a, b, Elementwise.Add()), "add", [a, b], uses: [[], []]) { c in
        [c.needs[0] ? c.gradient.summed(to: c.shapes[0]) : nil, c.needs[1] ? c.gradient.summed(to: c.shapes[1]) : nil]
    }
}

public func - (a: Tensor, b: Tensor) -> Tensor {
    record(broadcastMap(a, b, Elementwise.Subtract()), "subtract", [a, b], uses: [[], []]) { c in
        [c.needs[0] ? c.gradient.summed(to: c.shapes[0]) : nil, c.needs[1] ? (-c.gradient).summed(to: c.shapes[1]) : nil]
    }
}

public func * (a: Tensor, b: Tensor) -> Tensor {
    record(broadcastMap(a, b, Elementwise.Multiply()), "multiply", [a, b], uses: [[.input(1)], [.input(0)]]) { c in
        [c.needs[0] ? (c.gradient * c.input(1)).summed(to: c.shapes[0]) : nil,
         c.needs[1] ? (c.gradient * c.input(0)).summed(to: c.shapes[1]) : nil]
    }
}

public func / (a: Tensor, b: Tensor) -> Tensor {
    record(broadcastMap(a, b, Elementwise.Divide()), "divide", [a, b], uses: [[.input(1)], [.input(1), .output]]) { c in
        [c.needs[0] ? (c.gradient / c.input(1)).summed(to: c.shapes[0]) : nil,
         c.needs[1] ? (-(c.gradient * c.output) / c.input(1)).summed(to: c.shapes[1]) : nil]
    }
}

public prefix func - (a: Tensor) -> Tensor {
    record(a.mapped(Elementwise.Negate()), "negate", [a], uses: [[]]) { c in [-c.gradient] }
}

public func + (a: Tensor, s: Float) -> Tensor { a + Tensor(s) }
public func + (s: Float, a: Tensor) -> Tensor { Tensor(s) + a }
public func - (a: Tensor, s: Float) -> Tensor { a - Tensor(s) }
public func - (s: Float, a: Tensor) -> Tensor { Tensor(s) - a }
public func * (a: Tensor, s: Float) -> Tensor { a * Tensor(s) }
public func * (s: Float, a: Tensor) -> Tensor { Tensor(s) * a }
public func / (a: Tensor, s: Float) -> Tensor { a * Tensor(1 / s) }
public func / (s: Float, a: Tensor) -> Tensor { Tensor(s) / a }

/// The larger of `a` and `b` elementwise; the gradient goes to `a` where `a >= b`.
public func maximum(_ a: Tensor, _ b: Tensor) -> Tensor {
    record(broadcastMap(a, b, Elementwise.Maximum()), "maximum", [a, b], uses: [[.input(0), .input(1)], [.input(0), .input(1)]]) { c in
        let takesA = broadcastMap(c.input(0), c.input(1), Elementwise.TakesFirst())
        return [c.needs[0] ? (c.gradient * takesA).summed(to: c.shapes[0]) : nil,
                c.needs[1] ? (c.gradient * (1 - takesA)).summed(to: c.shapes[1]) : nil]
    }
}

public func maximum(_ a: Tensor, _ s: Float) -> Tensor { maximum(a, Tensor(s)) }

extension Tensor {
    /// f applied to every element, unrecorded: the building block of the unary ops and of masks.
    func mapped<F: UnaryFunction>(_ f: F) -> Tensor {
        let out = Tensor(uninitialized: shape)
        let (src, dst) = (data, out.data)
        forEachChunk(count) { range in for i in range { dst[i] = f(src[i]) } }
        return out
    }
}
