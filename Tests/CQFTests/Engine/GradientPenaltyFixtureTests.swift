// The WGAN-GP penalty, a gradient of a gradient, against the PyTorch twin: a small conv net
// rebuilt with our ops from the weights and inputs in Fixtures/gradient_penalty.safetensors
// (written by Tests/make_fixtures.py) must give the twin's logits, input-gradient norms,
// penalty and penalty gradients, and those gradients must match central finite differences.
import XCTest
@testable import CQF

final class GradientPenaltyFixtureTests: XCTestCase {
    static let weightNames = ["conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias", "dense.weight", "dense.bias"]

    /// What one evaluation of the penalty gives.
    struct Evaluation {
        let logits: Tensor, norms: Tensor, penalty: Tensor
        /// 1 where a ReLU or LeakyReLU input is positive: where the penalty has kinks.
        let activePattern: [Float]
    }

    /// D(x) = dense(gap(elu(meanpool(leakyRelu(conv3x3/2(relu(conv3x3(x)))))))), as in make_fixtures.py.
    static func discriminator(_ x: Tensor, _ w: [String: Tensor]) -> (logits: Tensor, activePattern: [Float]) {
        func channelBias(_ b: Tensor) -> Tensor { b.reshaped(to: [1, b.count, 1, 1]) }
        let a1 = conv2d(x, w["conv1.weight"]!, stride: 1, padding: 1) + channelBias(w["conv1.bias"]!)
        let a2 = conv2d(relu(a1), w["conv2.weight"]!, stride: 2, padding: 1) + channelBias(w["conv2.bias"]!)
        let h = elu(meanPool2x2(leakyRelu(a2, slope: 0.2)))
        let logits = matmul(globalAveragePool(h), w["dense.weight"]!, transposeB: true) + w["dense.bias"]!
        return (logits, (a1.array + a2.array).map { $0 > 0 ? 1 : 0 })
    }

    /// GP = mean((||grad_xhat sum D(xhat)|| - 1)^2) at xhat = x_real + a (x_fake - x_real).
    static func penalty(_ inputs: [String: Tensor], _ weights: [String: Tensor], createGraph: Bool) -> Evaluation {
        let (real, fake, a) = (inputs["x_real"]!, inputs["x_fake"]!, inputs["a"]!)
        let xhat = (real + a * (fake - real)).detached.requiringGrad()
        let (logits, pattern) = discriminator(xhat, weights)
        let inputGradient = grad(of: logits.sum(), wrt: [xhat], createGraph: createGraph)[0]
        let norms = sqrt(square(inputGradient).sum(alongAxes: [1, 2, 3]))
        return Evaluation(logits: logits, norms: norms, penalty: square(norms - 1).mean(), activePattern: pattern)
    }

    func testPenaltyAndItsWeightGradientsMatchPyTorch() throws {
        let file = try SafeTensors.read(path: Self.fixturePath)
        let inputs = try Dictionary(uniqueKeysWithValues: ["x_real", "x_fake", "a"].map { ($0, try file.tensor($0)) })
        let weights = try Dictionary(uniqueKeysWithValues: Self.weightNames.map { ($0, try file.tensor("d." + $0).requiringGrad()) })

        let evaluation = Self.penalty(inputs, weights, createGraph: true)
        let gradients = grad(of: evaluation.penalty, wrt: Self.weightNames.map { weights[$0]! })

        // Tolerance: float32 against the twin's float64, 1e-5 of the largest magnitude in each
        // tensor (measured: at most 2.1e-7, the float32 rounding of a few hundred terms).
        try assertClose(evaluation.logits, file.tensor("logits"), "logits")
        try assertClose(evaluation.norms, file.tensor("input_gradient_norms"), "input gradient norms")
        try assertClose(evaluation.penalty, file.tensor("penalty"), "penalty")
        for (name, gradient) in zip(Self.weightNames, gradients) {
            try assertClose(gradient, file.tensor("penalty_grad.d." + name), "penalty gradient of \(name)")
        }
        XCTAssertEqual(gradients[5].array, [0], "the dense bias does not reach the input gradient")
    }

    /// Every weight element: (GP(w + h) - GP(w - h)) / 2h against the double-backprop gradient,
    /// skipping the elements whose step moves a ReLU or LeakyReLU input across zero (the
    /// penalty jumps there, and no difference quotient means anything).
    func testPenaltyGradientsMatchFiniteDifferences() throws {
        let file = try SafeTensors.read(path: Self.fixturePath)
        let inputs = try Dictionary(uniqueKeysWithValues: ["x_real", "x_fake", "a"].map { ($0, try file.tensor($0)) })
        let weights = try Dictionary(uniqueKeysWithValues: Self.weightNames.map { ($0, try file.tensor("d." + $0).requiringGrad()) })
        let base = Self.penalty(inputs, weights, createGraph: true)
        let gradients = grad(of: base.penalty, wrt: Self.weightNames.map { weights[$0]! })

        let step: Float = 1e-3
        var (checked, skipped, worst) = (0, 0, 0.0)
        for (name, gradient) in zip(Self.weightNames, gradients) {
            let weight = weights[name]!
            for i in 0..<weight.count {
                func shifted(_ delta: Float) -> Evaluation {
                    var values = weight.array
                    values[i] += delta
                    var moved = weights
                    moved[name] = Tensor(shape: weight.shape, values)
                    return Self.penalty(inputs, moved, createGraph: false)
                }
                let (up, down) = (shifted(step), shifted(-step))
                guard up.activePattern == base.activePattern && down.activePattern == base.activePattern else {
                    skipped += 1
                    continue
                }
                let numeric = (Double(up.penalty.scalar) - Double(down.penalty.scalar)) / (2 * Double(step))
                let exact = Double(gradient.data[i])
                // Tolerance: 1% of the gradient plus 3e-5, because float32 penalties of about 0.06
                // carry rounding of ~1e-8, which the quotient turns into ~1e-5 (gradients reach 0.19).
                let error = Swift.abs(numeric - exact) / (1e-2 * Swift.abs(exact) + 3e-5)
                worst = max(worst, error)
                XCTAssertLessThan(error, 1, "\(name)[\(i)]: double backprop \(exact), finite differences \(numeric)")
                checked += 1
            }
        }
        XCTAssertGreaterThan(checked, 9 * (checked + skipped) / 10, "too many elements cross a kink: \(skipped) skipped")
        print("GradientPenaltyFixtureTests: \(checked) weights checked, \(skipped) skipped at kinks, worst error \(worst) of the tolerance")
    }

    static var fixturePath: String {
        Bundle.module.resourceURL!.appendingPathComponent("Fixtures/gradient_penalty.safetensors").path
    }

    func assertClose(_ ours: Tensor, _ reference: Tensor, _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(ours.count, reference.count, "\(what): sizes differ", file: file, line: line)
        let scale = reference.array.map { Swift.abs($0) }.max() ?? 0
        for (i, (a, b)) in zip(ours.array, reference.array).enumerated() {
            XCTAssertLessThanOrEqual(Swift.abs(a - b), 1e-5 * max(scale, 1e-6), "\(what)[\(i)]: ours \(a), PyTorch \(b)", file: file, line: line)
        }
    }
}
