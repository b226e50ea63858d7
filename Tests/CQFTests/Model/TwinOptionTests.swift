// Two config options against the PyTorch twin, at the fixtures' weights and noise: free_bits > 0
// (each stage's KL per channel, averaged over the batch, counts as at least free_bits nats) and
// large_d (every width of the residual discriminator doubled).
import XCTest
@testable import CQF

final class TwinOptionTests: XCTestCase {
    /// The fixture's free_bits is the median of the stages' per-channel KLs, so about half of the
    /// channels are raised to it and half keep their own KL (and their gradients).
    func testFreeBitsCoverageLossAndGradientsMatchTheTwin() throws {
        for name in TwinFixture.names {
            let fixture = try TwinFixture(name)
            let freeBits = fixture.file.metadata["free_bits"]!
            XCTAssertGreaterThan(Float(freeBits)!, 0)
            XCTAssertGreaterThan(try fixture.file.floats("L_C_free_bits")[0], try fixture.file.floats("L_C")[0],
                                 "\(name): free bits should raise the twin's L_C")
            let model = try fixture.model([("free_bits", freeBits)])
            let single: CrossRankSum = { _ in }
            let terms = model.coverageTerms(try fixture.file.tensor("x"), latents: try fixture.latents("posterior"),
                                            flowPass: .training(single))
            let loss = model.coverageLoss(terms, globalBatch: 4, ranks: 1, crossRankSum: single)
            var check = Comparisons(file: fixture.file)
            check("L_C_free_bits", loss, TwinFixtureTests.Tolerance.values)
            let generatorSide = model.generatorNetworks.flatMap(\.parameters.parameters)
            for (parameter, gradient) in zip(generatorSide, grad(of: loss, wrt: generatorSide.map(\.tensor))) {
                check.gradient("grad.L_C_free_bits.\(parameter.name)", gradient)
            }
            print("TwinOptionTests \(name), free_bits \(freeBits): \(check.count) tensors, worst relative errors \(check.summary)")
        }
    }

    /// Loading checks every name and size of the large discriminator against the twin's; the
    /// logits check the wiring.
    func testLargeDiscriminatorMatchesTheTwin() throws {
        for name in TwinFixture.names {
            let fixture = try TwinFixture(name)
            let model = try fixture.model([("large_d", "true")], discriminatorPrefix: "large_d.")
            let discriminator = try XCTUnwrap(model.discriminator)
            let normal = try fixture.model().discriminator!
            XCTAssertGreaterThan(discriminator.parameters.count, 3 * normal.parameters.count,
                                 "\(name): doubling every width should about quadruple the parameters")
            var check = Comparisons(file: fixture.file)
            Recording.paused {
                check("large_d.real_logits", discriminator(try! fixture.file.tensor("x") * 2 - 1), TwinFixtureTests.Tolerance.values)
                check("large_d.fake_logits", discriminator(try! fixture.file.tensor("generated") * 2 - 1), TwinFixtureTests.Tolerance.values)
            }
            print("TwinOptionTests \(name), large_d: \(discriminator.parameters.count) parameters, worst relative errors \(check.summary)")
        }
    }
}
