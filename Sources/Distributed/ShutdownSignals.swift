// SIGTERM and SIGUSR1 (Slurm's warning before the time limit or a preemption, forwarded to the
// ranks by mpirun) ask the job to stop cleanly: the handler only sets a flag, which is all a
// signal handler may safely do; the training loop polls it once per step through
// `stopRequested(comm:)`, an OR over the ranks, so every rank stops after the same step. Rank 0
// then writes a checkpoint and every rank exits with `preemptedExitStatus`, which tells the
// launch script that the run stopped early on purpose and resumes with `--resume`.
import CQF
import Foundation
import Synchronization

/// Exit status of a run stopped by SIGTERM or SIGUSR1 after writing its checkpoint:
/// EX_TEMPFAIL ("temporary failure, try again"). 0 means the run reached its last step.
let preemptedExitStatus: Int32 = 75

enum ShutdownSignals {
    /// The number of the first stop signal received, 0 before any. An atomic, because a signal
    /// handler may run on any thread.
    fileprivate static let received = Atomic<Int32>(0)

    /// Installs the handlers; call once, before training starts. A second SIGTERM kills at once
    /// (the handler resets itself), as someone who sends it twice expects; SIGUSR1 is left
    /// handled, because its default action would kill the rank mid-checkpoint.
    static func install() {
        for (signal, flags) in [(SIGTERM, SA_RESTART | Int32(bitPattern: UInt32(SA_RESETHAND))), (SIGUSR1, SA_RESTART)] {
            var action = sigaction()
            action.__sigaction_handler.sa_handler = { signal in
                _ = ShutdownSignals.received.compareExchange(expected: 0, desired: signal, ordering: .relaxed)
            }
            sigemptyset(&action.sa_mask)
            action.sa_flags = flags
            sigaction(signal, &action, nil)
        }
    }

    /// The signal received on this rank, if any.
    static var signal: Int32? {
        let value = received.load(ordering: .relaxed)
        return value == 0 ? nil : value
    }
}

/// True on every rank once any rank has received SIGTERM or SIGUSR1. A collective (one 8-byte
/// allreduce): every rank calls it once per step, at the same point.
func stopRequested(comm: Communicator) -> Bool {
    comm.anyRank(ShutdownSignals.signal != nil)
}
