// What ranks exchange, and nothing more: gradient sums, batch-norm sums, the initial weights,
// and a way to stop the whole job. The library codes against this protocol; the executable
// supplies the MPI implementation, and a world of one (`SingleProcess`) needs no MPI at all.
import Foundation

public protocol Communicator: AnyObject {
    var rank: Int { get }
    var size: Int { get }
    /// Sums `buffer` elementwise over all ranks, in place, on every rank.
    func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Float>)
    /// Sums doubles likewise (step times, checksums, metrics).
    func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Double>)
    /// Copies rank `root`'s bytes into `buffer` on every rank.
    func broadcast(_ buffer: UnsafeMutableRawBufferPointer, root: Int)
    func barrier()
    /// Ends every rank of the job at once, after printing `message` (never returns).
    func abort(_ message: String, code: Int32) -> Never
    /// A second communicator over the same ranks whose collectives are ordered independently of
    /// this one's, so that another thread may run them at the same time (the gradient channel of
    /// `GradientReducer`, while the training thread sums batch-norm statistics here).
    func duplicated() -> Communicator
    /// Wall-clock seconds that callers have spent blocked in this communicator's collectives since
    /// it was made: the communication half of the straggler report.
    var secondsInCollectives: Double { get }
    /// Whether every rank runs on this node: an allreduce is then the cores' own copying and
    /// adding, through shared memory, where across nodes a network carries it.
    var ranksShareOneNode: Bool { get }
}

extension Communicator {
    public var isRoot: Bool { rank == 0 }
    public var secondsInCollectives: Double { 0 }
    public var ranksShareOneNode: Bool { true }

    /// The batch-norm hook of the engine, bound to this communicator.
    public var crossRankSum: CrossRankSum {
        size == 1 ? { _ in } : { [unowned self] buffer in self.allreduceSum(buffer) }
    }
}

/// The world of one process: the single-node debug mode and the library's tests.
public final class SingleProcess: Communicator {
    public init() {}
    public var rank: Int { 0 }
    public var size: Int { 1 }
    public func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) {}
    public func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Double>) {}
    public func broadcast(_ buffer: UnsafeMutableRawBufferPointer, root: Int) {}
    public func barrier() {}
    public func duplicated() -> Communicator { SingleProcess() }
    public func abort(_ message: String, code: Int32) -> Never {
        Console.error("error: \(message)")
        exit(code)
    }
}
