// Every file in configs/ trains: `Distributed train --config FILE --steps 2` on small fixture
// files in the format of the config's dataset (CIFAR-10 and STL-10 binaries, idx, packed files
// named by split) with the config's channels and image size, so that no config rots. Only the
// data path, the batch (1, the smallest legal one), the sample grid (4 images) and the FD probe
// (off: the fixture's test split of one image cannot be scored, and a classifier made by the
// README's run would switch it on) are overridden: the 64-image grid of a 96x96 model takes
// half a minute on 2 cores, the model never changes.
@testable import CQF
import Foundation
import XCTest

final class ConfigFilesTrainTests: ExecutableTestCase {
    static let configs = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../configs").standardized

    /// Training images of every fixture (CIFAR-10's five batches of one record); the held-out split has one.
    static let trainingImages = 5

    func testEveryConfigTrainsTwoSteps() throws {
        let names = try FileManager.default.contentsOfDirectory(atPath: Self.configs.path).filter { $0.hasSuffix(".json") }.sorted()
        XCTAssertGreaterThanOrEqual(names.count, 27, "configs/ should hold every experiment of the paper")
        let started = Date()
        for name in names {
            let file = Self.configs.appendingPathComponent(name).path
            let config = try Config.load(path: file, overrides: [])
            let folder = try temporaryFolder()
            let data = try writeFixture(for: config, in: folder.path)
            let out = folder.appendingPathComponent("run").path
            let begun = Date()
            let result = try run(["train", "--config", file, "--steps", "2", "--batch", "1", "--out", out, "data=\(data)", "sample_grid=4", "score_every=0"],
                                 ranks: nil, timeout: 120)
            print("configs/\(name): \(String(format: "%.1f", Date().timeIntervalSince(begun))) s")
            XCTAssertEqual(result.status, 0, "configs/\(name): \(result.standardError)")
            XCTAssertTrue(result.standardError.contains("(\(Self.trainingImages) images)"), "configs/\(name) did not train on the fixture: \(result.standardError)")
            let metrics = (try? String(contentsOfFile: out + "/metrics.jsonl", encoding: .utf8)) ?? ""
            let last = metrics.split(separator: "\n").last.flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            XCTAssertEqual(last?["step"] as? Int, 2, "configs/\(name): \(metrics.suffix(300))")
            XCTAssertTrue(FileManager.default.fileExists(atPath: out + "/checkpoints/step-2.safetensors"), "configs/\(name)")
        }
        print("every config: \(String(format: "%.1f", Date().timeIntervalSince(started))) s")
    }

    /// The FD probe on a test split of one image: one error line naming the data and the field.
    func testProbeRefusesATestSplitTooSmallToScore() throws {
        let file = Self.configs.appendingPathComponent("fashion-mnist.json").path
        let folder = try temporaryFolder()
        let data = try writeFixture(for: try Config.load(path: file, overrides: []), in: folder.path)
        let features = folder.appendingPathComponent("classifier.safetensors").path
        try Classifier(dataset: "fashion-mnist", imageShape: ImageShape(channels: 1, height: 32, width: 32), classCount: 10, seed: 5)
            .save(path: features)
        let result = try run(["train", "--config", file, "--steps", "1", "--batch", "1", "--out", folder.appendingPathComponent("run").path,
                              "data=\(data)", "score_every=1", "score_features=\(features)"], ranks: nil, timeout: 120)
        XCTAssertNotEqual(result.status, 0, result.standardError)
        let errors = result.errorLines.filter { $0.hasPrefix("error:") }
        XCTAssertEqual(errors.count, 1, result.standardError)
        XCTAssert(errors.first?.contains("\(data): the test split holds 1 images") == true && errors.first?.contains("score_every") == true,
                  result.standardError)
    }

    /// Writes a dataset of the config's kind and shape into `folder` and returns its `data` path.
    private func writeFixture(for config: Config, in folder: String) throws -> String {
        let (channels, side) = (config.channels, config.image_size)
        let counts = (train: Self.trainingImages, test: 1)
        let pixels = { (count: Int, size: Int) in (0..<count * size).map { UInt8(truncatingIfNeeded: $0 * 7 + $0 / size) } }
        switch try DatasetKind.named(config.dataset) {
        case .cifar10:
            // Five training batches of one record each (label byte, 3x32x32), and the test batch.
            let record = { (i: Int) in [UInt8(i % 10)] + pixels(1, 3 * 32 * 32) }
            for batch in 1...5 { try write(record(batch), to: "\(folder)/data_batch_\(batch).bin") }
            try write(record(0), to: "\(folder)/test_batch.bin")
        case .stl10:
            try write(pixels(counts.train, 3 * 96 * 96), to: "\(folder)/unlabeled_X.bin")
            try write(pixels(counts.test, 3 * 96 * 96), to: "\(folder)/test_X.bin")
        case .fashionMNIST, .mnist:
            for (prefix, count) in [("train", counts.train), ("t10k", counts.test)] {
                try write(bigEndian([0x803, count, 28, 28]) + pixels(count, 28 * 28), to: "\(folder)/\(prefix)-images-idx3-ubyte")
                try write(bigEndian([0x801, count]) + (0..<count).map { UInt8($0 % 10) }, to: "\(folder)/\(prefix)-labels-idx1-ubyte")
            }
        case .packed:
            let shape = ImageShape(channels: channels, height: side, width: side)
            for (split, count) in [("train", counts.train), ("test", counts.test)] {
                let writer = try PackedWriter(path: "\(folder)/fixture-\(split).packed", shape: shape)
                let images = pixels(count, shape.byteCount)
                for i in 0..<count { try images.withUnsafeBufferPointer { try writer.append($0.baseAddress! + i * shape.byteCount) } }
                try writer.finish()
            }
            return "\(folder)/fixture-train.packed"
        case let kind:
            XCTFail("configs/ should not read \(kind.rawValue) directly: it goes through `prepare`")
        }
        return folder
    }

    private func write(_ bytes: [UInt8], to path: String) throws {
        try Data(bytes).write(to: URL(fileURLWithPath: path))
    }

    private func bigEndian(_ values: [Int]) -> [UInt8] {
        values.flatMap { value in (0..<4).map { UInt8(truncatingIfNeeded: value >> (8 * (3 - $0))) } }
    }
}
