// A NaN planted in values that are otherwise exact must fail the comparisons the model tests rely
// on: the twin fixture's check and the largest-difference helpers under it. (The twin's check
// once kept the largest error with `>`, which is false for a NaN, so a NaN output or gradient
// passed with error 0.)
import XCTest
@testable import CQF

final class PlantedNaNTests: XCTestCase {
    func testLargestDifferenceIsInfiniteAtAPlantedNaNOnEitherSide() {
        let expected: [Float] = [1, -2, 4, 0.5, 3]
        var actual = expected
        actual[1] = -2.25
        XCTAssertEqual(largestDifference(actual, expected).value, 0.25)
        XCTAssertEqual(largestDifference(actual, expected).index, 1)
        for planted in [Float.nan, .infinity, -.infinity] {
            var ours = actual
            ours[3] = planted
            XCTAssertEqual(largestDifference(ours, expected).value, .infinity, "\(planted) in ours")
            XCTAssertEqual(largestDifference(ours, expected).index, 3, "\(planted) in ours")
            XCTAssertEqual(largestDifference(expected, ours).value, .infinity, "\(planted) in the reference")
            XCTAssertEqual(largestMagnitude(ours), .infinity, "\(planted)")
        }
        XCTAssertEqual(largestMagnitude(actual), 4)
        XCTAssertEqual(relativeMaxError([1, .nan], [1, 2]), .infinity)
    }

    /// The twin's check passes the twin's own values and fails, naming the element, once one of
    /// them is NaN: as an output and as a gradient.
    func testTwinComparisonFailsOnAPlantedNaN() throws {
        let path = Bundle.module.resourceURL!.appendingPathComponent("Fixtures/cqf_3ch_1scale.safetensors").path
        let file = try SafeTensors.read(path: path)
        var check = Comparisons(file: file)
        for key in ["f.v", "grad.L_C.encoder.first.weight"] {
            let exact = try file.floats(key)
            let compare = { (values: [Float]) in
                self.failures {
                    let ours = Tensor(shape: [values.count], values)
                    if key.hasPrefix("grad.") { check.gradient(key, ours) } else { check(key, ours, 1e-5) }
                }
            }
            XCTAssertEqual(compare(exact), [], "\(key): the twin's own values")
            var planted = exact
            planted[7] = .nan
            let failures = compare(planted)
            XCTAssertEqual(failures.count, 1, "\(key) with a NaN: \(failures)")
            XCTAssert(failures.first?.contains("\(key)[7]: ours nan") ?? false, "\(key): \(failures)")
        }
    }

    /// Failures that `body` records, kept from the test's own result.
    private var captured: [String]?

    private func failures(_ body: () -> Void) -> [String] {
        captured = []
        body()
        defer { captured = nil }
        return captured!
    }

    override func recordFailure(withDescription description: String, inFile filePath: String, atLine lineNumber: Int,
                                expected: Bool) {
        guard captured != nil else {
            return super.recordFailure(withDescription: description, inFile: filePath, atLine: lineNumber, expected: expected)
        }
        captured!.append(description)
    }
}
