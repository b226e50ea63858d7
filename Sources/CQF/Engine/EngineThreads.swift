// The engine's own loops (elementwise ops) on several threads. Each output element is computed
// exactly as on one thread, so results do not depend on the thread count; sums stay on one
// thread for the same reason.
import Dispatch

public enum EngineThreads {
    /// Threads for elementwise ops; the trainer sets it from --threads (oneDNN gets the same).
    nonisolated(unsafe) public static var count = 1
}

/// Calls `body` on contiguous chunks covering 0..<count, in parallel when the job is large enough
/// to repay a thread hand-off (2^16 elements, about 20 microseconds of work).
@inline(__always)
func forEachChunk(_ count: Int, minimum: Int = 1 << 16, _ body: (Range<Int>) -> Void) {
    let threads = min(EngineThreads.count, count / minimum)
    guard threads > 1 else { body(0..<count); return }
    DispatchQueue.concurrentPerform(iterations: threads) { t in
        body(count * t / threads ..< count * (t + 1) / threads)
    }
}
