// `Distributed bench --alternate N`: steps at N threads and at --threads threads take turns, each
// count gets its own summary, and the speed-up is the median of the rounds' ratios.
import Foundation
import XCTest

final class BenchAlternateTests: ExecutableTestCase {
    func testTheSpeedUpIsTheMedianOfEachRoundsRatio() throws {
        let result = try run(["bench", "--threads", "2", "--alternate", "1", "--steps", "3", "--batch", "4",
                              "widths=8,8,16,16", "z=4", "first=8", "nvp.filters=8", "nvp.blocks=1"],
                             ranks: nil, timeout: 300)
        XCTAssertEqual(result.status, 0, result.standardError)
        let lines = result.standardOutput.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
        let steps = lines.filter { $0["step"] != nil }
        // Round by round: one step at 1 thread, then one at 2.
        XCTAssertEqual(steps.compactMap { $0["threads"] as? Int }, [1, 2, 1, 2, 1, 2])
        XCTAssertEqual(steps.compactMap { $0["step"] as? Int }, [0, 0, 1, 1, 2, 2])
        let seconds = steps.compactMap { $0["step_s"] as? Double }
        let ratios = stride(from: 0, to: seconds.count, by: 2).map { seconds[$0] / seconds[$0 + 1] }.sorted()
        // step_s is printed to 4 decimals: each ratio from the printed values is off by up to this.
        let rounding = stride(from: 0, to: seconds.count, by: 2).map { (i: Int) -> Double in
            let (slow, fast) = (seconds[i], seconds[i + 1])
            return slow / fast * (0.5e-4 / slow + 0.5e-4 / fast) + 1e-4
        }.max()!
        let summaries = lines.filter { $0["images_per_s"] != nil && $0["step"] == nil }
        XCTAssertEqual(summaries.compactMap { $0["threads"] as? Int }, [1, 2])
        let last = try XCTUnwrap(lines.last)
        XCTAssertEqual(last["from_threads"] as? Int, 1)
        XCTAssertEqual(last["to_threads"] as? Int, 2)
        XCTAssertEqual(try XCTUnwrap(last["speedup"] as? Double), ratios[1], accuracy: rounding)
        XCTAssertEqual(try XCTUnwrap(last["lowest"] as? Double), ratios[0], accuracy: rounding)
        XCTAssertEqual(try XCTUnwrap(last["highest"] as? Double), ratios[2], accuracy: rounding)
    }

    func testTimingOpsDoesNotGoWithAlternating() throws {
        let result = try run(["bench", "--threads", "2", "--alternate", "1", "--ops"], ranks: nil, timeout: 60)
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.standardError.contains("--ops and --alternate do not go together"), result.standardError)
    }
}
