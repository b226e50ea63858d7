// The whole model against its PyTorch twin (../shared/anchors/cqf_ref.py): at the weights,
// images and latent noise that Tests/make_model_fixtures.py gave the twin, our f, encoder,
// decoder, discriminator, losses and gradients must give what the twin computed in float64.
// Parameters are matched by name in both directions, so a renamed or missing layer fails here.
import XCTest
@testable import CQF

final class TwinFixtureTests: XCTestCase {
    func testThreeChannelsOneScaleMatchesTheTwin() throws {
        try compareWithTwin(fixture: "cqf_3ch_1scale")
    }

    /// Two scales: squeeze, channel couplings and the factored-out half, forward and inverse.
    func testOneChannelTwoScalesMatchesTheTwin() throws {
        try compareWithTwin(fixture: "cqf_1ch_2scales")
    }

    /// Tolerances, each relative to the largest magnitude in the reference tensor. Our float32
    /// against the twin's float64 from the same float32 inputs; measured worst cases in brackets.
    enum Tolerance {
        /// Network outputs, losses and per-image terms: float32 rounding through ~20 layers and
        /// sums over 3072 dimensions [1e-6].
        static let values = 1e-5
        /// Gradients: backward sums over up to 4 x 32 x 32 positions per weight; the gains of
        /// f's weight-normalised convs sum many cancelling terms [7e-6].
        static let gradients = 4e-5
        /// Some of f's gradients vanish in exact arithmetic: a bias before batch norm (batch
        /// statistics remove any shift) and, but for BN's epsilon, the weight-norm gain of a conv
        /// before batch norm. Ours are then float32 cancellation residue (~1e-5 of terms as large
        /// as the network's other gradients), the twin's float64 residue (~1e-14). So each
        /// gradient's error is measured against at least this fraction of the largest gradient
        /// of its network for that loss [2e-6 of it].
        static let gradientFloor = 1e-2
    }

    func compareWithTwin(fixture name: String) throws {
        let fixture = try TwinFixture(name)
        let (file, seed, step) = (fixture.file, fixture.seed, fixture.step)
        let model = try fixture.model()
        let (flow, encoder, discriminator) = (model.flow!, model.encoder!, model.discriminator!)
        let x = try file.tensor("x")
        let batch = x.shape[0]
        let single: CrossRankSum = { _ in }
        var check = Comparisons(file: file)

        // Generation first: f^-1 uses the running averages the twin had.
        let fake = model.generate(batch: batch, latents: try fixture.latents("prior"))
        check("generated", fake, Tolerance.values)
        let quality = model.qualityLoss(fake: fake, globalBatch: batch)
        check("L_Q", quality, Tolerance.values)
        let decoderTensors = model.decoder.parameters.tensors
        let qualityGradients = grad(of: quality, wrt: decoderTensors + flow.parameters.tensors)
        for (parameter, gradient) in zip(model.decoder.parameters.parameters, qualityGradients) {
            check.gradient("grad.L_Q.\(parameter.name)", gradient)
        }
        for gradient in qualityGradients[decoderTensors.count...] {
            XCTAssertEqual(largestMagnitude(gradient.array), 0, "L_Q must not reach f's parameters")
        }

        // Coverage, f with batch statistics.
        let posterior = try fixture.latents("posterior")
        let terms = model.coverageTerms(x, latents: posterior, flowPass: .training(single))
        let coverage = model.coverageLoss(terms, globalBatch: batch, ranks: 1, crossRankSum: single)
        for (key, ours) in [("L_C", coverage), ("nll", terms.nll), ("logpx", terms.logLikelihood), ("kl", terms.kl),
                            ("f.logdet", terms.flowLogDet), ("logit.logdet", terms.logitLogDet)] {
            check(key, ours, Tolerance.values)
        }
        for (i, map) in terms.klMaps.enumerated() { check("kl.stage\(i)", map, Tolerance.values) }
        let generatorSide = model.generatorNetworks.flatMap(\.parameters.parameters)
        for (parameter, gradient) in zip(generatorSide, grad(of: coverage, wrt: generatorSide.map(\.tensor))) {
            check.gradient("grad.L_C.\(parameter.name)", gradient)
        }
        Recording.paused {
            let (v, _) = flow.forward(logitTransform(x, alpha: model.config.alpha).y, .training(single))
            check("f.v", v, Tolerance.values)
            let q = encoder(v)
            for (i, stage) in q.enumerated() {
                check("encoder.mean.stage\(i)", stage.mean, Tolerance.values)
                check("encoder.logscale.stage\(i)", stage.logScale, Tolerance.values)
            }
            check("decoder.mean", model.decoder(batch: batch, posterior: q, noise: posterior).mean, Tolerance.values)
        }

        // The discriminator on real images and on the twin's fakes, and its loss with WGAN-GP,
        // whose interpolation weights our StepNoise must draw as the fixture's a.
        let twinFake = try file.tensor("generated")
        let noise = StepNoise(seed: seed, step: step, firstImage: 0)
        XCTAssertEqual(noise.uniform(stream: PhiloxStream.penaltyInterpolation, shape: [batch, 1, 1, 1]).array,
                       try file.floats("a"), "the penalty's interpolation weights")
        Recording.paused {
            check("discriminator.real_logits", discriminator(x * 2 - 1), Tolerance.values)
            check("discriminator.fake_logits", discriminator(twinFake * 2 - 1), Tolerance.values)
        }
        let d = model.discriminatorLoss(real: x, fake: twinFake, noise: noise, globalBatch: batch)
        check("D.loss", d.total, Tolerance.values)
        check("D.adversarial", d.adversarial, Tolerance.values)
        check("D.penalty", d.penalty, Tolerance.values)
        let dParameters = discriminator.parameters.parameters
        for (parameter, gradient) in zip(dParameters, grad(of: d.total, wrt: dParameters.map(\.tensor))) {
            // The fixture keeps every s-th value of the flattened gradient, s = ceil(count / 4096).
            let stride = (gradient.count + 4095) / 4096
            let kept = Swift.stride(from: 0, to: gradient.count, by: stride).map { gradient.data[$0] }
            check.gradient("grad.D.\(parameter.name)", Tensor(shape: [kept.count], kept))
        }
        print("TwinFixtureTests \(name): \(check.count) tensors, worst relative errors \(check.summary)")
    }
}

/// Compares tensors with the fixture's, each within a tolerance relative to the reference's
/// largest magnitude, and keeps the worst error of each kind for the report.
struct Comparisons {
    let file: SafeTensorsFile
    private(set) var count = 0
    private var worst: [String: Double] = [:]
    private var largestGradient: [String: Double] = [:]

    init(file: SafeTensorsFile) { self.file = file }

    /// A gradient grad.<loss>.<network>.<name>, against the tensor's largest magnitude but at
    /// least `gradientFloor` of the largest in the network's gradient for that loss.
    mutating func gradient(_ key: String, _ ours: Tensor, file source: StaticString = #filePath, line: UInt = #line) {
        let network = key.split(separator: ".").prefix(3).joined(separator: ".") + "."
        if largestGradient[network] == nil {
            largestGradient[network] = file.names.filter { $0.hasPrefix(network) }
                .map { (try? largestMagnitude(file.floats($0))) ?? .infinity }.reduce(0, Swift.max)
        }
        callAsFunction(key, ours, TwinFixtureTests.Tolerance.gradients,
                       floor: TwinFixtureTests.Tolerance.gradientFloor * largestGradient[network]!, file: source, line: line)
    }

    mutating func callAsFunction(_ key: String, _ ours: Tensor, _ tolerance: Double, floor: Double = 0,
                                 file source: StaticString = #filePath, line: UInt = #line) {
        guard let reference = try? file.floats(key) else {
            return XCTFail("the fixture has no \(key)", file: source, line: line)
        }
        guard reference.count == ours.count else {
            return XCTFail("\(key): \(ours.count) values, the twin's has \(reference.count)", file: source, line: line)
        }
        let scale = max(largestMagnitude(reference), floor)
        // A NaN or infinity on either side is an infinite error, not one the loop passes over.
        let (error, at) = largestDifference(ours.array, reference)
        let relative = scale > 0 ? error / scale : error
        XCTAssertLessThanOrEqual(relative, tolerance,
                                 "\(key)[\(at)]: ours \(ours.data[at]), twin \(reference[at]) (scale \(scale))",
                                 file: source, line: line)
        let kind = key.split(separator: ".").prefix(key.hasPrefix("grad.") ? 2 : 1).joined(separator: ".")
        worst[kind] = max(worst[kind] ?? 0, relative)
        count += 1
    }

    var summary: String {
        worst.sorted { $0.key < $1.key }.map { "\($0.key) \(String(format: "%.1e", $0.value))" }.joined(separator: ", ")
    }
}
