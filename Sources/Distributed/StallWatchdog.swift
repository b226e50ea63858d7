// The stall watchdog: a thread that ends the job when one MPI collective has been in progress
// longer than `stall_timeout` seconds. Open MPI 4.1 has no timeout on its TCP data connections,
// so a peer that vanishes without closing them (a node cut off from the network) leaves every
// other rank blocked in a collective for ever; a dead *process* is noticed by mpirun itself.
// Communicators mark the begin and end of each collective; the watchdog only reads the marks,
// and before it ends the job it asks the next rank what it is doing (RollCall.swift).
import Foundation

final class StallWatchdog: @unchecked Sendable {
    /// A collective in progress: what it is and when it started (monotonic seconds).
    private struct Collective {
        let description: String
        let started: Double
    }

    let timeout: Double
    /// How often the thread looks: ten times per timeout (at most once a second), so it aborts
    /// within 10% of it and answers a roll call's question within a second.
    private let interval: Double
    private let rollCall: RollCall
    /// One slot per communicator: each is used by one thread at a time, so at most one of its
    /// collectives is in progress.
    private var inProgress: [ObjectIdentifier: Collective] = [:]
    /// When the last collective ended (at first, when the watchdog started).
    private var lastEnded = monotonicSeconds()
    private let lock = NSLock()

    /// Starts the watching thread, which answers `rollCall`'s questions and, when a collective
    /// has stalled, passes `onStall` the message naming it and what the roll call found;
    /// `onStall` must end the job. The thread holds the watchdog for the rest of the process's life.
    init(timeout: Double, rollCall: RollCall, onStall: @escaping @Sendable (String) -> Never) {
        precondition(timeout > 0, "The stall timeout must be positive, got \(timeout).")
        self.timeout = timeout
        self.rollCall = rollCall
        interval = min(1, timeout / 10)
        let thread = Thread {
            while true {
                Thread.sleep(forTimeInterval: self.interval)
                rollCall.answerQuestions(activity: self.activity())
                if let stalled = self.stalledCollective() { onStall(self.diagnosis(of: stalled)) }
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
        lastEnded = monotonicSeconds()
        lock.unlock()
    }

    /// What this rank is doing, as a roll call's answer says it after "rank N".
    private func activity() -> String {
        let now = monotonicSeconds()
        lock.lock()
        defer { lock.unlock() }
        guard let oldest = inProgress.values.min(by: { $0.started < $1.started }) else {
            return "is in no collective, computing for \(Int(now - lastEnded)) s since its last one ended"
        }
        return "waits in \(oldest.description) for \(Int(now - oldest.started)) s"
    }

    private func stalledCollective() -> String? {
        let now = monotonicSeconds()
        lock.lock()
        defer { lock.unlock() }
        guard let oldest = inProgress.values.min(by: { $0.started < $1.started }),
              now - oldest.started > timeout else { return nil }
        return "\(oldest.description) has been in progress for \(Int(now - oldest.started)) s, longer than "
            + "stall_timeout (\(timeout) s)"
    }

    /// The stall message with what the next rank says. Silent, or computing outside every
    /// collective, it is the culprit. Waiting too, it is not: this rank then gives the culprit's
    /// predecessor time to name it before ending the job itself.
    private func diagnosis(of stalled: String) -> String {
        let grace = 2 * interval + 0.5
        let peer = rollCall.successor
        guard let answer = rollCall.askSuccessor(within: grace, activity: activity()) else {
            return "\(stalled); rank \(peer) did not answer within \(grace) s: it is stopped, hung or unreachable; aborting the job"
        }
        guard answer.hasPrefix("waits in ") else { return "\(stalled); rank \(peer) \(answer); aborting the job" }
        let deadline = monotonicSeconds() + 2 * grace
        while monotonicSeconds() < deadline {
            rollCall.answerQuestions(activity: activity())
            Thread.sleep(forTimeInterval: interval / 4)
        }
        return "\(stalled); rank \(peer) \(answer) too, so another rank is stuck or unreachable; aborting the job"
    }
}

/// Seconds on a clock that never jumps (unlike the wall clock under NTP).
func monotonicSeconds() -> Double {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return Double(now.tv_sec) + Double(now.tv_nsec) * 1e-9
}
