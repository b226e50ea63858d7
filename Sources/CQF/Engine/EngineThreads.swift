// The engine's own loops (elementwise ops, copies, sums) on several threads. Each output element
// is computed exactly as on one thread, so results do not depend on the thread count (a sum's
// threads take disjoint outputs, Reductions.swift).
//
// The loops run on oneDNN's OpenMP team, the threads that run the convolutions, so that one set
// of threads serves the whole step: with a pool of its own (Dispatch), each thread of one pool
// idled or slept while the other pool worked, and each hand-over woke a sleeper.
import Dispatch
import Foundation

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
    OpenMPTeam.run(threads) { t in body(count * t / threads ..< count * (t + 1) / threads) }
}

/// Calls `body(i)` for each of `count` blocks (images, planes) of `size` values, the blocks
/// shared among the engine's threads in contiguous ranges.
@inline(__always)
func forEachBlock(_ count: Int, size: Int, _ body: (Int) -> Void) {
    forEachChunk(count, minimum: max(1, (1 << 16) / max(1, size))) { blocks in
        for i in blocks { body(i) }
    }
}

/// Parallel regions of libgomp, the OpenMP runtime libdnnl brings in, entered through its ABI
/// (`GOMP_parallel`, what a compiler emits for `#pragma omp parallel`), looked up at run time
/// like `omp_set_num_threads` in DNNLConvolution.swift. Without libgomp the jobs go to Dispatch.
enum OpenMPTeam {
    private typealias Region = @convention(c) (UnsafeMutableRawPointer?) -> Void
    private typealias Parallel = @convention(c) (Region, UnsafeMutableRawPointer?, UInt32, UInt32) -> Void
    private typealias ThreadQuery = @convention(c) () -> Int32

    private static let runtime: (parallel: Parallel, threadNumber: ThreadQuery, teamSize: ThreadQuery)? = {
        guard let parallel = dlsym(nil, "GOMP_parallel"), let number = dlsym(nil, "omp_get_thread_num"),
              let size = dlsym(nil, "omp_get_num_threads") else { return nil }
        return (unsafeBitCast(parallel, to: Parallel.self), unsafeBitCast(number, to: ThreadQuery.self),
                unsafeBitCast(size, to: ThreadQuery.self))
    }()

    private struct Job {
        let threads: Int
        let body: (Int) -> Void
        let threadNumber: ThreadQuery
        let teamSize: ThreadQuery
    }

    /// Calls `body(t)` for t in 0..<threads, on a team of up to `threads` threads (the caller is
    /// one of them); returns when all calls have.
    static func run(_ threads: Int, _ body: (Int) -> Void) {
        guard let runtime else {
            DispatchQueue.concurrentPerform(iterations: threads, execute: body)
            return
        }
        withoutActuallyEscaping(body) { body in
            var job = Job(threads: threads, body: body, threadNumber: runtime.threadNumber, teamSize: runtime.teamSize)
            withUnsafeMutablePointer(to: &job) { pointer in
                runtime.parallel({ raw in
                    let job = raw!.assumingMemoryBound(to: Job.self).pointee
                    // The team can be smaller than asked (a nested region gets one thread).
                    for t in stride(from: Int(job.threadNumber()), to: job.threads, by: Int(job.teamSize())) {
                        job.body(t)
                    }
                }, pointer, UInt32(threads), 0)
            }
        }
    }
}
