// The decoder's single-sample KL of each stage (MODEL.md section 3), averaged over 20,480 or
// more draws, against the closed form KL(N(mu_q, s_q) || N(mu_p, s_p)) for two Gaussians.
import XCTest
@testable import CQF

final class KLTests: XCTestCase {
    /// One stage's channel: the prior conv's outputs (pm, pls, rm, rls) and the encoder's (qm, qls).
    struct Gaussians {
        let pm: Double, pls: Double, rm: Double, rls: Double, qm: Double, qls: Double

        /// ls -> M tanh(ls / M), M = max_logscale.
        static func bounded(_ ls: Double) -> Double { 4 * Foundation.tanh(ls / 4) }

        /// KL(q || p) = log(s_p / s_q) + (s_q^2 + (mu_q - mu_p)^2) / (2 s_p^2) - 1/2, with the
        /// prior N(pm, exp(pls)) and the posterior N(pm + qm + rm, exp(pls + qls + rls)), both
        /// log-scales bounded (the prior's before it enters the posterior's), or neither.
        func closedForm(bounded: Bool) -> Double {
            let bound: (Double) -> Double = bounded ? Gaussians.bounded : { $0 }
            let priorLogScale = bound(pls)
            let posteriorLogScale = bound(priorLogScale + qls + rls)
            let meanGap = qm + rm
            return priorLogScale - posteriorLogScale
                + (Foundation.exp(2 * posteriorLogScale) + meanGap * meanGap) / (2 * Foundation.exp(2 * priorLogScale)) - 0.5
        }
    }

    func testSampledKLOfEveryStageAveragesToTheClosedForm() throws { try checkSampledKL(topPrior: "learned") }

    /// Table 6's h ~ N(0, 1): the top stage's prior is N(0, I), and its prior conv emits only (rm, rls).
    func testSampledKLWithAStandardTopPriorAveragesToTheClosedForm() throws { try checkSampledKL(topPrior: "standard") }

    private func checkSampledKL(topPrior: String) throws {
        let config = try Config.load(path: nil, overrides: [("channels", "1"), ("widths", "4,4,4,4"), ("z", "4"), ("first", "4"),
                                                            ("top_prior", topPrior)])
        let shape = VAEShape(config)
        let decoder = Decoder(shape, initializer: ParameterInitializer(seed: 0))
        // With every weight and bias zero, d stays zero at every stage whatever z is, so each
        // stage's prior conv gives exactly its bias: (pm, pls, rm, rls) per channel.
        for parameter in decoder.parameters.parameters { parameter.tensor.data.update(repeating: 0, count: parameter.count) }
        var random = TestRandom(seed: 8)
        func draw(_ range: ClosedRange<Double>) -> Double { range.lowerBound + (range.upperBound - range.lowerBound) * Double(random.uniform()) }
        let stages = shape.widths.count
        // Prior log-scales up to 2.5 and posterior ones up to 4.5 before the bound, so the bound matters.
        let cases = (0..<stages).map { i in
            (0..<shape.z).map { _ in
                let standard = shape.standardPriors.contains(i)
                return Gaussians(pm: standard ? 0 : draw(-1...1), pls: standard ? 0 : draw(0...2.5), rm: draw(-1...1), rls: draw(-1...1),
                                 qm: draw(-1...1), qls: draw(-1...1))
            }
        }
        XCTAssertEqual(shape.standardPriors, topPrior == "standard" ? [stages - 1] : [])
        for (i, stage) in cases.enumerated() {
            let bias = decoder.parameters["decoder.stage\(i).prior.bias"]!.tensor!
            for (c, g) in stage.enumerated() {
                let emitted = shape.standardPriors.contains(i) ? [g.rm, g.rls] : [g.pm, g.pls, g.rm, g.rls]
                XCTAssertEqual(bias.count, emitted.count * shape.z, "stage \(i)'s prior conv")
                for (k, value) in emitted.enumerated() { bias.data[k * shape.z + c] = Float(value) }
            }
        }
        let batch = 64
        let posterior = cases.enumerated().map { i, stage -> PosteriorPart in
            let latent = shape.latentShape(stage: i, batch: batch)
            let plane = latent[2] * latent[3]
            func perChannel(_ value: (Gaussians) -> Double) -> Tensor {
                Tensor(shape: latent, (0..<latent.reduce(1, *)).map { Float(value(stage[($0 / plane) % shape.z])) })
            }
            return PosteriorPart(mean: perChannel(\.qm), logScale: perChannel(\.qls), context: nil)
        }

        // Sums of the KL map and its square per stage and channel, over calls with fresh noise;
        // the top stage (4 x 4) gets 64 x 16 x 20 = 20,480 draws per channel.
        var sums = cases.map { $0.map { _ in (0.0, 0.0, 0) } }
        for call in 0..<20 {
            let noise = StepNoise(seed: 3, step: call, firstImage: 0).posteriorLatents()
            let (_, kl) = Recording.paused { decoder(batch: batch, posterior: posterior, noise: noise) }
            for (i, map) in kl.enumerated() {
                let plane = map.shape[2] * map.shape[3]
                for (j, value) in map.array.enumerated() {
                    let c = (j / plane) % shape.z
                    sums[i][c].0 += Double(value)
                    sums[i][c].1 += Double(value) * Double(value)
                    sums[i][c].2 += 1
                }
            }
        }

        var boundMatters = 0.0
        for (i, stage) in cases.enumerated() {
            for (c, g) in stage.enumerated() {
                let (sum, squares, n) = sums[i][c]
                let mean = sum / Double(n)
                let standardError = ((squares / Double(n) - mean * mean) / Double(n)).squareRoot()
                let expected = g.closedForm(bounded: true)
                // Tolerance: 5 standard errors of the mean, measured from the draws themselves.
                XCTAssertEqual(mean, expected, accuracy: 5 * standardError,
                               "stage \(i), channel \(c): \(n) draws, standard error \(standardError)")
                boundMatters = max(boundMatters, Swift.abs(g.closedForm(bounded: false) - expected) / standardError)
            }
        }
        XCTAssertGreaterThan(boundMatters, 20, "without the log-scale bound some KL should move by many standard errors")
    }
}
