// The progress line of long commands: in a log, one plain line per 10% and the last state at
// finish; on a terminal, one line rewritten in place and ended with a newline; nothing at all
// on the ranks that do not show it.
import XCTest
@testable import CQF

final class ProgressLineTests: XCTestCase {
    private var written: [String] = []

    private func progress(total: Int, terminal: Bool, enabled: Bool = true) -> ProgressLine {
        ProgressLine(total: total, unit: "images", label: "eval", enabled: enabled, terminal: terminal) { self.written.append($0) }
    }

    func testALogGetsOnePlainLinePerTenthWithRateAndETA() {
        let line = progress(total: 40, terminal: false)
        for _ in 0..<40 { line.advance(by: 1, status: "loss 0.5") }
        line.finish()
        XCTAssertEqual(written.count, 10)
        XCTAssertTrue(written.allSatisfy { $0.hasSuffix("\n") && !$0.contains("\r") && $0.contains(" images/s | ") }, "\(written)")
        XCTAssertTrue(written[0].hasPrefix("eval: 4/40 images (10%) | "), written[0])
        XCTAssertTrue(written[0].contains("ETA ") && written[0].hasSuffix(" | loss 0.5\n"), written[0])
        XCTAssertTrue(written[9].hasPrefix("eval: 40/40 images (100%) | ") && written[9].contains("done in "), written[9])
    }

    func testWorkThatEndsShortWritesItsLastStateAtFinish() {
        let line = progress(total: 10, terminal: false)
        line.advance(by: 3)
        line.advance(by: 0)
        XCTAssertEqual(written.count, 1, "one line for 10..30%, none for no progress")
        line.finish()
        XCTAssertEqual(written.count, 2)
        XCTAssertTrue(written[1].hasPrefix("eval: 3/10 images (30%) | "), written[1])
        line.advance(by: 100)
        XCTAssertEqual(line.done, 10, "done never passes the total")
    }

    func testATerminalGetsOneLineRewrittenInPlace() {
        let line = progress(total: 5, terminal: true)
        for _ in 0..<5 { line.advance() }
        line.finish()
        // The first state, the completed one (drawn however soon it comes), and the final line.
        XCTAssertEqual(written.count, 3, "\(written)")
        XCTAssertTrue(written.allSatisfy { $0.hasPrefix("\r") }, "\(written)")
        XCTAssertTrue(written[0].hasPrefix("\reval: 1/5 images (20%)"), written[0])
        XCTAssertTrue(written[1].hasPrefix("\reval: 5/5 images (100%)"), written[1])
        XCTAssertFalse(written[1].hasSuffix("\n"))
        XCTAssertTrue(written[2].hasSuffix("\n"))
    }

    func testOtherRanksShowNothing() {
        for terminal in [false, true] {
            let line = progress(total: 4, terminal: terminal, enabled: false)
            for _ in 0..<4 { line.advance() }
            line.finish()
            XCTAssertEqual(line.done, 4)
        }
        XCTAssertEqual(written, [])
    }
}
