// Finite-difference checks shared by the engine's tests. A function of tensors is reduced to
// a scalar by a fixed random projection, so every output element takes part; its analytic
// gradient is compared with central differences in float64 at a sample of input elements.
import XCTest
@testable import CQF

/// Deterministic test values: a small LCG, so failures reproduce.
struct TestRandom {
    private var state: UInt64
    init(seed: UInt64) { state = seed &* 6364136223846793005 &+ 1442695040888963407 }
    mutating func uniform() -> Float {
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return Float(state >> 40) / Float(1 << 24)
    }
    /// Values in [lower, upper).
    mutating func tensor(_ shape: [Int], in range: ClosedRange<Float> = -1...1) -> Tensor {
        Tensor(shape: shape, (0..<shape.reduce(1, *)).map { _ in range.lowerBound + (range.upperBound - range.lowerBound) * uniform() })
    }
}

/// The projected scalar sum(f(xs) * r) in float64.
private func projected(_ f: ([Tensor]) -> Tensor, _ inputs: [Tensor], _ projection: Tensor) -> Double {
    let y = Recording.paused { f(inputs) }
    return zip(y.array, projection.array).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
}

/// Checks the gradient of `f` at inputs of `shapes` (values drawn from `range`) against central
/// differences at up to `samples` elements of each input.
func assertGradientsMatchFiniteDifferences(
    _ shapes: [[Int]], in range: ClosedRange<Float> = -1...1, step: Float = 1e-2, tolerance: Double = 1e-2,
    samples: Int = 24, seed: UInt64 = 1, _ f: @escaping ([Tensor]) -> Tensor,
    file: StaticString = #filePath, line: UInt = #line
) {
    var random = TestRandom(seed: seed)
    let inputs = shapes.map { random.tensor($0, in: range).requiringGrad() }
    let output = f(inputs)
    let projection = random.tensor(output.shape)
    let analytic = grad(of: (output * projection).sum(), wrt: inputs)
    compare(analytic, inputs, step: step, tolerance: tolerance, samples: samples, random: &random, file: file, line: line) {
        projected(f, $0, projection)
    }
}

/// The second-order check: the gradient of sum(grad(L, xs) * r2), where L is the projected
/// sum of `f`, against central differences of that first-order gradient.
func assertSecondOrderGradientsMatchFiniteDifferences(
    _ shapes: [[Int]], in range: ClosedRange<Float> = -1...1, step: Float = 1e-2, tolerance: Double = 2e-2,
    samples: Int = 16, seed: UInt64 = 2, _ f: @escaping ([Tensor]) -> Tensor,
    file: StaticString = #filePath, line: UInt = #line
) {
    var random = TestRandom(seed: seed)
    let inputs = shapes.map { random.tensor($0, in: range).requiringGrad() }
    let projection = random.tensor(f(inputs).shape)
    let secondProjections = shapes.map { random.tensor($0) }
    func firstOrder(_ xs: [Tensor], createGraph: Bool) -> Tensor {
        let gradients = grad(of: (f(xs) * projection).sum(), wrt: xs, createGraph: createGraph)
        return zip(gradients, secondProjections).map { ($0 * $1).sum() }.reduce(Tensor(0), +)
    }
    let analytic = grad(of: firstOrder(inputs, createGraph: true), wrt: inputs)
    compare(analytic, inputs, step: step, tolerance: tolerance, samples: samples, random: &random, file: file, line: line) { xs in
        Double(firstOrder(xs.map { Tensor(shape: $0.shape, $0.array).requiringGrad() }, createGraph: false).scalar)
    }
}

private func compare(_ analytic: [Tensor], _ inputs: [Tensor], step: Float, tolerance: Double, samples: Int,
                     random: inout TestRandom, file: StaticString, line: UInt, _ value: ([Tensor]) -> Double) {
    for (k, input) in inputs.enumerated() {
        let indices = input.count <= samples ? Array(0..<input.count)
            : (0..<samples).map { _ in Int(random.uniform() * Float(input.count)) % input.count }
        for i in indices {
            let base = input.array
            func shifted(_ delta: Float) -> Double {
                var values = base
                values[i] += delta
                var xs = inputs.map { Tensor(shape: $0.shape, $0.array) }
                xs[k] = Tensor(shape: input.shape, values)
                return value(xs)
            }
            let numeric = (shifted(step) - shifted(-step)) / (2 * Double(step))
            let exact = Double(analytic[k].data[i])
            let scale = max(1, abs(numeric), abs(exact))
            XCTAssert(abs(numeric - exact) <= tolerance * scale,
                      "input \(k) \(input.shape) element \(i): analytic \(exact), finite differences \(numeric)",
                      file: file, line: line)
        }
    }
}
