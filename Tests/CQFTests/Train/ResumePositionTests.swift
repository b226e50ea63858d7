// A resumed run reads the data position from the checkpoint's metadata and indexes the epoch's
// shuffled order with it: a position that lies (negative, past the epoch, or so large that the
// step it keys the noise by overflows) is one sentence naming the file, never a trap.
import Foundation
import XCTest
@testable import CQF

final class ResumePositionTests: XCTestCase {
    func testAPositionOutsideTheDataIsRefused() throws {
        let out = NSTemporaryDirectory() + "resume-position-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: out) }
        var config = try smallConfig(.vae, batch: 8)
        config.steps = 1
        XCTAssertTrue(try Trainer(config: config, options: TrainOptions(out: out), communicator: SingleProcess()).run())
        let latest = out + "/checkpoints/latest.safetensors"
        let file = try SafeTensors.read(path: latest)
        let tensors = try file.names.map { ($0, try file.tensor($0)) }
        var resume = TrainOptions(out: out)
        resume.resume = true
        config.steps = 2
        XCTAssertNoThrow(try Trainer(config: config, options: resume, communicator: SingleProcess()), "the checkpoint as written resumes")

        let batches = 60_000 / 8
        for position in [#"{"epoch": -1, "batch": 0}"#, #"{"epoch": 0, "batch": \#(batches + 1)}"#,
                         #"{"epoch": \#(Int.max / batches), "batch": 0}"#, #"{"epoch": 0}"#] {
            var metadata = file.metadata
            metadata[Checkpoint.Key.dataPosition] = position
            try withExtendedLifetime(tensors) {
                try SafeTensors.write(path: latest, tensors: tensors.map { (name: $0.0, shape: $0.1.shape, data: UnsafePointer($0.1.data)) }, metadata: metadata)
            }
            assertThrowsOneSentence(try Trainer(config: config, options: resume, communicator: SingleProcess()),
                                    mentions: [latest, "data position", "0...\(batches)"])
        }
    }
}
