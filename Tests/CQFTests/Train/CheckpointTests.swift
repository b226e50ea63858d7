// Checkpoints: parameters, Adamax moments and step, buffers and metadata come back bit for
// bit, training continues identically after a restore, and a checkpoint that does not fit the
// model is refused with the name of the tensor that differs, before anything is copied.
import XCTest
@testable import CQF

final class CheckpointTests: XCTestCase {
    var directory: String!

    override func setUpWithError() throws {
        directory = NSTemporaryDirectory() + "checkpoint-tests-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// A toy model: two networks with dotted names under their prefixes, and one buffer.
    struct Model {
        let encoder = ParameterSet(), decoder = ParameterSet()
        let encoderOptimizer: Adamax, decoderOptimizer: Adamax
        let runningMean: Tensor

        init(seed: UInt64, decoderShape: [Int] = [4, 2, 3, 3], decoderName: String = "decoder.out.weight") {
            var random = TestRandom(seed: seed)
            _ = encoder.declare("encoder.stage0.conv1.weight", shape: [3, 2, 3, 3], values: random.tensor([54]).array)
            _ = encoder.declare("encoder.stage0.conv1.bias", shape: [3], values: random.tensor([3]).array)
            _ = decoder.declare(decoderName, shape: decoderShape, values: random.tensor([decoderShape.reduce(1, *)]).array)
            _ = decoder.declare("decoder.logsigma", shape: [], values: [random.uniform()])
            encoder.build()
            decoder.build()
            encoderOptimizer = Adamax(count: encoder.count)
            decoderOptimizer = Adamax(count: decoder.count)
            runningMean = random.tensor([1, 3, 1, 1])
        }

        var groups: [Checkpoint.ParameterGroup] { [("encoder.", encoder, encoderOptimizer, nil), ("decoder.", decoder, decoderOptimizer, nil)] }
        var buffers: [(name: String, tensor: Tensor)] { [("encoder.stage0.bn.running_mean", runningMean)] }

        /// One Adamax step on gradients that depend on the current parameters.
        func train(steps: Int) {
            for _ in 0..<steps {
                for (set, optimizer) in [(encoder, encoderOptimizer), (decoder, decoderOptimizer)] {
                    for i in 0..<set.count { set.gradients.pointer[i] = sin(set.values.pointer[i] * 3 + Float(i)) }
                    optimizer.update(set)
                }
            }
        }

        var state: [[UInt32]] {
            [encoder.values, decoder.values, encoderOptimizer.firstMoment, encoderOptimizer.infinityNorm,
             decoderOptimizer.firstMoment, decoderOptimizer.infinityNorm].map {
                Array(UnsafeBufferPointer(start: $0.pointer, count: $0.count)).map(\.bitPattern)
            } + [runningMean.array.map(\.bitPattern)]
        }
    }

    func testSaveLoadRestoresEverythingAndTrainingContinuesBitIdentically() throws {
        let path = directory + "/step-5.safetensors"
        let straight = Model(seed: 1)
        straight.train(steps: 10)

        let first = Model(seed: 1)
        first.train(steps: 5)
        let metadata = [Checkpoint.Key.config: Config().json, Checkpoint.Key.dataPosition: "epoch=0 index=320",
                        Checkpoint.Key.rngState: "philox seed=0 step=5"]
        try Checkpoint.save(path: path, step: 5, parameterSets: first.groups, buffers: first.buffers, metadata: metadata)

        let resumed = Model(seed: 99)
        let checkpoint = try Checkpoint.load(path: path)
        XCTAssertEqual(checkpoint.step, 5)
        XCTAssertEqual(checkpoint.metadata, metadata)
        XCTAssertEqual(try JSONDecoder().decode(Config.self, from: Data(checkpoint.metadata[Checkpoint.Key.config]!.utf8)), Config())
        try checkpoint.restore(parameterSets: resumed.groups, buffers: resumed.buffers)
        XCTAssertEqual(resumed.state, first.state)
        XCTAssertEqual(resumed.encoderOptimizer.step, 5)
        resumed.train(steps: 5)
        XCTAssertEqual(resumed.state, straight.state, "5 steps + restore + 5 steps equal 10 steps bit for bit")
    }

    func testTensorNamesReadLikeTheModel() throws {
        let model = Model(seed: 2)
        let path = directory + "/names.safetensors"
        try Checkpoint.save(path: path, step: 0, parameterSets: [("encoder.", model.encoder, model.encoderOptimizer, nil), ("decoder.", model.decoder, nil, nil)],
                            buffers: model.buffers, metadata: [:])
        let file = try SafeTensors.read(path: path)
        XCTAssertEqual(file.names, [
            "encoder.stage0.conv1.weight", "encoder.stage0.conv1.bias", "decoder.out.weight", "decoder.logsigma",
            "optimizer.encoder.stage0.conv1.weight.m", "optimizer.encoder.stage0.conv1.weight.u",
            "optimizer.encoder.stage0.conv1.bias.m", "optimizer.encoder.stage0.conv1.bias.u",
            "encoder.stage0.bn.running_mean",
        ])
        XCTAssertEqual(file.metadata, ["format_version": "1", "step": "0", "optimizer.encoder.step": "0"])
    }

    func testWeightsAloneLoadWithoutOptimizers() throws {
        let saved = Model(seed: 3)
        saved.train(steps: 2)
        let path = directory + "/weights.safetensors"
        try Checkpoint.save(path: path, step: 2, parameterSets: saved.groups, buffers: saved.buffers, metadata: [:])
        let loaded = Model(seed: 4)
        try Checkpoint.load(path: path).restore(parameterSets: [("encoder.", loaded.encoder, nil, nil), ("decoder.", loaded.decoder, nil, nil)],
                                                buffers: loaded.buffers)
        XCTAssertEqual(loaded.encoder.values.pointer[7], saved.encoder.values.pointer[7])
        XCTAssertEqual(loaded.encoderOptimizer.step, 0)
        XCTAssertEqual(loaded.encoderOptimizer.firstMoment.pointer[7], 0)
    }

    func testAveragedWeightsAreKeptAndGenerationLoadsThem() throws {
        let saved = Model(seed: 8)
        let average = WeightAverage(of: saved.decoder, decay: 0.9)
        var expected = Array(UnsafeBufferPointer(start: saved.decoder.values.pointer, count: saved.decoder.count)).map(Double.init)
        for t in 1...30 {
            saved.train(steps: 1)
            average.update(from: saved.decoder)
            let keep = min(0.9, Double(1 + t) / Double(10 + t))
            for i in expected.indices { expected[i] = keep * expected[i] + (1 - keep) * Double(saved.decoder.values.pointer[i]) }
        }
        for i in expected.indices { XCTAssertEqual(Double(average.values.pointer[i]), expected[i], accuracy: 1e-5) }
        let path = directory + "/averaged.safetensors"
        let groups: [Checkpoint.ParameterGroup] = [("encoder.", saved.encoder, saved.encoderOptimizer, nil),
                                                   ("decoder.", saved.decoder, saved.decoderOptimizer, average)]
        try Checkpoint.save(path: path, step: 30, parameterSets: groups, buffers: saved.buffers, metadata: [:])
        let checkpoint = try Checkpoint.load(path: path)
        XCTAssertEqual(checkpoint.metadata, [:], "the averages' update count is the format's, not the trainer's")

        let generating = Model(seed: 9)
        try checkpoint.restore(parameterSets: [("encoder.", generating.encoder, nil, nil), ("decoder.", generating.decoder, nil, nil)],
                               buffers: generating.buffers, weights: .averaged)
        XCTAssertEqual(generating.decoder.values.pointer[5], average.values.pointer[5], "the decoder generates with its average")
        XCTAssertNotEqual(generating.decoder.values.pointer[5], saved.decoder.values.pointer[5])
        XCTAssertEqual(generating.encoder.values.pointer[5], saved.encoder.values.pointer[5], "the encoder kept no average")

        let resumed = Model(seed: 10)
        let resumedAverage = WeightAverage(of: resumed.decoder, decay: 0.9)
        try checkpoint.restore(parameterSets: [("encoder.", resumed.encoder, resumed.encoderOptimizer, nil),
                                               ("decoder.", resumed.decoder, resumed.decoderOptimizer, resumedAverage)], buffers: resumed.buffers)
        XCTAssertEqual(resumed.state, saved.state, "training resumes from the trained weights")
        XCTAssertEqual(resumedAverage.updates, 30)
        XCTAssertEqual(resumedAverage.values.pointer[5], average.values.pointer[5])

        // Averaging turned on at a resume from a checkpoint without averages starts at the weights.
        let plain = directory + "/plain.safetensors"
        try Checkpoint.save(path: plain, step: 30, parameterSets: saved.groups, buffers: saved.buffers, metadata: [:])
        let turnedOn = Model(seed: 11)
        let started = WeightAverage(of: turnedOn.decoder, decay: 0.9)
        try Checkpoint.load(path: plain).restore(parameterSets: [("encoder.", turnedOn.encoder, turnedOn.encoderOptimizer, nil),
                                                                 ("decoder.", turnedOn.decoder, turnedOn.decoderOptimizer, started)],
                                                 buffers: turnedOn.buffers)
        XCTAssertEqual(started.updates, 0)
        XCTAssertEqual(started.values.pointer[5], saved.decoder.values.pointer[5])
        XCTAssertEqual(turnedOn.state, saved.state, "the optimizers are restored too")
        let names = try SafeTensors.read(path: path).names.filter { $0.hasPrefix("average.") }
        XCTAssertEqual(names, ["average.decoder.out.weight", "average.decoder.logsigma"])
    }

    func testMismatchedModelsAreRefusedNamingTheTensorAndNothingIsCopied() throws {
        let saved = Model(seed: 5)
        let path = directory + "/model.safetensors"
        try Checkpoint.save(path: path, step: 1, parameterSets: saved.groups, buffers: saved.buffers, metadata: [:])
        let checkpoint = try Checkpoint.load(path: path)

        let wider = Model(seed: 6, decoderShape: [5, 2, 3, 3])
        let before = wider.state
        assertThrowsOneSentence(try checkpoint.restore(parameterSets: wider.groups, buffers: wider.buffers),
                    mentions: [path, "'decoder.out.weight'", "[4, 2, 3, 3]", "[5, 2, 3, 3]"])
        XCTAssertEqual(wider.state, before, "a refused restore leaves the model untouched")

        let renamed = Model(seed: 6, decoderName: "decoder.output.weight")
        assertThrowsOneSentence(try checkpoint.restore(parameterSets: renamed.groups, buffers: renamed.buffers),
                    mentions: ["has no tensor 'decoder.output.weight'"])
        let model = Model(seed: 6)
        assertThrowsOneSentence(try checkpoint.restore(parameterSets: model.groups, buffers: []),
                    mentions: ["model has no tensor 'encoder.stage0.bn.running_mean'"])
        assertThrowsOneSentence(try checkpoint.restore(parameterSets: [model.groups[0]], buffers: model.buffers),
                    mentions: ["model has no tensor 'decoder."])
        let weightsOnly = directory + "/weights-only.safetensors"
        try Checkpoint.save(path: weightsOnly, step: 1, parameterSets: [("encoder.", saved.encoder, nil, nil), ("decoder.", saved.decoder, nil, nil)],
                            buffers: saved.buffers, metadata: [:])
        assertThrowsOneSentence(try Checkpoint.load(path: weightsOnly).restore(parameterSets: model.groups, buffers: model.buffers),
                    mentions: ["no optimizer state for 'encoder.'"])
    }

    func testNamesThatCouldCollideAreRefused() throws {
        let model = Model(seed: 7)
        let path = directory + "/refused.safetensors"
        assertThrowsOneSentence(try Checkpoint.save(path: path, step: 0, parameterSets: [("encoder.", model.encoder, nil, nil), ("encoder.stage0.", model.decoder, nil, nil)],
                                        buffers: [], metadata: [:]), mentions: ["overlap"])
        assertThrowsOneSentence(try Checkpoint.save(path: path, step: 0, parameterSets: [("enc.", model.decoder, nil, nil)], buffers: [], metadata: [:]),
                    mentions: ["'decoder.out.weight'", "'enc.'"])
        assertThrowsOneSentence(try Checkpoint.save(path: path, step: 0, parameterSets: model.groups,
                                        buffers: [("decoder.logsigma", model.runningMean)], metadata: [:]),
                    mentions: ["'decoder.logsigma'", "used twice"])
        assertThrowsOneSentence(try Checkpoint.save(path: path, step: 0, parameterSets: model.groups, buffers: [], metadata: ["step": "3"]),
                    mentions: ["'step'", "reserved"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: path))
    }

    func testFilesThatAreNotCheckpointsAreRefused() throws {
        let path = directory + "/plain.safetensors"
        let value = Tensor(shape: [1], [1])
        try withExtendedLifetime(value) {
            try SafeTensors.write(path: path, tensors: [("x", [1], UnsafePointer(value.data))], metadata: [:])
        }
        assertThrowsOneSentence(try Checkpoint.load(path: path), mentions: [path, "format_version"])
        try SafeTensors.write(path: path, tensors: [], metadata: ["format_version": "0", "step": "1"])
        assertThrowsOneSentence(try Checkpoint.load(path: path), mentions: [path, "version 0", "expected 1"])
        try SafeTensors.write(path: path, tensors: [], metadata: ["format_version": "1", "step": "-1"])
        assertThrowsOneSentence(try Checkpoint.load(path: path), mentions: [path, "step"])
    }
}
