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
}

extension Communicator {
    public var isRoot: Bool { rank == 0 }

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
    public func abort(_ message: String, code: Int32) -> Never {
        Console.error("error: \(message)")
        exit(code)
    }
}
