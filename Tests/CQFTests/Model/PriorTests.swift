// Where generation draws its latents: gan from N(0, I) at every stage (MODEL.md section 5: with
// no KL term nothing would hold learned priors in place; the paper's GAN draws from N(0, I)), the
// other objectives from learned priors, with Table 6's N(0, I) at the top when asked; and gan's
// samples differ from the start.
import XCTest
@testable import CQF

final class PriorTests: XCTestCase {
    func testGANDrawsEveryStageFromAStandardNormal() throws {
        let decoder = CQFModel(config: try smallConfig(.gan, batch: 4)).decoder
        XCTAssertEqual(decoder.shape.standardPriors, Set(decoder.blocks.indices))
        XCTAssertTrue(decoder.priors.allSatisfy { $0 == nil }, "gan has no prior conv: every stage's z is the drawn noise itself")
    }

    /// gan's generator has only z to make its images differ, so z must reach the output from the
    /// start: under the VAE's start (PyTorch's default weights, a tenth of each block) its first
    /// samples are one grey image, which the adversarial loss then moves as one (VAEShape).
    func testGANSamplesDifferAtInitialisation() throws {
        let gan = CQFModel(config: try smallConfig(.gan))
        let vae = CQFModel(config: try smallConfig(.vae))
        let spread = { (model: CQFModel) in pixelSpread(model.sampleImages(count: 64, seed: 1), count: 64) }
        let (ganSpread, vaeSpread) = (spread(gan), spread(vae))
        print("pixel spread of 64 samples at initialisation: gan \(ganSpread), vae \(vaeSpread) (of 255)")
        XCTAssertGreaterThan(ganSpread, 10 * vaeSpread)
    }

    func testOtherObjectivesLearnTheirPriorsUnlessTheTopIsStandard() throws {
        for objective in [Objective.vae, .cq, .cqf, .mle] {
            let decoder = CQFModel(config: try smallConfig(objective)).decoder
            XCTAssertEqual(decoder.shape.standardPriors, [], "\(objective)")
            XCTAssertTrue(decoder.priors.allSatisfy { $0?.bias.shape == [4 * decoder.shape.z] }, "\(objective): (pm, pls, rm, rls)")
        }
        var config = try smallConfig(.cqf)
        config.top_prior = "standard"
        let decoder = CQFModel(config: config).decoder
        let top = decoder.blocks.count - 1
        XCTAssertEqual(decoder.shape.standardPriors, [top])
        XCTAssertEqual(decoder.priors[top]?.bias.shape, [2 * decoder.shape.z], "the top stage emits (rm, rls) only")
    }
}
