// The split flow of the command line, on fixtures in each publisher's layout: CelebA's
// list_eval_partition.txt beside img_align_celeba/ gives `prepare` its three sets, packed as
// NAME-train/-validation/-test.packed, and `eval` of a model trained on NAME-train.packed reads
// NAME-test.packed by default; a `--split-file` that disagrees with the folder is one error
// line naming the file and the line; STL-10's unlabeled file trains and its test file evaluates.
@testable import CQF
import Foundation
import XCTest

final class PrepareSplitTests: ExecutableTestCase {
    /// A small model that trains and evaluates in seconds; `widths` for 32x32 images.
    static let smallModel = MultiRankTests.smallModel + ["--batch", "2", "--steps", "1"]

    /// `Distributed arguments` alone; it must succeed.
    private func succeed(_ arguments: [String], line: UInt = #line) throws -> Result {
        let result = try run(arguments, ranks: nil, timeout: 120)
        XCTAssertEqual(result.status, 0, "\(arguments.joined(separator: " ")): \(result.standardError)", line: line)
        return result
    }

    /// The image count of `eval`'s JSON line.
    private func evaluatedImages(_ arguments: [String], line: UInt = #line) throws -> Int? {
        let output = try succeed(["eval"] + arguments + ["--threads", "1"], line: line).standardOutput
        let json = try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any]
        return json?["images"] as? Int
    }

    /// CelebA's layout: `celeba/img_align_celeba/NNNNNN.jpg` and `celeba/list_eval_partition.txt`.
    private func writeCelebA(partition: [Int], in folder: URL) throws -> String {
        let images = folder.appendingPathComponent("celeba/img_align_celeba").path
        try FileManager.default.createDirectory(atPath: images, withIntermediateDirectories: true)
        var lines: [String] = []
        for (i, split) in partition.enumerated() {
            let name = String(format: "%06d.jpg", i + 1)
            let pixels = (0..<48 * 40 * 3).map { UInt8(truncatingIfNeeded: $0 / 3 + i * 30) }
            try writeJPEG(path: "\(images)/\(name)", pixels: pixels, width: 40, height: 48, channels: 3)
            lines.append("\(name) \(split)")
        }
        try (lines.joined(separator: "\n") + "\n").write(toFile: folder.appendingPathComponent("celeba/list_eval_partition.txt").path,
                                                         atomically: true, encoding: .utf8)
        return images
    }

    func testCelebAPartitionGivesThreePackedSetsAndEvalReadsTheTestSet() throws {
        let folder = try temporaryFolder()
        let images = try writeCelebA(partition: [0, 0, 1, 2, 0, 2, 0], in: folder)
        let packed = folder.appendingPathComponent("celeba-32").path
        for (split, count) in [("train", 4), ("validation", 1), ("test", 2)] {
            let result = try succeed(["prepare", "--dataset", "folder", "--data", images, "--crop", "40", "--size", "32",
                                      "--split", split, "--out", "\(packed)-\(split).packed"])
            XCTAssertTrue(result.standardOutput.contains("wrote \(packed)-\(split).packed: \(count) images of 3x32x32, 0 skipped"), result.standardOutput)
        }
        let run = folder.appendingPathComponent("run").path
        let trained = try succeed(["train", "--dataset", "packed", "--data", "\(packed)-train.packed", "--out", run]
                                  + Self.smallModel + ["channels=3", "image_size=32"])
        XCTAssertTrue(trained.standardError.contains("(4 images)"), trained.standardError)
        let checkpoint = ["--checkpoint", run + "/checkpoints/latest.safetensors"]
        XCTAssertEqual(try evaluatedImages(checkpoint), 2, "eval reads the test split beside the training file")
        XCTAssertEqual(try evaluatedImages(checkpoint + ["--split", "validation"]), 1)
        XCTAssertEqual(try evaluatedImages(checkpoint + ["--split", "train"]), 4)
    }

    func testSplitFileErrorsAreOneLineNamingTheFileAndLine() throws {
        let folder = try temporaryFolder()
        let images = try writeCelebA(partition: [0, 2], in: folder)
        let list = folder.appendingPathComponent("list.txt").path
        let out = folder.appendingPathComponent("out.packed").path
        let cases: [(list: String, arguments: [String], says: String)] = [
            ("000001.jpg train\n000009.jpg test\n", [], "\(list):2: 000009.jpg is not an image in \(images)"),
            ("000001.jpg train\n000002.jpg 7\n", [], "\(list):2: expected `NAME SPLIT`"),
            ("000001.jpg train\n", ["--split", "labelled"], "--split labelled: folder has no such split"),
            ("000001.jpg train\n", ["--split", "dev"], "--split expects one of train, validation, test, labelled, got 'dev'"),
        ]
        for (text, arguments, says) in cases {
            try text.write(toFile: list, atomically: true, encoding: .utf8)
            let result = try run(["prepare", "--dataset", "folder", "--data", images, "--split-file", list, "--out", out] + arguments,
                                 ranks: nil, timeout: 60)
            XCTAssertEqual(result.status, 2, result.standardError)
            XCTAssertEqual(result.errorLines.count, 1, result.standardError)
            XCTAssertTrue(result.standardError.hasPrefix("error: ") && result.standardError.contains(says), "expected '\(says)', got: \(result.standardError)")
            XCTAssertFalse(FileManager.default.fileExists(atPath: out))
        }
        // Without --split-file the partition beside the folder is used: 000002.jpg is its test set.
        let result = try succeed(["prepare", "--dataset", "folder", "--data", images, "--split", "test", "--size", "32", "--out", out])
        XCTAssertTrue(result.standardOutput.contains("wrote \(out): 1 images of 3x32x32"), result.standardOutput)
    }

    func testSTL10TrainsOnTheUnlabeledImagesAndEvaluatesOnTheTestImages() throws {
        let folder = try temporaryFolder()
        let stl = folder.appendingPathComponent("stl10_binary").path
        try FileManager.default.createDirectory(atPath: stl, withIntermediateDirectories: true)
        for (name, count) in [("unlabeled_X.bin", 4), ("train_X.bin", 2), ("test_X.bin", 3)] {
            try Data((0..<count * 3 * 96 * 96).map { UInt8(truncatingIfNeeded: $0 * 13 + $0 / 96) }).write(to: URL(fileURLWithPath: "\(stl)/\(name)"))
        }
        let run = folder.appendingPathComponent("run").path
        let trained = try succeed(["train", "--dataset", "stl10", "--data", folder.path, "--out", run]
                                  + Self.smallModel + ["channels=3", "image_size=96", "widths=8,8,16,16,16"])
        XCTAssertTrue(trained.standardError.contains("(4 images)"), trained.standardError)
        let checkpoint = ["--checkpoint", run + "/checkpoints/latest.safetensors"]
        XCTAssertEqual(try evaluatedImages(checkpoint), 3)
        XCTAssertEqual(try evaluatedImages(checkpoint + ["--split", "labelled"]), 2)
    }
}
