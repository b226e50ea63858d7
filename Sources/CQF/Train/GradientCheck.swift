// `Distributed gradcheck` and the check `--debug` runs before training: the analytic gradient
// of every loss of the objective (the discriminator's with its gradient penalty, a gradient of
// a gradient) against central finite differences, at the parameters where each network's
// gradient is largest (there the float32 rounding of the loss matters least).
//
// A (leaky) ReLU makes the gradient penalty jump where a unit's input crosses zero, and a
// difference quotient across a jump measures the jump, not the gradient. So each parameter is
// differenced at two steps, h and h/2: where they disagree a kink lies in between, and the
// parameter is skipped for the next largest (reported as skipped, never counted as passed).

public struct GradientCheck {
    public let config: Config
    /// Parameters checked per network and loss.
    public var elements = 6
    /// Small enough for gan: its first samples move D's inputs across ReLU kinks so densely
    /// that quotients at h and h/2 agree with each other and not with the gradient (its worst
    /// error 4.3% at 1e-2, 1.3% at 3e-3, 0.7% at 1e-3); every other check stays within 1.1%.
    public var stepSize: Float = 3e-3
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
        /// (loss, network) pairs where every candidate had a kink within the step: unchecked.
        public let unchecked: [String]
        /// Parameters passed over because a kink lay within the step.
        public let skipped: Int
        public let tolerance: Double
        public var worst: Line? { lines.max { $0.relativeError < $1.relativeError } }
        public var worstError: Double { worst?.relativeError ?? 0 }
        public var worstLoss: String { worst.map { "\($0.loss) w.r.t. \($0.parameter)" } ?? "none" }
        public var passed: Bool { unchecked.isEmpty && worstError <= tolerance }
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
        var skipped = 0
        var unchecked: [String] = []
        for loss in losses {
            for (network, set) in loss.networks {
                let analytic = grad(of: loss.value(), wrt: set.tensors)
                set.storeGradients(analytic)
                var checked = 0
                for index in largestEntries(set.gradients.pointer, count: set.count) where checked < elements {
                    // Recorded: the gradient penalty differentiates inside the loss.
                    let (coarse, fine) = (difference(loss.value, set, index, stepSize), difference(loss.value, set, index, stepSize / 2))
                    // Float32 rounding of the loss alone moves a quotient by about ulp(loss) / step.
                    let noise = 8 * Double(loss.value().scalar.ulp) / Double(stepSize)
                    guard abs(coarse - fine) <= 0.1 * max(abs(coarse), abs(fine)) + noise else { skipped += 1; continue }
                    checked += 1
                    let exact = Double(set.gradients.pointer[index])
                    let parameter = set.parameters.last { $0.offset <= index }!
                    lines.append(Line(loss: loss.name, network: network, parameter: "\(parameter.name)[\(index - parameter.offset)]",
                                      analytic: exact, numeric: fine,
                                      relativeError: max(0, abs(exact - fine) - noise) / max(abs(exact), abs(fine), 1e-6)))
                }
                if checked == 0 { unchecked.append("\(loss.name) w.r.t. \(network)") }
            }
        }
        return Report(lines: lines, unchecked: unchecked, skipped: skipped, tolerance: tolerance)
    }

    /// The central difference quotient of `value` in parameter `index` of `set`, step `h`.
    private func difference(_ value: () -> Tensor, _ set: ParameterSet, _ index: Int, _ h: Float) -> Double {
        let p = set.values.pointer + index
        let saved = p.pointee
        p.pointee = saved + h
        let up = Double(value().scalar)
        p.pointee = saved - h
        let down = Double(value().scalar)
        p.pointee = saved
        return (up - down) / (2 * Double(h))
    }

    /// Candidates, largest gradient first: sixteen per parameter to be checked, for the kinks.
    private func largestEntries(_ values: UnsafeMutablePointer<Float>, count: Int) -> [Int] {
        Array((0..<count).sorted { abs(values[$0]) > abs(values[$1]) }.prefix(16 * elements))
    }
}
