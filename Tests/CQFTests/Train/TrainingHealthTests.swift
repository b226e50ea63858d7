// The training's health signals: they fire on a planted dead discriminator (all weights zero:
// constant logits, no input gradient, after a reading of a working one) and a planted collapsed
// posterior (a stage whose posterior is its prior: KL exactly zero), each once, and stay silent
// on a healthy short run and on a discriminator at its initialisation.
import XCTest
@testable import CQF

final class TrainingHealthTests: XCTestCase {
    func testDeadDiscriminatorIsReportedOnceAndItsRecoveryToo() throws {
        let model = CQFModel(config: try smallConfig(.cqf, batch: 8))
        let discriminator = model.discriminator!.parameters
        discriminator.values.pointer.update(repeating: 0, count: discriminator.count)
        let step = TrainingStep(model: model, communicator: SingleProcess())
        let images = syntheticImages(count: 8, channels: 1)
        let losses = step.run(batchTensor(images, 0..<8, channels: 1), step: 0, firstImage: 0)
        XCTAssertEqual(losses.gradientNorm, 0)
        XCTAssertEqual(losses.realLogitSpread, 0)
        XCTAssertEqual(losses.fakeLogitSpread, 0)

        let health = TrainingHealth()
        var reading = HealthReading(step: 10)
        reading.discriminator = (0.8, 3.1, 2.5)
        XCTAssertEqual(health.update(reading), [], "a working discriminator")
        reading.discriminator = (losses.gradientNorm, losses.realLogitSpread, losses.fakeLogitSpread)
        let warnings = health.update(reading)
        XCTAssertEqual(warnings.count, 1)
        XCTAssertTrue(warnings[0].hasPrefix("warning: step 10: the discriminator is dead"), warnings[0])
        XCTAssertEqual(health.update(reading), [], "a problem is reported when it begins, not at every step")
        reading.discriminator = (0.8, 3.1, 2.5)
        XCTAssertEqual(health.update(reading).map { $0.contains("alive again") }, [true])
        // As measured at the paper's settings: dead on the generated images while the penalty's
        // interpolates near real images still see a gradient.
        reading.discriminator = (0.3, 2.2, 0)
        XCTAssertEqual(health.update(reading).map { $0.contains("the discriminator is dead") }, [true])
    }

    func testADiscriminatorThatNeverLivedIsNotCalledDead() {
        // At initialisation D is flat and the first samples alike: the spreads are near 0.
        var reading = HealthReading(step: 1)
        reading.discriminator = (0.0016, 0.01, 0.0005)
        XCTAssertEqual(TrainingHealth().update(reading), [])
    }

    func testCollapsedPosteriorNamesItsStage() throws {
        let model = CQFModel(config: try smallConfig(.vae, batch: 8))
        let stage = 1
        // With the stage's prior conv zero, its prior is N(0, I) and the prior's share of the
        // posterior vanishes; with the encoder's head zero too, q is N(0, I) as well: the sample
        // is the noise itself and the single-sample KL exactly zero.
        for layer in [model.encoder!.heads[stage], model.decoder.priors[stage]!] {
            zero(layer.weight.tensor)
            zero(layer.bias.tensor)
        }
        let step = TrainingStep(model: model, communicator: SingleProcess())
        let losses = step.run(batchTensor(syntheticImages(count: 8, channels: 1), 0..<8, channels: 1), step: 0, firstImage: 0)
        XCTAssertEqual(losses.stageKL[stage], 0)
        XCTAssertTrue(losses.stageKL.enumerated().allSatisfy { $0.offset == stage || $0.element > TrainingHealth.collapsedKL },
                      "\(losses.stageKL)")

        var reading = HealthReading(step: 20)
        reading.stageKL = losses.stageKL
        let warnings = TrainingHealth().update(reading)
        XCTAssertEqual(warnings, ["warning: step 20: the posterior of decoder stage 1 collapsed onto its prior: its KL averages 0.0000 nats per image"])
    }

    func testCollapsedSamplesAndRisingFDAreReported() {
        let health = TrainingHealth()
        var reading = HealthReading(step: 100)
        (reading.sampleSpread, reading.fd) = (40, 300)
        XCTAssertEqual(health.update(reading), [])
        (reading.sampleSpread, reading.fd) = (3, 500)
        let warnings = health.update(reading)
        XCTAssertEqual(warnings.count, 2)
        XCTAssertTrue(warnings[0].contains("samples collapsed") && warnings[1].contains("FD rose to 500"), "\(warnings)")
    }

    func testAHealthyShortRunIsSilent() throws {
        // The Fashion-MNIST default's adversarial settings, which keep D alive.
        var config = try smallConfig(.cqf, batch: 8)
        (config.lambda_gp, config.lambda_q, config.disc_width) = (10, 10, 8)
        let model = CQFModel(config: config)
        let step = TrainingStep(model: model, communicator: SingleProcess())
        let images = syntheticImages(count: 256, channels: 1)
        let health = TrainingHealth()
        let grid = NSTemporaryDirectory() + "health-\(UUID().uuidString).png"
        defer { try? FileManager.default.removeItem(atPath: grid) }
        for s in 0..<40 {
            let losses = step.run(batchTensor(images, (s * 8)..<(s * 8 + 8), channels: 1), step: s, firstImage: 0)
            var reading = HealthReading(step: s + 1)
            reading.discriminator = (losses.gradientNorm, losses.realLogitSpread, losses.fakeLogitSpread)
            reading.stageKL = losses.stageKL
            if (s + 1) % 10 == 0 { reading.sampleSpread = try model.writeSampleGrid(path: grid, seed: 0).spread }
            XCTAssertEqual(health.update(reading), [], "step \(s + 1): \(losses)")
        }
    }

    private func zero(_ tensor: Tensor) { tensor.data.update(repeating: 0, count: tensor.count) }
}
