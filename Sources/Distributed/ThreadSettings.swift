// Compute threads per rank. OpenBLAS is told its count explicitly (its default, one thread per
// core of the node, multiplied by the ranks on the node, would oversubscribe the cores many
// times over); oneDNN takes the same count per call (`DNNLConvolution.threads`). Rank 0 warns
// when the ranks on a node ask for more threads than it has cores, or when Open MPI has bound a
// rank to fewer cores than its threads (mpirun binds each rank to one core when it runs two or
// fewer ranks, so extra threads would share that core).
import CBLAS
import CQF
import Foundation

struct ThreadSettings {
    let threads: Int
    let ranksOnNode: Int
    /// Online CPUs of the node, and those this process may run on (its affinity mask).
    let nodeCPUs: Int
    let boundCPUs: Int

    /// `requested` is `--threads`; without it, the node's cores divided among its ranks, and never
    /// more than the cores this rank is bound to.
    init(requested: Int?, comm: Communicator) {
        ranksOnNode = (comm as? MPICommunicator)?.ranksOnNode ?? 1
        nodeCPUs = max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN)))
        boundCPUs = ThreadSettings.affinityCPUs() ?? nodeCPUs
        threads = requested ?? max(1, min(nodeCPUs / ranksOnNode, boundCPUs))
    }

    /// Sets OpenBLAS's thread count and returns the warnings for rank 0 to print.
    func apply() -> [String] {
        openblas_set_num_threads(Int32(threads))
        var warnings: [String] = []
        if ranksOnNode * threads > nodeCPUs {
            warnings.append("\(ranksOnNode) ranks on this node x \(threads) threads = \(ranksOnNode * threads) threads "
                + "for \(nodeCPUs) cores: they will take turns; pass --threads \(max(1, nodeCPUs / ranksOnNode)) or run fewer ranks per node")
        }
        if threads > boundCPUs {
            warnings.append("this rank is bound to \(boundCPUs) core(s) but runs \(threads) threads: launch with "
                + "`mpirun --bind-to none` or `mpirun --map-by slot:PE=\(threads)` so that its threads get cores of their own")
        }
        return warnings
    }

    /// How many CPUs the affinity mask allows, or nil when it cannot be read. From
    /// /proc/self/status, because glibc declares sched_getaffinity only under _GNU_SOURCE, which
    /// Swift's C import does not set.
    private static func affinityCPUs() -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("Cpus_allowed:") }) else { return nil }
        let hex = line.dropFirst("Cpus_allowed:".count).filter(\.isHexDigit)
        return hex.reduce(0) { $0 + ($1.hexDigitValue ?? 0).nonzeroBitCount }
    }
}
