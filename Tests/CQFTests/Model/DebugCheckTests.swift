// --debug's check: the first non-finite value names the op and the layer that made it.
import XCTest
@testable import CQF

final class DebugCheckTests: XCTestCase {
    func testNonFiniteValueNamesTheOpAndTheLayer() throws {
        let model = CQFModel(config: try smallConfig(.cqf, batch: 2))
        model.decoder.parameters["decoder.output.bias"]!.tensor.data[0] = .infinity
        FiniteCheck.isOn = true
        defer { FiniteCheck.isOn = false; FiniteCheck.firstFailure = nil }
        _ = Recording.paused { model.generate(batch: 2, noise: StepNoise(seed: 0, step: 0, firstImage: 0)) }
        XCTAssertThrowsError(try FiniteCheck.throwIfFailed()) { error in
            let message = "\(error)"
            XCTAssert(message.contains("conv2d+bias") && message.contains("decoder.output"), message)
        }
        XCTAssertNoThrow(try FiniteCheck.throwIfFailed(), "the failure is reported once")
    }
}
