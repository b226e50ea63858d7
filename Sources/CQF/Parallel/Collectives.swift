// Small collectives built from the protocol's allreduce: a gather of a few numbers per rank and
// an agreement on a flag. Each is one allreduce of a vector with one slot per rank (zeros but
// for this rank's own), which is exact because adding zeros to a double changes nothing; at
// 1024 ranks that is 8 KB per number, far below a gradient bucket.
import Foundation

extension Communicator {
    /// Every rank's `values`, in rank order, on every rank. All ranks must pass the same count.
    public func gathered(_ values: [Double]) -> [[Double]] {
        let width = values.count
        var slots = [Double](repeating: 0, count: width * size)
        slots.replaceSubrange(rank * width..<(rank + 1) * width, with: values)
        slots.withUnsafeMutableBufferPointer { allreduceSum($0) }
        return (0..<size).map { Array(slots[$0 * width..<($0 + 1) * width]) }
    }

    /// Rank 0's process id on every rank: a name that files shared by the ranks take alike.
    public var rootProcessID: Int64 {
        var process = Int64(getpid())
        withUnsafeMutableBytes(of: &process) { broadcast($0, root: 0) }
        return process
    }

    /// True on every rank when `flag` is true on any rank: the way all ranks agree to stop at the
    /// same step.
    public func anyRank(_ flag: Bool) -> Bool {
        var count = [flag ? 1.0 : 0.0]
        count.withUnsafeMutableBufferPointer { allreduceSum($0) }
        return count[0] > 0
    }
}
