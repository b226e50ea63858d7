// `Distributed gradcheck` and the check `--debug` runs before training: the analytic gradient
// of every loss of the objective (the discriminator's with its gradient penalty, a gradient of
// a gradient) against central finite differences, at the parameters where each network's
// gradient is largest (there the float32 rounding of the loss matters least).

public struct GradientCheck {
    public let config: Config
    /// Parameters checked per network and loss.
    public var elements = 6
    public var stepSize: Float = 1e-2
    /// The worst relative error that still passes.
    public var tolerance = 2e-2

    public init(config: Config) { self.config = config }

    public struct Line: Codable {
        public let loss: String
        public let network: String
        public let parameter: String
        public let analytic: Double
        public let numeric: Double
        public let relativeError: Double
    }

    public struct Report {
        public let lines: [Line]
        public let tolerance: Double
        public var worst: Line? { lines.max { $0.relativeError < $1.relativeError } }
        public var worstError: Double { worst?.relativeError ?? 0 }
        public var worstLoss: String { worst.map { "\($0.loss) w.r.t. \($0.parameter)" } ?? "none" }
        public var passed: Bool { worstError <= tolerance }
    }

    public func run() -> Report {
        let model = CQFModel(config: config)
        let batch = 4
        let images = Tensor(uninitialized: [batch, config.channels, config.image_size, config.image_size])
        Philox(seed: UInt64(config.seed), stream: 7).fillUniform(images.data, count: images.count, a: 0, b: 0)
        let noise = StepNoise(seed: config.seed, step: 0, firstImage: 0)
        let world = SingleProcess()
        var losses: [(name: String, networks: [(name: String, parameters: ParameterSet)], value: () -> Tensor)] = []
        if config.objective.usesCoverage {
            losses.append(("coverage", model.generatorNetworks, {
                let terms = model.coverageTerms(images, noise: noise, flowPass: .training(world.crossRankSum))
                return model.coverageLoss(terms, globalBatch: batch, ranks: 1, crossRankSum: world.crossRankSum)
            }))
        }
        if let discriminator = model.discriminator {
            losses.append(("quality", [("decoder", model.decoder.parameters)], {
                model.qualityLoss(fake: model.generate(batch: batch, noise: noise), globalBatch: batch)
            }))
            losses.append(("discriminator+penalty", [("discriminator", discriminator.parameters)], {
                let fake = Recording.paused { model.generate(batch: batch, noise: noise) }
                return model.discriminatorLoss(real: images, fake: fake, noise: noise, globalBatch: batch).total
            }))
        }
        var lines: [Line] = []
        for loss in losses {
            for (network, set) in loss.networks {
                let analytic = grad(of: loss.value(), wrt: set.tensors)
                set.storeGradients(analytic)
                for index in largestEntries(set.gradients.pointer, count: set.count) {
                    let p = set.values.pointer + index
                    let saved = p.pointee
                    // Recorded: the gradient penalty differentiates inside the loss.
                    p.pointee = saved + stepSize
                    let up = Double(loss.value().scalar)
                    p.pointee = saved - stepSize
                    let down = Double(loss.value().scalar)
                    p.pointee = saved
                    let numeric = (up - down) / (2 * Double(stepSize))
                    let exact = Double(set.gradients.pointer[index])
                    let parameter = set.parameters.last { $0.offset <= index }!
                    lines.append(Line(loss: loss.name, network: network, parameter: "\(parameter.name)[\(index - parameter.offset)]",
                                      analytic: exact, numeric: numeric,
                                      relativeError: abs(exact - numeric) / max(abs(exact), abs(numeric), 1e-6)))
                }
            }
        }
        return Report(lines: lines, tolerance: tolerance)
    }

    private func largestEntries(_ values: UnsafeMutablePointer<Float>, count: Int) -> [Int] {
        Array((0..<count).sorted { abs(values[$0]) > abs(values[$1]) }.prefix(elements))
    }
}
