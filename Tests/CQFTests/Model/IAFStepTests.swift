// The IAF step is a triangular map: its log-det, -sum(s), equals log|det J| by brute force, and
// an output element does not depend on elements after it in the step's order.
import XCTest
@testable import CQF

extension FlowTests {
    private func randomIAFStep(z: Int, width: Int) -> IAFStep {
        let parameters = ParameterSet(name: "decoder")
        let step = IAFStep(parameters, "iaf", ParameterInitializer(seed: 1), z: z, width: width)
        parameters.build()
        FlowTests.randomise(parameters, seed: 5)
        return step
    }

    func testIAFStepLogDetIsLogAbsDetOfItsJacobian() {
        let step = randomIAFStep(z: 4, width: 8)
        var random = TestRandom(seed: 6)
        let context = random.tensor([2, 8, 3, 3])
        assertLogDetMatchesJacobian(shape: [2, 4, 3, 3], "IAF step") { z in
            let (transformed, logScale) = step(z, context: context)
            return (transformed, -logScale.sum(alongAxes: [1, 2, 3]))
        }
    }

    func testIAFStepIsAutoregressive() {
        let step = randomIAFStep(z: 2, width: 4)
        var random = TestRandom(seed: 7)
        let (z, context) = (random.tensor([1, 2, 3, 3]), random.tensor([1, 4, 3, 3]))
        let (base, _) = Recording.paused { step(z, context: context) }
        // Perturb channel 1 of the last pixel: in reverse raster order it comes first
        // spatially, so only itself (and nothing) may change among elements that precede it;
        // channel 0 of the same pixel precedes channel 1 and must not move.
        var values = z.array
        values[9 + 8] += 0.5
        let (moved, _) = Recording.paused { step(Tensor(shape: z.shape, values), context: context) }
        XCTAssertEqual(moved.data[8], base.data[8], "channel 0 of the perturbed pixel depends on channel 1")
        XCTAssertNotEqual(moved.data[9 + 8], base.data[9 + 8])
        // Pixels before it in raster order come after it in the step's order: they may move.
        XCTAssert((0..<8).contains { moved.data[$0] != base.data[$0] }, "no later element reads the perturbed one")
    }
}
