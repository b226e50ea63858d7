// The functions of the elementwise ops, as types. The loops of `mapped` and `broadcastMap` run
// on the engine's threads inside a closure; a function handed to them as a closure value stays
// an indirect call per element there, while a loop specialised on one of these types inlines it
// and vectorises (perf on bench config b at two threads: the elementwise loops took 25% of the
// samples with closures, 12% specialised).
import Foundation

protocol UnaryFunction { func callAsFunction(_ x: Float) -> Float }
protocol BinaryFunction { func callAsFunction(_ a: Float, _ b: Float) -> Float }

enum Elementwise {
    struct Exp: UnaryFunction { func callAsFunction(_ x: Float) -> Float { Exponentials.exp(x) } }
    struct Log: UnaryFunction { func callAsFunction(_ x: Float) -> Float { Foundation.log(x) } }
    /// tanh|x| = (1 - q) / (1 + q) with q = e^(-2|x|); below |x| = 1/2 as -m / (2 + m) with
    /// m = q - 1, which keeps its relative precision as x -> 0 (ExponentialsTests: within 2.1 ulps).
    struct Tanh: UnaryFunction {
        @inline(__always) func callAsFunction(_ x: Float) -> Float {
            let (q, m) = (Exponentials.exp(-2 * Swift.abs(x)), Exponentials.expm1(-2 * Swift.abs(x)))
            return Float(signOf: x, magnitudeOf: Swift.abs(x) < 0.5 ? -m / (2 + m) : (1 - q) / (1 + q))
        }
    }
    /// m tanh(x (1 / m)), rounded as `tanh(x / m) * m` is.
    struct SoftClamp: UnaryFunction {
        let bound: Float
        @inline(__always) func callAsFunction(_ x: Float) -> Float { Tanh()(x * (1 / bound)) * bound }
    }
    struct Sqrt: UnaryFunction { func callAsFunction(_ x: Float) -> Float { x.squareRoot() } }
    struct Square: UnaryFunction { func callAsFunction(_ x: Float) -> Float { x * x } }
    struct Abs: UnaryFunction { func callAsFunction(_ x: Float) -> Float { Swift.abs(x) } }
    struct Negate: UnaryFunction { func callAsFunction(_ x: Float) -> Float { -x } }
    /// 1, -1 or 0: the derivative of abs.
    struct Sign: UnaryFunction { func callAsFunction(_ x: Float) -> Float { x > 0 ? 1 : (x < 0 ? -1 : 0) } }
    /// 1 where x > 0, else 0: a constant mask.
    struct IsPositive: UnaryFunction { func callAsFunction(_ x: Float) -> Float { x > 0 ? 1 : 0 } }
    /// With e = e^-|x|, which cannot overflow: 1 / (1 + e) for x >= 0, e / (1 + e) below.
    struct Sigmoid: UnaryFunction {
        @inline(__always) func callAsFunction(_ x: Float) -> Float {
            let e = Exponentials.exp(-Swift.abs(x))
            return (x >= 0 ? 1 : e) / (1 + e)
        }
    }
    /// log(1 + e^x) as max(x, 0) + log1p(e^-|x|), so that large |x| neither overflows nor rounds to 0.
    struct Softplus: UnaryFunction {
        func callAsFunction(_ x: Float) -> Float { Swift.max(x, 0) + Foundation.log1p(Foundation.exp(-Swift.abs(x))) }
    }
    struct Elu: UnaryFunction { func callAsFunction(_ x: Float) -> Float { x > 0 ? x : Exponentials.expm1(x) } }
    struct LeakyRelu: UnaryFunction {
        let slope: Float
        func callAsFunction(_ x: Float) -> Float { x > 0 ? x : slope * x }
    }

    struct Add: BinaryFunction { func callAsFunction(_ a: Float, _ b: Float) -> Float { a + b } }
    struct Subtract: BinaryFunction { func callAsFunction(_ a: Float, _ b: Float) -> Float { a - b } }
    struct Multiply: BinaryFunction { func callAsFunction(_ a: Float, _ b: Float) -> Float { a * b } }
    struct Divide: BinaryFunction { func callAsFunction(_ a: Float, _ b: Float) -> Float { a / b } }
    struct Maximum: BinaryFunction { func callAsFunction(_ a: Float, _ b: Float) -> Float { Swift.max(a, b) } }
    /// 1 where a >= b, else 0: where `maximum` takes its first operand.
    struct TakesFirst: BinaryFunction { func callAsFunction(_ a: Float, _ b: Float) -> Float { a >= b ? 1 : 0 } }
    /// b, read at a's (larger) shape: broadcasting b.
    struct Second: BinaryFunction { func callAsFunction(_ a: Float, _ b: Float) -> Float { b } }
}
