// A fixture of Tests/make_model_fixtures.py, and the small model it was written for, with the
// twin's weights loaded by name: what the tests against the PyTorch twin share.
import XCTest
@testable import CQF

struct TwinFixture {
    let file: SafeTensorsFile
    let channels: Int
    let scales: Int
    /// The StepNoise (seed, step) that drew the gradient penalty's interpolation weights.
    let seed: Int
    let step: Int

    static let names = ["cqf_3ch_1scale", "cqf_1ch_2scales"]

    init(_ name: String) throws {
        let file = try SafeTensors.read(path: Bundle.module.resourceURL!.appendingPathComponent("Fixtures/\(name).safetensors").path)
        let number = { (key: String) in Int(file.metadata[key]!)! }
        self.file = file
        (channels, scales, seed, step) = (number("channels"), number("scales"), number("seed"), number("step"))
    }

    /// The fixture's model, with `overrides` of its config, holding the twin's parameters and
    /// running averages. Those of the discriminator come from `discriminatorPrefix` + param. (or
    /// generated.), so a fixture can hold a second discriminator (large_d.).
    func model(_ overrides: [(key: String, value: String)] = [], discriminatorPrefix: String = "") throws -> CQFModel {
        let config = try Config.load(path: nil, overrides: [
            ("objective", "cqf"), ("channels", "\(channels)"), ("batch", "4"), ("seed", "\(seed)"),
            ("widths", "8,8,16,16"), ("z", "4"), ("first", "8"), ("max_logscale", "4"),
            ("nvp.filters", "8"), ("nvp.blocks", "1"), ("nvp.scales", "\(scales)"),
        ] + overrides)
        let model = CQFModel(config: config)
        try load(model.generatorNetworks, prefix: "")
        if let discriminator = model.discriminator {
            try load([("discriminator", discriminator.parameters)], prefix: discriminatorPrefix)
        }
        return model
    }

    /// Copies every parameter and batch-norm buffer of `networks` from the fixture, by name, and
    /// fails on a name either side lacks.
    func load(_ networks: [(name: String, parameters: ParameterSet)], prefix: String) throws {
        let kinds = ["param.", "generated.", "buffer."].map { prefix + $0 }
        var unused = Set(file.names.filter { name in
            kinds.contains { kind in networks.contains { name.hasPrefix(kind + $0.name + ".") } }
        })
        for (_, set) in networks {
            for parameter in set.parameters {
                let target = parameter.tensor.data
                let (stored, generated) = ("\(prefix)param.\(parameter.name)", "\(prefix)generated.\(parameter.name)")
                if unused.remove(stored) != nil {
                    try file.copy(stored, into: target, count: parameter.count)
                } else if unused.remove(generated) != nil {
                    // Too big to store: Philox uniforms (the script's GENERATED_SEED and _STREAM), scaled as it scales them.
                    let spec = try file.floats(generated)
                    Philox(seed: 2019, stream: 4).fillUniform(target, count: parameter.count, a: UInt64(spec[0]), b: 0)
                    for i in 0..<parameter.count { target[i] = (2 * target[i] - 1) * spec[1] }
                } else {
                    XCTFail("the fixture has no parameter \(prefix)\(parameter.name)")
                }
            }
            for (name, tensor) in set.buffers {
                guard unused.remove("\(prefix)buffer.\(name)") != nil else { XCTFail("the fixture has no buffer \(prefix)\(name)"); continue }
                try file.copy("\(prefix)buffer.\(name)", into: tensor.data, count: tensor.count)
            }
        }
        XCTAssert(unused.isEmpty, "the fixture's \(unused.sorted()) name nothing in our model")
    }

    /// Stage i's latent noise, from the fixture's eps.<kind>.stageI.
    func latents(_ kind: String) throws -> LatentNoise {
        let stages = try (0..<4).map { try file.tensor("eps.\(kind).stage\($0)") }
        return { stage, shape in
            precondition(stages[stage].shape == shape, "stage \(stage): the fixture's noise is \(stages[stage].shape), asked for \(shape)")
            return stages[stage]
        }
    }
}
