// How the OpenMP threads wait between parallel regions. They are libgomp's, which libdnnl brings
// in, and they run the convolutions and the engine's own loops alike (EngineThreads.swift).
// libgomp reads its policy once, when it loads, so the executable chooses one before anything
// else and starts itself again with it in the environment.
//
// A step is thousands of parallel regions, microseconds apart. A thread that sleeps between them
// must be woken for the next (a futex, and under a hypervisor an interrupt to a halted virtual
// CPU): config b at 2 threads ran 22-25 images/s with sleeping threads and 28-32 with threads
// that spin for a few milliseconds first. But a spinning thread holds its core, and where a
// node's ranks run more threads than it has cores it holds the core another rank's thread waits
// for: 2 ranks x 2 threads on 2 cores ran 12-14 images/s spinning and 27 sleeping. So threads
// spin when each has a core of its own, and sleep at once otherwise.
import Foundation

/// Unless the user chose (OMP_WAIT_POLICY or GOMP_SPINCOUNT), chooses and starts again.
func settleThreadWaitPolicy() {
    let environment = ProcessInfo.processInfo.environment
    guard environment["OMP_WAIT_POLICY"] == nil, environment["GOMP_SPINCOUNT"] == nil else { return }
    if threadsHaveCoresOfTheirOwn(environment) {
        // About 3 ms (libgomp's own default when no policy is given), named to mark the choice made.
        setenv("GOMP_SPINCOUNT", "300000", 1)
    } else {
        setenv("OMP_WAIT_POLICY", "PASSIVE", 1)
    }
    execv("/proc/self/exe", CommandLine.unsafeArgv)
}

/// Whether the ranks on this node (as the launcher tells them) times `--threads` fit its cores.
/// Without `--threads` they do: every command's default is 1 or the cores divided among the
/// node's ranks (ThreadSettings).
private func threadsHaveCoresOfTheirOwn(_ environment: [String: String]) -> Bool {
    let arguments = CommandLine.arguments
    guard let flag = arguments.firstIndex(of: "--threads"), flag + 1 < arguments.count,
          let threads = Int(arguments[flag + 1]) else { return true }
    // Open MPI's mpirun, MPICH's Hydra, then Slurm's srun ("4" or "4(x2)": 4 tasks on each node).
    let ranksOnNode = environment["OMPI_COMM_WORLD_LOCAL_SIZE"].flatMap { Int($0) }
        ?? environment["MPI_LOCALNRANKS"].flatMap { Int($0) }
        ?? environment["SLURM_STEP_TASKS_PER_NODE"].flatMap { Int($0.prefix { $0.isNumber }) }
        ?? 1
    return ranksOnNode * threads <= sysconf(Int32(_SC_NPROCESSORS_ONLN))
}
