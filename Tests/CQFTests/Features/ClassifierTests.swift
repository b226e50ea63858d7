// The classifier of `Distributed classifier`: it learns (on a small labelled set made here), its
// file gives back the same features and logits and carries its accuracy, a file that does not
// fit it is refused in one line naming the file and tensor, and images smaller than it was
// trained on (28x28 Fashion-MNIST, gray for a colour network) are centred as the reader pads them.
import XCTest
@testable import CQF

/// Four classes of 1x8x8 images: a bright 4x4 block in quadrant `label`, over pixel noise
/// brighter than some of the blocks' pixels.
private struct QuadrantImages: ImageDataset {
    let count: Int
    let shape = ImageShape(channels: 1, height: 8, width: 8)
    var labels: [Int]? { (0..<count).map { $0 % 4 } }

    func copyImage(_ index: Int, into destination: UnsafeMutablePointer<UInt8>) {
        for y in 0..<8 { for x in 0..<8 {
            let noise = UInt8((index * 37 + y * 11 + x * 7) % 97)
            destination[y * 8 + x] = (y / 4) * 2 + x / 4 == index % 4 ? 60 + noise : noise
        } }
    }
}

final class ClassifierTests: XCTestCase {
    private let metadata = ["kind": "classifier", "dataset": "quadrants", "image_shape": "1x8x8", "classes": "4", "steps": "0"]

    private func temporaryFile() throws -> String {
        let folder = try DataFixtures.temporaryFolder(self)
        return folder + "/classifier.safetensors"
    }

    /// `count` images of `shape` with pixel values in [0, 1].
    private func images(_ count: Int, _ shape: ImageShape) -> Tensor {
        var random = TestRandom(seed: 3)
        return random.tensor([count, shape.channels, shape.height, shape.width], in: 0...1)
    }

    func testLossFallsAndTheClassesAreLearned() throws {
        let data = QuadrantImages(count: 256)
        let classifier = Classifier(dataset: "quadrants", imageShape: data.shape, classCount: 4, seed: 1)
        let losses = try classifier.train(on: data, steps: 40, batch: 16, seed: 2, communicator: SingleProcess())
        let (first, last) = (losses.prefix(5).reduce(0, +) / 5, losses.suffix(5).reduce(0, +) / 5)
        XCTAssertEqual(first, log(4), accuracy: 0.3, "an untrained network guesses among 4 classes")
        XCTAssertLessThan(last, first * 0.3, "losses \(losses)")
        XCTAssertEqual(classifier.steps, 40)
        XCTAssertGreaterThan(try classifier.accuracy(on: data, batch: 100, communicator: SingleProcess()), 0.95)
    }

    func testSaveAndLoadGiveIdenticalFeaturesLogitsAndMetadata() throws {
        let path = try temporaryFile()
        let data = QuadrantImages(count: 64)
        let classifier = Classifier(dataset: "quadrants", imageShape: data.shape, classCount: 4, seed: 5)
        _ = try classifier.train(on: data, steps: 3, batch: 16, seed: 0, communicator: SingleProcess())
        classifier.testAccuracy = 0.91234
        try classifier.save(path: path)

        let file = try SafeTensors.read(path: path)
        XCTAssertEqual(file.metadata["test_accuracy"], "0.9123")
        XCTAssertEqual(file.metadata["kind"], "classifier")
        XCTAssertEqual(file.metadata["image_shape"], "1x8x8")
        XCTAssertEqual(file.metadata["steps"], "3")
        let loaded = try Classifier(contentsOf: path)
        XCTAssertEqual(loaded.name, "classifier:quadrants")
        XCTAssertEqual(loaded.testAccuracy, 0.9123)
        XCTAssertEqual(loaded.steps, 3)
        XCTAssertEqual(loaded.classCount, 4)
        XCTAssertEqual(loaded.featureCount, 128)
        let x = images(5, data.shape)
        let (before, after) = (classifier.evaluate(x), loaded.evaluate(x))
        XCTAssertEqual(after.features.shape, [5, 128])
        XCTAssertEqual(after.logits.shape, [5, 4])
        XCTAssertEqual(before.features.array, after.features.array)
        XCTAssertEqual(before.logits.array, after.logits.array)
        XCTAssertNotEqual(Classifier(dataset: "quadrants", imageShape: data.shape, classCount: 4, seed: 5).evaluate(x).logits.array,
                          after.logits.array, "the loaded weights are the trained ones, not a fresh network's")
    }

    func testMissingMisshapenOrForeignTensorsAreRefusedInOneLineNamingThem() throws {
        let path = try temporaryFile()
        let classifier = Classifier(dataset: "quadrants", imageShape: ImageShape(channels: 1, height: 8, width: 8), classCount: 4)
        let entries = classifier.parameters.parameters.map { ($0.name, $0.shape, UnsafePointer($0.tensor.data)) }
        let zeros = [Float](repeating: 0, count: 128 * 300)

        func refusal(_ tensors: [SafeTensors.Entry], metadata: [String: String]? = nil) throws -> String {
            try SafeTensors.write(path: path, tensors: tensors, metadata: metadata ?? self.metadata)
            do {
                _ = try Classifier(contentsOf: path)
            } catch let error as ClassifierError {
                return error.description
            }
            XCTFail("\(path) was accepted")
            return ""
        }

        let missing = try refusal(entries.filter { $0.0 != "conv2.bias" })
        XCTAssertTrue(missing.contains(path) && missing.contains("'conv2.bias'") && missing.contains("missing"), missing)
        let misshapen = try zeros.withUnsafeBufferPointer { buffer in
            try refusal(entries.map { $0.0 == "hidden.weight" ? ($0.0, [128, 300], buffer.baseAddress!) : $0 })
        }
        XCTAssertTrue(misshapen.contains(path) && misshapen.contains("'hidden.weight'") && misshapen.contains("[128, 300]"), misshapen)
        let extra = try zeros.withUnsafeBufferPointer { buffer in try refusal(entries + [("head.weight", [4], buffer.baseAddress!)]) }
        XCTAssertTrue(extra.contains(path) && extra.contains("'head.weight'"), extra)
        let foreign = try refusal(entries, metadata: ["format_version": "1", "step": "0"])
        XCTAssertTrue(foreign.contains(path) && foreign.contains("kind"), foreign)
        for message in [missing, misshapen, extra, foreign] { XCTAssertFalse(message.contains("\n"), message) }
    }

    func testSmallerAndGrayImagesAreCentredAsTheReaderPadsThem() {
        let gray = Classifier(dataset: "fashion-mnist", imageShape: ImageShape(channels: 1, height: 32, width: 32), classCount: 10)
        let small = images(3, ImageShape(channels: 1, height: 28, width: 28))
        let padded = Tensor(shape: [3, 1, 32, 32], repeating: 0)
        for i in 0..<3 { for y in 0..<28 { for x in 0..<28 {
            padded.data[(i * 32 + y + 2) * 32 + x + 2] = small.data[(i * 28 + y) * 28 + x]
        } } }
        XCTAssertEqual(gray.evaluate(small).features.array, gray.evaluate(padded).features.array)
        XCTAssertEqual(gray.evaluate(small).logits.array, gray.evaluate(padded).logits.array)

        let colour = Classifier(dataset: "cifar10", imageShape: ImageShape(channels: 3, height: 8, width: 8), classCount: 10)
        let one = images(2, ImageShape(channels: 1, height: 8, width: 8))
        let three = Tensor(shape: [2, 3, 8, 8], (0..<2).flatMap { i in (0..<3).flatMap { _ in one.array[i * 64..<(i + 1) * 64] } })
        XCTAssertEqual(colour.evaluate(one).logits.array, colour.evaluate(three).logits.array)
    }
}
