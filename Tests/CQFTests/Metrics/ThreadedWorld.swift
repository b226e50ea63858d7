// An in-process world of several ranks, one thread each, for testing collective code without
// MPI: every collective meets at a barrier, and a sum adds the ranks' buffers in rank order, so
// every rank gets the same bits, as an MPI allreduce gives them.
import Foundation
@testable import CQF

final class ThreadedWorld: @unchecked Sendable {
    let size: Int
    private let condition = NSCondition()
    private var arrived = 0
    private var generation = 0
    /// Each rank's buffer in the collective under way.
    private let buffers: UnsafeMutablePointer<UnsafeMutableRawPointer?>

    init(size: Int) {
        self.size = size
        buffers = .allocate(capacity: size)
        buffers.initialize(repeating: nil, count: size)
    }

    deinit { buffers.deallocate() }

    /// Runs `body` on `size` threads, one per rank, and returns what each returned, in rank order.
    func run<Result>(_ body: @escaping (Communicator) -> Result) -> [Result] {
        let results = RankResults<Result>(size), done = DispatchGroup()
        for rank in 0..<size {
            done.enter()
            let thread = Thread {
                let result = body(ThreadedRank(world: self, rank: rank))
                results.lock.lock()
                results.values[rank] = result
                results.lock.unlock()
                done.leave()
            }
            thread.stackSize = 8 << 20
            thread.start()
        }
        done.wait()
        return results.values.map { $0! }
    }

    func barrier() {
        condition.lock()
        let mine = generation
        arrived += 1
        if arrived == size {
            arrived = 0
            generation += 1
            condition.broadcast()
        } else {
            while generation == mine { condition.wait() }
        }
        condition.unlock()
    }

    /// Every rank's `buffer` becomes the sum over the ranks, added in rank order.
    func sum<Element: FloatingPoint>(_ buffer: UnsafeMutableBufferPointer<Element>, rank: Int) {
        condition.lock()
        buffers[rank] = UnsafeMutableRawPointer(buffer.baseAddress)
        condition.unlock()
        barrier()
        var total = [Element](repeating: 0, count: buffer.count)
        for other in 0..<size where buffer.count > 0 {
            let values = buffers[other]!.assumingMemoryBound(to: Element.self)
            for i in 0..<buffer.count { total[i] += values[i] }
        }
        barrier()
        for i in 0..<buffer.count { buffer[i] = total[i] }
    }

    /// Every rank's `buffer` becomes rank `root`'s.
    func broadcast(_ buffer: UnsafeMutableRawBufferPointer, root: Int, rank: Int) {
        condition.lock()
        buffers[rank] = buffer.baseAddress
        condition.unlock()
        barrier()
        if rank != root, buffer.count > 0 { buffer.baseAddress!.copyMemory(from: buffers[root]!, byteCount: buffer.count) }
        barrier()
    }
}

/// What each rank's thread returned, filled under a lock.
private final class RankResults<Result>: @unchecked Sendable {
    var values: [Result?]
    let lock = NSLock()
    init(_ count: Int) { values = Array(repeating: nil, count: count) }
}

/// One rank of a `ThreadedWorld`.
final class ThreadedRank: Communicator {
    let world: ThreadedWorld
    let rank: Int
    var size: Int { world.size }

    init(world: ThreadedWorld, rank: Int) {
        self.world = world
        self.rank = rank
    }

    func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) { world.sum(buffer, rank: rank) }
    func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Double>) { world.sum(buffer, rank: rank) }
    func broadcast(_ buffer: UnsafeMutableRawBufferPointer, root: Int) { world.broadcast(buffer, root: root, rank: rank) }
    func barrier() { world.barrier() }
    func abort(_ message: String, code: Int32) -> Never { fatalError(message) }
    func duplicated() -> Communicator { self }
}
