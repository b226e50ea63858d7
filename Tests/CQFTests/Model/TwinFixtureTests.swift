// The whole model against its PyTorch twin (../shared/anchors/cqf_ref.py): at the weights,
// images and latent noise that Tests/make_model_fixtures.py gave the twin, our f, encoder,
// decoder, discriminator, losses and gradients must give what the twin computed in float64.
// Parameters are matched by name in both directions, so a renamed or missing layer fails here.
import XCTest
@testable import CQF

final class TwinFixtureTests: XCTestCase {
    func testThreeChannelsOneScaleMatchesTheTwin() throws {
        try compareWithTwin(fixture: "cqf_3ch_1scale", channels: 3, scales: 1)
    }

    /// Two scales: squeeze, channel couplings and the factored-out half, forward and inverse.
    func testOneChannelTwoScalesMatchesTheTwin() throws {
        try compareWithTwin(fixture: "cqf_1ch_2scales", channels: 1, scales: 2)
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

    func compareWithTwin(fixture name: String, channels: Int, scales: Int) throws {
        let path = Bundle.module.resourceURL!.appendingPathComponent("Fixtures/\(name).safetensors").path
        let file = try SafeTensors.read(path: path)
        let (seed, step) = (Int(file.metadata["seed"]!)!, Int(file.metadata["step"]!)!)
        let config = try Config.load(path: nil, overrides: [
            ("objective", "cqf"), ("channels", "\(channels)"), ("batch", "4"), ("seed", "\(seed)"),
            ("widths", "8,8,16,16"), ("z", "4"), ("first", "8"), ("max_logscale", "4"),
            ("nvp.filters", "8"), ("nvp.blocks", "1"), ("nvp.scales", "\(scales)"),
        ])
        let model = CQFModel(config: config)
        try load(file, into: model)
        let (flow, encoder, discriminator) = (model.flow!, model.encoder!, model.discriminator!)
        let x = try file.tensor("x")
        let batch = x.shape[0]
        let single: CrossRankSum = { _ in }
        var check = Comparisons(file: file)

        // Generation first: f^-1 uses the running averages the twin had.
        let fake = model.generate(batch: batch, latents: try latents(file, "prior"))
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
        let posterior = try latents(file, "posterior")
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
            let (v, _) = flow.forward(logitTransform(x, alpha: config.alpha).y, .training(single))
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

    /// Copies every parameter and batch-norm buffer of the fixture into `model`, by name, and
    /// fails on a name either side lacks.
    func load(_ file: SafeTensorsFile, into model: CQFModel) throws {
        var unused = Set(file.names.filter { $0.hasPrefix("param.") || $0.hasPrefix("generated.") || $0.hasPrefix("buffer.") })
        for (_, set) in model.networks {
            for parameter in set.parameters {
                let target = parameter.tensor.data
                if unused.remove("param.\(parameter.name)") != nil {
                    try file.copy("param.\(parameter.name)", into: target, count: parameter.count)
                } else if unused.remove("generated.\(parameter.name)") != nil {
                    // Too big to store: Philox uniforms (the script's GENERATED_SEED and _STREAM), scaled as it scales them.
                    let spec = try file.floats("generated.\(parameter.name)")
                    Philox(seed: 2019, stream: 4).fillUniform(target, count: parameter.count, a: UInt64(spec[0]), b: 0)
                    for i in 0..<parameter.count { target[i] = (2 * target[i] - 1) * spec[1] }
                } else {
                    XCTFail("the fixture has no parameter \(parameter.name)")
                }
            }
            for (name, tensor) in set.buffers {
                guard unused.remove("buffer.\(name)") != nil else { XCTFail("the fixture has no buffer \(name)"); continue }
                try file.copy("buffer.\(name)", into: tensor.data, count: tensor.count)
            }
        }
        XCTAssert(unused.isEmpty, "the fixture's \(unused.sorted()) name nothing in our model")
    }

    /// Stage i's latent noise, from the fixture's eps.<kind>.stageI.
    func latents(_ file: SafeTensorsFile, _ kind: String) throws -> LatentNoise {
        let stages = try (0..<4).map { try file.tensor("eps.\(kind).stage\($0)") }
        return { stage, shape in
            precondition(stages[stage].shape == shape, "stage \(stage): the fixture's noise is \(stages[stage].shape), asked for \(shape)")
            return stages[stage]
        }
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
