// Sums the gradients of each network over the ranks, in buckets, on a communication thread of
// its own, so that the training thread can compute the next network's gradients (or anything
// that does not read these) while the sums travel. The channel is a duplicate of the
// training communicator: its collectives are ordered apart from the batch-norm sums that the
// training thread runs meanwhile, and since every rank starts networks in the same order, the
// buckets meet in the same order on every rank.
//
// Only sums: the loss is already a mean over the global batch, so the per-rank gradients add up
// to the gradient of the whole batch.
import Foundation

public final class GradientReducer {
    /// Floats per allreduce call. A bucket bounds the time of one collective (what the stall
    /// watchdog times) and keeps each call within MPI's 32-bit counts.
    public let bucketSize: Int
    /// nil in a world of one, where there is nothing to sum.
    private let worker: Worker?
    /// Seconds the training thread has spent in `wait()` since the reducer was made: the part of
    /// the reduction that computation did not hide.
    public private(set) var secondsWaiting: Double = 0

    /// - Parameter bucketBytes: 4 MB by default: large enough that per-call latency (tens of
    ///   microseconds) is amortised over a transfer of about a millisecond at 25 Gb/s, small
    ///   enough that a 100 MB network makes a few dozen calls rather than one.
    public init(_ communicator: Communicator, bucketBytes: Int = 4 << 20) {
        precondition(bucketBytes >= 4, "A gradient bucket holds at least one float, got \(bucketBytes) bytes.")
        bucketSize = bucketBytes / 4
        worker = communicator.size > 1 ? Worker(channel: communicator.duplicated()) : nil
    }

    deinit { worker?.stop() }

    /// Starts summing `set`'s gradient buffer over the ranks and returns at once. Until `wait()`
    /// returns, that buffer belongs to the reducer: neither read nor write it.
    public func start(_ set: ParameterSet) {
        guard let worker else { return }
        let storage = set.gradients!
        let buckets = stride(from: 0, to: storage.count, by: bucketSize).map {
            Bucket(storage: storage, range: $0..<min($0 + bucketSize, storage.count))
        }
        worker.enqueue(buckets)
    }

    /// Blocks until every started reduction is complete; returns the seconds it blocked.
    @discardableResult
    public func wait() -> Double {
        guard let worker else { return 0 }
        let started = Date()
        worker.waitUntilIdle()
        let waited = Date().timeIntervalSince(started)
        secondsWaiting += waited
        return waited
    }

    /// Sums `set`'s gradients over the ranks before returning (start, then wait).
    public func reduce(_ set: ParameterSet) {
        start(set)
        wait()
    }
}

/// A slice of a flat gradient buffer; holding the storage keeps it alive while it is summed.
private struct Bucket {
    let storage: Storage
    let range: Range<Int>
}

/// The communication thread and its queue of buckets, kept apart from the reducer so that the
/// thread does not keep the reducer alive.
private final class Worker: @unchecked Sendable {
    private let channel: Communicator
    private let condition = NSCondition()
    private var queue: [Bucket] = []
    /// Buckets queued or being summed.
    private var outstanding = 0
    private var stopping = false

    init(channel: Communicator) {
        self.channel = channel
        let thread = Thread { [self] in run() }
        thread.name = "gradient allreduce"
        thread.start()
    }

    func enqueue(_ buckets: [Bucket]) {
        condition.lock()
        queue.append(contentsOf: buckets)
        outstanding += buckets.count
        condition.broadcast()
        condition.unlock()
    }

    func waitUntilIdle() {
        condition.lock()
        while outstanding > 0 { condition.wait() }
        condition.unlock()
    }

    func stop() {
        condition.lock()
        stopping = true
        condition.broadcast()
        condition.unlock()
    }

    private func run() {
        while true {
            condition.lock()
            while queue.isEmpty && !stopping { condition.wait() }
            if queue.isEmpty {
                condition.unlock()
                return
            }
            let bucket = queue.removeFirst()
            condition.unlock()

            channel.allreduceSum(UnsafeMutableBufferPointer(start: bucket.storage.pointer + bucket.range.lowerBound,
                                                            count: bucket.range.count))

            condition.lock()
            outstanding -= 1
            condition.broadcast()
            condition.unlock()
        }
    }
}
