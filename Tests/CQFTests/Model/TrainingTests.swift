// The model trains: losses fall on a small set of images, every objective runs, and the
// discriminator's loss stays finite with the gradient penalty on.
import XCTest
@testable import CQF

/// A small model for tests: two-pixel-wide stages, few filters.
func smallConfig(_ objective: Objective, channels: Int = 1, batch: Int = 16) throws -> Config {
    try Config.load(path: nil, overrides: [
        ("objective", objective.rawValue), ("channels", "\(channels)"), ("batch", "\(batch)"),
        ("widths", "8,8,16,16"), ("z", "4"), ("first", "8"), ("nvp.filters", "8"), ("nvp.blocks", "1"),
    ])
}

/// 256 images of soft shapes: a bright disc of varying radius and place on a dark background.
func syntheticImages(count: Int, channels: Int, size: Int = 32) -> [[Float]] {
    var random = TestRandom(seed: 9)
    return (0..<count).map { _ in
        let (cx, cy, r) = (8 + 16 * random.uniform(), 8 + 16 * random.uniform(), 4 + 6 * random.uniform())
        return (0..<channels * size * size).map { i in
            let (y, x) = (Float((i / size) % size), Float(i % size))
            let inside = (x - cx) * (x - cx) + (y - cy) * (y - cy) < r * r
            return ((inside ? 200 : 30) + 20 * random.uniform()) / 256
        }
    }
}

func batchTensor(_ images: [[Float]], _ indices: Range<Int>, channels: Int, size: Int = 32) -> Tensor {
    Tensor(shape: [indices.count, channels, size, size], indices.flatMap { images[$0 % images.count] })
}

final class TrainingTests: XCTestCase {
    func testCoverageLossFallsOverSixtySteps() throws {
        try assertCoverageLossFallsOverSixtySteps()
    }

    func testCoverageLossFallsOverSixtyStepsWithBFloat16Convolutions() throws {
        Convolutions.kernels = DNNLConvolution(threads: 1, precision: .bf16)
        defer { Convolutions.kernels = DNNLConvolution() }
        try assertCoverageLossFallsOverSixtySteps()
    }

    private func assertCoverageLossFallsOverSixtySteps() throws {
        let config = try smallConfig(.cqf, batch: 8)
        let step = TrainingStep(model: CQFModel(config: config), communicator: SingleProcess())
        let images = syntheticImages(count: 256, channels: 1)
        var curve: [Double] = []
        for s in 0..<60 {
            let losses = step.run(batchTensor(images, (s * 8)..<(s * 8 + 8), channels: 1), step: s, firstImage: 0)
            XCTAssert(losses.discriminator.isFinite && losses.penalty.isFinite, "step \(s): \(losses)")
            curve.append(losses.coverage)
        }
        let (first, last) = (curve.prefix(5).reduce(0, +) / 5, curve.suffix(5).reduce(0, +) / 5)
        XCTAssertLessThan(last, first - 0.25 * abs(first), "L_C went from \(first) to \(last): \(curve)")
    }

    func testEveryObjectiveTakesFiniteSteps() throws {
        for objective in Objective.allCases {
            let config = try smallConfig(objective, channels: 3, batch: 4)
            let step = TrainingStep(model: CQFModel(config: config), communicator: SingleProcess())
            let images = syntheticImages(count: 8, channels: 3)
            for s in 0..<2 {
                let losses = step.run(batchTensor(images, 0..<4, channels: 3), step: s, firstImage: 0)
                XCTAssertEqual(losses.skipped, 0, "\(objective)")
                XCTAssert([losses.coverage, losses.quality, losses.discriminator].allSatisfy(\.isFinite), "\(objective): \(losses)")
            }
        }
    }

    /// Stages follow the image size: 4 for 32 and 48 (tops at 4 and 6), 5 for 64 and 96.
    func testEveryImageSizeTrains() throws {
        for (size, widths) in [(48, "8,8,8,8"), (64, "8,8,8,8,8"), (96, "8,8,8,8,8")] {
            let config = try Config.load(path: nil, overrides: [
                ("image_size", "\(size)"), ("channels", "3"), ("batch", "2"), ("widths", widths), ("z", "2"), ("first", "4"),
                ("nvp.filters", "4"), ("nvp.blocks", "1"), ("nvp.scales", "2"), ("disc_width", "4"), ("iaf", "true"),
            ])
            XCTAssertEqual(config.stageWidths.count, Config.stageCount(imageSize: size))
            let model = CQFModel(config: config)
            let step = TrainingStep(model: model, communicator: SingleProcess())
            let x = Tensor(shape: [2, 3, size, size], repeating: 0.5)
            let losses = step.run(x, step: 0, firstImage: 0)
            XCTAssertEqual(losses.skipped, 0, "image size \(size)")
            XCTAssert([losses.coverage, losses.quality, losses.discriminator].allSatisfy(\.isFinite), "image size \(size): \(losses)")
            let sample = Recording.paused { model.generate(batch: 1, noise: StepNoise(seed: 0, step: 0, firstImage: 0)) }
            XCTAssertEqual(sample.shape, [1, 3, size, size])
        }
    }
}
