// The built `Distributed` executable as a user runs it, alone and under `mpirun -n 2`: one and two
// ranks train the same model, runs repeat bit for bit, a resumed run equals an uninterrupted one,
// and bad input gets one `error:` line. A small model on the default Fashion-MNIST data keeps each
// run to a few seconds on CI's two cores.
@testable import CQF
import Foundation
import XCTest

final class MultiRankTests: ExecutableTestCase {
    /// Small widths as in --debug; the discriminator keeps its default width.
    static let smallModel = ["widths=8,8,16,16", "z=4", "first=8", "nvp.filters=8", "nvp.blocks=1",
                             "--threads", "1", "log_every=1"]

    /// Adamax steps by lr * m / (u + eps). With the default eps = 1e-8, a gradient element of about
    /// 1e-8 (a third of the discriminator's deepest weights at step 1) moves by up to lr whatever
    /// its sign, so a 1e-10 rounding difference between one sum over 8 images and two sums over 4
    /// becomes a 3e-4 step, 1% of the tensor's scale, and GAN training carries it on. eps = 1e-2
    /// makes the step smooth in the gradient, so 5 steps compare the data-parallel arithmetic
    /// (data order, noise, batch-norm sums, the division by the global batch) at 1e-4, not the
    /// optimizer's conditioning. The gradients themselves are compared at step 1, where eps plays no part.
    static let comparable = smallModel + ["--batch", "8", "--steps", "5", "eps=1e-2", "checkpoint_every=1"]

    static let fashionMNIST = "/usr/share/datasets/fashion-mnist"

    /// Finished runs by label, so that one run serves every test that reads it.
    private static var finishedRuns: [String: URL] = [:]

    override class func tearDown() {
        for folder in finishedRuns.values { try? FileManager.default.removeItem(at: folder) }
        finishedRuns = [:]
    }

    override func setUpWithError() throws {
        // Missing, it fails the tests, as a missing mpirun does: setup installs it, and a test that skips did not run.
        guard FileManager.default.fileExists(atPath: MultiRankTests.fashionMNIST + "/train-images-idx3-ubyte.gz") else {
            XCTFail("Fashion-MNIST is not at \(MultiRankTests.fashionMNIST): apt-get install dataset-fashion-mnist (or run launch/setup.sh)")
            throw MissingPrerequisite(name: "dataset-fashion-mnist")
        }
        let executable = distributedExecutable().path
        guard FileManager.default.isExecutableFile(atPath: executable) else {
            XCTFail("the built Distributed is not at \(executable): build the package before testing")
            throw MissingPrerequisite(name: "Distributed")
        }
    }

    // MARK: The same global batch on one and two ranks

    func testOneAndTwoRanksTrainTheSameModel() throws {
        let one = try trainedRun("one rank", ranks: nil, MultiRankTests.comparable)
        let two = try trainedRun("two ranks", ranks: 2, MultiRankTests.comparable)

        // At step 1 the first moment is (1 - beta1) x the gradient averaged over the global batch.
        let first = (try tensors(one, step: 1), try tensors(two, step: 1))
        XCTAssertEqual(Set(first.0.keys), Set(first.1.keys))
        let gradients = first.0.keys.filter { $0.hasPrefix("optimizer.") && $0.hasSuffix(".m") }
        XCTAssertFalse(gradients.isEmpty, "no optimizer moments in the step-1 checkpoint")
        for name in gradients { assertClose(first.0[name]!, first.1[name]!, relative: 1e-4, name + " at step 1") }

        let last = (try tensors(one, step: 5), try tensors(two, step: 5))
        XCTAssertEqual(Set(last.0.keys), Set(last.1.keys))
        let parameters = last.0.keys.filter { !$0.hasPrefix("optimizer.") }
        XCTAssertGreaterThan(parameters.count, 100, "expected the parameters and running averages of four networks")
        for name in parameters { assertClose(last.0[name]!, last.1[name]!, relative: 1e-4, name + " at step 5") }
    }

    func testTwoRunsOnTwoRanksAgreeBitForBit() throws {
        let first = try tensors(try trainedRun("two ranks", ranks: 2, MultiRankTests.comparable), step: 5)
        let second = try tensors(try trainedRun("two ranks, again", ranks: 2, MultiRankTests.comparable), step: 5)
        assertBitIdentical(first, second)
    }

    func testBatchThatDoesNotSplitOverTheRanksIsRefused() throws {
        let out = try temporaryFolder()
        let result = try run(["train", "--out", out.path] + MultiRankTests.smallModel + ["--steps", "1", "--batch", "7"],
                             ranks: 2, timeout: 60)
        XCTAssertNotEqual(result.status, 0)
        let errors = result.errorLines.filter { $0.hasPrefix("error:") }
        XCTAssertEqual(errors.count, 1, "expected one error line, got:\n" + result.standardError)
        XCTAssert(errors.first.map { $0.contains("batch 7") && $0.contains("2 ranks") } ?? false,
                  "the error should name the batch and the ranks: \(errors)")
    }

    // MARK: Resume

    func testResumedRunEqualsUninterruptedRun() throws {
        let whole = try trainedRun("ten steps", ranks: nil, MultiRankTests.smallModel + ["--batch", "8", "--steps", "10"])
        let split = try trainedRun("five steps", ranks: nil, MultiRankTests.smallModel + ["--batch", "8", "--steps", "5"], keep: false)
        // The same thread count: oneDNN's sums are ordered by its threads.
        let resumed = try run(["train", "--out", split.path, "--resume", "--steps", "10", "--threads", "1"], ranks: nil, timeout: 300)
        XCTAssertEqual(resumed.status, 0, resumed.standardError)
        assertBitIdentical(try tensors(whole, step: 10), try tensors(split, step: 10))
    }

    // MARK: Bad input

    func testBadInputGetsOneErrorLineNamingTheFieldOrFile() throws {
        let folder = try temporaryFolder()
        let unknownKeyFile = folder.appendingPathComponent("unknown-key.json")
        try Data(#"{"batch": 8, "learning_rate": 0.1}"#.utf8).write(to: unknownKeyFile)
        let missingFolder = folder.appendingPathComponent("no-such-data").path
        let missingConfig = folder.appendingPathComponent("no-such-config.json").path
        let cases: [(arguments: [String], named: String)] = [
            (["learning_rate=0.1"], "learning_rate"),
            (["--config", unknownKeyFile.path], "learning_rate"),
            (["image_size=40"], "image_size"),
            (["batch=0"], "batch"),
            (["lambda_q=-1"], "lambda_q"),
            (["--config", missingConfig], missingConfig),
            (["--data", missingFolder], missingFolder),
        ]
        for (arguments, named) in cases {
            let out = folder.appendingPathComponent("run").path
            let result = try run(["train", "--out", out, "--steps", "1"] + MultiRankTests.smallModel + arguments, ranks: nil, timeout: 60)
            let label = arguments.joined(separator: " ")
            XCTAssertEqual(result.status, 2, label)
            XCTAssertEqual(result.errorLines.count, 1, "\(label): expected one line, got:\n\(result.standardError)")
            XCTAssert(result.errorLines.first?.hasPrefix("error: ") ?? false, "\(label): \(result.errorLines)")
            XCTAssert(result.standardError.contains(named), "\(label): the error should name \(named): \(result.standardError)")
        }
    }

    func testPrepareOnTwoRanksWritesTheBytesOfOneRank() throws {
        let folder = try temporaryFolder()
        // Item 2 (in rank 0's block of 0..<4) does not decode: rank 1 moves its images back over the gap.
        let pixels = { (i: Int) in (0..<40 * 40 * 3).map { UInt8(truncatingIfNeeded: $0 / 3 + i * 30) } }
        let images = folder.appendingPathComponent("images").path
        try FileManager.default.createDirectory(atPath: images, withIntermediateDirectories: true)
        for i in 0..<8 {
            let path = "\(images)/\(i).jpg"
            if i == 2 {
                try Data("not a jpeg".utf8).write(to: URL(fileURLWithPath: path))
            } else {
                try writeJPEG(path: path, pixels: pixels(i), width: 40, height: 40, channels: 3)
            }
        }
        let database = folder.appendingPathComponent("bedroom_train_lmdb").path
        try FileManager.default.createDirectory(atPath: database, withIntermediateDirectories: true)
        try writeLMDB(folder: database, values: (0..<8).map { $0 == 2 ? Array("not a webp".utf8) : encodeWebP(pixels($0), width: 40, height: 40, quality: 90) })

        for (kind, data) in [("folder", images), ("lsun", database)] {
            var files: [Data] = []
            for ranks in [nil, 2] as [Int?] {
                let out = folder.appendingPathComponent("\(kind)-\(ranks ?? 1).packed").path
                let result = try run(["prepare", "--dataset", kind, "--data", data, "--size", "16", "--out", out], ranks: ranks, timeout: 60)
                XCTAssertEqual(result.status, 0, result.standardError)
                XCTAssertTrue(result.standardOutput.contains("wrote \(out): 7 images of 3x16x16, 1 skipped"), result.standardOutput)
                XCTAssertEqual(result.standardOutput.components(separatedBy: "wrote").count, 2, "rank 0 alone reports: \(result.standardOutput)")
                files.append(try Data(contentsOf: URL(fileURLWithPath: out)))
            }
            XCTAssertEqual(files[0], files[1], "\(kind): two ranks write the bytes of one")
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted(),
                       ["bedroom_train_lmdb", "folder-1.packed", "folder-2.packed", "images", "lsun-1.packed", "lsun-2.packed"],
                       "no temporary file is left")
    }

    func testANewRunNeverOverwritesAnOldOne() throws {
        let old = try trainedRun("five steps, kept", ranks: nil, MultiRankTests.smallModel + ["--batch", "8", "--steps", "5"], keep: false)
        let before = try Data(contentsOf: old.appendingPathComponent("checkpoints/latest.safetensors"))
        let again = try run(["train", "--out", old.path, "--steps", "1"] + MultiRankTests.smallModel + ["--batch", "8"], ranks: nil, timeout: 60)
        XCTAssertEqual(again.status, 2, again.standardError)
        XCTAssertEqual(again.errorLines.count, 1, again.standardError)
        XCTAssert(again.standardError.contains("--resume"), again.standardError)
        XCTAssertEqual(try Data(contentsOf: old.appendingPathComponent("checkpoints/latest.safetensors")), before)
    }

    // MARK: eval

    /// `eval` of a checkpoint prints one JSON object, and two ranks, each scoring half of every
    /// batch (the last one short), give what one process gives. Its bounds' values against the
    /// PyTorch twin are TwinEvaluationTests'.
    func testEvalGivesTheSameBoundsOnOneAndTwoRanks() throws {
        let trained = try trainedRun("one rank", ranks: nil, MultiRankTests.comparable)
        let checkpoint = trained.appendingPathComponent("checkpoints/latest.safetensors").path
        func evaluate(ranks: Int?, samples: Int) throws -> [String: Double] {
            let result = try run(["eval", "--checkpoint", checkpoint, "--limit", "20", "--iw-samples", "\(samples)", "--threads", "1"],
                                 ranks: ranks, timeout: 120)
            XCTAssertEqual(result.status, 0, result.standardError)
            let lines = result.standardOutput.split(separator: "\n")
            XCTAssertEqual(lines.count, 1, "expected one JSON line: \(result.standardOutput)")
            return try XCTUnwrap(JSONSerialization.jsonObject(with: Data((lines.first ?? "").utf8)) as? [String: Double])
        }
        let one = try evaluate(ranks: nil, samples: 3)
        let two = try evaluate(ranks: 2, samples: 3)
        XCTAssertEqual(one["images"], 20)
        XCTAssertEqual(two["images"], 20)
        for key in ["bpd", "bpd_iw"] {
            let (a, b) = (try XCTUnwrap(one[key]), try XCTUnwrap(two[key]))
            // Bits per dimension of 8-bit images: an untrained model is near 8, never below 0.
            XCTAssert(a > 0 && a < 16, "\(key) \(a)")
            XCTAssertEqual(b, a, accuracy: 1e-6 * a, "\(key) on two ranks against one")
        }
        let elbo = try evaluate(ranks: nil, samples: 1)
        XCTAssertEqual(elbo["bpd_iw"], elbo["bpd"], "one importance sample is the ELBO")
        XCTAssertEqual(elbo["bpd"], one["bpd"], "the ELBO does not depend on K")
        print("MultiRankTests: eval of 20 images, one rank \(one), two ranks \(two)")
    }

    /// The run folder of a finished `train` run with `arguments`, made once per label (when `keep`).
    func trainedRun(_ label: String, ranks: Int?, _ arguments: [String], keep: Bool = true,
                    file: StaticString = #filePath, line: UInt = #line) throws -> URL {
        if keep, let done = MultiRankTests.finishedRuns[label] { return done }
        let out = try temporaryFolder(keep: keep)
        let result = try run(["train", "--out", out.path] + arguments, ranks: ranks, timeout: 300, file: file, line: line)
        guard result.status == 0 else {
            XCTFail("\(label): `train` exited \(result.status):\n\(result.standardError)", file: file, line: line)
            throw RunFailed(label: label)
        }
        if keep { MultiRankTests.finishedRuns[label] = out }
        return out
    }

    // MARK: Checkpoints

    /// Every tensor of checkpoints/step-N.safetensors in a run folder.
    func tensors(_ run: URL, step: Int) throws -> [String: [Float]] {
        let file = try SafeTensors.read(path: run.appendingPathComponent("checkpoints/step-\(step).safetensors").path)
        return try Dictionary(uniqueKeysWithValues: file.names.map { ($0, try file.floats($0)) })
    }

    /// |a - b| <= relative x max|a| elementwise: the tensor's scale, since many of its elements sit near zero.
    func assertClose(_ a: [Float], _ b: [Float], relative: Float, _ name: String,
                     file: StaticString = #filePath, line: UInt = #line) {
        guard a.count == b.count else { return XCTFail("\(name): \(a.count) values against \(b.count)", file: file, line: line) }
        let scale = a.reduce(0) { max($0, abs($1)) }
        var (worst, difference) = (0, Float(0))
        for i in a.indices where !difference.isNaN && !(abs(a[i] - b[i]) <= difference) {
            (worst, difference) = (i, abs(a[i] - b[i]))
        }
        XCTAssert(difference <= relative * scale, "\(name): element \(worst) is \(a[worst]) on one rank, \(b[worst]) on two "
            + "(difference \(difference), the tensor's max |value| \(scale))", file: file, line: line)
    }

    /// Every tensor equal bit for bit; a failure names how many differ and the first few.
    func assertBitIdentical(_ a: [String: [Float]], _ b: [String: [Float]], file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(Set(a.keys), Set(b.keys), file: file, line: line)
        let differing = a.keys.sorted().filter { name in
            guard let other = b[name], other.count == a[name]!.count else { return true }
            return zip(a[name]!, other).contains { $0.bitPattern != $1.bitPattern }
        }
        XCTAssert(differing.isEmpty, "\(differing.count) of \(a.count) tensors differ: "
            + differing.prefix(5).joined(separator: ", ") + (differing.count > 5 ? ", ..." : ""), file: file, line: line)
    }
}
