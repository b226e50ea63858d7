// `Distributed score` as a user runs it, alone and under `mpirun -n 2`: the ranks split the images
// and get one rank's scores; statistics written with --stats-out and read back as the reference
// give the same FID; samples drawn from a checkpoint on the fly are those `sample` writes; a
// samples file of the wrong shape is one error line. The features are a classifier with random
// weights (what they are does not matter here: the metrics' values are tested in CQFTests).
@testable import CQF
import Foundation
import XCTest

final class ScoreCommandTests: ExecutableTestCase {
    /// Every score a run prints, by name (null fields are absent).
    typealias Scores = [String: Double]
    /// A model small enough to train a few steps in seconds, on one thread per rank.
    static let smallModel = ["--threads", "1", "widths=8,8,16,16", "z=4", "first=8", "nvp.filters=8", "nvp.blocks=1"]

    override func setUpWithError() throws {
        let executable = distributedExecutable().path
        guard FileManager.default.isExecutableFile(atPath: executable) else {
            XCTFail("the built Distributed is not at \(executable): build the package before testing")
            throw MissingPrerequisite(name: "Distributed")
        }
    }

    func testOneAndTwoRanksGiveTheSameScores() throws {
        let (features, samples, reference) = try inputs()
        let arguments = ["score", "--samples", samples, "--reference", reference, "--features", features, "--batch", "7", "--threads", "1"]
        let one = try scores(arguments, ranks: nil)
        let two = try scores(arguments, ranks: 2)
        XCTAssertEqual(one["images"], 48)
        XCTAssertEqual(one["reference_images"], 40)
        XCTAssertEqual(Set(one.keys), ["fid", "is", "is_std", "kid", "kid_std", "precision", "recall", "images", "reference_images", "seconds"])
        XCTAssertGreaterThan(one["fid"] ?? 0, 0)
        XCTAssertGreaterThanOrEqual(one["is"] ?? 0, 1)
        assertEqualScores(one, two, "one rank against two")
    }

    func testStatisticsWrittenAndReadBackGiveTheSameFID() throws {
        let (features, samples, reference) = try inputs()
        let statistics = try temporaryFolder().appendingPathComponent("reference-stats.npz").path
        // The reference set scored, so --stats-out holds its statistics; on one thread, as the
        // scores compared below, since oneDNN's sums may take another order on two.
        _ = try scores(["score", "--samples", reference, "--reference", samples, "--features", features, "--stats-out", statistics,
                        "--threads", "1"], ranks: nil)
        let fromImages = try scores(["score", "--samples", samples, "--reference", reference, "--features", features, "--threads", "1"], ranks: nil)
        let fromStatistics = try scores(["score", "--samples", samples, "--reference", statistics, "--features", features, "--threads", "1"], ranks: 2)
        XCTAssertEqual(Set(fromStatistics.keys), ["fid", "is", "is_std", "images", "seconds"], "against statistics, KID and precision/recall are null")
        assertEqualScores(fromImages.filter { fromStatistics[$0.key] != nil }, fromStatistics, "images against their statistics")
    }

    func testSamplesDrawnFromACheckpointAreThoseSampleWrites() throws {
        let (features, _, reference) = try inputs()
        let run = try temporaryFolder()
        let trained = try self.run(["train", "--out", run.path, "--steps", "1", "--batch", "8"] + ScoreCommandTests.smallModel,
                                   ranks: nil, timeout: 300)
        XCTAssertEqual(trained.status, 0, trained.standardError)
        let checkpoint = run.appendingPathComponent("checkpoints/latest.safetensors").path
        let written = run.appendingPathComponent("samples.npz").path
        let sampled = try self.run(["sample", "--checkpoint", checkpoint, "--count", "30", "--seed", "3", "--out", written], ranks: nil, timeout: 300)
        XCTAssertEqual(sampled.status, 0, sampled.standardError)
        let fromFile = try scores(["score", "--samples", written, "--reference", reference, "--features", features, "--batch", "4", "--threads", "1"], ranks: nil)
        let onTheFly = try scores(["score", "--checkpoint", checkpoint, "--count", "30", "--seed", "3", "--reference", reference,
                                   "--features", features, "--batch", "4", "--threads", "1"], ranks: 2)
        XCTAssertEqual(onTheFly["images"], 30)
        assertEqualScores(fromFile, onTheFly, "sample's npz against samples drawn on the fly")
    }

    /// train's FD and IS every score_every steps, on two ranks, are what `score` says of the same
    /// checkpoint's samples against the test split, both from the VAE's averaged weights
    /// (ema_decay); without the feature file it warns and trains.
    func testTrainingScoresWhatScoreSays() throws {
        let (features, _, _) = try inputs()
        let run = try temporaryFolder()
        let trained = try self.run(["train", "--out", run.path, "--steps", "4", "--batch", "8"] + ScoreCommandTests.smallModel
            + ["log_every=3", "score_every=2", "score_images=20", "score_features=\(features)", "ema_decay=0.5"], ranks: 2, timeout: 300)
        XCTAssertEqual(trained.status, 0, trained.standardError)
        let lines = try String(contentsOf: run.appendingPathComponent("metrics.jsonl"), encoding: .utf8).split(separator: "\n")
        let logged = try lines.map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] ?? [:] }
        XCTAssertEqual(logged.compactMap { $0["step"] as? Int }, [2, 3, 4], "steps logged: every log_every and every score_every")
        XCTAssertEqual(logged.filter { $0["fd"] != nil }.compactMap { $0["step"] as? Int }, [2, 4])
        XCTAssert(trained.standardError.contains("FD "), trained.standardError)

        let checkpoint = run.appendingPathComponent("checkpoints/step-4.safetensors").path
        let file = try SafeTensors.read(path: checkpoint)
        XCTAssertEqual(Set(file.names.filter { $0.hasPrefix("average.") }.map { $0.split(separator: ".")[1] }), ["encoder", "decoder"])
        var (trainedBias, averagedBias) = (Float(0), Float(0))
        try file.copy("decoder.output.bias", into: &trainedBias, count: 1)
        try file.copy("average.decoder.output.bias", into: &averagedBias, count: 1)
        XCTAssertNotEqual(trainedBias, averagedBias, "the average lags the trained weights")
        let scored = try scores(["score", "--checkpoint", checkpoint, "--count", "20", "--seed", "0", "--dataset", "fashion-mnist",
                                 "--features", features, "--batch", "100", "--threads", "1"], ranks: 2)
        let last = logged.last ?? [:]
        for (logName, scoreName) in [("fd", "fid"), ("is", "is"), ("is_std", "is_std")] {
            let (value, expected) = ((last[logName] as? Double) ?? .nan, scored[scoreName] ?? .nan)
            XCTAssert(abs(value - expected) <= 1e-9 * abs(expected), "\(logName) at step 4: train logged \(value), score says \(expected)")
        }

        let unscored = try self.run(["train", "--out", try temporaryFolder().path, "--steps", "1", "--batch", "8"] + ScoreCommandTests.smallModel
            + ["score_every=1", "score_features=/no/such/classifier.safetensors"], ranks: nil, timeout: 300)
        XCTAssertEqual(unscored.status, 0, unscored.standardError)
        XCTAssert(unscored.standardError.contains("warning: train: no FD and IS") && unscored.standardError.contains("/no/such/classifier.safetensors"),
                  unscored.standardError)
    }

    func testBadInputIsRefusedInOneLine() throws {
        let (features, samples, reference) = try inputs()
        let folder = try temporaryFolder()
        func images(_ name: String, _ shape: [Int]) throws -> String {
            let path = folder.appendingPathComponent(name).path
            try writeNPZ(path: path, arrays: [NPZArray(name: "arr_0", shape: shape, bytes: [UInt8](repeating: 7, count: shape.reduce(1, *)))])
            return path
        }
        let statistics = folder.appendingPathComponent("two-features.npz").path
        try FeatureStatistics(mean: [0, 0], covariance: [1, 0, 0, 1], count: nil).write(to: statistics)
        let cases: [(samples: String, reference: String, named: String)] = [
            (try images("flat.npz", [10, 32, 32]), reference, "[10, 32, 32]"),          // not images
            (try images("colour.npz", [10, 32, 32, 3]), reference, "3x32x32"),          // colour for a gray classifier
            (try images("nine.npz", [9, 32, 32, 1]), reference, "at least 10"),         // too few for IS's 10 splits
            (samples, try images("three.npz", [3, 32, 32, 1]), "at least 4"),           // too few for k = 3 neighbours
            (samples, statistics, "2 features"),                                        // statistics of another network
        ]
        for (samples, reference, named) in cases {
            let result = try run(["score", "--samples", samples, "--reference", reference, "--features", features], ranks: nil, timeout: 60)
            XCTAssertEqual(result.status, 2, result.standardError)
            XCTAssertEqual(result.errorLines.filter { !$0.hasPrefix("score:") }.count, 1, result.standardError)
            XCTAssert(result.errorLines.last?.hasPrefix("error: ") == true && result.standardError.contains(named), "\(named): " + result.standardError)
        }
    }

    // MARK: Inputs and outputs

    /// A classifier with random weights, 48 samples and 40 reference images (32x32 gray, seeded noise).
    func inputs() throws -> (features: String, samples: String, reference: String) {
        let folder = try temporaryFolder()
        let features = folder.appendingPathComponent("classifier.safetensors").path
        try Classifier(dataset: "fashion-mnist", imageShape: ImageShape(channels: 1, height: 32, width: 32), classCount: 10, seed: 5)
            .save(path: features)
        func images(_ name: String, count: Int, seed: UInt64) throws -> String {
            var uniform = [Float](repeating: 0, count: count * 32 * 32)
            Philox(seed: seed, stream: 0).fillUniform(&uniform, count: uniform.count, a: 0, b: 0)
            let bytes = uniform.map { UInt8($0 * 255) }
            let path = folder.appendingPathComponent(name).path
            try writeNPZ(path: path, arrays: [NPZArray(name: "arr_0", shape: [count, 32, 32, 1], bytes: bytes)])
            return path
        }
        return (features, try images("samples.npz", count: 48, seed: 1), try images("reference.npz", count: 40, seed: 2))
    }

    /// The JSON line of a `score` run that must succeed.
    func scores(_ arguments: [String], ranks: Int?, file: StaticString = #filePath, line: UInt = #line) throws -> Scores {
        let result = try run(arguments, ranks: ranks, timeout: 300, file: file, line: line)
        XCTAssertEqual(result.status, 0, result.standardError, file: file, line: line)
        let lines = result.standardOutput.split(separator: "\n")
        XCTAssertEqual(lines.count, 1, "expected one JSON line, got:\n\(result.standardOutput)", file: file, line: line)
        let object = try JSONSerialization.jsonObject(with: Data((lines.first ?? "").utf8)) as? [String: Any] ?? [:]
        return object.compactMapValues { $0 as? Double }
    }

    /// The same scores within 1e-9 relative (seconds aside).
    func assertEqualScores(_ a: Scores, _ b: Scores, _ label: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(Set(a.keys), Set(b.keys), label, file: file, line: line)
        for (name, value) in a where name != "seconds" {
            let other = b[name] ?? .nan
            XCTAssert(value.isFinite && abs(value - other) <= 1e-9 * max(abs(value), 1e-12),
                      "\(label): \(name) is \(value) against \(other)", file: file, line: line)
        }
    }
}
