// The stall watchdog: a thread that ends the job when one MPI collective has been in progress
// longer than `stall_timeout` seconds. Open MPI 4.1 has no timeout on its TCP data connections,
// so a peer that vanishes without closing them (a node cut off from the network) leaves every
// other rank blocked in a collective for ever; a dead *process* is noticed by mpirun itself.
// Communicators mark the begin and end of each collective; the watchdog only reads the marks.
import Foundation

final class StallWatchdog: @unchecked Sendable {
    /// A collective in progress: what it is and when it started (monotonic seconds).
    private struct Collective {
        let description: String
        let started: Double
    }

    let timeout: Double
    /// One slot per communicator: each is used by one thread at a time, so at most one of its
    /// collectives is in progress.
    private var inProgress: [ObjectIdentifier: Collective] = [:]
    private let lock = NSLock()

    /// Starts the watching thread; `onStall` receives the message and must end the job. The
    /// thread holds the watchdog for the rest of the process's life.
    init(timeout: Double, onStall: @escaping @Sendable (String) -> Never) {
        precondition(timeout > 0, "The stall timeout must be positive, got \(timeout).")
        self.timeout = timeout
        // Checking ten times per timeout (at most once a second) aborts within 10% of it.
        let interval = min(1, timeout / 10)
        let thread = Thread {
            while true {
                Thread.sleep(forTimeInterval: interval)
                if let message = self.stalledCollective() { onStall(message) }
            }
        }
        thread.name = "stall watchdog"
        thread.start()
    }

    func begin(_ description: String, on communicator: AnyObject) {
        let collective = Collective(description: description, started: monotonicSeconds())
        lock.lock()
        inProgress[ObjectIdentifier(communicator)] = collective
        lock.unlock()
    }

    func end(on communicator: AnyObject) {
        lock.lock()
        inProgress[ObjectIdentifier(communicator)] = nil
        lock.unlock()
    }

    private func stalledCollective() -> String? {
        let now = monotonicSeconds()
        lock.lock()
        defer { lock.unlock() }
        guard let oldest = inProgress.values.min(by: { $0.started < $1.started }),
              now - oldest.started > timeout else { return nil }
        return "\(oldest.description) has been in progress for \(Int(now - oldest.started)) s, longer than "
            + "stall_timeout (\(timeout) s): another rank is stuck or unreachable; aborting the job"
    }
}

/// Seconds on a clock that never jumps (unlike the wall clock under NTP).
func monotonicSeconds() -> Double {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return Double(now.tv_sec) + Double(now.tv_nsec) * 1e-9
}
