// The engine's loops run on libgomp's team (OpenMPTeam): every part of a job runs exactly once,
// on as many threads as asked, and a region inside a region still covers its job.
import Foundation
import XCTest
@testable import CQF

final class OpenMPTeamTests: XCTestCase {
    /// Calls to each part, and the threads that made them, for a job of `parts` parts.
    private func run(_ parts: Int) -> (calls: [Int], threads: Set<pthread_t>) {
        let lock = NSLock()
        var calls = [Int](repeating: 0, count: parts)
        var threads = Set<pthread_t>()
        OpenMPTeam.run(parts) { t in
            lock.lock()
            defer { lock.unlock() }
            calls[t] += 1
            threads.insert(pthread_self())
            usleep(2_000)  // long enough that no thread can take every part before the others start
        }
        return (calls, threads)
    }

    func testEveryPartRunsOnceOnTheThreadsAsked() {
        for parts in [2, 3, 5] {
            let (calls, threads) = run(parts)
            XCTAssertEqual(calls, [Int](repeating: 1, count: parts), "\(parts) parts")
            XCTAssertEqual(threads.count, parts, "\(parts) parts ran on \(threads.count) threads")
        }
    }

    func testNestedRegionCoversItsJob() {
        let lock = NSLock()
        var calls = [[Int]](repeating: [0, 0, 0], count: 2)
        OpenMPTeam.run(2) { outer in
            OpenMPTeam.run(3) { inner in
                lock.lock()
                calls[outer][inner] += 1
                lock.unlock()
            }
        }
        XCTAssertEqual(calls, [[1, 1, 1], [1, 1, 1]])
    }
}
